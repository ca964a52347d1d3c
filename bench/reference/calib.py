#!/usr/bin/python3
"""PyTorch reference for `bico bench`: the same calibration pass and transfer step.

Benchmark only, never a dependency of bico. It builds two random-weight ViTs of
the given shape (Hugging Face ViTForImageClassification layout: patch embedding
as a linear map over flattened patches, class token, learned positions, pre-LN
blocks with separate query/key/value/output projections, exact GELU MLP, final
LayerNorm, linear head on the class token), then for every batch of random
images, in eager mode:

  - runs the source forward and backward (parameters frozen, inputs requiring a
    gradient), keeping every linear site's input rows (forward hooks) and output
    gradient rows (full backward hooks), once per space (query, key and value
    share their input);
  - runs the target forward and backward with hooks that accumulate, as the
    target's rows arrive, C += a_srcᵀ·b_tgt (one float32 matmul, added into a
    float64 sum) and the float64 row sums of both sides;

and times each batch. The transfer step is torch.linalg.svd of every
statistic, T = U·Vᵀ, and the transport of every site's delta
(ΔW_B = T_outᵀ·ΔW_A·T_in in float64, biases and norm/embedding vectors with
their space's map).

It also times the target scoring --eval-samples random images under
torch.no_grad(), as bico bench's evaluation figure does.

Prints one JSON object (seconds per batch, evaluation and transfer seconds,
peak RSS).
Run it with /usr/bin/python3 (Debian's python3-torch), e.g.

    OPENBLAS_CORETYPE=SKYLAKEX /usr/bin/python3 bench/reference/calib.py --threads 2
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, mlp, eps):
        super().__init__()
        self.heads = heads
        self.layernorm_before = nn.LayerNorm(d, eps=eps)
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.output = nn.Linear(d, d)
        self.layernorm_after = nn.LayerNorm(d, eps=eps)
        self.intermediate = nn.Linear(d, mlp)
        self.act = nn.GELU()
        self.mlp_out = nn.Linear(mlp, d)

    def forward(self, x):
        b, n, d = x.shape
        h, dh = self.heads, d // self.heads
        a = self.layernorm_before(x)
        q = self.query(a).view(b, n, h, dh).transpose(1, 2)
        k = self.key(a).view(b, n, h, dh).transpose(1, 2)
        v = self.value(a).view(b, n, h, dh).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)
        probs = F.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.output(ctx)
        m = self.mlp_out(self.act(self.intermediate(self.layernorm_after(x))))
        return x + m


class ViT(nn.Module):
    def __init__(self, s):
        super().__init__()
        d = s.width
        self.s = s
        self.patch = nn.Linear(s.channels * s.patch * s.patch, d)
        grid = s.image // s.patch
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.position_embeddings = nn.Parameter(torch.randn(1, grid * grid + 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, s.heads, s.mlp, 1e-12) for _ in range(s.layers))
        self.layernorm = nn.LayerNorm(d, eps=1e-12)
        self.classifier = nn.Linear(d, s.classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
                nn.init.zeros_(m.bias)

    def forward(self, images):
        s = self.s
        b, c = images.shape[0], s.channels
        g, p = s.image // s.patch, s.patch
        patches = images.reshape(b, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, c * p * p)
        h = self.patch(patches)
        h = torch.cat([self.cls_token.expand(b, -1, -1), h], dim=1) + self.position_embeddings
        for blk in self.blocks:
            h = blk(h)
        h = self.layernorm(h)
        return self.classifier(h[:, 0])

    def sites(self):
        """(module, in space, out space, delta names) of every linear site."""
        out = [(self.patch, "patches", "patch", "patch")]
        for i, blk in enumerate(self.blocks):
            l = "layer.%d." % i
            out += [
                (blk.query, l + "layernorm_before", l + "query", l + "query"),
                (blk.key, l + "layernorm_before", l + "key", l + "key"),
                (blk.value, l + "layernorm_before", l + "value", l + "value"),
                (blk.output, l + "context", l + "output", l + "output"),
                (blk.intermediate, l + "layernorm_after", l + "intermediate", l + "intermediate"),
                (blk.mlp_out, l + "act", l + "mlp_out", l + "mlp_out"),
            ]
        out.append((self.classifier, "layernorm", "classifier", "classifier"))
        return out

    def vectors(self):
        """(parameter, space) of every vector parameter, for the transport."""
        out = [(self.cls_token, "patch"), (self.position_embeddings, "patch")]
        for i, blk in enumerate(self.blocks):
            l = "layer.%d." % i
            for ln, space in ((blk.layernorm_before, "layernorm_before"), (blk.layernorm_after, "layernorm_after")):
                out += [(ln.weight, l + space), (ln.bias, l + space)]
        out += [(self.layernorm.weight, "layernorm"), (self.layernorm.bias, "layernorm")]
        return out


class Stat:
    def __init__(self, da, db):
        self.c = torch.zeros(da, db, dtype=torch.float64)
        self.sum_a = torch.zeros(da, dtype=torch.float64)
        self.sum_b = torch.zeros(db, dtype=torch.float64)
        self.rows = 0

    def add(self, a, b):
        self.c.add_(a.t().mm(b))  # one float32 product, added into float64
        self.sum_a.add_(a.sum(0, dtype=torch.float64))
        self.sum_b.add_(b.sum(0, dtype=torch.float64))
        self.rows += a.shape[0]


class Recorder:
    """Hooks of one model. On the source, keep rows by (kind, space); on the
    target, accumulate the statistics against the source's rows. A site
    whose output space is None has no output statistic; a model with an
    embed_grad attribute is given the hook of its embedding's output
    gradient there."""

    def __init__(self, model, stats=None, source=None):
        self.rows = {}
        self.stats, self.source = stats, source
        self.handles = []
        for mod, sin, sout, _ in model.sites():
            self.handles.append(mod.register_forward_hook(self._fwd(sin)))
            if sout is not None:  # None: the vocabulary, no statistic
                self.handles.append(mod.register_full_backward_hook(self._bwd(sout)))
        if hasattr(model, "embed_grad"):  # a language model's embedding output
            model.embed_grad = lambda g: self._see(("out", "embed_tokens"), g)

    def _see(self, key, x):
        if key in self.rows:
            return
        x = x.detach().reshape(-1, x.shape[-1])
        self.rows[key] = True if self.stats is not None else x
        if self.stats is not None:
            a = self.source.rows[key]
            st = self.stats.get(key)
            if st is None:
                st = self.stats[key] = Stat(a.shape[1], x.shape[1])
            st.add(a, x)

    def _fwd(self, space):
        def hook(mod, inputs, output):
            self._see(("in", space), inputs[0])
        return hook

    def _bwd(self, space):
        def hook(mod, grad_input, grad_output):
            self._see(("out", space), grad_output[0])
        return hook


def peak_rss_reset():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def forward_flops(s, b):
    """Matrix-product FLOPs of a forward pass over b images, as Shape.ForwardFLOPs counts them."""
    g = s.image // s.patch
    p, n, d, f = g * g, g * g + 1, s.width, s.mlp
    pd = s.channels * s.patch * s.patch
    return 2 * b * p * pd * d + s.layers * (2 * b * n * (4 * d * d + 2 * d * f) + 4 * b * n * n * d) + 2 * b * d * s.classes


def calib_flops(s):
    """Matrix-product FLOPs of one batch, as bench.CalibFLOPs counts them."""
    b, g = s.batch, s.image // s.patch
    p, n, d, f = g * g, g * g + 1, s.width, s.mlp
    pd = s.channels * s.patch * s.patch
    fwd = forward_flops(s, b)
    bwd = fwd + s.layers * 4 * b * n * n * d
    stats = 2 * b * p * pd * pd + 2 * b * p * d * d
    stats += s.layers * 2 * b * n * (3 * d * d + f * f + 5 * d * d + f * f)
    stats += 2 * b * d * d + 2 * b * s.classes * s.classes
    return 2 * (fwd + bwd) + stats


def sgemm_probe(n=1024, repeats=3):
    """Median GFLOP/s of n×n float32 products with torch.mm."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def one_pass(model, batch, rec):
    rec.rows = {}
    images, labels = batch
    x = images.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels)
    loss.backward()


def svd_maps(stats):
    """The Procrustes map T = U·Vᵀ of every statistic, by torch.linalg.svd."""
    maps = {}
    for key, st in stats.items():
        u, _, vh = torch.linalg.svd(st.c, full_matrices=False)
        maps[key] = u @ vh
    return maps


def transfer_step(a, a_ft, b, stats):
    """torch.linalg.svd of every statistic and the transport of every site."""
    t0 = time.perf_counter()
    maps = svd_maps(stats)
    t1 = time.perf_counter()
    delta = {}
    for (ma, sin, sout, name), (mft, _, _, _), (mb, _, _, _) in zip(a.sites(), a_ft.sites(), b.sites()):
        t_in, t_out = maps[("in", sin)], maps[("out", sout)]
        dw = (mft.weight - ma.weight).double()
        delta[name + ".weight"] = (t_out.t() @ dw @ t_in).float()
        db = (mft.bias - ma.bias).double()
        delta[name + ".bias"] = (t_out.t() @ db).float()
    for (va, space), (vft, _) in zip(a.vectors(), a_ft.vectors()):
        key = ("out", space) if space == "patch" else ("in", space)
        t = maps[key]
        d = (vft - va).double().reshape(-1, t.shape[0])
        delta[id(va)] = (d @ t).float()
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, t2 - t1


def measure(s, a, b, batches, one_pass, flops, eval_flops, held, transfer_step, unit):
    """Times the calibration pass of source a and target b over batches
    (one_pass(model, batch, recorder) runs one model on one), the target
    scoring held (None: no evaluation) and transfer_step, against sgemm
    probes; returns the figures. flops and eval_flops are the counted
    products of one batch and of the evaluation; unit names a sample."""
    ceiling = max(sgemm_probe(1024, 5), sgemm_probe(2048, 5))
    probes = [sgemm_probe()]
    exact = peak_rss_reset()
    stats = {}
    src = Recorder(a)
    tgt = Recorder(b, stats, src)
    times, cpu = [], []
    for batch in batches:
        t0, c0 = time.perf_counter(), cpu_seconds()
        one_pass(a, batch, src)
        one_pass(b, batch, tgt)
        src.rows = {}
        times.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
        print("reference: calibration batch %d/%d: %.3f s (%.3f s of processor time)" % (len(times), len(batches), times[-1], cpu[-1]), file=sys.stderr)
        probes.append(sgemm_probe())
    peak = peak_rss()
    fractions = [flops / t / 1e9 / ((probes[i] + probes[i + 1]) / 2) for i, t in enumerate(times)]
    res = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "calib_batch_seconds": times,
        "calib_seconds_per_batch": statistics.median(times),
        "calib_images_per_second": s.batch / statistics.median(times),
        "calib_flops_per_batch": flops,
        "calib_gflops": flops / statistics.median(times) / 1e9,
        "sgemm_gflops": ceiling,
        "calib_fraction_of_sgemm": flops / statistics.median(times) / 1e9 / ceiling,
        "calib_probe_gflops": probes,
        "calib_batch_fractions": fractions,
        "calib_probe_fraction": statistics.median(fractions),
        "calib_cpu_seconds_per_batch": statistics.median(cpu),
        "peak_rss_bytes": peak,
        "peak_rss_exact": exact,
        "statistics": len(stats),
    }
    if held is not None:
        # Scoring held-out samples, as choosing α does: the target without
        # the calibration hooks, in inference mode.
        for h in src.handles + tgt.handles:
            h.remove()
        if hasattr(b, "embed_grad"):
            b.embed_grad = None
        b.eval()
        runs = []
        with torch.no_grad():
            for r in range(s.eval_repeats):
                t0 = time.perf_counter()
                b(held)
                runs.append(time.perf_counter() - t0)
        t = statistics.median(runs)
        res.update({"eval_samples": len(held), "eval_seconds": t, "eval_runs": runs,
                    "eval_images_per_second": len(held) / t, "eval_gflops": eval_flops / t / 1e9,
                    "eval_fraction_of_sgemm": eval_flops / t / 1e9 / ceiling})
        print("reference: evaluation of %d %s: %.3f s (median of %d)" % (len(held), unit, t, len(runs)), file=sys.stderr)
    if not s.skip_transfer:
        runs = []
        for r in range(s.repeats):
            total, svd, transport = transfer_step(a, a, b, stats)
            runs.append((total, svd, transport))
            print("reference: transfer step %d/%d: %.3f s (svd %.3f, transport %.3f)" % (r + 1, s.repeats, total, svd, transport), file=sys.stderr)
        runs.sort()
        total, svd, transport = runs[len(runs) // 2]
        res.update({"transfer_seconds": total, "transfer_svd_seconds": svd, "transfer_transport_seconds": transport,
                    "transfer_runs": [r[0] for r in runs]})
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--mlp", type=int, default=3072)
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1, help="timed transfer steps (median)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument("--eval-samples", type=int, default=16, help="held-out images scored in the timed evaluation (0: none)")
    ap.add_argument("--eval-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    s = ap.parse_args()

    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    torch.set_grad_enabled(True)
    a, b = ViT(s), ViT(s)
    for m in (a, b):
        for p in m.parameters():
            p.requires_grad_(False)
    n = s.batch * s.batches
    images = torch.randn(n, s.channels, s.image, s.image)
    labels = torch.randint(0, s.classes, (n,))
    batches = [(images[i:i + s.batch], labels[i:i + s.batch]) for i in range(0, n, s.batch)]
    held = torch.randn(s.eval_samples, s.channels, s.image, s.image) if s.eval_samples > 0 else None
    res = measure(s, a, b, batches, one_pass, calib_flops(s), forward_flops(s, s.eval_samples), held, transfer_step, "images")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
