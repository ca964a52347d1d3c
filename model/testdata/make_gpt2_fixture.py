#!/usr/bin/python3
"""Writes gpt2_lm_fixture/, a tiny GPT2LMHeadModel checkpoint in Hugging
Face layout (config.json + model.safetensors) and expected.safetensors (a
batch of right-padded token ids "input_ids" and the logits "logits" it must
give, [B·T, vocab] sequence by sequence), with tied embeddings and its
tensors named as OpenAI's published gpt2 names them (no "transformer."
prefix, the attention's causal-mask buffers included); and gpt2_fixture/, a
GPT2ForSequenceClassification with scale_attn_by_inverse_layer_idx and the
ReLU activation, whose score layer reads each sequence's last token that is
not pad_token_id.

The forward pass below is written from the semantics of transformers'
GPT-2 models in plain torch, computed in float64 from the float32 weights:
token plus learned position embeddings (wte, wpe); per block, LayerNorm
ln_1; attention from the Conv1D c_attn (x·W + b with W stored [in, out]),
whose output splits into query, key and value of n_embd each; causal
softmax attention scaled by head_dim^(−½) (and 1/(layer+1) with
scale_attn_by_inverse_layer_idx); the Conv1D c_proj; the residual; then
ln_2, an MLP c_proj(act(c_fc(x))) and the residual; ln_f; then the tied
lm_head on every token or score on the last.

Run from model/testdata: /usr/bin/python3 make_gpt2_fixture.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from make_vit_fixture import write_safetensors

VOCAB, POSITIONS, HIDDEN, LAYERS, HEADS, INNER = 40, 16, 16, 2, 2, 24
EPS, PAD = 1e-5, 0
LM, BY_LAYER, ACT = True, False, "gelu_new"  # set per fixture by main
LABELS = ["negative", "neutral", "positive"]


def make_weights(gen):
    d = HIDDEN

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    pre = "" if LM else "transformer."
    w = {pre + "wte.weight": rnd(VOCAB, d, std=1.0), pre + "wpe.weight": rnd(POSITIONS, d, std=0.5)}
    for i in range(LAYERS):
        p = f"{pre}h.{i}."
        for n in ("ln_1", "ln_2"):
            w[p + n + ".weight"] = 1 + rnd(d, std=0.2)
            w[p + n + ".bias"] = rnd(d, std=0.2)
        for name, (k, o) in {  # Conv1D: weight [in, out]
            "attn.c_attn": (d, 3 * d),
            "attn.c_proj": (d, d),
            "mlp.c_fc": (d, INNER),
            "mlp.c_proj": (INNER, d),
        }.items():
            w[p + name + ".weight"] = rnd(k, o, std=1 / math.sqrt(k))
            w[p + name + ".bias"] = rnd(o, std=0.3)
        if LM:  # the buffers OpenAI's checkpoint carries
            w[p + "attn.bias"] = torch.tril(torch.ones(POSITIONS, POSITIONS)).view(1, 1, POSITIONS, POSITIONS)
    w[pre + "ln_f.weight"] = 1 + rnd(d, std=0.2)
    w[pre + "ln_f.bias"] = rnd(d, std=0.2)
    if not LM:
        w["score.weight"] = rnd(len(LABELS), d)
    return w


def forward(w, ids):
    B, T = ids.shape
    d, dh = HIDDEN, HIDDEN // HEADS
    pre = "" if LM else "transformer."
    W = {k: v.double() for k, v in w.items()}

    def conv(x, name):
        return x @ W[name + ".weight"] + W[name + ".bias"]

    def ln(x, name):
        return F.layer_norm(x, (d,), W[name + ".weight"], W[name + ".bias"], EPS)

    def act(x):
        if ACT == "relu":
            return F.relu(x)
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    h = W[pre + "wte.weight"][ids] + W[pre + "wpe.weight"][torch.arange(T)]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(LAYERS):
        p = f"{pre}h.{i}."
        q, k, v = conv(ln(h, p + "ln_1"), p + "attn.c_attn").split(d, dim=2)
        q, k, v = (x.view(B, T, HEADS, dh).permute(0, 2, 1, 3) for x in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        if BY_LAYER:
            s = s / (i + 1)
        s = s.masked_fill(~mask, float("-inf"))
        ctx = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, d)
        h = h + conv(ctx, p + "attn.c_proj")
        h = h + conv(act(conv(ln(h, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    h = ln(h, pre + "ln_f")
    if LM:
        return (h @ W["wte.weight"].t()).reshape(B * T, VOCAB).to(torch.float32)
    last = []
    for b in range(B):
        n = T
        while n > 0 and ids[b, n - 1] == PAD:
            n -= 1
        last.append(max(n - 1, 0))
    pooled = h[torch.arange(B), torch.tensor(last)]
    return (pooled @ W["score.weight"].t()).to(torch.float32)


def write(name, arch):
    gen = torch.Generator().manual_seed(20261127)
    w = make_weights(gen)
    ids = torch.randint(1, VOCAB, (3, 7), generator=gen)
    ids[0, 5:] = PAD  # right padding
    ids[2, 3:] = PAD
    logits = forward(w, ids)
    config = {
        "_name_or_path": f"bico/tiny-{name}-fixture",
        "activation_function": ACT,
        "architectures": [arch],
        "attn_pdrop": 0.1,
        "bos_token_id": VOCAB - 1,
        "embd_pdrop": 0.1,
        "eos_token_id": VOCAB - 1,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "initializer_range": 0.02,
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "layer_norm_epsilon": EPS,
        "model_type": "gpt2",
        "n_ctx": POSITIONS,
        "n_embd": HIDDEN,
        "n_head": HEADS,
        "n_inner": INNER,
        "n_layer": LAYERS,
        "n_positions": POSITIONS,
        "pad_token_id": PAD,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": BY_LAYER,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": "float32",
        "transformers_version": "4.46.3",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    if LM:
        del config["id2label"], config["label2id"], config["pad_token_id"], config["n_inner"]
        config["n_inner"] = None
    folder = name + "_fixture"
    os.makedirs(folder, exist_ok=True)
    with open(folder + "/config.json", "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(folder + "/model.safetensors", w)
    write_safetensors(folder + "/expected.safetensors", {"input_ids": ids.to(torch.float32), "logits": logits})
    print(name, "ids", ids.tolist())


def main():
    global LM, BY_LAYER, ACT, INNER
    INNER = 4 * HIDDEN  # n_inner null: 4·n_embd
    write("gpt2_lm", "GPT2LMHeadModel")
    LM, BY_LAYER, ACT, INNER = False, True, "relu", 24
    write("gpt2", "GPT2ForSequenceClassification")


if __name__ == "__main__":
    main()
