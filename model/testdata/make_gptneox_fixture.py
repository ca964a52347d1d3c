#!/usr/bin/python3
"""Writes gptneox_lm_fixture/, a tiny GPTNeoXForCausalLM checkpoint in
Hugging Face layout (config.json + model.safetensors) and
expected.safetensors (a batch of right-padded token ids "input_ids" and the
logits "logits" it must give, [B·T, vocab] sequence by sequence), with the
parallel residual of the Pythia models and a quarter of each head rotated;
and gptneox_fixture/, a GPTNeoXForSequenceClassification with the
sequential residual (use_parallel_residual false), no attention biases and
half of each head rotated, whose score layer reads each sequence's last
token that is not pad_token_id.

The forward pass below is written from the semantics of transformers'
GPTNeoX models in plain torch, computed in float64 from the float32
weights: token embeddings (embed_in); per layer, LayerNorms
input_layernorm and post_attention_layernorm; attention from the fused
query_key_value projection, whose output viewed as [heads, 3·head_dim]
gives each head's query, key and value in that order; rotary embeddings
(rotate_half convention, inv_freq = base^(−2i/r)) on the first
r = int(head_dim·rotary_pct) elements of each query and key head; causal
softmax attention scaled by head_dim^(−½); the dense output projection; an
MLP dense_4h_to_h(gelu(dense_h_to_4h(x))); with use_parallel_residual
x + attn(ln1(x)) + mlp(ln2(x)), else x + attn(ln1(x)) then + mlp(ln2(·));
final_layer_norm, then embed_out on every token or score on the last.

The checkpoints also hold the buffers old Pythia checkpoints carry
(attention.bias, attention.masked_bias, attention.rotary_emb.inv_freq),
which a reader must ignore. The safetensors files are written by hand as in
make_vit_fixture.py.

Run from model/testdata: /usr/bin/python3 make_gptneox_fixture.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from make_vit_fixture import write_safetensors

VOCAB, HIDDEN, LAYERS, HEADS, INTER = 40, 32, 2, 2, 48
EPS, PAD, BASE = 1e-5, 0, 100.0
PCT, PARALLEL, BIAS, LM = 0.25, True, True, True  # set per fixture by main
PHI, KV_HEADS = False, HEADS  # Phi's names, one LayerNorm for both branches, lm_head bias, gelu_new
LABELS = ["negative", "neutral", "positive"]


def make_phi_weights(gen):
    d, kv = HIDDEN, KV_HEADS * (HIDDEN // HEADS)

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    w = {"model.embed_tokens.weight": rnd(VOCAB, d, std=1.0)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + rnd(d, std=0.2)
        w[p + "input_layernorm.bias"] = rnd(d, std=0.2)
        for name, (o, k) in {"self_attn.q_proj": (d, d), "self_attn.k_proj": (kv, d), "self_attn.v_proj": (kv, d),
                             "self_attn.dense": (d, d), "mlp.fc1": (INTER, d), "mlp.fc2": (d, INTER)}.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            w[p + name + ".bias"] = rnd(o, std=0.3)
    w["model.final_layernorm.weight"] = 1 + rnd(d, std=0.2)
    w["model.final_layernorm.bias"] = rnd(d, std=0.2)
    if LM:
        w["lm_head.weight"] = rnd(VOCAB, d)
        w["lm_head.bias"] = rnd(VOCAB, std=0.3)
    else:
        w["score.weight"] = rnd(len(LABELS), d)
    return w


def phi_forward(w, ids):
    """PhiForCausalLM's logits: each layer h + attn(ln(h)) + mlp(ln(h)) with
    one LayerNorm, grouped-query attention, gelu_new, lm_head with a bias."""
    B, T = ids.shape
    d, dh = HIDDEN, HIDDEN // HEADS
    W = {k: v.double() for k, v in w.items()}

    def lin(x, name):
        return x @ W[name + ".weight"].t() + W[name + ".bias"]

    h = W["model.embed_tokens.weight"][ids]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        a = layer_norm(h, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"])
        q = lin(a, p + "self_attn.q_proj").view(B, T, HEADS, dh).permute(0, 2, 1, 3)
        k = lin(a, p + "self_attn.k_proj").view(B, T, KV_HEADS, dh).permute(0, 2, 1, 3)
        v = lin(a, p + "self_attn.v_proj").view(B, T, KV_HEADS, dh).permute(0, 2, 1, 3)
        q, k = rotate(q, T), rotate(k, T)
        k, v = k.repeat_interleave(HEADS // KV_HEADS, dim=1), v.repeat_interleave(HEADS // KV_HEADS, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        s = s.masked_fill(~mask, float("-inf"))
        ctx = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, d)
        f = lin(a, p + "mlp.fc1")
        f = 0.5 * f * (1 + torch.tanh(math.sqrt(2 / math.pi) * (f + 0.044715 * f ** 3)))
        h = h + lin(ctx, p + "self_attn.dense") + lin(f, p + "mlp.fc2")
    h = layer_norm(h, W["model.final_layernorm.weight"], W["model.final_layernorm.bias"])
    if LM:
        return lin(h, "lm_head").reshape(B * T, VOCAB).to(torch.float32)
    last = last_tokens(ids)
    return (h[torch.arange(B), torch.tensor(last)] @ W["score.weight"].t()).to(torch.float32)


def make_weights(gen):
    d = HIDDEN

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    w = {"gpt_neox.embed_in.weight": rnd(VOCAB, d, std=1.0)}
    for i in range(LAYERS):
        p = f"gpt_neox.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w[p + n + ".weight"] = 1 + rnd(d, std=0.2)
            w[p + n + ".bias"] = rnd(d, std=0.2)
        for name, (o, k, bias) in {
            "attention.query_key_value": (3 * d, d, BIAS),
            "attention.dense": (d, d, BIAS),
            "mlp.dense_h_to_4h": (INTER, d, True),
            "mlp.dense_4h_to_h": (d, INTER, True),
        }.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            if bias:
                w[p + name + ".bias"] = rnd(o, std=0.3)
        # Buffers of old checkpoints, not parameters.
        w[p + "attention.masked_bias"] = torch.tensor(-1e9)
        w[p + "attention.rotary_emb.inv_freq"] = torch.ones(4)
        w[p + "attention.bias"] = torch.tril(torch.ones(8, 8)).view(1, 1, 8, 8)
    w["gpt_neox.final_layer_norm.weight"] = 1 + rnd(d, std=0.2)
    w["gpt_neox.final_layer_norm.bias"] = rnd(d, std=0.2)
    if LM:
        w["embed_out.weight"] = rnd(VOCAB, d)
    else:
        w["score.weight"] = rnd(len(LABELS), d)
    return w


def last_tokens(ids):
    """Each sequence's last position that is not padding (0 for padding only)."""
    last = []
    for row in ids:
        n = len(row)
        while n > 0 and row[n - 1] == PAD:
            n -= 1
        last.append(max(n - 1, 0))
    return last


def layer_norm(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w.double(), b.double(), EPS)


def rotate(x, T):
    """Rotary embedding of the first r elements of each head of x [B, H, T, dh]."""
    dh = x.shape[-1]
    r = int(dh * PCT)
    inv = 1.0 / (BASE ** (torch.arange(0, r, 2, dtype=torch.float64) / r))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    rot, rest = x[..., :r], x[..., r:]
    half = torch.cat((-rot[..., r // 2:], rot[..., : r // 2]), dim=-1)
    return torch.cat((rot * cos + half * sin, rest), dim=-1)


def forward(w, ids):
    B, T = ids.shape
    d, dh = HIDDEN, HIDDEN // HEADS
    W = {k: v.double() for k, v in w.items()}

    def lin(x, name, bias):
        y = x @ W[name + ".weight"].t()
        return y + W[name + ".bias"] if bias else y

    h = W["gpt_neox.embed_in.weight"][ids]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(LAYERS):
        p = f"gpt_neox.layers.{i}."
        a = layer_norm(h, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"])
        qkv = lin(a, p + "attention.query_key_value", BIAS).view(B, T, HEADS, 3 * dh).permute(0, 2, 1, 3)
        q, k, v = qkv[..., :dh], qkv[..., dh: 2 * dh], qkv[..., 2 * dh:]
        q, k = rotate(q, T), rotate(k, T)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        s = s.masked_fill(~mask, float("-inf"))
        ctx = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, d)
        o = lin(ctx, p + "attention.dense", BIAS)

        def mlp(x):
            m = layer_norm(x, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"])
            return lin(F.gelu(lin(m, p + "mlp.dense_h_to_4h", True)), p + "mlp.dense_4h_to_h", True)

        if PARALLEL:
            h = h + o + mlp(h)
        else:
            h = h + o
            h = h + mlp(h)
    h = layer_norm(h, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"])
    if LM:
        return (h @ W["embed_out.weight"].t()).reshape(B * T, VOCAB).to(torch.float32)
    last = last_tokens(ids)
    pooled = h[torch.arange(B), torch.tensor(last)]
    return (pooled @ W["score.weight"].t()).to(torch.float32)


def write(name, arch):
    gen = torch.Generator().manual_seed(20261127)
    w = make_phi_weights(gen) if PHI else make_weights(gen)
    ids = torch.randint(1, VOCAB, (3, 7), generator=gen)
    ids[0, 5:] = PAD  # right padding
    ids[2, 3:] = PAD
    logits = phi_forward(w, ids) if PHI else forward(w, ids)
    config = {
        "_name_or_path": f"bico/tiny-{name}-fixture",
        "architectures": [arch],
        "attention_bias": BIAS,
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "classifier_dropout": 0.1,
        "eos_token_id": 0,
        "hidden_act": "gelu",
        "hidden_dropout": 0.0,
        "hidden_size": HIDDEN,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "layer_norm_eps": EPS,
        "max_position_embeddings": 64,
        "model_type": "gpt_neox",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": PAD,
        "rope_scaling": None,
        "rotary_emb_base": BASE,
        "rotary_pct": PCT,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.46.3",
        "use_cache": True,
        "use_parallel_residual": PARALLEL,
        "vocab_size": VOCAB,
    }
    if LM:
        del config["id2label"], config["label2id"], config["pad_token_id"]
    if PHI:
        for key in ("attention_bias", "rotary_emb_base", "rotary_pct", "use_parallel_residual", "classifier_dropout", "hidden_dropout"):
            config.pop(key, None)
        config.update({"model_type": "phi", "hidden_act": "gelu_new", "num_key_value_heads": KV_HEADS, "partial_rotary_factor": PCT,
                       "rope_theta": BASE, "qk_layernorm": False, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "tie_word_embeddings": False})
    folder = name + "_fixture"
    os.makedirs(folder, exist_ok=True)
    with open(folder + "/config.json", "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(folder + "/model.safetensors", w)
    write_safetensors(folder + "/expected.safetensors", {"input_ids": ids.to(torch.float32), "logits": logits})
    print(name, "ids", ids.tolist())


def main():
    global PCT, PARALLEL, BIAS, LM
    write("gptneox_lm", "GPTNeoXForCausalLM")
    PCT, PARALLEL, BIAS, LM = 0.5, False, False, False
    write("gptneox", "GPTNeoXForSequenceClassification")
    # Phi-2's layout: separate query, key and value (one key-value head of
    # two), half of each head rotated, lm_head with a bias.
    global PHI, KV_HEADS
    PHI, KV_HEADS, PCT, LM = True, 1, 0.5, True
    write("phi_lm", "PhiForCausalLM")


if __name__ == "__main__":
    main()
