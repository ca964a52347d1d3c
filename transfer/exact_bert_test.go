package transfer

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/tensor"
)

// bertPerms are coordinate permutations that make a functionally identical
// copy of a BERT or RoBERTa classifier: the residual stream (every
// LayerNorm's output and the embeddings); per block the heads, the
// coordinates within each head (queries and keys alike, values and the
// attention context alike: there are no rotary embeddings), and the MLP
// units; and the pool layer's outputs.
type bertPerms struct {
	res, pool     []int
	qk, v, mlp    [][]int // per block, over the projection's width
	prefix        string
	poolS, headS  string
	layers, width int
	n             map[string]string // the flavour's names, see bertTestNames
}

// bertTestNames are the names of a layer's modules in BERT and RoBERTa,
// and in DistilBERT.
var bertTestNames = map[bool]map[string]string{
	false: {"layers": "encoder.layer", "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
		"out": "attention.output.dense", "norm1": "attention.output.LayerNorm", "lin1": "intermediate.dense", "lin2": "output.dense", "norm2": "output.LayerNorm"},
	true: {"layers": "transformer.layer", "query": "attention.q_lin", "key": "attention.k_lin", "value": "attention.v_lin",
		"out": "attention.out_lin", "norm1": "sa_layer_norm", "lin1": "ffn.lin1", "lin2": "ffn.lin2", "norm2": "output_layer_norm"},
}

func newBertPerms(rng *rand.Rand, m model.Model, d, heads, inter, layers int) bertPerms {
	p := bertPerms{res: rng.Perm(d), pool: rng.Perm(d), prefix: m.Type(), layers: layers, width: d, n: bertTestNames[m.Type() == "distilbert"]}
	switch m.Type() {
	case "roberta":
		p.poolS, p.headS = "classifier.dense", "classifier.out_proj"
	case "distilbert":
		p.poolS, p.headS = "pre_classifier", "classifier"
	default:
		p.poolS, p.headS = "bert.pooler.dense", "classifier"
	}
	dh := d / heads
	for l := 0; l < layers; l++ {
		hp, wqk, wv := rng.Perm(heads), rng.Perm(dh), rng.Perm(dh)
		qk, v := make([]int, d), make([]int, d)
		for h := 0; h < heads; h++ {
			for j := 0; j < dh; j++ {
				qk[h*dh+j] = hp[h]*dh + wqk[j]
				v[h*dh+j] = hp[h]*dh + wv[j]
			}
		}
		p.qk, p.v, p.mlp = append(p.qk, qk), append(p.v, v), append(p.mlp, rng.Perm(inter))
	}
	return p
}

// apply returns the permuted copy of a BERT or RoBERTa parameter set.
func (p bertPerms) apply(src params) params {
	out := params{}
	res := p.res
	set := func(name string, perms ...[]int) { out[name] = permuteAxes(src[name], perms...) }
	ln := func(name string) { set(name+".weight", res); set(name+".bias", res) }
	lin := func(name string, rows, cols []int) { set(name+".weight", rows, cols); set(name+".bias", rows) }
	e, n := p.prefix+".embeddings", p.n
	set(e+".word_embeddings.weight", nil, res)
	set(e+".position_embeddings.weight", nil, res)
	if src[e+".token_type_embeddings.weight"] != nil {
		set(e+".token_type_embeddings.weight", nil, res)
	}
	ln(e + ".LayerNorm")
	for l := 0; l < p.layers; l++ {
		b := p.prefix + "." + n["layers"] + "." + strconv.Itoa(l) + "."
		lin(b+n["query"], p.qk[l], res)
		lin(b+n["key"], p.qk[l], res)
		lin(b+n["value"], p.v[l], res)
		lin(b+n["out"], res, p.v[l])
		ln(b + n["norm1"])
		lin(b+n["lin1"], p.mlp[l], res)
		lin(b+n["lin2"], res, p.mlp[l])
		ln(b + n["norm2"])
	}
	lin(p.poolS, p.pool, res)
	lin(p.headS, nil, p.pool)
	return out
}

// tinyBert is a small classifier of c's flavour (its width and heads; 2
// blocks, MLP 12, vocabulary 20, 12 positions, 3 labels), initialised from
// seed with a wide spread and perturbed away from it.
func tinyBert(t *testing.T, c model.BertConfig, seed uint64) model.Model {
	t.Helper()
	c.VocabSize, c.NumLayers, c.IntermediateSize, c.MaxPositions, c.Labels = 20, 2, 12, 12, []string{"a", "b", "c"}
	cfg := c.Map()
	cfg["initializer_range"] = 0.3
	m, err := model.Build(cfg, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	return perturbed(t, m, seed+100, 0.1)
}

// TestBiCoRecoversPermutedBert: B is a BERT, RoBERTa or DistilBERT
// classifier A with
// its residual stream, heads, within-head coordinates, MLP units and pool
// outputs permuted (functionally identical), so BiCo with α = 1 must
// return the permuted τ_A, embeddings and LayerNorms included, and B's
// transferred model must reproduce A's fine-tuned logits.
func TestBiCoRecoversPermutedBert(t *testing.T) {
	for _, c := range []model.BertConfig{{}, {RoBERTa: true}, {DistilBERT: true}} {
		roberta := c.RoBERTa
		c.HiddenSize, c.NumHeads = 8, 2
		t.Run(c.Map()["model_type"].(string), func(t *testing.T) {
			a := tinyBert(t, c, 1)
			aft := perturbed(t, a, 2, 0.05)
			perms := newBertPerms(rand.New(rand.NewPCG(4, 4)), a, 8, 2, 12, 2)
			b, err := model.WithParams(a, perms.apply(model.Params(a)))
			if err != nil {
				t.Fatal(err)
			}
			calib := tokenSamples(64, 6, 20, 3, 9)
			if roberta {
				padWithOne(calib)
			}
			if e := relErr(logits(b, calib.Inputs), logits(a, calib.Inputs)); e > 1e-5 {
				t.Fatalf("the permuted model is not functionally equal to the source: logits differ by %.3g", e)
			}
			want := perms.apply(taskVectors(t, a, aft))
			for _, method := range []string{"bico", "bico-blend"} {
				t.Run(method, func(t *testing.T) {
					checkRecovered(t, runMethod(t, Models{a, aft, b}, calib, method, 1), want, aft, calib.Inputs, 2e-3)
				})
			}
		})
	}
}

// padWithOne swaps the token ids 0 and 1 of calib, whose sequences are
// padded with 0, for a RoBERTa, which pads with 1.
func padWithOne(calib Samples) {
	for i, v := range calib.Inputs.Data {
		switch v {
		case 0:
			calib.Inputs.Data[i] = 1
		case 1:
			calib.Inputs.Data[i] = 0
		}
	}
}

// TestBertToRoBERTaShapes: a BERT fine-tune moves to a wider, deeper
// RoBERTa base: every delta fits the target, the pooler's goes to RoBERTa's
// classifier.dense (both are role "pool").
func TestBertToRoBERTaShapes(t *testing.T) {
	build := func(c model.BertConfig, seed uint64) model.Model {
		m, err := model.Build(c.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return perturbed(t, m, seed+100, 0.1)
	}
	labels := []string{"a", "b", "c"}
	a := build(model.BertConfig{VocabSize: 20, HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 12, MaxPositions: 12, Labels: labels}, 1)
	pad := 0
	b := build(model.BertConfig{RoBERTa: true, VocabSize: 20, HiddenSize: 12, NumLayers: 3, NumHeads: 3, IntermediateSize: 16, MaxPositions: 12, TypeVocabSize: 2, PadTokenID: &pad, Labels: labels}, 7)
	aft := perturbed(t, a, 2, 0.05)
	calib := tokenSamples(32, 6, 20, 3, 9)
	res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
	checkDeltasFit(t, res, b)
	for _, name := range []string{"classifier.dense.weight", "roberta.encoder.layer.2.output.LayerNorm.weight", "roberta.embeddings.position_embeddings.weight"} {
		if res.Delta[name] == nil {
			t.Errorf("%s: no delta", name)
		}
	}
	if l := logits(res.Model, calib.Inputs); l.FirstNonFinite() >= 0 {
		t.Errorf("non-finite logits")
	}
}

// TestRoBERTaTaskHead: RoBERTa's task head has two layers (classifier.dense
// and out_proj) that a fine-tune trains from scratch and base checkpoints
// lack. With both bases headless (zeros, as a RobertaModel checkpoint
// loads) and B a permuted A, the transfer gives B the fine-tune's head
// through the map of its input and must reproduce A^ft's logits. A wider
// target gets the head's extra units as zeros.
func TestRoBERTaTaskHead(t *testing.T) {
	build := func(hidden, heads int, seed uint64) model.Model {
		return tinyBert(t, model.BertConfig{RoBERTa: true, HiddenSize: hidden, NumHeads: heads}, seed)
	}
	headless := func(m model.Model) model.Model {
		ps := model.Params(m)
		for _, s := range model.TaskHeadSites(m) {
			ps[s.Weight] = tensor.New[float32](ps[s.Weight].Shape...)
			ps[s.Bias] = tensor.New[float32](ps[s.Bias].Shape...)
		}
		out, err := model.WithParams(m, ps)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := build(8, 2, 1)
	aft := perturbed(t, a, 2, 0.05)
	perms := newBertPerms(rand.New(rand.NewPCG(4, 4)), a, 8, 2, 12, 2)
	b, err := model.WithParams(a, perms.apply(model.Params(a)))
	if err != nil {
		t.Fatal(err)
	}
	calib := tokenSamples(64, 6, 20, 3, 9)
	padWithOne(calib)
	res := runMethod(t, Models{headless(a), aft, headless(b)}, calib, "bico", 1)
	if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 2e-3 {
		t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
	}
	wide := headless(build(12, 3, 7))
	res = runMethod(t, Models{headless(a), aft, wide}, calib, "bico", 1)
	w := res.Model.Param("classifier.dense.weight").Value
	if !tensor.SameShape(w.Shape, []int{12, 12}) || maxAbs(w.Data[8*12:]) != 0 || maxAbs(res.Model.Param("classifier.dense.bias").Value.Data[8:]) != 0 {
		t.Errorf("the wider target's classifier.dense %v: want the source's 8 units and 4 zero rows", w.Shape)
	}
	if l := logits(res.Model, calib.Inputs); l.FirstNonFinite() >= 0 {
		t.Errorf("non-finite logits")
	}
}

// TestTaskHeadAcrossFlavours: a DistilBERT fine-tune's task head
// (pre_classifier, ReLU, classifier) does not carry over to a headless
// RoBERTa base (whose head applies tanh): refused, naming both heads.
func TestTaskHeadAcrossFlavours(t *testing.T) {
	build := func(c model.BertConfig, seed uint64) model.Model {
		c.VocabSize, c.HiddenSize, c.NumLayers, c.NumHeads, c.IntermediateSize, c.MaxPositions, c.Labels = 20, 8, 1, 2, 8, 12, []string{"a", "b", "c"}
		m, err := model.Build(c.Map(), nil, seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := build(model.BertConfig{DistilBERT: true}, 1)
	b := build(model.BertConfig{RoBERTa: true}, 2)
	ps := model.Params(b)
	for _, s := range model.TaskHeadSites(b) {
		ps[s.Weight] = tensor.New[float32](ps[s.Weight].Shape...)
	}
	b, err := model.WithParams(b, ps)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Lookup("bico")
	calib := tokenSamples(8, 6, 20, 3, 9)
	padWithOne(calib)
	_, err = Prepare(context.Background(), Models{a, perturbed(t, a, 2, 0.05), b}, calib, m.Needs(), Options{Backend: linalg.MustDefault()})
	if err == nil || !strings.Contains(err.Error(), "pre_classifier, classifier") || !strings.Contains(err.Error(), "classifier.dense, classifier.out_proj") {
		t.Errorf("got %v, want the task heads named", err)
	}
}

// TestBertToHeadlessRoBERTa: B is A, a BERT classifier, rewritten as a
// RoBERTa (the same weights under RoBERTa's names, its position table one
// row later, after the padding position) whose checkpoint has no
// classifier. B's task head is then BERT's pre-trained pooler and the
// fine-tune's classifier (both heads apply tanh after their first layer),
// and the transfer must reproduce A^ft's logits.
func TestBertToHeadlessRoBERTa(t *testing.T) {
	labels := []string{"a", "b", "c"}
	a := tinyBert(t, model.BertConfig{HiddenSize: 8, NumHeads: 2}, 1)
	aft := perturbed(t, a, 2, 0.05)
	pad := 0
	rc := model.BertConfig{RoBERTa: true, VocabSize: 20, HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 12, MaxPositions: 13,
		TypeVocabSize: 2, PadTokenID: &pad, Labels: labels}
	rcfg := rc.Map()
	rcfg["layer_norm_eps"] = 1e-12
	ps := params{}
	for name, v := range model.Params(a) {
		switch {
		case name == "bert.embeddings.position_embeddings.weight":
			p := tensor.New[float32](13, 8)
			copy(p.Data[8:], v.Data) // row 0: the padding position
			ps["roberta.embeddings.position_embeddings.weight"] = p
		case strings.HasPrefix(name, "bert.pooler") || strings.HasPrefix(name, "classifier"):
		default:
			ps["roberta."+strings.TrimPrefix(name, "bert.")] = v
		}
	}
	for _, n := range []string{"classifier.dense", "classifier.out_proj"} {
		rows := 8
		if n == "classifier.out_proj" {
			rows = 3
		}
		ps[n+".weight"], ps[n+".bias"] = tensor.New[float32](rows, 8), tensor.New[float32](rows)
	}
	b, err := model.Build(rcfg, ps, 0)
	if err != nil {
		t.Fatal(err)
	}
	calib := tokenSamples(64, 6, 20, 3, 9)
	res := runMethod(t, Models{a, aft, b}, calib, "bico", 1)
	if e := relErr(logits(res.Model, calib.Inputs), logits(aft, calib.Inputs)); e > 2e-3 {
		t.Errorf("transferred model's logits differ from the fine-tuned source's by %.3g", e)
	}
}
