package transfer

import (
	"math/rand/v2"
	"testing"

	"github.com/bico-dev/bico/data"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// TestBiCoAcrossTokenizers: B is a permuted copy of a causal LM A whose
// tokenizer numbers the tokens otherwise (its vocabulary is A's, permuted)
// and whose calibration sequences are padded to another length. Given
// each model its own token ids, the row pairs and the map between the two
// vocabularies, BiCo must recover the permuted τ_A, the rows of the
// embedding table and of lm_head included, and B's transferred model A^ft's
// logits.
func TestBiCoAcrossTokenizers(t *testing.T) {
	for _, tied := range []bool{false, true} {
		t.Run(map[bool]string{false: "lm_head", true: "tied"}[tied], func(t *testing.T) {
			pad := 0
			a := tinyCausalLlama(t, tied)
			aft := perturbed(t, a, 2, 0.05)
			rng := rand.New(rand.NewPCG(4, 4))
			perms := newLlamaPerms(rng, 8, 4, 2, 4, 12, 2)
			// vocab[j] is the source id of the target's token j; the pad
			// token keeps id 0.
			vocab := append([]int{0}, rng.Perm(19)...)
			for j := 1; j < 20; j++ {
				vocab[j]++
			}
			relabel := func(ps params) params {
				out := perms.apply(ps)
				for _, name := range []string{"model.embed_tokens.weight", "lm_head.weight"} {
					if out[name] != nil {
						out[name] = permuteAxes(out[name], vocab, nil)
					}
				}
				return out
			}
			b, err := model.WithParams(a, relabel(model.Params(a)))
			if err != nil {
				t.Fatal(err)
			}
			// The source's sequences, padded to 8 tokens; the target's, the
			// same tokens in its ids, padded to 6.
			src := tokenSamples(64, 6, 20, 1, 9)
			toTarget := make([]int, 20)
			for j, i := range vocab {
				toTarget[i] = j
			}
			calib := Samples{Inputs: tensor.New[float32](64, 6), Labels: src.Labels, SourceInputs: tensor.New[float32](64, 8), Rows: make([][]data.RowPair, 64)}
			for s := range 64 {
				for k := range 6 {
					id := int(src.Inputs.Data[s*6+k])
					calib.SourceInputs.Data[s*8+k] = float32(id)
					calib.Inputs.Data[s*6+k] = float32(toTarget[id])
					if id != pad {
						calib.Rows[s] = append(calib.Rows[s], data.RowPair{A: k, B: k})
					}
				}
			}
			onTarget := func(l *tensor.Tensor[float32]) *tensor.Tensor[float32] {
				perms := make([][]int, len(l.Shape))
				perms[len(perms)-1] = vocab // logits' last axis is the vocabulary
				return permuteAxes(l, perms...)
			}
			if e := relErr(logits(b, calib.Inputs), onTarget(logits(a, src.Inputs))); e > 1e-5 {
				t.Fatalf("the relabelled Llama is not functionally equal to the source: logits differ by %.3g", e)
			}
			want := relabel(taskVectors(t, a, aft))
			for _, method := range []string{"bico", "bico-blend"} {
				t.Run(method, func(t *testing.T) {
					res := runMethodOpts(t, Models{a, aft, b}, calib, method, 1, Options{Vocab: vocab})
					for name, w := range want {
						if d := res.Delta[name]; d == nil {
							t.Errorf("%s: no delta", name)
						} else if e := relErr(d, w); e > 2e-3 {
							t.Errorf("%s: transported delta differs from the relabelled τ_A by %.3g (relative)", name, e)
						}
					}
					if e := relErr(logits(res.Model, calib.Inputs), onTarget(logits(aft, src.Inputs))); e > 2e-3 {
						t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
					}
				})
			}
		})
	}
}

// TestVocabRows: a target token the source lacks gets no delta.
func TestVocabRows(t *testing.T) {
	d := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 3, 2)
	got := vocabRows(d, 2, []int{2, -1, 0, 1})
	want := []float32{5, 6, 0, 0, 1, 2, 3, 4}
	for i, v := range want {
		if got.Data[i] != v {
			t.Fatalf("vocabRows: %v, want %v", got.Data, want)
		}
	}
}

// TestAlignPositions: BERT's position p (row p) goes to RoBERTa's row
// pad + 1 + p; the rows before it (RoBERTa's padding position) and the
// positions the source lacks get none; equal offsets move every row.
func TestAlignPositions(t *testing.T) {
	d := []float32{1, 2, 3, 4, 5, 6} // 3 positions of width 2
	got := alignPositions(d, 2, 0, 2, 4)
	want := []float32{0, 0, 0, 0, 1, 2, 3, 4}
	for i, v := range want {
		if got.Data[i] != v {
			t.Fatalf("BERT to RoBERTa (pad 1): %v, want %v", got.Data, want)
		}
	}
	if got := alignPositions(d, 2, 2, 2, 3); got.Data[0] != 1 || got.Data[5] != 6 {
		t.Errorf("equal offsets: %v, want every row", got.Data)
	}
}
