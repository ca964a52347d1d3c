#!/usr/bin/python3
"""Writes llama_fixture/, a tiny LlamaForSequenceClassification checkpoint
in Hugging Face layout (config.json + model.safetensors) and
expected.safetensors (a batch of right-padded token ids "input_ids" and the
logits "logits" it must give); qwen2_fixture/, the same for a
Qwen2ForSequenceClassification (biases on q_proj, k_proj, v_proj); and
llama3_fixture/, a Llama with Llama 3.1's rope_scaling, whose parameters
(theta 100, head_dim 8, original_max_position_embeddings 64) put one
frequency in each of its three regimes (kept, blended, divided by factor);
llama_lm_fixture/, a LlamaForCausalLM (lm_head on every token; "logits" are
[B·T, vocab], sequence by sequence); and qwen2_lm_fixture/, a
Qwen2ForCausalLM with tie_word_embeddings (lm_head is the embedding table);
and qwen3_lm_fixture/, a tied Qwen3ForCausalLM (no biases; each query and
key head goes through an RMSNorm of width head_dim, q_norm and k_norm,
before the rotary embedding; head_dim 8, so the attention is twice as wide
as the residual stream); gemma_lm_fixture/, a tied GemmaForCausalLM
(embeddings times √hidden_size, RMSNorms scaling by 1 + weight, a gated MLP
with the tanh GELU); gemma2_lm_fixture/, a tied Gemma2ForCausalLM (also
norms of the attention's and the MLP's outputs before the residual adds
them, pre_feedforward_layernorm before the MLP, scores scaled by
query_pre_attn_scalar^(−½) and soft-capped, c·tanh(x/c), as the logits are;
the caps are small, 2 and 3, so that they bend the values); and
gemma2_fixture/, a Gemma2ForSequenceClassification (no cap on its logits),
both with a sliding window of 3 tokens on the even layers (of 7-token
sequences); and gemma3_lm_fixture/, a tied Gemma3ForCausalLM (Gemma 2's
layout without the caps, with per-head q_norm and k_norm of 1 + weight,
the window on all but every second layer, whose rotary base is
rope_local_base_freq, 10, against rope_theta's 10000 on the others).

The forward pass below is written from the semantics of transformers'
LlamaForSequenceClassification (token embeddings; pre-norm decoder layers
with RMSNorm x·rsqrt(mean(x²) + eps)·w; causal grouped-query attention with
rotary embeddings in the rotate_half convention, inv_freq =
theta^(−2i/head_dim); a gated MLP down(silu(gate(x))·up(x)); a final
RMSNorm; the score layer, without bias, read at each sequence's last token
that is not pad_token_id) in plain torch, computed in float64 from the
float32 weights. The safetensors files are written by hand as in
make_vit_fixture.py.

Run from model/testdata: /usr/bin/python3 make_llama_fixture.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from make_vit_fixture import write_safetensors

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, INTER = 40, 16, 2, 4, 2, 24
EPS, PAD = 1e-6, 0
HEAD_DIM, THETA, QKV_BIAS, SCALING = 4, 10000.0, False, None  # set per fixture by main
LM, TIED, QK_NORM = False, False, False
GEMMA = 0  # 1: Gemma, 2: Gemma 2, 3: Gemma 3
QPAS, ATTN_CAP, FINAL_CAP = None, None, None  # Gemma 2's query_pre_attn_scalar and soft caps
WINDOW, SLIDING, LOCAL_THETA = None, (), None  # sliding window, the layers it applies to, their rotary base (Gemma 3)
GRANITE = None  # Granite's (embedding, attention, residual multipliers, logits_scaling)
STABLELM, PARALLEL = False, False  # LayerNorms with biases; the MLP reading input_layernorm beside the attention
YARN = None  # YaRN's (factor, original length): transformers 5's _compute_yarn_parameters written out
OLMO2 = False  # norms after attention and MLP only, RMSNorms of the whole query and key
PHI3, PARTIAL, LONGROPE = False, 1.0, None  # Phi-3's fused projections, partial_rotary_factor, longrope (orig, short, long)
LABELS = ["negative", "neutral", "positive"]


def make_weights(gen):
    d = HIDDEN

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    w = {"model.embed_tokens.weight": rnd(VOCAB, d, std=1.0)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        for name, (o, k) in {
            "self_attn.q_proj": (HEADS * HEAD_DIM, d),
            "self_attn.k_proj": (KV_HEADS * HEAD_DIM, d),
            "self_attn.v_proj": (KV_HEADS * HEAD_DIM, d),
            "self_attn.o_proj": (d, HEADS * HEAD_DIM),
            "mlp.gate_proj": (INTER, d),
            "mlp.up_proj": (INTER, d),
            "mlp.down_proj": (d, INTER),
        }.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            if QKV_BIAS and name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                w[p + name + ".bias"] = rnd(o, std=0.3)
        if QK_NORM:
            w[p + "self_attn.q_norm.weight"] = 1 + rnd(HEAD_DIM, std=0.2)
            w[p + "self_attn.k_norm.weight"] = 1 + rnd(HEAD_DIM, std=0.2)
        if OLMO2:
            w[p + "self_attn.q_norm.weight"] = 1 + rnd(HEADS * HEAD_DIM, std=0.2)
            w[p + "self_attn.k_norm.weight"] = 1 + rnd(KV_HEADS * HEAD_DIM, std=0.2)
        norms = ["input_layernorm", "post_attention_layernorm"]
        if GEMMA >= 2:
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        if OLMO2:
            norms = ["post_attention_layernorm", "post_feedforward_layernorm"]
        if PARALLEL:
            norms = ["input_layernorm"]
        for n in norms:
            w[p + n + ".weight"] = norm_weight(rnd(d, std=0.2))
            if STABLELM:
                w[p + n + ".bias"] = rnd(d, std=0.2)
    w["model.norm.weight"] = norm_weight(rnd(d, std=0.2))
    if STABLELM:
        w["model.norm.bias"] = rnd(d, std=0.2)
    if not LM:
        w["score.weight"] = rnd(len(LABELS), d)
    elif not TIED:
        w["lm_head.weight"] = rnd(VOCAB, d)
    return w


def norm_weight(noise):
    """A norm weight near the identity: 1 + noise, or for Gemma, whose norms
    scale by 1 + weight, the noise alone."""
    return noise if GEMMA else 1 + noise


def rms_norm(x, w):
    scale = 1 + w if GEMMA else w
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * scale


def norm(x, w, name):
    """The norm name: StableLM's LayerNorm (weight and bias), else rms_norm."""
    if STABLELM:
        return F.layer_norm(x, (x.shape[-1],), w[name + ".weight"], w[name + ".bias"], EPS)
    return rms_norm(x, w[name + ".weight"])


def softcap(x, cap):
    return x if cap is None else cap * torch.tanh(x / cap)


def inv_freq(dh, theta=None):
    """The rotary frequencies, with Llama 3.1's scaling when SCALING is set
    (transformers' _compute_llama3_parameters, written out)."""
    if theta is not None:
        return 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
    f = 1.0 / (THETA ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
    if SCALING is None:
        return f
    factor, low, high = SCALING["factor"], SCALING["low_freq_factor"], SCALING["high_freq_factor"]
    orig = SCALING["original_max_position_embeddings"]
    wavelen = 2 * math.pi / f
    scaled = torch.where(wavelen > orig / low, f / factor, f)
    smooth = (orig / wavelen - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < orig / high) & ~(wavelen > orig / low)
    return torch.where(medium, blended, scaled)


def rope(x, T, theta=None):
    """x: [B, heads, T, dh], rotated in the rotate_half convention: the first
    int(dh·PARTIAL) elements of each head; with LONGROPE the frequencies
    divided by the short factors (the long ones when T exceeds the original
    length) and the rotated elements times the attention factor
    (transformers' _compute_longrope_parameters, written out)."""
    dh = int(x.shape[-1] * PARTIAL)
    f, scale = inv_freq(dh, theta), 1.0
    if LONGROPE is not None:
        orig, short, long = LONGROPE
        f = f / torch.tensor(long if T > orig else short, dtype=torch.float64)
        scale = math.sqrt(1 + math.log(64 / orig) / math.log(orig))  # max_position_embeddings 64
    if YARN is not None:
        factor, orig = YARN
        corr = lambda rot: dh * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(THETA))
        low, high = max(math.floor(corr(32)), 0), min(math.ceil(corr(1)), dh - 1)
        ramp = ((torch.arange(dh // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        f = f / factor * ramp + f * (1 - ramp)
        scale = 0.1 * math.log(factor) + 1
    ang = torch.outer(torch.arange(T, dtype=torch.float64), f)
    ang = torch.cat([ang, ang], dim=-1)
    rot, rest = x[..., :dh], x[..., dh:]
    x1, x2 = rot[..., : dh // 2], rot[..., dh // 2 :]
    return torch.cat([(rot * ang.cos() + torch.cat([-x2, x1], dim=-1) * ang.sin()) * scale, rest], dim=-1)


def forward(w, ids):
    """LlamaForSequenceClassification's logits, in float64."""
    w = {k: t.to(torch.float64) for k, t in w.items()}
    B, T = ids.shape
    h = w["model.embed_tokens.weight"][ids]
    if GEMMA:
        h = h * torch.tensor(HIDDEN**0.5, dtype=torch.float32).to(torch.float64)
    if GRANITE:
        h = h * GRANITE[0]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def heads(t, n):
        return t.view(B, T, n, HEAD_DIM).transpose(1, 2)

    for i in range(LAYERS):
        p = f"model.layers.{i}."
        lin = lambda name, t: F.linear(t, w[p + name + ".weight"], w.get(p + name + ".bias"))
        a = h if OLMO2 else norm(h, w, p + "input_layernorm")
        if OLMO2:  # the norms of the whole projections, before the heads are split
            q = heads(rms_norm(lin("self_attn.q_proj", a), w[p + "self_attn.q_norm.weight"]), HEADS)
            k = heads(rms_norm(lin("self_attn.k_proj", a), w[p + "self_attn.k_norm.weight"]), KV_HEADS)
        else:
            q = heads(lin("self_attn.q_proj", a), HEADS)
            k = heads(lin("self_attn.k_proj", a), KV_HEADS)
        if QK_NORM:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"])
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"])
        sliding = WINDOW is not None and i in SLIDING
        theta = LOCAL_THETA if sliding else None
        q, k = rope(q, T, theta), rope(k, T, theta)
        v = heads(lin("self_attn.v_proj", a), KV_HEADS)
        k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
        v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
        scale = (QPAS if QPAS is not None else HEAD_DIM) ** -0.5
        if GRANITE:
            scale = GRANITE[1]
        scores = softcap(q @ k.transpose(-1, -2) * scale, ATTN_CAP)
        layer_mask = mask
        if sliding:  # key j visible to query i when j > i − WINDOW
            far = torch.full((T, T), float("-inf"), dtype=torch.float64).tril(-WINDOW)
            layer_mask = mask + far
        probs = torch.softmax(scores + layer_mask, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, HEADS * HEAD_DIM)
        attn = lin("self_attn.o_proj", ctx)
        if GRANITE:
            attn = attn * GRANITE[2]
        if GEMMA >= 2:
            h = h + rms_norm(attn, w[p + "post_attention_layernorm.weight"])
            m = rms_norm(h, w[p + "pre_feedforward_layernorm.weight"])
        elif OLMO2:
            h = h + rms_norm(attn, w[p + "post_attention_layernorm.weight"])
            m = h
        elif PARALLEL:
            h = h + attn  # and, below, the MLP of the same input
            m = a
        else:
            h = h + attn
            m = norm(h, w, p + "post_attention_layernorm")
        act = (lambda x: F.gelu(x, approximate="tanh")) if GEMMA else F.silu
        down = lin("mlp.down_proj", act(lin("mlp.gate_proj", m)) * lin("mlp.up_proj", m))
        if GEMMA >= 2 or OLMO2:
            down = rms_norm(down, w[p + "post_feedforward_layernorm.weight"])
        if GRANITE:
            down = down * GRANITE[2]
        h = h + down
    h = norm(h, w, "model.norm")
    if LM:
        head = w["model.embed_tokens.weight"] if TIED else w["lm_head.weight"]
        logits = softcap(F.linear(h, head), FINAL_CAP).reshape(B * T, VOCAB)
        return logits / GRANITE[3] if GRANITE else logits
    logits = F.linear(h, w["score.weight"])  # [B, T, labels]
    positions = torch.arange(T)
    last = ((ids != PAD) * positions).argmax(-1)
    return logits[torch.arange(B), last]


def write(name, model_type, arch):
    gen = torch.Generator().manual_seed(20261127)
    w = make_weights(gen)
    ids = torch.randint(1, VOCAB, (3, 7), generator=gen)
    ids[0, 5:] = PAD  # right padding
    ids[2, 3:] = PAD
    logits = forward(w, ids)
    config = {
        "_name_or_path": f"bico/tiny-{name}-fixture",
        "architectures": [arch],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "max_position_embeddings": 64,
        "model_type": model_type,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "pad_token_id": PAD,
        "rms_norm_eps": EPS,
        "rope_scaling": SCALING,
        "rope_theta": THETA,
        "tie_word_embeddings": TIED,
        "torch_dtype": "float32",
        "transformers_version": "4.57.1",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    if LM:
        del config["id2label"], config["label2id"]
    if model_type == "llama":
        config.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    elif GEMMA:
        config.update({"attention_bias": False, "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh"})
        if GEMMA >= 2:
            config.update({"query_pre_attn_scalar": QPAS, "attn_logit_softcapping": ATTN_CAP,
                           "final_logit_softcapping": FINAL_CAP, "sliding_window": WINDOW, "cache_implementation": "hybrid"})
        if GEMMA == 3:
            config.update({"rope_local_base_freq": LOCAL_THETA, "sliding_window_pattern": 2})
    else:
        config.update({"use_sliding_window": False, "sliding_window": 4096, "max_window_layers": LAYERS})
    if model_type == "qwen3":
        config.update({"attention_bias": False, "sliding_window": None})
    if OLMO2:
        config.update({"attention_bias": False, "rms_norm_eps": EPS})
        for key in ("use_sliding_window", "sliding_window", "max_window_layers"):
            config.pop(key, None)
    if GRANITE:
        config.update({"embedding_multiplier": GRANITE[0], "attention_multiplier": GRANITE[1], "residual_multiplier": GRANITE[2],
                       "logits_scaling": GRANITE[3], "attention_bias": False, "mlp_bias": False})
        for key in ("use_sliding_window", "sliding_window", "max_window_layers"):
            config.pop(key, None)
    if STABLELM:
        config.update({"layer_norm_eps": EPS, "use_qkv_bias": QKV_BIAS, "use_parallel_residual": PARALLEL,
                       "qk_layernorm": False, "partial_rotary_factor": PARTIAL})
        for key in ("use_sliding_window", "sliding_window", "max_window_layers", "rms_norm_eps"):
            config.pop(key, None)
    if model_type == "olmo3":
        config.update({"sliding_window": WINDOW, "layer_types": ["sliding_attention" if i in SLIDING else "full_attention" for i in range(LAYERS)],
                       "rope_scaling": {"rope_type": "yarn", "factor": YARN[0], "original_max_position_embeddings": YARN[1], "beta_fast": 32, "beta_slow": 1}})
    if PHI3:
        # Phi-3's checkpoints fuse each layer's query, key and value rows
        # (qkv_proj) and its gate and up rows (gate_up_proj), in that order.
        for i in range(LAYERS):
            p = f"model.layers.{i}."
            w[p + "self_attn.qkv_proj.weight"] = torch.cat([w.pop(p + f"self_attn.{n}_proj.weight") for n in "qkv"])
            w[p + "mlp.gate_up_proj.weight"] = torch.cat([w.pop(p + "mlp.gate_proj.weight"), w.pop(p + "mlp.up_proj.weight")])
        orig, short, long = LONGROPE
        config.update({"sliding_window": WINDOW, "partial_rotary_factor": PARTIAL, "original_max_position_embeddings": orig,
                       "rope_scaling": {"type": "longrope", "short_factor": short, "long_factor": long},
                       "resid_pdrop": 0.0, "embd_pdrop": 0.0})
        for key in ("use_sliding_window", "max_window_layers"):
            config.pop(key, None)
    folder = name + "_fixture"
    os.makedirs(folder, exist_ok=True)
    with open(folder + "/config.json", "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(folder + "/model.safetensors", w)
    write_safetensors(folder + "/expected.safetensors", {"input_ids": ids.to(torch.float32), "logits": logits})
    print(name, "ids", ids.tolist())
    print(name, "logits", logits.tolist())


def main():
    global HEAD_DIM, THETA, QKV_BIAS, SCALING, LM, TIED, QK_NORM, GEMMA, QPAS, ATTN_CAP, FINAL_CAP, WINDOW, SLIDING, LOCAL_THETA
    write("llama", "llama", "LlamaForSequenceClassification")
    QKV_BIAS, THETA = True, 1000000.0
    write("qwen2", "qwen2", "Qwen2ForSequenceClassification")
    QKV_BIAS, THETA, HEAD_DIM = False, 100.0, 8
    SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    write("llama3", "llama", "LlamaForSequenceClassification")
    HEAD_DIM, THETA, SCALING, LM = 4, 10000.0, None, True
    write("llama_lm", "llama", "LlamaForCausalLM")
    QKV_BIAS, THETA, TIED = True, 1000000.0, True
    write("qwen2_lm", "qwen2", "Qwen2ForCausalLM")
    QKV_BIAS, HEAD_DIM, QK_NORM = False, 8, True
    write("qwen3_lm", "qwen3", "Qwen3ForCausalLM")
    QK_NORM, THETA, GEMMA = False, 10000.0, 1
    write("gemma_lm", "gemma", "GemmaForCausalLM")
    GEMMA, QPAS, ATTN_CAP, FINAL_CAP, WINDOW, SLIDING = 2, 6.0, 2.0, 3.0, 3, (0,)
    write("gemma2_lm", "gemma2", "Gemma2ForCausalLM")
    LM, TIED = False, False
    write("gemma2", "gemma2", "Gemma2ForSequenceClassification")
    LM, TIED, GEMMA, ATTN_CAP, FINAL_CAP, QK_NORM, HEAD_DIM, LOCAL_THETA = True, True, 3, None, None, True, 8, 10.0
    write("gemma3_lm", "gemma3_text", "Gemma3ForCausalLM")
    # Phi-3: fused projections, half of each head (8 wide) rotated with
    # LongRoPE; the causal LM's 7-token sequences exceed its original 4
    # positions (long factors), the classifier's do not (short factors), and
    # the classifier has a sliding window of 3 on every layer.
    global PHI3, PARTIAL, LONGROPE
    LM, TIED, GEMMA, QK_NORM, HEAD_DIM, THETA, SLIDING, LOCAL_THETA = True, False, 0, False, 8, 10000.0, (), None
    QPAS, ATTN_CAP, FINAL_CAP, WINDOW = None, None, None, None
    PHI3, PARTIAL, LONGROPE = True, 0.5, (4, [1.0, 2.5], [3.0, 7.0])
    write("phi3_lm", "phi3", "Phi3ForCausalLM")
    LM, WINDOW, SLIDING, LONGROPE = False, 3, (0, 1), (16, [1.5, 4.0], [9.0, 20.0])
    write("phi3", "phi3", "Phi3ForSequenceClassification")
    # OLMo 2: no norm before the attention or the MLP, norms of their
    # outputs, and RMSNorms of the whole query and key projections.
    global OLMO2
    LM, WINDOW, SLIDING, PHI3, PARTIAL, LONGROPE, HEAD_DIM, OLMO2 = True, None, (), False, 1.0, None, 4, True
    write("olmo2_lm", "olmo2", "Olmo2ForCausalLM")
    # OLMo 3: OLMo 2 with a sliding window of 3 on its first layer, and YaRN
    # (factor 4 from 16 positions: the first of the four pairs extrapolates,
    # the others interpolate).
    global YARN
    WINDOW, SLIDING, HEAD_DIM, YARN = 3, (0,), 8, (4.0, 16)
    write("olmo3_lm", "olmo3", "Olmo3ForCausalLM")
    # StableLM: LayerNorms with biases, biases on query, key and value, a
    # quarter of each head rotated; the causal LM sequential, the classifier
    # with the parallel residual (its MLP reads input_layernorm).
    global STABLELM, PARALLEL
    WINDOW, SLIDING, YARN, OLMO2, STABLELM, QKV_BIAS, PARTIAL = None, (), None, False, True, True, 0.25
    write("stablelm_lm", "stablelm", "StableLmForCausalLM")
    LM, PARALLEL = False, True
    write("stablelm", "stablelm", "StableLmForSequenceClassification")
    # Granite: Llama's layout with µP multipliers (embeddings ×12, scores
    # ×0.1 instead of 4^(−½), residual branches ×0.22, logits ÷8), tied.
    global GRANITE
    LM, TIED, PARALLEL, STABLELM, QKV_BIAS, PARTIAL, HEAD_DIM = True, True, False, False, False, 1.0, 4
    GRANITE = (12.0, 0.1, 0.22, 8.0)
    write("granite_lm", "granite", "GraniteForCausalLM")


if __name__ == "__main__":
    main()
