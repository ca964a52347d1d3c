package model

import (
	"fmt"
	"maps"
	"slices"
)

// Checkpoint tensors that a model holds otherwise.
//
// Some architectures store several linear layers in one tensor: GPT-NeoX's
// attention.query_key_value.weight [3·d, d] holds, head after head, the
// rows of that head's query, key and value. Transfer methods need the
// query, key and value as sites of their own (each has its own output
// space), so the model holds them as three parameters, and a pack says
// which rows of the checkpoint tensor each of them is. GPT-2's Conv1D
// layers store their weight [In, Out], the transpose of a linear site's
// [Out, In]; a pack marks those as transposed.
//
// Load splits packed tensors into the model's parameters, SaveWith joins
// them again, and the LoRA code works on the joined form (the one PEFT's
// module names and factor shapes refer to), so that a checkpoint or
// adapter bico writes has the tensors, names and layout it was read with.

// pack is one checkpoint tensor held by a model as several parameters (or
// as one, transposed).
type pack struct {
	// file is the tensor's name in a checkpoint, shape its shape there.
	file  string
	shape []int
	// transposed says that the tensor is stored [In, Out]: its transpose
	// is the [Out, In] matrix whose rows the parts take.
	transposed bool
	// parts are the model's parameters made of the tensor's rows, and
	// rows[i] the rows of the (transposed) tensor that parts[i] holds, in
	// order. A vector (a bias) has rows of one value.
	parts []string
	rows  [][]int
}

// packFuncs gives, per model_type, the packed tensors of a configuration;
// architectures without packed tensors have no entry.
var packFuncs = map[string]func(cfg map[string]any) ([]pack, error){}

// packsOf returns the packed tensors of a model of type mt and
// configuration cfg.
func packsOf(mt string, cfg map[string]any) ([]pack, error) {
	f, ok := packFuncs[mt]
	if !ok {
		return nil, nil
	}
	packs, err := f(cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range packs {
		if err := p.check(); err != nil {
			return nil, err
		}
	}
	return packs, nil
}

// logicalShape is the pack's tensor as its parts' rows see it: [Out, In]
// for a transposed matrix.
func (p pack) logicalShape() []int {
	if p.transposed && len(p.shape) == 2 {
		return []int{p.shape[1], p.shape[0]}
	}
	return slices.Clone(p.shape)
}

// width is the number of values per row of the logical tensor.
func (p pack) width() int {
	s := p.logicalShape()
	w := 1
	for _, d := range s[1:] {
		w *= d
	}
	return w
}

// partsOf returns the parts' tensors from the logical tensor's data (see
// logicalShape).
func (p pack) partsOf(logical []float32) map[string]*Tensor {
	w := p.width()
	out := make(map[string]*Tensor, len(p.parts))
	for i, rows := range p.rows {
		data := make([]float32, 0, len(rows)*w)
		for _, r := range rows {
			data = append(data, logical[r*w:(r+1)*w]...)
		}
		shape := []int{len(rows)}
		if len(p.shape) == 2 {
			shape = append(shape, w)
		}
		out[p.parts[i]] = &Tensor{Shape: shape, Data: data}
	}
	return out
}

// joinLogical returns the logical tensor's data (untransposed) from the
// parts' values.
func (p pack) joinLogical(parts [][]float32) []float32 {
	w := p.width()
	out := make([]float32, shapeSize(p.shape))
	for i, rows := range p.rows {
		for j, r := range rows {
			copy(out[r*w:(r+1)*w], parts[i][j*w:(j+1)*w])
		}
	}
	return out
}

// join returns the checkpoint tensor's data from the parts' values.
func (p pack) join(parts [][]float32) []float32 {
	out := p.joinLogical(parts)
	if p.transposed && len(p.shape) == 2 {
		out = transposed(out, p.shape[1])
	}
	return out
}

// check returns an error when the pack's rows do not cover its tensor
// exactly once: a bug in an architecture's pack list.
func (p pack) check() error {
	s := p.logicalShape()
	if len(s) == 0 || len(p.rows) != len(p.parts) {
		return fmt.Errorf("model: pack %q: shape %v, %d parts with %d row lists", p.file, p.shape, len(p.parts), len(p.rows))
	}
	seen := make([]bool, s[0])
	for _, rows := range p.rows {
		for _, r := range rows {
			if r < 0 || r >= len(seen) || seen[r] {
				return fmt.Errorf("model: pack %q: row %d of %d out of range or taken twice", p.file, r, len(seen))
			}
			seen[r] = true
		}
	}
	if i := slices.Index(seen, false); i >= 0 {
		return fmt.Errorf("model: pack %q: row %d belongs to no part", p.file, i)
	}
	return nil
}

// fileSpecs returns the tensors a checkpoint of specs holds, in order: a
// packed tensor in place of its first part, its other parts left out.
func fileSpecs(specs []paramSpec, packs []pack) []paramSpec {
	if len(packs) == 0 {
		return specs
	}
	first, member := packIndex(packs)
	var out []paramSpec
	for _, s := range specs {
		if i, ok := first[s.name]; ok {
			out = append(out, paramSpec{name: packs[i].file, shape: packs[i].shape})
		} else if !member[s.name] {
			out = append(out, s)
		}
	}
	return out
}

// packIndex returns, for the first part of each pack, the pack's index,
// and the set of every packed parameter.
func packIndex(packs []pack) (first map[string]int, member map[string]bool) {
	first, member = map[string]int{}, map[string]bool{}
	for i, p := range packs {
		first[p.parts[0]] = i
		for _, name := range p.parts {
			member[name] = true
		}
	}
	return first, member
}

// unpack replaces each packed checkpoint tensor in params (by its file
// name) with the parameters it holds.
func unpack(packs []pack, params map[string]*Tensor) error {
	for _, p := range packs {
		t, ok := params[p.file]
		if !ok {
			continue // missing: the builder names the part it lacks
		}
		if shapeSize(t.Shape) != shapeSize(p.shape) {
			return fmt.Errorf("tensor %q has shape %v, expected %v", p.file, t.Shape, p.shape)
		}
		data := t.Data
		if p.transposed && len(p.shape) == 2 {
			data = transposed(data, p.shape[0])
		}
		delete(params, p.file)
		maps.Copy(params, p.partsOf(data))
	}
	return nil
}

// logicalParams returns m's parameters with each packed tensor joined under
// its checkpoint name in its logical layout ([Out, In], untransposed), as a
// LoRA adapter's module names and factors see them, and the packs.
func logicalParams(m Model) (map[string]*Tensor, []pack, error) {
	packs, err := packsOf(m.Type(), m.Config())
	if err != nil {
		return nil, nil, err
	}
	params := Params(m)
	for _, p := range packs {
		parts := make([][]float32, len(p.parts))
		for i, name := range p.parts {
			t := params[name]
			if t == nil {
				return nil, nil, fmt.Errorf("model: %s has no parameter %q of %q", m.Type(), name, p.file)
			}
			parts[i] = t.Data
			delete(params, name)
		}
		params[p.file] = &Tensor{Shape: p.logicalShape(), Data: p.joinLogical(parts)}
	}
	return params, packs, nil
}

// fromLogical is the inverse of logicalParams: each joined tensor split
// into the model's parameters.
func fromLogical(packs []pack, params map[string]*Tensor) {
	for _, p := range packs {
		if t, ok := params[p.file]; ok {
			delete(params, p.file)
			maps.Copy(params, p.partsOf(t.Data))
		}
	}
}

// rowSpan returns the rows from, from+1, …, from+n−1.
func rowSpan(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}
