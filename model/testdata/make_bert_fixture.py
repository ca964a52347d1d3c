#!/usr/bin/python3
"""Writes bert_fixture/, a tiny BertForSequenceClassification checkpoint in
Hugging Face layout (config.json + model.safetensors) and
expected.safetensors (a batch of right-padded token ids "input_ids" and the
logits "logits" it must give), roberta_fixture/, the same for a
RobertaForSequenceClassification, and distilbert_fixture/ for a
DistilBertForSequenceClassification (its own names, no token types, the
head pre_classifier, ReLU, classifier).

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


BERT_NAMES = {"layers": "encoder.layer", "query": "attention.self.query", "key": "attention.self.key",
              "value": "attention.self.value", "out": "attention.output.dense", "norm1": "attention.output.LayerNorm",
              "lin1": "intermediate.dense", "lin2": "output.dense", "norm2": "output.LayerNorm"}
DISTIL_NAMES = {"layers": "transformer.layer", "query": "attention.q_lin", "key": "attention.k_lin",
                "value": "attention.v_lin", "out": "attention.out_lin", "norm1": "sa_layer_norm",
                "lin1": "ffn.lin1", "lin2": "ffn.lin2", "norm2": "output_layer_norm"}


def names(prefix):
    return DISTIL_NAMES if prefix == "distilbert" else BERT_NAMES


def heads_of(prefix):
    return {"roberta": ("classifier.dense", "classifier.out_proj"), "distilbert": ("pre_classifier", "classifier")}.get(
        prefix, ("bert.pooler.dense", "classifier"))


def make_weights(gen, prefix, types):
    d, n = HIDDEN, names(prefix)

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    e = prefix + ".embeddings."
    w = {
        e + "word_embeddings.weight": rnd(VOCAB, d, std=1.0),
        e + "position_embeddings.weight": rnd(POSITIONS + (2 if prefix == "roberta" else 0), d),
    }
    if types:
        w[e + "token_type_embeddings.weight"] = rnd(types, d)
    w[e + "LayerNorm.weight"] = 1 + rnd(d, std=0.2)
    w[e + "LayerNorm.bias"] = rnd(d, std=0.2)
    for i in range(LAYERS):
        p = f"{prefix}.{n['layers']}.{i}."
        for name, (o, k) in {
            n["query"]: (d, d),
            n["key"]: (d, d),
            n["value"]: (d, d),
            n["out"]: (d, d),
            n["lin1"]: (INTER, d),
            n["lin2"]: (d, INTER),
        }.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            w[p + name + ".bias"] = rnd(o, std=0.3)
        for norm in (n["norm1"], n["norm2"]):
            w[p + norm + ".weight"] = 1 + rnd(d, std=0.2)
            w[p + norm + ".bias"] = rnd(d, std=0.2)
    pool, head = heads_of(prefix)
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
    e, n = prefix + ".embeddings.", names(prefix)
    h = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][positions]
    if e + "token_type_embeddings.weight" in w:
        h = h + w[e + "token_type_embeddings.weight"][0]
    h = layer_norm(h, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    mask = torch.where(real, 0.0, float("-inf")).to(torch.float64)[:, None, None, :]  # keys
    dh = HIDDEN // HEADS

    def heads(t):
        return t.view(B, T, HEADS, dh).transpose(1, 2)

    for i in range(LAYERS):
        p = f"{prefix}.{n['layers']}.{i}."
        lin = lambda name, t: F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])
        q, k, v = heads(lin(n["query"], h)), heads(lin(n["key"], h)), heads(lin(n["value"], h))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, HIDDEN)
        h = layer_norm(h + lin(n["out"], ctx), w[p + n["norm1"] + ".weight"], w[p + n["norm1"] + ".bias"], eps)
        f = lin(n["lin2"], F.gelu(lin(n["lin1"], h)))
        h = layer_norm(h + f, w[p + n["norm2"] + ".weight"], w[p + n["norm2"] + ".bias"], eps)
    act = torch.relu if prefix == "distilbert" else torch.tanh
    pooled = act(F.linear(h[:, 0], w[pool + ".weight"], w[pool + ".bias"]))
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
    if prefix == "distilbert":
        for old, new in {"hidden_size": "dim", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
                         "intermediate_size": "hidden_dim", "hidden_act": "activation"}.items():
            config[new] = config.pop(old)
        for key in ("type_vocab_size", "position_embedding_type", "layer_norm_eps", "hidden_dropout_prob",
                    "attention_probs_dropout_prob", "classifier_dropout"):
            config.pop(key)
        config.update({"dropout": 0.1, "attention_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False,
                       "qa_dropout": 0.1, "tie_weights_": True})
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
    write("distilbert", "distilbert", "DistilBertForSequenceClassification", 0, 0, 1e-12)


if __name__ == "__main__":
    main()
