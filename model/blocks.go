package model

// BlockMarker is implemented by models whose Forward marks the output of
// every repeated block on the tape (Tape.Mark, seen by an Observer as the
// SiteOutput of that name): what layer pairing by similarity compares.
type BlockMarker interface {
	// BlockOutputs lists the mark names of the block outputs, block 0
	// first.
	BlockOutputs() []string
}

// BlockOutputs returns m's block-output mark names, or nil when m does not
// mark them.
func BlockOutputs(m Model) []string {
	if b, ok := m.(BlockMarker); ok {
		return b.BlockOutputs()
	}
	return nil
}

// blockNames returns the names name(0), …, name(n−1).
func blockNames(n int, name func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name(i)
	}
	return out
}

// BlockOutputs implements BlockMarker: "vit.encoder.layer.N".
func (v *vitModel) BlockOutputs() []string {
	return blockNames(v.layers, vitLayer)
}

// BlockOutputs implements BlockMarker: "layers.N.act".
func (m *mlpModel) BlockOutputs() []string {
	return blockNames(len(m.hidden), func(i int) string { return mlpLayer(i) + ".act" })
}
