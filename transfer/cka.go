package transfer

import (
	"context"
	"fmt"
	"math"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// PairingRule says how target blocks are paired with source blocks when the
// models differ in depth.
type PairingRule string

const (
	// PairRelative pairs target block j with source block
	// round(j·(L_A−1)/(L_B−1)) (the default).
	PairRelative PairingRule = "relative"
	// PairCKA pairs each target block with the source block whose output
	// has the highest linear CKA with it on the calibration samples.
	PairCKA PairingRule = "cka"
)

// blockRecorder is an Observer that keeps, for every block output the model
// marks, one row per sample: the mean over the sample's tokens.
type blockRecorder struct {
	index map[string]int
	rows  [][]float64 // per block: samples × width, appended batch by batch
	width []int
}

func newBlockRecorder(names []string) *blockRecorder {
	r := &blockRecorder{index: map[string]int{}, rows: make([][]float64, len(names)), width: make([]int, len(names))}
	for i, n := range names {
		r.index[n] = i
	}
	return r
}

func (r *blockRecorder) Wants(site string, kind Kind) bool {
	_, ok := r.index[site]
	return ok && kind == OutputAct
}

func (r *blockRecorder) Observe(site string, kind Kind, x *tensor.Tensor[float32]) {
	i := r.index[site]
	pooled := reduceTokens(x, TokensMean)
	d := pooled.Dim(-1)
	r.width[i] = d
	for _, v := range pooled.Data {
		r.rows[i] = append(r.rows[i], float64(v))
	}
}

// BlockCKA runs both models forward over the samples and returns the linear
// CKA between every source block output (rows) and every target block
// output (columns), each sample's tokens averaged.
func BlockCKA(ctx context.Context, src, tgt model.Model, calib Samples, opts Options) ([][]float64, error) {
	opts = opts.withDefaults()
	na, nb := model.BlockOutputs(src), model.BlockOutputs(tgt)
	if len(na) == 0 || len(nb) == 0 {
		return nil, fmt.Errorf("pairing by CKA needs models that mark their block outputs")
	}
	ra, rb := newBlockRecorder(na), newBlockRecorder(nb)
	for i := 0; i < calib.Len(); i += opts.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := calib.batch(i, min(i+opts.BatchSize, calib.Len()))
		for _, run := range []struct {
			m   model.Model
			in  *tensor.Tensor[float32]
			obs *blockRecorder
		}{{src, b.source().Inputs, ra}, {tgt, b.Inputs, rb}} {
			t := autodiff.NewTape[float32](opts.Backend)
			t.NoGrad, t.Observer = true, run.obs
			run.m.Forward(t, autodiff.Const(run.in))
		}
	}
	n := calib.Len()
	grams := func(r *blockRecorder) [][]float64 {
		out := make([][]float64, len(r.rows))
		for i, x := range r.rows {
			out[i] = centredGram(opts.Backend, x, n, r.width[i])
		}
		return out
	}
	ga, gb := grams(ra), grams(rb)
	cka := make([][]float64, len(ga))
	for i := range ga {
		cka[i] = make([]float64, len(gb))
		for j := range gb {
			cka[i][j] = dot(ga[i], gb[j]) / math.Sqrt(dot(ga[i], ga[i])*dot(gb[j], gb[j]))
		}
	}
	return cka, nil
}

// centredGram returns the n×n Gram matrix of the column-centred rows x
// (n × d): linear CKA is ⟨K_A, K_B⟩ / (‖K_A‖ ‖K_B‖) over these.
func centredGram(be linalg.Backend, x []float64, n, d int) []float64 {
	c := append([]float64(nil), x...)
	for j := 0; j < d; j++ {
		mean := 0.0
		for i := 0; i < n; i++ {
			mean += c[i*d+j]
		}
		mean /= float64(n)
		for i := 0; i < n; i++ {
			c[i*d+j] -= mean
		}
	}
	g := make([]float64, n*n)
	be.Dgemm(false, true, n, n, d, 1, c, d, c, d, 0, g, n)
	return g
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// CKADepth pairs every target block with the source block of highest CKA.
func CKADepth(cka [][]float64) []int {
	if len(cka) == 0 {
		return nil
	}
	pair := make([]int, len(cka[0]))
	for j := range pair {
		for i := range cka {
			if cka[i][j] > cka[pair[j]][j] {
				pair[j] = i
			}
		}
	}
	return pair
}
