#!/bin/sh
# compare.sh runs `bico bench --json` and the PyTorch reference
# (bench/reference/calib.py, Debian's /usr/bin/python3 with python3-torch)
# on the same shapes, alternating them --runs times, and prints the medians
# and the ratios bico / PyTorch of the calibration pass and the transfer step.
#
# usage: bench/compare.sh [--family vit|llama] [--runs N] [--threads N]
#                         [--batch N] [--batches N] [--small-batches N]
#                         [--skip-main] [--skip-small] [--skip-transfer]
#                         [--as-installed] [--out DIR]
#
# --family llama compares the language-model pairs of `bico bench --family
# llama` (SmolLM2-135M's shape and a small Llama) with
# bench/reference/calib_llama.py.
#
# The PyTorch reference runs with the OpenBLAS kernels bico picks
# (OPENBLAS_CORETYPE, from bico's blas_config) unless OPENBLAS_CORETYPE is
# set: Debian's OpenBLAS 0.3.21 otherwise falls back to its SSE3 kernels on
# recent CPUs, which would flatter bico. --as-installed also runs it as
# installed (no OPENBLAS_CORETYPE: what a user of Debian's python3-torch
# gets) and adds that column. BICO_BLAS selects bico's backend as usual.
set -eu

runs=1 threads=2 batch=8 batches=3 small_batches=10 skip_main= skip_small= skip_transfer= out= installed= family=vit
while [ $# -gt 0 ]; do
	case $1 in
	--family) family=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--batch) batch=$2; shift 2 ;;
	--batches) batches=$2; shift 2 ;;
	--small-batches) small_batches=$2; shift 2 ;;
	--skip-main) skip_main=1; shift ;;
	--skip-small) skip_small=1; shift ;;
	--skip-transfer) skip_transfer=1; shift ;;
	--as-installed) installed=1; shift ;;
	--out) out=$2; shift 2 ;;
	*) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$out" ] || out=$(mktemp -d)
mkdir -p "$out"
go build -o "$out/bico" "$root/cmd/bico"

bflags="--json --quiet --threads $threads --batch $batch --batches $batches --small-batches $small_batches"
rflags="--threads $threads --batch $batch"
[ -n "$skip_main" ] && bflags="$bflags --skip-main"
[ -n "$skip_small" ] && bflags="$bflags --skip-small"
[ -n "$skip_transfer" ] && { bflags="$bflags --skip-transfer"; rflags="$rflags --skip-transfer"; }
case $family in
vit)
	script=$root/bench/reference/calib.py label=ViT-B/16
	small="--width 64 --layers 4 --heads 4 --mlp 128 --image 28 --patch 4 --channels 1 --classes 10 --batches $small_batches --repeats 5" ;;
llama)
	script=$root/bench/reference/calib_llama.py label=SmolLM2-135M
	bflags="$bflags --family llama"
	small="--width 64 --layers 4 --heads 4 --kv-heads 2 --mlp 128 --vocab 256 --seq 32 --no-tied --batches $small_batches --repeats 5" ;;
*) echo "compare.sh: --family $family: want vit or llama" >&2; exit 2 ;;
esac

i=1
while [ "$i" -le "$runs" ]; do
	echo "compare: run $i/$runs: bico (BICO_BLAS=${BICO_BLAS:-auto})" >&2
	"$out/bico" bench $bflags > "$out/bico.$i.json"
	if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
		core=$(jq -r '.blas_config // "" | split(" ") | map(select(test("^(SkylakeX|Haswell|Zen|Cooperlake|SapphireRapids|Sandybridge)$"))) | .[0] // "" | ascii_upcase' "$out/bico.$i.json")
	else
		core=$OPENBLAS_CORETYPE
	fi
	echo "compare: run $i/$runs: PyTorch (OPENBLAS_CORETYPE=$core)" >&2
	if [ -z "$skip_main" ]; then
		OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
			/usr/bin/python3 "$script" $rflags --batches "$batches" > "$out/torch.main.$i.json"
	fi
	if [ -z "$skip_small" ]; then
		OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
			/usr/bin/python3 "$script" $rflags $small > "$out/torch.small.$i.json"
	fi
	if [ -n "$installed" ]; then
		echo "compare: run $i/$runs: PyTorch as installed" >&2
		[ -n "$skip_main" ] || env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
			/usr/bin/python3 "$script" $rflags --batches "$batches" > "$out/torchinst.main.$i.json"
		[ -n "$skip_small" ] || env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
			/usr/bin/python3 "$script" $rflags $small > "$out/torchinst.small.$i.json"
	fi
	i=$((i + 1))
done

/usr/bin/python3 - "$out" "$runs" "$label" <<'PY'
import json, statistics, sys
out, runs, label_main = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(name):
    try:
        return [json.load(open("%s/%s.%d.json" % (out, name, i))) for i in range(1, runs + 1)]
    except FileNotFoundError:
        return None
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
bico = load("bico")
print("bico %s (%s), %d threads; PyTorch reference with OPENBLAS_CORETYPE as bico; medians of %d run(s)" % (
    bico[0]["backend"], bico[0].get("blas_config", ""), bico[0]["threads"], runs))
print("sgemm ceiling (bico backend): %.1f GFLOP/s" % med([b["sgemm_gflops"] for b in bico]))
for ref, label in (("torch", "PyTorch"), ("torchinst", "PyTorch as installed")):
  if load(ref + ".main") is None and load(ref + ".small") is None:
    continue
  print()
  print("%-34s %12s %12s %14s" % ("", "bico", label, "bico/PyTorch"))
  for pair, key in ((label_main, "main"), ("small", "small")):
    torch = load(ref + "." + key)
    if torch is None:
        continue
    part = (lambda b: b) if key == "main" else (lambda b: b.get("small") or {})
    bs = [part(b) for b in bico]
    def row(label, bk, tk, fmt="%12.4g", scale=1):
        bv, tv = med([b.get(bk) for b in bs]), med([t.get(tk) for t in torch])
        if bv is None or tv is None:
            return
        print(("%-34s " + fmt + " " + fmt + " %14.3f") % (label, bv * scale, tv * scale, bv / tv))
    row(pair + " calibration s/batch", "calib_seconds_per_batch", "calib_seconds_per_batch")
    row(pair + " calibration CPU s/batch", "calib_cpu_seconds_per_batch", "calib_cpu_seconds_per_batch")
    row(pair + " calibration GFLOP/s", "calib_gflops", "calib_gflops")
    row(pair + " calib / sgemm ceiling", "calib_fraction_of_sgemm", "calib_fraction_of_sgemm", fmt="%12.3f")
    # Each batch against sgemm measured just before and after it: robust to
    # the machine's load changing between the runs; the ratio of these is
    # the speed ratio at equal available compute.
    bf = med([b.get("calib_probe_fraction") for b in bs])
    tf = med([t.get("calib_probe_fraction") for t in torch])
    if bf and tf:
        print("%-34s %12.3f %12.3f %14.3f  (bico speed / PyTorch speed)" % (pair + " calib / probed sgemm", bf, tf, bf / tf))
        # No code does the counted work faster than sgemm runs: at a
        # fraction of 1, bico's speed over PyTorch's would be 1/tf.
        print("%-34s %12.3f %12.3f %14.3f  (the most any code could reach)" % (pair + " calib at the sgemm ceiling", 1, tf, 1 / tf))
    row(pair + " evaluation s", "eval_seconds", "eval_seconds")
    row(pair + " evaluation / sgemm ceiling", "eval_fraction_of_sgemm", "eval_fraction_of_sgemm", fmt="%12.3f")
    row(pair + " transfer step s", "transfer_seconds", "transfer_seconds")
    row(pair + " peak RSS GB", "peak_rss_bytes", "peak_rss_bytes", scale=2**-30)
    b = med([x.get("peak_over_budget") for x in bs])
    if b:
        print("%-34s %12.3f" % (pair + " peak RSS / budget", b))
print()
print("JSON in", out)
PY
