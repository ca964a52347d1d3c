package transfer

import (
	"fmt"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// Delta is a change to the target's parameters, by parameter name: the
// transported task vector ΔB, to be added as θ_B + α·ΔB.
type Delta map[string]*tensor.Tensor[float32]

// taskVector returns τ_A for one source parameter: θ_A^ft − θ_A, or the
// whole fine-tuned value when the base has no such parameter (a new head).
func taskVector(ms Models, name string) (*tensor.Tensor[float32], error) {
	ft := ms.SourceFinetuned.Param(name)
	if ft == nil {
		return nil, fmt.Errorf("source fine-tuned model has no parameter %q", name)
	}
	tau := ft.Value.Clone()
	if base := ms.SourceBase.Param(name); base != nil {
		if !tensor.SameShape(base.Value.Shape, tau.Shape) {
			return nil, fmt.Errorf("parameter %q is %v in the source base but %v in the fine-tuned source", name, base.Value.Shape, tau.Shape)
		}
		for i, v := range base.Value.Data {
			tau.Data[i] -= v
		}
	}
	return tau, nil
}

// transportMatrix returns T_outᵀ·Δ·T_in for Δ of shape [out.DA, in.DA]; a nil
// map stands for the identity on that side.
func (p *Prepared) transportMatrix(delta []float32, rowsA, colsA int, out, in *Map) []float64 {
	return transportWith(p.Options.Backend, delta, rowsA, colsA, out, in)
}

// transportWith is transportMatrix on backend be.
func transportWith(be linalg.Backend, delta []float32, rowsA, colsA int, out, in *Map) []float64 {
	d := make([]float64, len(delta))
	for i, v := range delta {
		d[i] = float64(v)
	}
	rows, cols := rowsA, colsA
	if out != nil {
		tmp := make([]float64, out.DB*cols)
		be.Dgemm(true, false, out.DB, cols, rows, 1, out.T, out.DB, d, cols, 0, tmp, cols)
		d, rows = tmp, out.DB
	}
	if in != nil {
		tmp := make([]float64, rows*in.DB)
		be.Dgemm(false, false, rows, in.DB, cols, 1, d, cols, in.T, in.DB, 0, tmp, in.DB)
		d, cols = tmp, in.DB
	}
	return d
}

// toTarget converts transported values to a float32 tensor with the shape of
// the target's parameter.
func toTarget(m model.Model, name string, d []float64) (*tensor.Tensor[float32], error) {
	p := m.Param(name)
	if p == nil {
		return nil, fmt.Errorf("target model has no parameter %q", name)
	}
	if p.Value.Numel() != len(d) {
		return nil, fmt.Errorf("transported delta for %q has %d values, the target's parameter %v", name, len(d), p.Value.Shape)
	}
	out := tensor.New[float32](p.Value.Shape...)
	for i, v := range d {
		out.Data[i] = float32(v)
	}
	return out, nil
}

// transportSite moves a site's weight and bias delta with its two maps.
//
// A language model's lm_head tied to its embedding table (tied on both
// sides) moves with the table. Tied on one side only, it moves as an
// lm_head: a tied source's lm_head delta is its table's, and a tied
// target's table takes the moved lm_head delta added to the moved table
// delta, as fine-tuning a tied model moves its one matrix by the sum of
// the gradients of its two uses.
func (p *Prepared) transportSite(sp SitePair, in, out *Map, delta Delta) error {
	if sp.A.Tied && sp.B.Tied {
		return nil
	}
	tw, err := taskVector(p.Models, sp.A.Weight)
	if err != nil {
		return err
	}
	if sp.A.IsTable() || sp.B.IsTable() {
		return p.transportTable(sp, tw, out, delta)
	}
	if tw.Numel() != sp.A.Out*sp.A.In {
		return fmt.Errorf("source parameter %q has shape %v, site says [%d, %d]", sp.A.Weight, tw.Shape, sp.A.Out, sp.A.In)
	}
	rows, vocab := sp.A.Out, p.Options.Vocab
	if sp.A.OutSpace == "" || sp.B.OutSpace == "" {
		// The outputs are a vocabulary's logits, one row per token.
		if vocab == nil && sp.A.Out != sp.B.Out {
			return fmt.Errorf("vocabularies of %d and %d tokens: %s needs one vocabulary on both sides", sp.A.Out, sp.B.Out, sp.B.Name)
		}
		if vocab != nil {
			tw, rows = vocabRows(tw, sp.A.In, vocab), len(vocab)
		}
	} else {
		vocab = nil
	}
	moved, err := toTarget(p.Models.TargetBase, sp.B.Weight, p.transportMatrix(tw.Data, rows, sp.A.In, out, in))
	if err != nil {
		return err
	}
	if sp.B.Tied {
		addDelta(delta, sp.B.Weight, moved)
	} else {
		delta[sp.B.Weight] = moved
	}
	if sp.A.Bias == "" || sp.B.Bias == "" {
		return nil
	}
	tb, err := taskVector(p.Models, sp.A.Bias)
	if err != nil {
		return err
	}
	if vocab != nil {
		tb = vocabRows(tb, 1, vocab)
	}
	delta[sp.B.Bias], err = toTarget(p.Models.TargetBase, sp.B.Bias, p.transportMatrix(tb.Data, rows, 1, out, nil))
	return err
}

// alignPositions returns the rows of a text position table's delta (rows
// of width w, position 0 at row offA) at the target's rows, position 0 at
// offB, rowsB of them: row offB + p gets row offA + p for every p both
// tables have (the rows before position 0 too, as RoBERTa's padding row);
// the others are zero.
func alignPositions(delta []float32, w, offA, offB, rowsB int) *tensor.Tensor[float32] {
	out := tensor.New[float32](rowsB, w)
	rowsA := len(delta) / w
	for rB := range rowsB {
		if rA := rB - offB + offA; rA >= 0 && rA < rowsA {
			copy(out.Data[rB*w:(rB+1)*w], delta[rA*w:(rA+1)*w])
		}
	}
	return out
}

// vocabRows returns a delta of one row of w values per source token
// re-indexed to the target's vocabulary: row j is the source's row
// vocab[j], or zeros for a token the source lacks (vocab[j] < 0).
func vocabRows(delta *tensor.Tensor[float32], w int, vocab []int) *tensor.Tensor[float32] {
	out := tensor.New[float32](len(vocab), w)
	for j, i := range vocab {
		if i >= 0 {
			copy(out.Data[j*w:(j+1)*w], delta.Data[i*w:(i+1)*w])
		}
	}
	return out
}

// transportTable moves a lookup table's delta [In, Out], one row per token
// of a vocabulary both models share, with the output map: ΔE_B = ΔE_A·T_out.
func (p *Prepared) transportTable(sp SitePair, tw *tensor.Tensor[float32], out *Map, delta Delta) error {
	if !sp.A.IsTable() || !sp.B.IsTable() {
		return fmt.Errorf("a lookup table paired with a linear layer (%s, %s)", sp.A.Name, sp.B.Name)
	}
	vocab := p.Options.Vocab
	if vocab == nil && sp.A.In != sp.B.In {
		return fmt.Errorf("vocabularies of %d and %d tokens: the embedding table needs one vocabulary on both sides", sp.A.In, sp.B.In)
	}
	if tw.Numel() != sp.A.In*sp.A.Out {
		return fmt.Errorf("source parameter %q has shape %v, site says [%d, %d]", sp.A.Weight, tw.Shape, sp.A.In, sp.A.Out)
	}
	rows := sp.A.In
	if vocab != nil {
		tw, rows = vocabRows(tw, sp.A.Out, vocab), len(vocab)
	}
	moved, err := toTarget(p.Models.TargetBase, sp.B.Weight, p.transportMatrix(tw.Data, rows, sp.A.Out, nil, out))
	if err != nil {
		return err
	}
	addDelta(delta, sp.B.Weight, moved) // a tied lm_head's may be there
	return nil
}

// addDelta adds d to delta[name], or sets it when there is none.
func addDelta(delta Delta, name string, d *tensor.Tensor[float32]) {
	sum := delta[name]
	if sum == nil {
		delta[name] = d
		return
	}
	for i, v := range d.Data {
		sum.Data[i] += v
	}
}

// spaceMap is the map of one target space and the source space it pairs
// with.
type spaceMap struct {
	source string
	m      *Map
}

// transportVectors moves every target vector parameter whose space has a
// map, with the rule its role asks for.
func (p *Prepared) transportVectors(maps map[string]spaceMap, delta Delta) error {
	srcVecs := p.Models.SourceBase.Vectors()
	if p.Options.StatsFrom == StatsFinetuned {
		srcVecs = p.Models.SourceFinetuned.Vectors()
	}
	for _, vb := range p.Models.TargetBase.Vectors() {
		sm := maps[vb.Space]
		m := sm.m
		if m == nil || p.skipVector(vb) {
			continue
		}
		va, ok := findVector(srcVecs, sm.source, vb.Role)
		if !ok {
			continue
		}
		tau, err := taskVector(p.Models, va.Name)
		if err != nil {
			return err
		}
		if vb.Role == "head_norm_weight" {
			d, err := headVector(p.Options.Backend, tau.Data, m, p.Models.TargetBase.Param(vb.Name).Value.Numel(), p.Options.Norms == NormDiag)
			if err != nil {
				return fmt.Errorf("%s: %w", vb.Name, err)
			}
			if delta[vb.Name], err = toTarget(p.Models.TargetBase, vb.Name, d); err != nil {
				return err
			}
			continue
		}
		rowsB := p.Models.TargetBase.Param(vb.Name).Value.Numel() / m.DB
		if tau.Numel()%m.DA != 0 {
			return fmt.Errorf("source vector %q (%v) is not made of rows of width %d", va.Name, tau.Shape, m.DA)
		}
		if vb.Role == "text_positions" || vb.Role == "token_type_embeddings" {
			// Rows of positions (or token types): row for row, from each
			// table's first position.
			tau = alignPositions(tau.Data, m.DA, va.Offset, vb.Offset, rowsB)
		}
		if rows := tau.Numel() / m.DA; rows != rowsB {
			if tau, err = alignTokens(tau.View(1, rows, m.DA), rowsB); err != nil {
				return fmt.Errorf("position table %q: %w", va.Name, err)
			}
		}
		var d []float64
		if isNormRole(vb.Role) && p.Options.Norms == NormDiag {
			d = diagTransport(tau.Data, m)
		} else {
			d = p.transportMatrix(tau.Data, rowsB, m.DA, nil, m)
		}
		if delta[vb.Name], err = toTarget(p.Models.TargetBase, vb.Name, d); err != nil {
			return err
		}
	}
	return nil
}

func (p *Prepared) skipVector(v model.Vector) bool {
	if isNormRole(v.Role) {
		return p.Options.Norms == NormDrop
	}
	return p.Options.Embeds == EmbedZero
}

func isNormRole(role string) bool {
	return role == "norm_weight" || role == "norm_bias" || role == "head_norm_weight"
}

// headVector moves the delta of a norm weight shared by every head of a
// projection (Qwen3's q_norm, k_norm: width head_dim) with the map of the
// projection's output, whose coordinates are the heads side by side: the
// delta repeated over the source's heads is moved as a vector of that
// space (or, with diag, as the diagonal of Tᵀ·diag(Δ)·T), and the target's
// heads of the result are averaged. When the map permutes whole heads, and
// so keeps each head's coordinates, this returns the delta itself.
func headVector(be linalg.Backend, tau []float32, m *Map, widthB int, diag bool) ([]float64, error) {
	widthA := len(tau)
	if widthA == 0 || m.DA%widthA != 0 || widthB <= 0 || m.DB%widthB != 0 {
		return nil, fmt.Errorf("a head norm of width %d (target %d) does not divide its projection's %d (target %d) outputs", widthA, widthB, m.DA, m.DB)
	}
	rep := make([]float32, m.DA)
	for i := range rep {
		rep[i] = tau[i%widthA]
	}
	var y []float64
	if diag {
		y = diagTransport(rep, m)
	} else {
		y = transportWith(be, rep, 1, m.DA, nil, m)
	}
	heads := m.DB / widthB
	out := make([]float64, widthB)
	for i, v := range y {
		out[i%widthB] += v / float64(heads)
	}
	return out, nil
}

func findVector(vs []model.Vector, space, role string) (model.Vector, bool) {
	for _, v := range vs {
		if v.Space == space && v.Role == role {
			return v, true
		}
	}
	return model.Vector{}, false
}

// diagTransport returns diag(Tᵀ·diag(v)·T): out_k = Σ_i T_ik² v_i.
func diagTransport(v []float32, m *Map) []float64 {
	out := make([]float64, m.DB)
	for i := 0; i < m.DA; i++ {
		row := m.T[i*m.DB : (i+1)*m.DB]
		for k, t := range row {
			out[k] += t * t * float64(v[i])
		}
	}
	return out
}
