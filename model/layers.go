package model

// Parameters, sites and vectors of the layers every architecture builds
// from.

// linearSpecs returns the parameters of the linear layer name: its weight
// [out, in], drawn from a normal of std truncated at 2 std, and with bias
// its bias [out], zeros.
func linearSpecs(name string, out, in int, bias bool, std float64) []paramSpec {
	s := []paramSpec{{name: name + ".weight", shape: []int{out, in}, init: initTruncNormal, std: std}}
	if bias {
		s = append(s, paramSpec{name: name + ".bias", shape: []int{out}})
	}
	return s
}

// layerNormSpecs returns the parameters of the LayerNorm name of width d:
// its weight (ones) and bias (zeros).
func layerNormSpecs(name string, d int) []paramSpec {
	return []paramSpec{{name: name + ".weight", shape: []int{d}, init: initOnes}, {name: name + ".bias", shape: []int{d}}}
}

// linearSite returns the site of the linear layer name, reading inSpace,
// whose outputs are a space of its own (named name): weight name.weight,
// and with bias name.bias.
func linearSite(name, role string, block, in, out int, inSpace string, bias bool) Site {
	s := Site{Name: name, Role: role, Block: block, Weight: name + ".weight", In: in, Out: out, InSpace: inSpace, OutSpace: name}
	if bias {
		s.Bias = name + ".bias"
	}
	return s
}

// layerNormVectors returns the weight and bias of the LayerNorm name as
// vectors of space.
func layerNormVectors(name string, block int, space string) []Vector {
	return []Vector{
		{Name: name + ".weight", Role: "norm_weight", Block: block, Space: space},
		{Name: name + ".bias", Role: "norm_bias", Block: block, Space: space},
	}
}

// lmHeadSite returns a causal language model's lm_head site name, reading
// inSpace, of d inputs and vocab outputs: the vocabulary's logits, which
// have no space to map (OutSpace ""). Tied, its weight is the embedding
// table embed's (Tied set).
func lmHeadSite(name, inSpace, embed string, d, vocab int, tied bool) Site {
	lm := linearSite(name, "lm_head", -1, d, vocab, inSpace, false)
	lm.OutSpace = ""
	if tied {
		lm.Weight, lm.Tied = embed+".weight", true
	}
	return lm
}
