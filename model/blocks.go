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

// BlockOutputs implements BlockMarker: "vit.encoder.layer.N".
func (v *vitModel) BlockOutputs() []string {
	out := make([]string, v.layers)
	for i := range out {
		out[i] = vitLayer(i)
	}
	return out
}

// BlockOutputs implements BlockMarker: "layers.N.act".
func (m *mlpModel) BlockOutputs() []string {
	out := make([]string, len(m.hidden))
	for i := range out {
		out[i] = mlpLayer(i) + ".act"
	}
	return out
}
