package transfer

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/bico-dev/bico/model"
)

// neoxPerms are coordinate permutations that make a functionally identical
// copy of a GPT-NeoX or a GPT-2: the residual stream (LayerNorm commutes
// with it), per block the heads (query, key and value rows together),
// within each head the value coordinates and, the same for query and key,
// the coordinates the rotary embedding leaves alone (from rot on; all of
// them for GPT-2, rot 0), and the MLP units.
type neoxPerms struct {
	res         []int
	qk, v, mlp  [][]int // per block, over the projection's width
	attnContext [][]int // per block, dense's input: the value permutation
}

func newNeoXPerms(rng *rand.Rand, d, heads, rot, inter, layers int) neoxPerms {
	dh := d / heads
	p := neoxPerms{res: rng.Perm(d)}
	for range layers {
		hp, wv, pass := rng.Perm(heads), rng.Perm(dh), rng.Perm(dh-rot)
		qk, v := make([]int, d), make([]int, d)
		for h := range heads {
			for j := range dh {
				src := j
				if j >= rot {
					src = rot + pass[j-rot]
				}
				qk[h*dh+j] = hp[h]*dh + src
				v[h*dh+j] = hp[h]*dh + wv[j]
			}
		}
		p.qk, p.v, p.attnContext = append(p.qk, qk), append(p.v, v), append(p.attnContext, v)
		p.mlp = append(p.mlp, rng.Perm(inter))
	}
	return p
}

// decoderNames are the parameter names of a decoder of LayerNorms, biased
// projections and an unfused MLP (GPT-NeoX, GPT-2) that neoxPerms permutes.
type decoderNames struct {
	embed, positions, final string   // tables and the final norm (positions "" for none)
	block                   string   // prefix of block N's names, before N
	norms                   []string // the block's two LayerNorms
	q, k, v, o, up, down    string   // the block's projections
	heads                   []string // task heads and lm_head, [·, d]
}

var (
	neoxNames = decoderNames{embed: "gpt_neox.embed_in.weight", final: "gpt_neox.final_layer_norm", block: "gpt_neox.layers.",
		norms: []string{"input_layernorm", "post_attention_layernorm"},
		q:     "attention.query", k: "attention.key", v: "attention.value", o: "attention.dense", up: "mlp.dense_h_to_4h", down: "mlp.dense_4h_to_h",
		heads: []string{"score.weight", "embed_out.weight"}}
	phiNames = decoderNames{embed: "model.embed_tokens.weight", final: "model.final_layernorm", block: "model.layers.",
		norms: []string{"input_layernorm"},
		q:     "self_attn.q_proj", k: "self_attn.k_proj", v: "self_attn.v_proj", o: "self_attn.dense", up: "mlp.fc1", down: "mlp.fc2",
		heads: []string{"score.weight", "lm_head.weight"}}
	gpt2Names = decoderNames{embed: "transformer.wte.weight", positions: "transformer.wpe.weight", final: "transformer.ln_f", block: "transformer.h.",
		norms: []string{"ln_1", "ln_2"},
		q:     "attn.query", k: "attn.key", v: "attn.value", o: "attn.c_proj", up: "mlp.c_fc", down: "mlp.c_proj",
		heads: []string{"score.weight", "lm_head.weight"}}
)

// apply returns the permuted copy of a parameter set of names' layout.
func (p neoxPerms) apply(src params, n decoderNames) params {
	out := params{}
	res := p.res
	set := func(name string, perms ...[]int) {
		if src[name] != nil {
			out[name] = permuteAxes(src[name], perms...)
		}
	}
	set(n.embed, nil, res)
	set(n.positions, nil, res)
	for l := range p.qk {
		b := n.block + strconv.Itoa(l) + "."
		for _, norm := range n.norms {
			set(b+norm+".weight", res)
			set(b+norm+".bias", res)
		}
		for _, part := range []struct {
			name string
			perm []int
		}{{n.q, p.qk[l]}, {n.k, p.qk[l]}, {n.v, p.v[l]}} {
			set(b+part.name+".weight", part.perm, res)
			set(b+part.name+".bias", part.perm)
		}
		set(b+n.o+".weight", res, p.attnContext[l])
		set(b+n.o+".bias", res)
		set(b+n.up+".weight", p.mlp[l], res)
		set(b+n.up+".bias", p.mlp[l])
		set(b+n.down+".weight", res, p.mlp[l])
		set(b+n.down+".bias", res)
	}
	set(n.final+".weight", res)
	set(n.final+".bias", res)
	for _, h := range n.heads {
		set(h, nil, res)
	}
	if b := src["lm_head.bias"]; b != nil { // phi: one entry per token
		out["lm_head.bias"] = b.Clone()
	}
	return out
}

// TestGPTNeoXToLargerGPTNeoX: a Pythia fine-tune moves to a wider and deeper
// GPT-NeoX (more heads of the same width, another MLP width, one more
// block), as to a larger Pythia, by every method that takes other shapes:
// each delta takes the target parameter's shape and the transferred model
// computes finite logits.
func TestGPTNeoXToLargerGPTNeoX(t *testing.T) {
	build := func(c model.GPTNeoXConfig, seed uint64) model.Model {
		c.VocabSize, c.RotaryPct, c.Labels = 20, 0.5, []string{"a", "b", "c"}
		m, err := model.Build(c.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(model.GPTNeoXConfig{HiddenSize: 16, NumHeads: 2, NumLayers: 2, IntermediateSize: 12}, 1)
	b := build(model.GPTNeoXConfig{HiddenSize: 24, NumHeads: 3, NumLayers: 3, IntermediateSize: 20}, 7)
	aft := perturbed(t, a, 2, 0.05)
	calib := tokenSamples(32, 6, 20, 3, 9)
	for _, name := range []string{"bico", "bico-blend", "theseus", "bico-grad"} {
		t.Run(name, func(t *testing.T) {
			res := runMethod(t, Models{a, aft, b}, calib, name, 1)
			checkDeltasFit(t, res, b)
			for _, p := range []string{"gpt_neox.layers.2.attention.key.weight", "gpt_neox.layers.0.attention.value.bias", "gpt_neox.embed_in.weight"} {
				if res.Delta[p] == nil {
					t.Errorf("no delta for %s", p)
				}
			}
			if l := logits(res.Model, calib.Inputs); l.FirstNonFinite() >= 0 {
				t.Errorf("non-finite logits")
			}
		})
	}
}

// TestBiCoRecoversPermutedDecoders: B is a permuted copy of a GPT-NeoX, a
// Phi or a GPT-2 (see neoxPerms): a GPT-NeoX classifier with Pythia's
// parallel residual, a GPT-NeoX causal language model with the sequential
// one, a Phi causal language model (one LayerNorm, an lm_head bias), a
// GPT-2 classifier and a tied GPT-2 causal language model. BiCo with α = 1
// must return the permuted τ_A, the query, key and value split from the
// fused projection, the embeddings, GPT-2's position table and every
// LayerNorm included, and B's transferred model must reproduce A's
// fine-tuned logits.
func TestBiCoRecoversPermutedDecoders(t *testing.T) {
	pad := 0
	neox := func(c model.GPTNeoXConfig) map[string]any {
		c.VocabSize, c.HiddenSize, c.NumHeads, c.IntermediateSize, c.RotaryPct = 20, 16, 2, 12, 0.5
		return c.Map()
	}
	phi := func(c model.GPTNeoXConfig) map[string]any { // phi-2's layout, half of each head rotated
		cfg := neox(c)
		cfg["model_type"], cfg["partial_rotary_factor"] = "phi", 0.5
		return cfg
	}
	gpt2 := func(c model.GPT2Config) map[string]any {
		c.VocabSize, c.Positions, c.HiddenSize, c.NumHeads, c.Inner = 20, 8, 16, 2, 12
		return c.Map()
	}
	for _, c := range []struct {
		name  string
		cfg   map[string]any
		rot   int // rotated elements of each head
		names decoderNames
	}{
		{"gpt_neox parallel classifier", neox(model.GPTNeoXConfig{Labels: []string{"a", "b", "c"}, PadTokenID: &pad}), 4, neoxNames},
		{"gpt_neox sequential causal LM", neox(model.GPTNeoXConfig{Sequential: true, CausalLM: true}), 4, neoxNames},
		{"phi causal LM", phi(model.GPTNeoXConfig{CausalLM: true}), 4, phiNames},
		{"gpt2 classifier", gpt2(model.GPT2Config{Labels: []string{"a", "b", "c"}, PadTokenID: &pad}), 0, gpt2Names},
		{"gpt2 tied causal LM", gpt2(model.GPT2Config{CausalLM: true}), 0, gpt2Names},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg["initializer_range"] = 0.3
			m, err := model.Build(c.cfg, nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			a := perturbed(t, m, 101, 0.1)
			aft := perturbed(t, a, 2, 0.05)
			perms := newNeoXPerms(rand.New(rand.NewPCG(4, 4)), 16, 2, c.rot, 12, 2)
			b, err := model.WithParams(a, perms.apply(model.Params(a), c.names))
			if err != nil {
				t.Fatal(err)
			}
			calib := tokenSamples(64, 6, 20, 3, 9)
			if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
				t.Fatalf("the permuted copy is not functionally equal to the source: logits differ by %.3g", e)
			}
			want := perms.apply(taskVectors(t, a, aft), c.names)
			for _, method := range []string{"bico", "bico-blend"} {
				t.Run(method, func(t *testing.T) {
					res := runMethodOpts(t, Models{a, aft, b}, calib, method, 1, Options{})
					checkRecovered(t, res, want, aft, calib.Inputs, 2e-3)
				})
			}
		})
	}
}
