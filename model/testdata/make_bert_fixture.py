#!/usr/bin/python3
"""Writes bert_fixture/, a tiny BertForSequenceClassification checkpoint in
Hugging Face layout (config.json + model.safetensors) and
expected.safetensors (a batch of right-padded token ids "input_ids" and the
logits "logits" it must give), and roberta_fixture/, the same for a
RobertaForSequenceClassification.

The forward pass below is written from the semantics of transformers'
BertForSequenceClassification (word, position and token-type 0 embeddings
summed, LayerNorm; post-LN encoder layers: bidirectional attention with the
padding keys masked, output dense, LayerNorm of the sum with the input; an
exact-erf GELU MLP, LayerNorm of the sum; the pooler, tanh(dense) of the
first token; the classifier) and RobertaForSequenceClassification (the same
encoder, positions pad_token_id + 1, + 2, … over the tokens that are not
padding and pad_token_id on padding; the head classifier.out_proj of
tanh(classifier.dense) of the first token) in plain torch, computed in
float64 from the float32 weights.

Run from model/testdata: /usr/bin/python3 make_bert_fixture.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from make_vit_fixture import write_safetensors

VOCAB, HIDDEN, LAYERS, HEADS, INTER, POSITIONS = 30, 16, 2, 4, 24, 20
LABELS = ["negative", "neutral", "positive"]


def make_weights(gen, prefix, types):
    d = HIDDEN

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    e = prefix + ".embeddings."
    w = {
        e + "word_embeddings.weight": rnd(VOCAB, d, std=1.0),
        e + "position_embeddings.weight": rnd(POSITIONS + (2 if prefix == "roberta" else 0), d),
        e + "token_type_embeddings.weight": rnd(types, d),
        e + "LayerNorm.weight": 1 + rnd(d, std=0.2),
        e + "LayerNorm.bias": rnd(d, std=0.2),
    }
    for i in range(LAYERS):
        p = f"{prefix}.encoder.layer.{i}."
        for name, (o, k) in {
            "attention.self.query": (d, d),
            "attention.self.key": (d, d),
            "attention.self.value": (d, d),
            "attention.output.dense": (d, d),
            "intermediate.dense": (INTER, d),
            "output.dense": (d, INTER),
        }.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            w[p + name + ".bias"] = rnd(o, std=0.3)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + n + ".weight"] = 1 + rnd(d, std=0.2)
            w[p + n + ".bias"] = rnd(d, std=0.2)
    pool, head = ("classifier.dense", "classifier.out_proj") if prefix == "roberta" else ("bert.pooler.dense", "classifier")
    w[pool + ".weight"], w[pool + ".bias"] = rnd(d, d, std=1 / math.sqrt(d)), rnd(d, std=0.3)
    w[head + ".weight"], w[head + ".bias"] = rnd(len(LABELS), d), rnd(len(LABELS), std=0.3)
    return w, pool, head


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def forward(w, ids, prefix, pad, eps, pool, head):
    w = {k: t.to(torch.float64) for k, t in w.items()}
    B, T = ids.shape
    real = ids != pad
    if prefix == "roberta":
        positions = torch.cumsum(real.long(), dim=1) * real.long() + pad
    else:
        positions = torch.arange(T).expand(B, T)
    e = prefix + ".embeddings."
    h = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][positions] + w[e + "token_type_embeddings.weight"][0]
    h = layer_norm(h, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    mask = torch.where(real, 0.0, float("-inf")).to(torch.float64)[:, None, None, :]  # keys
    dh = HIDDEN // HEADS

    def heads(t):
        return t.view(B, T, HEADS, dh).transpose(1, 2)

    for i in range(LAYERS):
        p = f"{prefix}.encoder.layer.{i}."
        lin = lambda name, t: F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])
        q, k, v = heads(lin("attention.self.query", h)), heads(lin("attention.self.key", h)), heads(lin("attention.self.value", h))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, HIDDEN)
        h = layer_norm(h + lin("attention.output.dense", ctx), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        f = lin("output.dense", F.gelu(lin("intermediate.dense", h)))
        h = layer_norm(h + f, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = torch.tanh(F.linear(h[:, 0], w[pool + ".weight"], w[pool + ".bias"]))
    return F.linear(pooled, w[head + ".weight"], w[head + ".bias"])


def write(name, prefix, arch, pad, types, eps):
    gen = torch.Generator().manual_seed(20261127)
    w, pool, head = make_weights(gen, prefix, types)
    ids = torch.randint(2, VOCAB, (3, 7), generator=gen)
    ids[0, 5:] = pad  # right padding
    ids[2, 3:] = pad
    logits = forward(w, ids, prefix, pad, eps, pool, head)
    config = {
        "_name_or_path": f"bico/tiny-{name}-fixture",
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "layer_norm_eps": eps,
        "max_position_embeddings": POSITIONS + (2 if prefix == "roberta" else 0),
        "model_type": prefix,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.57.1",
        "type_vocab_size": types,
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    if prefix == "roberta":
        config.update({"bos_token_id": 0, "eos_token_id": 2})
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
    write("bert", "bert", "BertForSequenceClassification", 0, 2, 1e-12)
    write("roberta", "roberta", "RobertaForSequenceClassification", 1, 1, 1e-5)


if __name__ == "__main__":
    main()
