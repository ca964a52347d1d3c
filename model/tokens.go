package model

import (
	"fmt"

	"github.com/bico-dev/bico/autodiff"
)

// The text models (Llama and its variants, BERT, RoBERTa) take token ids
// [B, T] held as float32, each sequence padded at its end with the pad
// token. These helpers read them.

// checkTokenShape checks that shape is that of token ids [B, T]; kind
// names the model in the error.
func checkTokenShape(kind string, shape []int) error {
	if len(shape) != 2 || shape[0] <= 0 || shape[1] <= 0 {
		return fmt.Errorf("model: %s: inputs of shape %v, want token ids [B, T]", kind, shape)
	}
	return nil
}

// tokenIDs converts the float32 token ids of x [B, T] to ints, checking
// them against a vocabulary of vocab tokens; kind names the model in the
// error.
func tokenIDs(kind string, x *Tensor, vocab int) ([]int, error) {
	ids := make([]int, len(x.Data))
	for i, v := range x.Data {
		id := int(v)
		if float32(id) != v || id < 0 || id >= vocab {
			return nil, fmt.Errorf("model: %s: input %d of sequence %d is %g, not a token id below vocab_size %d", kind, i%x.Shape[1], i/x.Shape[1], v, vocab)
		}
		ids[i] = id
	}
	return ids, nil
}

// unpadded returns the length of each of the B sequences of T ids without
// the pad tokens at its end: T for every sequence when pad < 0 (no pad
// token), 0 for a sequence of padding only.
func unpadded(ids []int, B, T, pad int) []int {
	out := make([]int, B)
	for b := range out {
		out[b] = T
		if pad < 0 {
			continue
		}
		for out[b] > 0 && ids[b*T+out[b]-1] == pad {
			out[b]--
		}
	}
	return out
}

// paddingFlags returns one flag per token row of inputs [B, T], true from
// position lengths[b] of each sequence b on, where lengths are what keep
// returns for the ids; nil when no row is padding, or the inputs are not
// [B, T].
func paddingFlags(inputs *Tensor, keep func(ids []int, B, T int) []int) []bool {
	if len(inputs.Shape) != 2 {
		return nil
	}
	B, T := inputs.Shape[0], inputs.Shape[1]
	ids := make([]int, len(inputs.Data))
	for i, v := range inputs.Data {
		ids[i] = int(v)
	}
	var pad []bool
	for b, n := range keep(ids, B, T) {
		for j := n; j < T; j++ {
			if pad == nil {
				pad = make([]bool, B*T)
			}
			pad[b*T+j] = true
		}
	}
	return pad
}

// nextTokens returns a causal language model's targets for inputs [B, T]:
// row (b, j) of the logits predicts token j+1 of sequence b; the last
// token and the positions before padding (pad, −1 for none) predict
// nothing (autodiff.Ignore).
func nextTokens(inputs *Tensor, pad int) []int {
	B, T := inputs.Shape[0], inputs.Shape[1]
	out := make([]int, B*T)
	for b := 0; b < B; b++ {
		for j := 0; j < T; j++ {
			out[b*T+j] = autodiff.Ignore
			if j+1 < T {
				if next := int(inputs.Data[b*T+j+1]); next != pad {
					out[b*T+j] = next
				}
			}
		}
	}
	return out
}

// tokenInputs is what the decoder language models (Llama and its variants,
// GPT-NeoX, GPT-2) share about their inputs: token ids [B, T] of a
// vocabulary of vocab tokens, each sequence padded at its end with padID
// (−1: no pad token). Embedded in a model, it gives the model CheckInput,
// CheckValues and Padding.
type tokenInputs struct {
	kind         string // the model_type errors name
	vocab, padID int
}

// CheckInput implements InputChecker: token ids [B, T].
func (in tokenInputs) CheckInput(shape []int) error { return checkTokenShape(in.kind, shape) }

// CheckValues implements ValueChecker: every input is a token id of the
// vocabulary.
func (in tokenInputs) CheckValues(x *Tensor) error {
	_, err := in.tokenIDs(x)
	return err
}

// tokenIDs converts float32 token ids to ints, checking them against the
// vocabulary.
func (in tokenInputs) tokenIDs(x *Tensor) ([]int, error) { return tokenIDs(in.kind, x, in.vocab) }

// lastTokens returns, for each of the B sequences of T ids, the position of
// its last token that is not padding (0 for a sequence of padding only),
// as transformers' sequence classifiers pool.
func (in tokenInputs) lastTokens(ids []int, B, T int) []int {
	last := unpadded(ids, B, T, in.padID)
	for b, n := range last {
		last[b] = max(n-1, 0)
	}
	return last
}

// Padding implements Padder: the positions after each sequence's last
// token that is not the pad token (none without a pad token).
func (in tokenInputs) Padding(inputs *Tensor) []bool {
	if in.padID < 0 {
		return nil
	}
	return paddingFlags(inputs, func(ids []int, B, T int) []int {
		n := in.lastTokens(ids, B, T)
		for b := range n {
			n[b]++
		}
		return n
	})
}

// embedTokens looks the token ids of inputs [B, T] up in table (the weight
// of the embedding site) and gives the rows to the tape as that site's
// output. When inputs need a gradient the rows do too, so that activation
// gradients flow with a frozen table. It returns the rows and the ids, and
// panics on an id outside a vocabulary of vocab tokens (kind names the
// model).
func embedTokens(t *Tape, kind string, vocab int, inputs, table *Var, site string) (*Var, []int) {
	ids, err := tokenIDs(kind, inputs.Value, vocab)
	if err != nil {
		panic(err)
	}
	h := t.Embedding(table, ids, inputs.Value.Shape[0], inputs.Value.Shape[1])
	if inputs.NeedsGrad() && !h.NeedsGrad() {
		h.SetNeedsGrad(true) // a leaf
	}
	return t.Output(site, h), ids
}
