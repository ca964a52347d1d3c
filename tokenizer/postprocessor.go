package tokenizer

// A postProcessor adds special tokens around the ids of a text.
type postProcessor interface {
	// process returns ids with the special tokens, if addSpecial is set.
	process(ids []int, addSpecial bool) []int
}

// template is a TemplateProcessing single template: a list of parts, each
// the ids of a special token or, where ids is nil, the text's ids.
type template [][]int

func (t template) process(ids []int, addSpecial bool) []int {
	if !addSpecial {
		return ids
	}
	n := len(ids)
	for _, part := range t {
		n += len(part)
	}
	out := make([]int, 0, n)
	for _, part := range t {
		if part == nil {
			out = append(out, ids...)
		} else {
			out = append(out, part...)
		}
	}
	return out
}

// postSequence runs post-processors in turn.
type postSequence []postProcessor

func (q postSequence) process(ids []int, addSpecial bool) []int {
	for _, p := range q {
		ids = p.process(ids, addSpecial)
	}
	return ids
}

// noPost is a post-processor that changes no ids, such as ByteLevel.
type noPost struct{}

func (noPost) process(ids []int, _ bool) []int { return ids }
