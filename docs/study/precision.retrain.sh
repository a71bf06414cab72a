# Sourced by precision.final-eval.sh and precision.swd-draws.sh after they set $root (the
# checkout): sets $gan (GAN=PATH, or the release build), $python (the set-up venv's) and $src (the
# study's committed runs), and checks that the first two are there.
gan="${GAN:-$root/target/release/gan}"
python="$root/.venv/bin/python"
src="$root/docs/study-runs/study/precision"
[ -x "$gan" ] || { echo "$gan: not found (cargo build --release -p ganlab-cli --bin gan, or GAN=PATH)" >&2; exit 1; }
[ -x "$python" ] || { echo "$python: not found (cargo xtask setup)" >&2; exit 1; }

# retrain NAME DIR: the precision study's run NAME trained again from its committed config.json
# into DIR/NAME (DIR made if missing; the run kept if it already finished there), then checked against the committed
# stats.jsonl: every tick's losses and evaluations must be equal to the last digit, so the
# snapshot read afterwards is the study's run, not a similar one (CPU runs of one seed are
# bit-reproducible on the same kind of CPU). Exits on a difference.
retrain() {
  local n="$1" dir="$2"
  mkdir -p "$dir"
  if ! grep -qs '"stop_reason": "finished"' "$dir/$n/outcome.json"; then
    echo "$(date -u +%T) train $n"
    rm -rf "${dir:?}/$n"
    "$gan" train --config "$src/$n/config.json" --run-dir "$dir/$n" --no-report >"$dir/$n.train.log" 2>&1
  fi
  "$python" - "$src/$n/stats.jsonl" "$dir/$n/stats.jsonl" <<'PY'
import json, sys
keys = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g", "eval")
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
same = len(a) == len(b) and all(x.get(k) == y.get(k) for x, y in zip(a, b) for k in keys)
if not same:
    sys.exit(f"{sys.argv[2]}: the retrained run's losses differ from the study's {sys.argv[1]}")
PY
}
