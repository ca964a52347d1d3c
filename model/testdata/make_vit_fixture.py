#!/usr/bin/python3
"""Writes vit_fixture/, a tiny ViTForImageClassification checkpoint in Hugging
Face layout (config.json + model.safetensors) and expected.safetensors (an
input batch "pixel_values" and the logits "logits" it must give).

The forward pass below is written from the semantics of transformers'
ViTForImageClassification (pre-LN blocks, exact erf GELU, class token at
index 0, LayerNorm eps from the config) in plain torch, computed in float64
from the float32 weights. The safetensors files are written by hand: an
8-byte little-endian header length, a JSON header, raw little-endian data.

Run from model/testdata: /usr/bin/python3 make_vit_fixture.py
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

HIDDEN, LAYERS, HEADS, INTER = 8, 2, 2, 16
IMAGE, PATCH, CHANNELS = 8, 4, 3
EPS = 1e-12
LABELS = ["cat", "dog", "bird"]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make_weights(gen):
    d, n = HIDDEN, (IMAGE // PATCH) ** 2 + 1

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    w = {
        "vit.embeddings.cls_token": rnd(1, 1, d),
        "vit.embeddings.position_embeddings": rnd(1, n, d),
        "vit.embeddings.patch_embeddings.projection.weight": rnd(d, CHANNELS, PATCH, PATCH, std=0.2),
        "vit.embeddings.patch_embeddings.projection.bias": rnd(d),
    }
    for i in range(LAYERS):
        p = f"vit.encoder.layer.{i}."
        for name, (o, k) in {
            "attention.attention.query": (d, d),
            "attention.attention.key": (d, d),
            "attention.attention.value": (d, d),
            "attention.output.dense": (d, d),
            "intermediate.dense": (INTER, d),
            "output.dense": (d, INTER),
        }.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            w[p + name + ".bias"] = rnd(o, std=0.1)
        for ln in ("layernorm_before", "layernorm_after"):
            w[p + ln + ".weight"] = 1 + rnd(d, std=0.2)
            w[p + ln + ".bias"] = rnd(d, std=0.2)
    w["vit.layernorm.weight"] = 1 + rnd(d, std=0.2)
    w["vit.layernorm.bias"] = rnd(d, std=0.2)
    w["classifier.weight"] = rnd(len(LABELS), d)
    w["classifier.bias"] = rnd(len(LABELS), std=0.1)
    return w


def forward(w, x):
    """ViTForImageClassification's logits, in float64."""
    w = {k: v.to(torch.float64) for k, v in w.items()}
    x = x.to(torch.float64)
    B, d, dh = x.shape[0], HIDDEN, HIDDEN // HEADS
    emb = F.conv2d(x, w["vit.embeddings.patch_embeddings.projection.weight"],
                   w["vit.embeddings.patch_embeddings.projection.bias"], stride=PATCH)
    emb = emb.flatten(2).transpose(1, 2)  # [B, patches, d], row-major grid
    cls = w["vit.embeddings.cls_token"].expand(B, -1, -1)
    h = torch.cat([cls, emb], dim=1) + w["vit.embeddings.position_embeddings"]
    N = h.shape[1]

    def heads(t):
        return t.view(B, N, HEADS, dh).permute(0, 2, 1, 3)

    for i in range(LAYERS):
        p = f"vit.encoder.layer.{i}."
        lin = lambda name, t: F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])
        a = F.layer_norm(h, (d,), w[p + "layernorm_before.weight"], w[p + "layernorm_before.bias"], EPS)
        q, k, v = (heads(lin("attention.attention." + s, a)) for s in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B, N, d)
        h = h + lin("attention.output.dense", ctx)
        m = F.layer_norm(h, (d,), w[p + "layernorm_after.weight"], w[p + "layernorm_after.bias"], EPS)
        m = F.gelu(lin("intermediate.dense", m))  # exact (erf) GELU, hidden_act "gelu"
        h = h + lin("output.dense", m)
    h = F.layer_norm(h, (d,), w["vit.layernorm.weight"], w["vit.layernorm.bias"], EPS)
    return F.linear(h[:, 0], w["classifier.weight"], w["classifier.bias"])


def main():
    gen = torch.Generator().manual_seed(20260521)
    w = make_weights(gen)
    x = torch.rand(2, CHANNELS, IMAGE, IMAGE, generator=gen, dtype=torch.float32) * 2 - 1
    logits = forward(w, x)
    config = {
        "_name_or_path": "bico/tiny-vit-fixture",
        "architectures": ["ViTForImageClassification"],
        "attention_probs_dropout_prob": 0.0,
        "encoder_stride": PATCH,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "hidden_size": HIDDEN,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "image_size": IMAGE,
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "layer_norm_eps": EPS,
        "model_type": "vit",
        "num_attention_heads": HEADS,
        "num_channels": CHANNELS,
        "num_hidden_layers": LAYERS,
        "patch_size": PATCH,
        "qkv_bias": True,
        "torch_dtype": "float32",
        "transformers_version": "4.46.3",
    }
    os.makedirs("vit_fixture", exist_ok=True)
    with open("vit_fixture/config.json", "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors("vit_fixture/model.safetensors", w)
    write_safetensors("vit_fixture/expected.safetensors", {"pixel_values": x, "logits": logits})
    print("logits", logits.tolist())


if __name__ == "__main__":
    main()
