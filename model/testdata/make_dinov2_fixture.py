#!/usr/bin/python3
"""Writes dinov2_fixture/ and dinov2_with_registers_fixture/, tiny
Dinov2ForImageClassification and Dinov2WithRegistersForImageClassification
checkpoints, dinov2_swiglu_fixture/ (the SwiGLU MLP of DINOv2 giant: one
fused weights_in whose halves are SiLU's input x1 and the factor x2, on
images of the table's own 3×3 grid, so no resampling), in Hugging Face layout (config.json + model.safetensors) and
expected.safetensors (an input batch "pixel_values" and the logits "logits"
it must give), and bicubic.json, torch's bicubic resampling matrices.

The forward pass below is written from the semantics of transformers'
DINOv2 classifiers in plain torch, computed in float64 from the float32
weights: patch embedding, class token, position embeddings (the patch rows
resampled with F.interpolate(mode="bicubic", align_corners=False) to the
image's grid when it differs from the table's or the image is not square;
antialias=True with registers), register tokens inserted after the class
token; per block, LayerNorm norm1, attention, the output dense scaled by
layer_scale1.lambda1, the residual, norm2, fc2(gelu(fc1)) scaled by
layer_scale2.lambda1, the residual; the final LayerNorm; the classifier on
the class token beside the mean of the patch tokens (registers left out).
The images are not square and not of the table's grid, so the resampling
runs: upward (3×3 to 4×3) without registers, downward (3×3 to 2×2) with;
expected_9x1.safetensors holds images of a 9×1 grid, as many patches as the
table but not square, which transformers resamples too.

Run from model/testdata: /usr/bin/python3 make_dinov2_fixture.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from make_vit_fixture import write_safetensors

HIDDEN, LAYERS, HEADS, MLP_RATIO = 8, 2, 2, 2
IMAGE, PATCH, CHANNELS, EPS = 12, 4, 3, 1e-6
LABELS = ["cat", "dog", "bird"]


def mlp_units(swiglu):
    """transformers' MLP width: hidden·mlp_ratio, for SwiGLU two thirds of
    it rounded up to a multiple of 8."""
    m = HIDDEN * MLP_RATIO
    return (int(m * 2 / 3) + 7) // 8 * 8 if swiglu else m


def make_weights(gen, pre, registers, swiglu=False):
    d, n = HIDDEN, (IMAGE // PATCH) ** 2 + 1

    def rnd(*shape, std=0.5):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    e = pre + "embeddings."
    w = {e + "cls_token": rnd(1, 1, d), e + "mask_token": rnd(1, d)}
    if registers:
        w[e + "register_tokens"] = rnd(1, registers, d)
    w[e + "position_embeddings"] = rnd(1, n, d)
    w[e + "patch_embeddings.projection.weight"] = rnd(d, CHANNELS, PATCH, PATCH, std=0.2)
    w[e + "patch_embeddings.projection.bias"] = rnd(d)
    m = mlp_units(swiglu)
    mlp = {"mlp.weights_in": (2 * m, d), "mlp.weights_out": (d, m)} if swiglu else {"mlp.fc1": (m, d), "mlp.fc2": (d, m)}
    for i in range(LAYERS):
        p = f"{pre}encoder.layer.{i}."
        for ln in ("norm1", "norm2"):
            w[p + ln + ".weight"] = 1 + rnd(d, std=0.2)
            w[p + ln + ".bias"] = rnd(d, std=0.2)
        for name, (o, k) in {
            "attention.attention.query": (d, d),
            "attention.attention.key": (d, d),
            "attention.attention.value": (d, d),
            "attention.output.dense": (d, d),
            **mlp,
        }.items():
            w[p + name + ".weight"] = rnd(o, k, std=1 / math.sqrt(k))
            w[p + name + ".bias"] = rnd(o, std=0.1)
        for ls in ("layer_scale1", "layer_scale2"):
            w[p + ls + ".lambda1"] = 1 + rnd(d, std=0.3)
    w[pre + "layernorm.weight"] = 1 + rnd(d, std=0.2)
    w[pre + "layernorm.bias"] = rnd(d, std=0.2)
    w["classifier.weight"] = rnd(len(LABELS), 2 * d)
    w["classifier.bias"] = rnd(len(LABELS), std=0.1)
    return w


def forward(w, x, pre, registers, swiglu=False):
    """The classifier's logits, in float64."""
    w = {k: v.to(torch.float64) for k, v in w.items()}
    x = x.to(torch.float64)
    B, d, dh = x.shape[0], HIDDEN, HIDDEN // HEADS
    e = pre + "embeddings."
    emb = F.conv2d(x, w[e + "patch_embeddings.projection.weight"], w[e + "patch_embeddings.projection.bias"], stride=PATCH)
    gh, gw = emb.shape[2], emb.shape[3]
    emb = emb.flatten(2).transpose(1, 2)
    h = torch.cat([w[e + "cls_token"].expand(B, -1, -1), emb], dim=1)
    table = w[e + "position_embeddings"]
    g = IMAGE // PATCH
    grid = table[:, 1:].reshape(1, g, g, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False, antialias=registers > 0)
    pos = torch.cat([table[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)], dim=1)
    h = h + pos
    if registers:
        h = torch.cat([h[:, :1], w[e + "register_tokens"].expand(B, -1, -1), h[:, 1:]], dim=1)
    N = h.shape[1]

    def heads(t):
        return t.view(B, N, HEADS, dh).permute(0, 2, 1, 3)

    for i in range(LAYERS):
        p = f"{pre}encoder.layer.{i}."
        lin = lambda name, t: F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])
        a = F.layer_norm(h, (d,), w[p + "norm1.weight"], w[p + "norm1.bias"], EPS)
        q, k, v = (heads(lin("attention.attention." + s, a)) for s in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B, N, d)
        h = h + lin("attention.output.dense", ctx) * w[p + "layer_scale1.lambda1"]
        m = F.layer_norm(h, (d,), w[p + "norm2.weight"], w[p + "norm2.bias"], EPS)
        if swiglu:  # Dinov2SwiGLUFFN: silu(x1)·x2 of weights_in's two halves
            x1, x2 = lin("mlp.weights_in", m).chunk(2, dim=-1)
            m = lin("mlp.weights_out", F.silu(x1) * x2)
        else:
            m = lin("mlp.fc2", F.gelu(lin("mlp.fc1", m)))
        h = h + m * w[p + "layer_scale2.lambda1"]
    h = F.layer_norm(h, (d,), w[pre + "layernorm.weight"], w[pre + "layernorm.bias"], EPS)
    pooled = torch.cat([h[:, 0], h[:, 1 + registers:].mean(dim=1)], dim=1)
    return F.linear(pooled, w["classifier.weight"], w["classifier.bias"])


def write_fixture(gen, mt, registers, height, width, swiglu=False):
    pre = mt + "."
    w = make_weights(gen, pre, registers, swiglu)
    x = torch.rand(2, CHANNELS, height, width, generator=gen, dtype=torch.float32) * 2 - 1
    logits = forward(w, x, pre, registers, swiglu)
    arch = "Dinov2WithRegistersForImageClassification" if registers else "Dinov2ForImageClassification"
    config = {
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.0,
        "drop_path_rate": 0.0,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "hidden_size": HIDDEN,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "image_size": IMAGE,
        "initializer_range": 0.02,
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "layer_norm_eps": EPS,
        "layerscale_value": 1.0,
        "mlp_ratio": MLP_RATIO,
        "model_type": mt,
        "num_attention_heads": HEADS,
        "num_channels": CHANNELS,
        "num_hidden_layers": LAYERS,
        "patch_size": PATCH,
        "qkv_bias": True,
        "torch_dtype": "float32",
        "use_swiglu_ffn": swiglu,
    }
    if registers:
        config["num_register_tokens"] = registers
    else:
        config["use_mask_token"] = True
    out = mt + ("_swiglu" if swiglu else "") + "_fixture"
    os.makedirs(out, exist_ok=True)
    with open(out + "/config.json", "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(out + "/model.safetensors", w)
    write_safetensors(out + "/expected.safetensors", {"pixel_values": x, "logits": logits})
    print(mt, "logits", logits.tolist())
    if not registers and not swiglu:
        # A 9×1 grid: as many patches as the table's 3×3, but not square, so
        # transformers resamples it all the same.
        tall = torch.rand(1, CHANNELS, 36, 4, generator=gen, dtype=torch.float32) * 2 - 1
        write_safetensors(out + "/expected_9x1.safetensors", {"pixel_values": tall, "logits": forward(w, tall, pre, registers)})


def write_bicubic():
    """torch's resampling matrices [out, in] for a few sizes, both ways."""
    cases = []
    for antialias in (False, True):
        for n_in, n_out in ((7, 3), (5, 8), (37, 16), (3, 3), (16, 37), (9, 4)):
            basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, 1, 1, n_in)
            y = F.interpolate(basis, size=(1, n_out), mode="bicubic", align_corners=False, antialias=antialias)
            cases.append({"in": n_in, "out": n_out, "antialias": antialias,
                          "weights": y.reshape(n_in, n_out).t().reshape(-1).tolist()})
    with open("bicubic.json", "w") as f:
        json.dump(cases, f)
        f.write("\n")


def main():
    gen = torch.Generator().manual_seed(20261127)
    write_fixture(gen, "dinov2", 0, 16, 12)
    write_fixture(gen, "dinov2_with_registers", 2, 8, 8)
    write_fixture(gen, "dinov2", 0, 12, 12, swiglu=True)
    write_bicubic()


if __name__ == "__main__":
    main()
