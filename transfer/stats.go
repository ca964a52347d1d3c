package transfer

import (
	"fmt"
	"sync"

	"github.com/bico-dev/bico/autodiff"
	"github.com/bico-dev/bico/internal/memory"
	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// Kind is the kind of row a statistic is built from: a site's input or
// output activation, or the gradient at its input or output.
type Kind = autodiff.SiteKind

// The kinds of rows, as the autodiff tape names them.
const (
	InputAct   = autodiff.SiteInput
	OutputAct  = autodiff.SiteOutput
	OutputGrad = autodiff.SiteOutputGrad
	InputGrad  = autodiff.SiteInputGrad
)

// isInputSide reports whether rows of kind k live in a site's input space.
func isInputSide(k Kind) bool { return k == InputAct || k == InputGrad }

// StatKey names one cross-covariance: rows of one kind, from source space A
// and target space B.
type StatKey struct {
	Kind Kind
	A, B string
}

func (k StatKey) String() string { return fmt.Sprintf("%s %s ↔ %s", k.Kind, k.A, k.B) }

// Stat is a streamed cross-covariance between source rows a (width DA) and
// target rows b (width DB), accumulated in float64 over every calibration
// row: C = Σ a bᵀ, with the row sums for centring, each column's sum of
// squares (the diagonals of Σ a aᵀ and Σ b bᵀ, for the alignment score)
// and, when asked for, the Gram matrices Σ a aᵀ and Σ b bᵀ for partial
// whitening.
type Stat struct {
	Key        StatKey
	DA, DB     int
	Rows       int
	C          []float64 // DA×DB, row-major
	SumA, SumB []float64
	SqA, SqB   []float64
	GramA      []float64 // DA×DA, nil unless whitening
	GramB      []float64 // DB×DB, nil unless whitening
}

func newStat(k StatKey, dA, dB int, gram bool) *Stat {
	s := &Stat{Key: k, DA: dA, DB: dB}
	s.alloc(gram)
	return s
}

// alloc gives s its sums (and the Gram matrices when gram is set).
func (s *Stat) alloc(gram bool) {
	dA, dB := s.DA, s.DB
	s.C, s.SumA, s.SumB = make([]float64, dA*dB), make([]float64, dA), make([]float64, dB)
	s.SqA, s.SqB = make([]float64, dA), make([]float64, dB)
	if gram {
		s.GramA = make([]float64, dA*dA)
		s.GramB = make([]float64, dB*dB)
	}
	// The first batch adds into these from several threads at once: map
	// their pages now, in one call each (see memory).
	memory.Prefault(s.C)
	memory.Prefault(s.GramA)
	memory.Prefault(s.GramB)
}

// statBytes is the memory of a statistic between widths dA and dB: its
// float64 sums, and the Gram matrices when gram is set.
func statBytes(dA, dB int, gram bool) int64 {
	n := int64(dA)*int64(dB) + 2*int64(dA) + 2*int64(dB)
	if gram {
		n += int64(dA)*int64(dA) + int64(dB)*int64(dB)
	}
	return 8 * n
}

// accumulate adds one batch of corresponding rows: a is [rows, DA], b is
// [rows, DB]. The batch product is formed in float32 by one GEMM and added
// into the float64 sums.
func (s *Stat) accumulate(be linalg.Backend, a, b []float32, rows int, scratch []float32) []float32 {
	if rows == 0 {
		return scratch
	}
	scratch = prod(be, a, b, rows, s.DA, s.DB, s.C, scratch)
	if s.GramA != nil {
		scratch = prod(be, a, a, rows, s.DA, s.DA, s.GramA, scratch)
		scratch = prod(be, b, b, rows, s.DB, s.DB, s.GramB, scratch)
	}
	threads := be.Threads()
	addRowSums(threads, s.SumA, s.SqA, a, s.DA)
	addRowSums(threads, s.SumB, s.SqB, b, s.DB)
	s.Rows += rows
	return scratch
}

// prod adds aᵀb (a: rows×m, b: rows×n) into the float64 m×n sum dst.
func prod(be linalg.Backend, a, b []float32, rows, m, n int, dst []float64, scratch []float32) []float32 {
	if cap(scratch) < m*n {
		scratch = make([]float32, m*n)
	}
	scratch = scratch[:m*n]
	be.Sgemm(true, false, m, n, rows, 1, a, m, b, n, 0, scratch, n)
	// The float64 sums are the larger part of the memory traffic: add on
	// the backend's threads.
	addFloat64(be.Threads(), dst, scratch)
	return scratch
}

// addFloat64 adds src into dst element-wise, on up to threads goroutines.
func addFloat64(threads int, dst []float64, src []float32) {
	const grain = 1 << 16
	split(min(threads, len(src)/grain), len(src), func(lo, hi int) {
		d := dst[lo:hi]
		for i, v := range src[lo:hi] {
			d[i] += float64(v)
		}
	})
}

// addRowSums adds the sum of the rows of x (width d) into sum and the sum
// of their squares into sq, in float64, with the columns split over up to
// threads goroutines (each column's sums run in row order, whatever the
// split).
func addRowSums(threads int, sum, sq []float64, x []float32, d int) {
	if d == 0 {
		return
	}
	const grain = 1 << 16 // elements per goroutine at least
	split(min(threads, len(x)/grain, d/64), d, func(c0, c1 int) {
		s, q := sum[c0:c1], sq[c0:c1]
		r := 0
		// Four rows at a time: one load and store of each sum per four
		// elements.
		for ; r+4*d <= len(x); r += 4 * d {
			x0, x1, x2, x3 := x[r+c0:r+c1], x[r+d+c0:r+d+c1], x[r+2*d+c0:r+2*d+c1], x[r+3*d+c0:r+3*d+c1]
			q := q[:len(s)]
			x0, x1, x2, x3 = x0[:len(s)], x1[:len(s)], x2[:len(s)], x3[:len(s)]
			for j := range s {
				a, b, c, e := float64(x0[j]), float64(x1[j]), float64(x2[j]), float64(x3[j])
				s[j] += (a + b) + (c + e)
				q[j] += (a*a + b*b) + (c*c + e*e)
			}
		}
		for ; r+d <= len(x); r += d {
			for j, v := range x[r+c0 : r+c1] {
				f := float64(v)
				s[j] += f
				q[j] += f * f
			}
		}
	})
}

// split calls fn on workers contiguous ranges that cover [0, n), the first
// on the calling goroutine, and waits for all of them; with workers ≤ 1 it
// calls fn(0, n).
func split(workers, n int, fn func(lo, hi int)) {
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(n*w/workers, n*(w+1)/workers)
	}
	fn(0, n/workers)
	wg.Wait()
}

// spaceOf returns the space a site's rows of kind k live in.
func spaceOf(s model.Site, k Kind) string {
	if isInputSide(k) {
		return s.InSpace
	}
	return s.OutSpace
}

// rowKey names a batch of rows of one kind in one space of one model.
type rowKey struct {
	kind  Kind
	space string
}

// sourceRecorder is the Observer on the source model's tape: it keeps a copy
// of the rows of every (kind, space) some statistic needs, for one batch.
type sourceRecorder struct {
	want map[string][]Kind // site name → kinds to keep
	site map[string]model.Site
	rule TokenRule
	// pick says which of the batch's token rows the statistics take.
	pick rowPick
	rows map[rowKey]*tensor.Tensor[float32]
	// spare holds the previous batch's copies, reused for this one's.
	spare map[rowKey]*tensor.Tensor[float32]
}

// reset starts a new batch, keeping the last batch's buffers for reuse.
func (r *sourceRecorder) reset() {
	if r.spare == nil {
		r.spare = map[rowKey]*tensor.Tensor[float32]{}
	}
	for k, v := range r.rows {
		r.spare[k] = v
	}
	r.rows = map[rowKey]*tensor.Tensor[float32]{}
}

func (r *sourceRecorder) Wants(site string, kind Kind) bool {
	for _, k := range r.want[site] {
		if k == kind {
			return true
		}
	}
	return false
}

func (r *sourceRecorder) Observe(site string, kind Kind, x *tensor.Tensor[float32]) {
	key := rowKey{kind, spaceOf(r.site[site], kind)}
	if _, done := r.rows[key]; done {
		return // another site reading the same tensor already gave it
	}
	x = reduceTokens(x, r.rule)
	if r.pick.applies(x) {
		s := r.spare[key]
		if s == nil {
			s = &tensor.Tensor[float32]{}
		}
		r.rows[key] = r.pick.gather(s, x)
		delete(r.spare, key)
		return
	}
	if s := r.spare[key]; s != nil && len(s.Data) == len(x.Data) {
		copy(s.Data, x.Data)
		s.Shape = append(s.Shape[:0], x.Shape...)
		r.rows[key] = s
		delete(r.spare, key)
		return
	}
	r.rows[key] = x.Clone()
}

// targetAccumulator is the Observer on the target model's tape: as each of
// the target's rows arrive, it multiplies them with the stored source rows
// of every statistic they take part in.
type targetAccumulator struct {
	be      linalg.Backend
	want    map[string][]Kind
	site    map[string]model.Site
	rule    TokenRule
	stats   map[rowKey][]*Stat // target (kind, space) → statistics
	src     map[rowKey]*tensor.Tensor[float32]
	seen    map[rowKey]bool
	pick    rowPick // as sourceRecorder's
	kept    tensor.Tensor[float32]
	scratch []float32
	err     error
	// prefix holds the token rows the source and the target put before
	// their patch grids (model.PrefixTokens).
	prefix [2]int
}

func (t *targetAccumulator) Wants(site string, kind Kind) bool {
	for _, k := range t.want[site] {
		if k == kind {
			return true
		}
	}
	return false
}

func (t *targetAccumulator) Observe(site string, kind Kind, x *tensor.Tensor[float32]) {
	key := rowKey{kind, spaceOf(t.site[site], kind)}
	if t.seen[key] || t.err != nil {
		return
	}
	t.seen[key] = true
	b := reduceTokens(x, t.rule)
	if t.pick.applies(b) {
		b = t.pick.gather(&t.kept, b)
	}
	prefix := t.prefix
	if t.site[site].Role == "patch" {
		prefix = [2]int{-1, -1} // patches only: no class token yet
	}
	for _, s := range t.stats[key] {
		a, ok := t.src[rowKey{kind, s.Key.A}]
		if !ok {
			t.err = fmt.Errorf("statistic %s: the source produced no rows", s.Key)
			return
		}
		bs := b
		if len(b.Shape) == 3 {
			var err error
			if a, bs, err = alignRows(a, b, prefix[0], prefix[1]); err != nil {
				t.err = fmt.Errorf("statistic %s: %w", s.Key, err)
				return
			}
		}
		rows := bs.Rows()
		if a.Rows() != rows {
			t.err = fmt.Errorf("statistic %s: %d source rows against %d target rows", s.Key, a.Rows(), rows)
			return
		}
		t.scratch = s.accumulate(t.be, a.Data, bs.Data, rows, t.scratch)
	}
}

// rowPick says which token rows of one model's batch the statistics take:
// those listed in keep, in order, of a pass's rows of one row per token.
type rowPick struct {
	on     bool
	tokens int   // the batch's token rows
	keep   []int // the rows taken
}

// applies reports whether x holds the batch's token rows (not a head's
// pooled rows, one per sample) and p picks some of them.
func (p rowPick) applies(x *tensor.Tensor[float32]) bool {
	return p.on && x.Rows() == p.tokens
}

// gather writes into dst, reusing its storage, the rows of x that p keeps,
// as a matrix [len(keep), d], and returns it.
func (p rowPick) gather(dst, x *tensor.Tensor[float32]) *tensor.Tensor[float32] {
	d, n := x.Dim(-1), len(p.keep)
	if cap(dst.Data) < n*d {
		dst.Data = make([]float32, n*d)
	}
	dst.Data = dst.Data[:n*d]
	dst.Shape = append(dst.Shape[:0], n, d)
	for k, r := range p.keep {
		copy(dst.Data[k*d:(k+1)*d], x.Data[r*d:(r+1)*d])
	}
	return dst
}

// pickRows returns the rows of the source a's and the target b's passes
// over batch that the statistics take: the pairs of batch.Rows when the
// two read differently tokenised text, else each model's tokens other than
// padding (model.Padding), which match one to one.
func pickRows(a, b model.Model, batch Samples) (pa, pb rowPick) {
	if batch.SourceInputs == nil {
		return padPick(model.Padding(a, batch.Inputs)), padPick(model.Padding(b, batch.Inputs))
	}
	la, lb := batch.SourceInputs.Shape[1], batch.Inputs.Shape[1]
	pa = rowPick{on: true, tokens: batch.Len() * la, keep: []int{}}
	pb = rowPick{on: true, tokens: batch.Len() * lb, keep: []int{}}
	for s, rows := range batch.Rows {
		for _, r := range rows {
			pa.keep = append(pa.keep, s*la+r.A)
			pb.keep = append(pb.keep, s*lb+r.B)
		}
	}
	return pa, pb
}

// padPick picks the rows pad does not flag; nil pad: every row.
func padPick(pad []bool) rowPick {
	if pad == nil {
		return rowPick{}
	}
	p := rowPick{on: true, tokens: len(pad), keep: make([]int, 0, len(pad))}
	for r, isPad := range pad {
		if !isPad {
			p.keep = append(p.keep, r)
		}
	}
	return p
}

// checkSourceInputs checks the source's own inputs of calib, if any,
// against the target's: one sequence per sample, and each sample's pairs
// of positions within both sequences.
func checkSourceInputs(calib Samples) error {
	if calib.SourceInputs == nil {
		return nil
	}
	a, b := calib.SourceInputs.Shape, calib.Inputs.Shape
	if len(a) != 2 || len(b) != 2 || a[0] != calib.Len() || len(calib.Rows) != calib.Len() {
		return fmt.Errorf("calibration set: the source's inputs %v and row pairs (%d) do not fit the target's inputs %v of %d samples", a, len(calib.Rows), b, calib.Len())
	}
	total := 0
	for i, rows := range calib.Rows {
		for _, r := range rows {
			if r.A < 0 || r.A >= a[1] || r.B < 0 || r.B >= b[1] {
				return fmt.Errorf("calibration set: sample %d pairs source token %d with target token %d, beyond its %d and %d tokens", i, r.A, r.B, a[1], b[1])
			}
		}
		total += len(rows)
	}
	if total == 0 {
		return fmt.Errorf("calibration set: no token of the source's text lines up with one of the target's (they tokenise the text too differently)")
	}
	return nil
}
