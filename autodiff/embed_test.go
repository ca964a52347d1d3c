package autodiff

import (
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

func TestCheckIDs(t *testing.T) {
	if err := CheckIDs([]int{0, 4, 2}, 5); err != nil {
		t.Errorf("valid ids: %v", err)
	}
	for _, ids := range [][]int{{0, 5}, {-1}, {3, 2, 7}} {
		if CheckIDs(ids, 5) == nil {
			t.Errorf("ids %v accepted for a vocabulary of 5", ids)
		}
	}
}

func TestEmbeddingValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	table := randT(rng, 5, 3)
	ids := []int{4, 0, 4, 2, 1, 3}
	tp := NewTape[float64](linalg.MustDefault())
	out := tp.Embedding(Const(table), ids, 2, 3).Value
	if !tensor.SameShape(out.Shape, []int{2, 3, 3}) {
		t.Fatalf("shape %v, want [2 3 3]", out.Shape)
	}
	for r, id := range ids {
		for j := 0; j < 3; j++ {
			if out.Data[r*3+j] != table.Data[id*3+j] {
				t.Fatalf("row %d is not table row %d", r, id)
			}
		}
	}
	if s := tp.Embedding(Const(table), ids).Value.Shape; !tensor.SameShape(s, []int{6, 3}) {
		t.Errorf("default shape %v, want [6 3]", s)
	}
	defer func() {
		if recover() == nil {
			t.Error("out-of-range id did not panic")
		}
	}()
	tp.Embedding(Const(table), []int{5}, 1)
}

func TestEmbeddingGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	ids := []int{4, 0, 4, 2, 4, 3} // repeated ids accumulate; row 1 gets none
	checkGrad(t, "embedding", []*tensor.Tensor[float64]{randT(rng, 5, 3)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.Embedding(in[0], ids, 2, -1)
	})
	// Two uses of the table on one tape (tied embeddings) add up.
	checkGrad(t, "embedding twice", []*tensor.Tensor[float64]{randT(rng, 5, 3)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.Concat(tp.Embedding(in[0], ids), tp.Linear("", tp.Embedding(in[0], []int{1, 1, 0, 2, 3, 4}), in[0], nil))
	})
}

// naivePatches is the reference patch extraction, one element at a time.
func naivePatches(img *tensor.Tensor[float64], p int) *tensor.Tensor[float64] {
	B, C, H, W := img.Shape[0], img.Shape[1], img.Shape[2], img.Shape[3]
	gh, gw := H/p, W/p
	out := tensor.New[float64](B, gh*gw, C*p*p)
	for b := 0; b < B; b++ {
		for py := 0; py < gh; py++ {
			for px := 0; px < gw; px++ {
				for c := 0; c < C; c++ {
					for ky := 0; ky < p; ky++ {
						for kx := 0; kx < p; kx++ {
							v := img.Data[((b*C+c)*H+py*p+ky)*W+px*p+kx]
							out.Data[((b*gh*gw+py*gw+px)*C+c)*p*p+ky*p+kx] = v
						}
					}
				}
			}
		}
	}
	return out
}

// naiveConv is a stride-p, kernel-p convolution with weight [hidden, C, p, p]
// and bias [hidden], its output [B, hidden, gh, gw] flattened and transposed
// to tokens [B, gh·gw, hidden] as Hugging Face vision embeddings do.
func naiveConv(img, w, bias *tensor.Tensor[float64], p int) *tensor.Tensor[float64] {
	B, C, H, W := img.Shape[0], img.Shape[1], img.Shape[2], img.Shape[3]
	hidden := w.Shape[0]
	gh, gw := H/p, W/p
	out := tensor.New[float64](B, gh*gw, hidden)
	for b := 0; b < B; b++ {
		for o := 0; o < hidden; o++ {
			for oy := 0; oy < gh; oy++ {
				for ox := 0; ox < gw; ox++ {
					s := bias.Data[o]
					for c := 0; c < C; c++ {
						for ky := 0; ky < p; ky++ {
							for kx := 0; kx < p; kx++ {
								s += w.Data[((o*C+c)*p+ky)*p+kx] * img.Data[((b*C+c)*H+oy*p+ky)*W+ox*p+kx]
							}
						}
					}
					out.Data[(b*gh*gw+oy*gw+ox)*hidden+o] = s
				}
			}
		}
	}
	return out
}

func TestPatchesValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	be := linalg.MustDefault()
	for _, c := range []struct{ B, C, H, W, p int }{
		{2, 3, 4, 6, 2},
		{1, 2, 7, 5, 2}, // remainders dropped, as by the convolution
		{2, 1, 3, 3, 3},
		{1, 3, 4, 4, 1},
	} {
		img := randT(rng, c.B, c.C, c.H, c.W)
		tp := NewTape[float64](be)
		got := tp.Patches(Const(img), c.p)
		if d := tensor.MaxAbsDiff(got.Value, naivePatches(img, c.p)); d != 0 || !tensor.SameShape(got.Value.Shape, []int{c.B, (c.H / c.p) * (c.W / c.p), c.C * c.p * c.p}) {
			t.Errorf("%+v: shape %v, differs from the naive loop by %g", c, got.Value.Shape, d)
		}
		const hidden = 5
		w := randT(rng, hidden, c.C, c.p, c.p)
		bias := randT(rng, hidden)
		emb := tp.Linear("", got, Const(w.View(hidden, -1)), Const(bias))
		if d := tensor.MaxAbsDiff(emb.Value, naiveConv(img, w, bias, c.p)); d > 1e-12 {
			t.Errorf("%+v: patch embedding differs from the convolution by %g", c, d)
		}
	}
}

func TestPatchesGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(67, 68))
	checkGrad(t, "patches", []*tensor.Tensor[float64]{randT(rng, 2, 3, 5, 4)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.Patches(in[0], 2)
	})
	checkGrad(t, "patch embedding", []*tensor.Tensor[float64]{randT(rng, 2, 2, 4, 6), randT(rng, 3, 2*2*2), randT(rng, 3)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
		return tp.Linear("", tp.Patches(in[0], 2), in[1], in[2])
	})
}

func TestPrependToken(t *testing.T) {
	rng := rand.New(rand.NewPCG(69, 70))
	x, tok := randT(rng, 2, 3, 4), randT(rng, 1, 1, 4)
	out := NewTape[float64](linalg.MustDefault()).PrependToken(Const(x), Const(tok)).Value
	if !tensor.SameShape(out.Shape, []int{2, 4, 4}) {
		t.Fatalf("shape %v, want [2 4 4]", out.Shape)
	}
	for b := 0; b < 2; b++ {
		for j := 0; j < 4; j++ {
			if out.Data[b*16+j] != tok.Data[j] {
				t.Fatalf("batch %d does not start with the token", b)
			}
		}
		for i := 0; i < 12; i++ {
			if out.Data[b*16+4+i] != x.Data[b*12+i] {
				t.Fatalf("batch %d: tokens moved", b)
			}
		}
	}
	for _, shape := range [][]int{{4}, {1, 1, 4}} {
		checkGrad(t, "prepend token", []*tensor.Tensor[float64]{randT(rng, 2, 3, 4), randT(rng, shape...)}, func(tp *Tape[float64], in []*Var[float64]) *Var[float64] {
			return tp.PrependToken(in[0], in[1])
		})
	}
}
