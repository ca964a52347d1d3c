#!/usr/bin/python3
"""PyTorch reference for `bico bench --family llama`: the same calibration pass.

Benchmark only, never a dependency of bico. It builds two random-weight Llama
causal language models of the given shape (transformers' LlamaForCausalLM
layout: token embedding, pre-norm decoder layers with RMSNorm, separate
query/key/value/output projections with grouped-query attention and rotary
embeddings in the rotate_half convention, causal softmax attention, a gated
SiLU MLP, final RMSNorm, lm_head on every token, tied to the embedding with
--tied), then for every batch of random token sequences, in eager mode:

  - runs the source forward and backward on the next-token cross-entropy
    (parameters frozen), keeping every linear site's input rows (forward
    hooks) and output gradient rows (full backward hooks), once per space
    (query, key and value share their input, gate and up theirs), and the
    gradient at the embedding's output (a tensor hook);
  - runs the target forward and backward with hooks that accumulate, as the
    target's rows arrive, C += a_srcᵀ·b_tgt (one float32 matmul, added into a
    float64 sum) and the float64 row sums of both sides; lm_head's output
    side is the vocabulary and has no statistic, as in bico;

and times each batch. The transfer step is torch.linalg.svd of every
statistic, T = U·Vᵀ, and the transport of every site's delta (ΔW_B =
T_outᵀ·ΔW_A·T_in in float64, the embedding table with its output map, the
norms' weights with their space's map). It also times the target scoring
--eval-samples random sequences under torch.no_grad().

Prints one JSON object with the keys calib.py prints. Run it with
/usr/bin/python3 (Debian's python3-torch), e.g.

    OPENBLAS_CORETYPE=SKYLAKEX /usr/bin/python3 bench/reference/calib_llama.py --threads 2
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from calib import measure, svd_maps


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(nn.Module):
    def __init__(self, s):
        super().__init__()
        d, self.heads, self.kv = s.width, s.heads, s.kv_heads
        self.dh = d // s.heads
        self.input_layernorm = RMSNorm(d)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, s.kv_heads * self.dh, bias=False)
        self.v_proj = nn.Linear(d, s.kv_heads * self.dh, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d)
        self.gate_proj = nn.Linear(d, s.mlp, bias=False)
        self.up_proj = nn.Linear(d, s.mlp, bias=False)
        self.down_proj = nn.Linear(s.mlp, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.heads, self.dh).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.kv, self.dh).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.kv, self.dh).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(-1, -2)) / self.dh ** 0.5 + mask
        ctx = torch.matmul(F.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, t, d)
        x = x + self.o_proj(ctx)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.embed_tokens = nn.Embedding(s.vocab, s.width)
        self.layers = nn.ModuleList(Layer(s) for _ in range(s.layers))
        self.norm = RMSNorm(s.width)
        self.lm_head = nn.Linear(s.width, s.vocab, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        if s.tied:
            self.lm_head.weight = self.embed_tokens.weight
        dh = s.width // s.heads
        freq = 10000.0 ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)
        ang = torch.arange(s.seq, dtype=torch.float64)[:, None] * freq[None, :]
        ang = torch.cat((ang, ang), dim=-1)
        self.cos, self.sin = ang.cos().float(), ang.sin().float()
        self.mask = torch.full((s.seq, s.seq), float("-inf")).triu(1)
        self.embed_grad = None

    def forward(self, ids):
        h = self.embed_tokens(ids)
        if self.embed_grad is not None and torch.is_grad_enabled():
            # The parameters are frozen and the inputs are token ids: the
            # embedding's output is the leaf the gradient flows back to.
            h = h.detach().requires_grad_(True)
            h.register_hook(self.embed_grad)
        for layer in self.layers:
            h = layer(h, self.cos, self.sin, self.mask)
        return self.lm_head(self.norm(h))

    def sites(self):
        """(module, in space, out space, parameter) of every linear site;
        lm_head's output space is None (the vocabulary)."""
        out = []
        for i, l in enumerate(self.layers):
            p = "layers.%d." % i
            out += [
                (l.q_proj, p + "input_layernorm", p + "q_proj", p + "q_proj"),
                (l.k_proj, p + "input_layernorm", p + "k_proj", p + "k_proj"),
                (l.v_proj, p + "input_layernorm", p + "v_proj", p + "v_proj"),
                (l.o_proj, p + "context", p + "o_proj", p + "o_proj"),
                (l.gate_proj, p + "post_attention_layernorm", p + "gate_proj", p + "gate_proj"),
                (l.up_proj, p + "post_attention_layernorm", p + "up_proj", p + "up_proj"),
                (l.down_proj, p + "act", p + "down_proj", p + "down_proj"),
            ]
        out.append((self.lm_head, "norm", None, "lm_head"))
        return out

    def vectors(self):
        """(parameter, space) of every norm weight, for the transport."""
        out = []
        for i, l in enumerate(self.layers):
            p = "layers.%d." % i
            out += [(l.input_layernorm.weight, p + "input_layernorm"), (l.post_attention_layernorm.weight, p + "post_attention_layernorm")]
        return out + [(self.norm.weight, "norm")]


def kv_width(s):
    return s.kv_heads * (s.width // s.heads)


def forward_flops(s, b):
    """Matrix-product FLOPs of a forward pass over b sequences, as bench.LLM.ForwardFLOPs counts them."""
    n, t, d, f, kv = b * s.seq, s.seq, s.width, s.mlp, kv_width(s)
    return s.layers * (2 * n * (2 * d * d + 2 * d * kv + 3 * d * f) + 4 * b * t * t * d) + 2 * n * d * s.vocab


def calib_flops(s):
    """Matrix-product FLOPs of one batch, as bench.CalibFLOPs counts them."""
    b, n, t, d, f, kv = s.batch, s.batch * s.seq, s.seq, s.width, s.mlp, kv_width(s)
    fwd = forward_flops(s, b)
    bwd = fwd + s.layers * 4 * b * t * t * d
    stats = 2 * n * d * d * 2  # the embedding's output gradient, the final norm
    stats += s.layers * 2 * n * (6 * d * d + 2 * kv * kv + 3 * f * f)
    return 2 * (fwd + bwd) + stats


def one_pass(model, ids, rec):
    rec.rows = {}
    logits = model(ids)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    loss.backward()


def transfer_step(a, a_ft, b, stats):
    """torch.linalg.svd of every statistic and the transport of every site."""
    t0 = time.perf_counter()
    maps = svd_maps(stats)
    t1 = time.perf_counter()
    delta = {}
    for (ma, sin, sout, name), (mft, _, _, _) in zip(a.sites(), a_ft.sites()):
        if a.s.tied and name == "lm_head":
            continue  # the embedding table's, below
        t_in = maps[("in", sin)]
        dw = (mft.weight - ma.weight).double()
        dw = dw if sout is None else maps[("out", sout)].t() @ dw
        delta[name] = (dw @ t_in).float()
    de = (a_ft.embed_tokens.weight - a.embed_tokens.weight).double()
    delta["embed_tokens"] = (de @ maps[("out", "embed_tokens")]).float()
    for (va, space), (vft, _) in zip(a.vectors(), a_ft.vectors()):
        delta[id(va)] = ((vft - va).double() @ maps[("in", space)]).float()
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, t2 - t1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=576)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--heads", type=int, default=9)
    ap.add_argument("--kv-heads", type=int, default=3)
    ap.add_argument("--mlp", type=int, default=1536)
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--tied", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1, help="timed transfer steps (median)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument("--eval-samples", type=int, default=16, help="held-out sequences scored in the timed evaluation (0: none)")
    ap.add_argument("--eval-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    s = ap.parse_args()

    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    a, b = Llama(s), Llama(s)
    for m in (a, b):
        for p in m.parameters():
            p.requires_grad_(False)
    n = s.batch * s.batches
    ids = torch.randint(1, s.vocab, (n, s.seq))
    batches = [ids[i:i + s.batch] for i in range(0, n, s.batch)]
    held = torch.randint(1, s.vocab, (s.eval_samples, s.seq)) if s.eval_samples > 0 else None
    res = measure(s, a, b, batches, one_pass, calib_flops(s), forward_flops(s, s.eval_samples), held, transfer_step, "sequences")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
