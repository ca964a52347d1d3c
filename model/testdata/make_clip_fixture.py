#!/usr/bin/python3
"""Writes clip_fixture/, a tiny CLIPForImageClassification checkpoint in
Hugging Face layout (config.json + model.safetensors, with a text tower's
tensors and a visual projection as a CLIPModel checkpoint has them, which
the classifier ignores) and expected.safetensors (an input batch
"pixel_values" and the logits "logits" it must give).

The forward pass below is written from the semantics of transformers'
CLIPForImageClassification (patch convolution without bias, class
embedding, position embedding table, pre_layrnorm, pre-LN blocks with
quick GELU x·sigmoid(1.702x), the classifier on the mean of the last
hidden state's patch tokens; post_layernorm does not reach the logits) in
plain torch, computed in float64 from the float32 weights. The safetensors
files are written by hand as in make_vit_fixture.py.

Run from model/testdata: /usr/bin/python3 make_clip_fixture.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from make_vit_fixture import write_safetensors

HIDDEN, LAYERS, HEADS, INTER = 8, 2, 2, 16
IMAGE, PATCH, CHANNELS = 8, 4, 3
EPS = 1e-5
LABELS = ["cat", "dog", "bird"]


def make_weights(gen):
    d, n = HIDDEN, (IMAGE // PATCH) ** 2 + 1

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    v = "vision_model."
    w = {
        v + "embeddings.class_embedding": rnd(d),
        v + "embeddings.patch_embedding.weight": rnd(d, CHANNELS, PATCH, PATCH, std=0.2),
        v + "embeddings.position_embedding.weight": rnd(n, d),
        v + "pre_layrnorm.weight": 1 + rnd(d, std=0.2),
        v + "pre_layrnorm.bias": rnd(d, std=0.2),
    }
    for i in range(LAYERS):
        p = f"{v}encoder.layers.{i}."
        for name, (o, k) in {
            "self_attn.k_proj": (d, d),
            "self_attn.v_proj": (d, d),
            "self_attn.q_proj": (d, d),
            "self_attn.out_proj": (d, d),
            "mlp.fc1": (INTER, d),
            "mlp.fc2": (d, INTER),
        }.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            w[p + name + ".bias"] = rnd(o, std=0.1)
        for ln in ("layer_norm1", "layer_norm2"):
            w[p + ln + ".weight"] = 1 + rnd(d, std=0.2)
            w[p + ln + ".bias"] = rnd(d, std=0.2)
    w[v + "post_layernorm.weight"] = 1 + rnd(d, std=0.2)
    w[v + "post_layernorm.bias"] = rnd(d, std=0.2)
    w["classifier.weight"] = rnd(len(LABELS), d)
    w["classifier.bias"] = rnd(len(LABELS), std=0.1)
    # Tensors of a CLIPModel checkpoint that the classifier does not use.
    w["visual_projection.weight"] = rnd(4, d)
    w["text_model.final_layer_norm.weight"] = 1 + rnd(d, std=0.2)
    w["logit_scale"] = torch.tensor([2.6592])
    return w


def forward(w, x):
    """CLIPForImageClassification's logits, in float64."""
    w = {k: t.to(torch.float64) for k, t in w.items()}
    x = x.to(torch.float64)
    v = "vision_model."
    B, d, dh = x.shape[0], HIDDEN, HIDDEN // HEADS
    emb = F.conv2d(x, w[v + "embeddings.patch_embedding.weight"], None, stride=PATCH)
    emb = emb.flatten(2).transpose(1, 2)  # [B, patches, d], row-major grid
    cls = w[v + "embeddings.class_embedding"].expand(B, 1, -1)
    h = torch.cat([cls, emb], dim=1) + w[v + "embeddings.position_embedding.weight"]
    h = F.layer_norm(h, (d,), w[v + "pre_layrnorm.weight"], w[v + "pre_layrnorm.bias"], EPS)
    N = h.shape[1]

    def heads(t):
        return t.view(B, N, HEADS, dh).permute(0, 2, 1, 3)

    for i in range(LAYERS):
        p = f"{v}encoder.layers.{i}."
        lin = lambda name, t: F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])
        a = F.layer_norm(h, (d,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], EPS)
        q, k, val = (heads(lin("self_attn." + s, a)) for s in ("q_proj", "k_proj", "v_proj"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        ctx = (probs @ val).permute(0, 2, 1, 3).reshape(B, N, d)
        h = h + lin("self_attn.out_proj", ctx)
        m = F.layer_norm(h, (d,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], EPS)
        m = lin("mlp.fc1", m)
        m = m * torch.sigmoid(1.702 * m)  # quick_gelu
        h = h + lin("mlp.fc2", m)
    pooled = h[:, 1:, :].mean(dim=1)
    return F.linear(pooled, w["classifier.weight"], w["classifier.bias"])


def main():
    gen = torch.Generator().manual_seed(20261127)
    w = make_weights(gen)
    x = torch.rand(2, CHANNELS, IMAGE, IMAGE, generator=gen, dtype=torch.float32) * 2 - 1
    logits = forward(w, x)
    config = {
        "_name_or_path": "bico/tiny-clip-fixture",
        "architectures": ["CLIPForImageClassification"],
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "initializer_factor": 1.0,
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "logit_scale_init_value": 2.6592,
        "model_type": "clip",
        "projection_dim": 4,
        "text_config": {"hidden_size": HIDDEN, "model_type": "clip_text_model"},
        "torch_dtype": "float32",
        "transformers_version": "4.57.1",
        "vision_config": {
            "attention_dropout": 0.0,
            "hidden_act": "quick_gelu",
            "hidden_size": HIDDEN,
            "image_size": IMAGE,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": INTER,
            "layer_norm_eps": EPS,
            "model_type": "clip_vision_model",
            "num_attention_heads": HEADS,
            "num_channels": CHANNELS,
            "num_hidden_layers": LAYERS,
            "patch_size": PATCH,
            "projection_dim": 4,
        },
    }
    os.makedirs("clip_fixture", exist_ok=True)
    with open("clip_fixture/config.json", "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors("clip_fixture/model.safetensors", w)
    write_safetensors("clip_fixture/expected.safetensors", {"pixel_values": x, "logits": logits})
    print("logits", logits.tolist())


if __name__ == "__main__":
    main()
