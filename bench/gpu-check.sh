#!/usr/bin/env bash
# The GPU path, checked in one run: the release `gan` built on the 2-core machine, run on the GPU
# machine against the same torch 2.11 (RESOURCES.md), beside the PyTorch scripts of bench/.
#
#   bench/gpu-check.sh [--device cuda|cpu] [--gan PATH] [--python PATH] [--detector PATH]
#                      [--speed-detector PATH] [--quick] [--out DIR]
#
# It prints, in order: `ldd` of the binary (libtorch_cuda and the CUDA libraries must resolve),
# whether CUDA is available to the binary and to PyTorch, then
#   1. correctness: the losses of 5 DCGAN-32 steps from one seed (weights and batches drawn on the
#      CPU) on the CPU and on --device, equal within 1e-2 relative (libtorch lets cuDNN use TF32
#      convolutions by default on Ampere and later: about 1e-3 relative per convolution);
#   2. DCGAN-32 training steps/s: toolkit vs PyTorch (default and channels-last);
#   3. ProGAN-128 (paper widths, fmap_base 8192, fmap_max 512, batch 16) stable and fade-in
#      training steps/s: toolkit vs PyTorch (default and channels-last);
#   4. FID feature extraction images/s (resize to 299 + Inception): toolkit vs the same TorchScript
#      module driven from Python. The 87 MB detector is over what can be carried: pass the
#      graph with zero weights (`bench/make_speed_detector.py pack`, 40 KB as .pt.xz) with
#      --speed-detector; it is unpacked here, and only its speed, not its values, is measured;
#   5. data-parallel training: the ProGAN step on 1 rank vs one rank per GPU (NCCL), the same
#      global batch, with the time per step in collectives (skipped with one GPU; 2 Gloo ranks
#      in the CPU dry run);
#   6. the ProGAN step with its real batches in host memory, each moved to the device as a
#      streamed dataset's are (pinned memory, a non-blocking copy: `Trainer::next_real`), vs
#      the reals held on the device: what the copy costs the step;
#   7. a ProGAN run from a zip of PNGs (StyleGAN2-ADA's format, decoded on CPU threads while
#      the step runs) growing from 4x4 to its resolution on --device: it must finish with a
#      snapshot; its images/s over the run.
#   8. mixed precision: the DCGAN-32 (C=3) and ProGAN steps of 2 and 3 in bf16 and in fp16
#      (`--precision P`: autocast, fp16 with one GradScaler per optimiser) against the same
#      steps under PyTorch's torch.autocast (and torch.amp.GradScaler), with the toolkit's
#      reduced/fp32 speed-up; fp16 is skipped on a CPU (libtorch has no fast fp16 kernels there);
#      then the ProGAN step with only its highest 4 resolutions in fp16 (bf16 on a CPU;
#      `--reduced-precision-resolutions`, StyleGAN2-ADA's num_fp16_res) and its feature maps
#      clamped to ±256 (`--conv-clamp`, its conv_clamp), the same in PyTorch;
#   9. mixed precision, step for step: the losses of the first DCGAN-32 and ProGAN-8 steps in
#      each precision on --device against PyTorch's --replay of them from the same weights and
#      batches (also with the highest resolution only and the clamp in the last precision),
#      within 1e-2 relative; reported, not fatal.
# A table of medians goes to stdout and, with --out, to DIR/gpu-check.md and DIR/gpu-check.json.
# --device cpu --quick is the dry run tested on every CI run (small sizes, the same steps).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
device=cuda
gan="$root/target/release/gan"
python="${PYTHON:-python3}"
[ -x "$root/.venv/bin/python" ] && python="$root/.venv/bin/python"
detector=""
speed_detector=""
quick=0
out=""
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --gan) gan="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --detector) detector="$2"; shift 2 ;;
    --speed-detector) speed_detector="$2"; shift 2 ;;
    --quick) quick=1; rounds=1; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$gan" ] || { echo "gpu-check: no gan binary at $gan (build it with cargo build --release)" >&2; exit 2; }
"$python" -c "import torch" 2>/dev/null || { echo "gpu-check: $python has no torch" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Outputs are captured before grep: with pipefail, `grep -q` closing a pipe early would turn
# the writer's SIGPIPE into a failure.
libs="$(ldd "$gan")"
if grep -q "not found" <<< "$libs"; then
  # A carried binary finds libtorch through the Python torch of this machine.
  torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "(LD_LIBRARY_PATH=$LD_LIBRARY_PATH)"
  libs="$(ldd "$gan")"
fi
echo "== ldd $gan"
grep -E "torch|c10|cuda|cudnn|cublas|not found" <<< "$libs" || true
if grep -q "not found" <<< "$libs"; then echo "gpu-check: unresolved libraries (set LD_LIBRARY_PATH to torch/lib)" >&2; exit 1; fi
echo "== CUDA"
info="$("$gan" bench cuda-info)"
echo "$info"
"$python" -c "import torch; print('pytorch', torch.__version__, 'cuda_available', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
if [ "$device" != cpu ] && ! grep -q "cuda_available true" <<< "$info"; then
  echo "gpu-check: the binary does not see CUDA" >&2; exit 1
fi

# `key value` lines → the value of one key.
value() { awk -v k="$1" '$1 == k { print $2 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
rows=()
json_rows=()
# bench NAME UNIT KEY CMD_TOOLKIT -- CMD_REF1 -- CMD_REF2 (alternating rounds, medians)
bench() {
  local name="$1" unit="$2" key="$3"; shift 3
  local cmds=() cur=""
  for a in "$@"; do
    if [ "$a" = "--" ]; then cmds+=("$cur"); cur=""; else cur="$cur $(printf '%q' "$a")"; fi
  done
  cmds+=("$cur")
  local i r
  for ((r = 0; r < rounds; r++)); do
    for i in "${!cmds[@]}"; do
      eval "${cmds[$i]}" > "$tmp/out" 2> "$tmp/err" || { echo "gpu-check: $name failed:"; cat "$tmp/err"; exit 1; } >&2
      value "$key" < "$tmp/out" >> "$tmp/rates.$i"
      value peak_rss_mb < "$tmp/out" >> "$tmp/rss.$i"
    done
  done
  local m=() rss=()
  for i in "${!cmds[@]}"; do
    m+=("$(median < "$tmp/rates.$i")"); rss+=("$(sort -g "$tmp/rss.$i" | tail -1)"); rm -f "$tmp/rates.$i" "$tmp/rss.$i"
  done
  local best="${m[1]}"
  [ "${#m[@]}" -gt 2 ] && best="$(printf '%s\n%s\n' "${m[1]}" "${m[2]}" | sort -g | tail -1)"
  local ratio; ratio="$(awk -v a="${m[0]}" -v b="$best" 'BEGIN { printf "%.2f", a / b }')"
  local third="-"; [ "${#m[@]}" -gt 2 ] && third="${m[2]}"
  bench_toolkit="${m[0]}"
  rows+=("| $name | $unit | ${m[0]} | ${m[1]} | $third | ${ratio}x | ${rss[0]} / ${rss[1]} |")
  json_rows+=("{\"benchmark\": \"$name\", \"unit\": \"$unit\", \"toolkit\": ${m[0]}, \"pytorch\": ${m[1]}, \"pytorch_channels_last\": \"$third\", \"ratio_vs_fastest\": $ratio}")
  echo "${rows[-1]}"
}

gpu="$("$python" -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')")"
# The results so far as a table; with --out, also written there (after every step, so that a run
# cut short by a time limit still returns what it measured).
results() {
  table="| benchmark | unit | toolkit | PyTorch | PyTorch channels-last | toolkit / fastest PyTorch | peak RSS MB toolkit / PyTorch |
|---|---|---|---|---|---|---|"
  local r
  for r in "${rows[@]}"; do table="$table
$r"; done
  if [ -n "$out" ]; then
    mkdir -p "$out"
    printf '# gpu-check on %s (%s)\n\n%s\n' "$device" "$gpu" "$table" > "$out/gpu-check.md.tmp"
    (IFS=,; printf '{"device": "%s", "gpu": "%s", "rounds": %s, "complete": %s, "rows": [%s]}\n' "$device" "$gpu" "$rounds" "$1" "${json_rows[*]}") > "$out/gpu-check.json.tmp"
    mv "$out/gpu-check.md.tmp" "$out/gpu-check.md"
    mv "$out/gpu-check.json.tmp" "$out/gpu-check.json"
  fi
}

echo "== 1. correctness: DCGAN-32, 5 steps, seed 0, CPU vs $device"
"$gan" bench losses --steps 5 --seed 0 --device cpu > "$tmp/cpu"
"$gan" bench losses --steps 5 --seed 0 --device "$device" > "$tmp/dev"
paste "$tmp/cpu" "$tmp/dev" | awk '/^step/ {
    for (j = 3; j <= 4; j++) { a = $j; b = $(j + 4); d = (a > b ? a - b : b - a) / (a > 0 ? a : -a);
      if (d > worst) worst = d }
    print "step " $2 ": cpu " $3 " " $4 " | device " $7 " " $8 }
  END { printf "max relative difference %.3g (tolerance 1e-2): %s\n", worst, (worst <= 1e-2 ? "ok" : "FAILED"); exit (worst <= 1e-2 ? 0 : 1) }'

if [ "$quick" = 1 ]; then dsteps=3; psteps=2; pres=32; pbase=256; pmax=64; pbatch=16; nfeat=4; bfeat=4
else dsteps=100; psteps=30; pres=128; pbase=8192; pmax=512; pbatch=16; nfeat=512; bfeat=64; fi

echo "== 2. DCGAN-32 training steps/s"
for c in 1 3; do
  bench "DCGAN-32 NS step, C=$c, batch 64" "steps/s" steps_per_s \
    "$gan" bench train-step --arch dcgan32 --channels $c --steps $dsteps --device "$device" -- \
    "$python" "$here/dcgan32_step.py" --channels $c --steps $dsteps --device "$device" -- \
    "$python" "$here/dcgan32_step.py" --channels $c --steps $dsteps --device "$device" --channels-last
  fp32_dcgan="$bench_toolkit"
done

results false
echo "== 3. ProGAN-$pres training steps/s"
for phase in stable fade; do
  bench "ProGAN-$pres WGAN-GP step, $phase, batch $pbatch, fmaps $pbase/$pmax" "steps/s" steps_per_s \
    "$gan" bench train-step --arch progan --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase $phase --steps $psteps --device "$device" -- \
    "$python" "$here/progan_step.py" --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase $phase --steps $psteps --device "$device" -- \
    "$python" "$here/progan_step.py" --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase $phase --steps $psteps --device "$device" --channels-last
  printf -v "fp32_progan_$phase" '%s' "$bench_toolkit"
done

results false
echo "== 4. FID feature extraction images/s"
checksum=()
if [ -n "$speed_detector" ]; then
  detector="$tmp/inception-zeros.pt"
  "$python" "$here/make_speed_detector.py" unpack "$speed_detector" "$detector"
  echo "(detector: $speed_detector, the graph with zero weights: speed only, not values)"
  checksum=(--no-checksum --engine native)
elif [ -z "$detector" ]; then
  detector="$root/datasets/cache/detectors/inception-2015-12-05.pt"
fi
if [ -f "$detector" ]; then
  bench "FID features (resize + Inception), 3x32x32, batch $bfeat" "images/s" images_per_s \
    "$gan" bench features --n $nfeat --batch $bfeat --device "$device" --detector "$detector" "${checksum[@]}" -- \
    "$python" "$here/features_torchscript.py" --n $nfeat --batch $bfeat --device "$device" --detector "$detector" -- \
    "$python" "$here/features_torchscript.py" --n $nfeat --batch $bfeat --device "$device" --detector "$detector" --channels-last
else
  echo "gpu-check: no detector at $detector; feature extraction skipped" >&2
fi

results false
echo "== 5. data-parallel training (c10d): 1 rank vs N ranks, the same global batch"
# N: every GPU of the machine (NCCL needs one per rank), or 2 CPU ranks (Gloo) for the dry run.
if [ "$device" = cpu ]; then nranks=2; else nranks="$(value cuda_devices <<< "$info")"; fi
if [ "${nranks:-0}" -ge 2 ]; then
  gbatch=$((pbatch * nranks))
  dp=(bench train-step --arch progan --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $gbatch --steps $psteps --device "$device")
  "$gan" "${dp[@]}" > "$tmp/dp1" 2> "$tmp/err" || { echo "gpu-check: 1-rank step failed:"; cat "$tmp/err"; exit 1; } >&2
  "$gan" "${dp[@]}" --nproc-per-node "$nranks" > "$tmp/dpn" 2> "$tmp/err" || { echo "gpu-check: $nranks-rank step failed:"; cat "$tmp/err"; exit 1; } >&2
  r1="$(value steps_per_s < "$tmp/dp1")"; rn="$(value steps_per_s < "$tmp/dpn")"
  comm="$(value comm_ms_per_step < "$tmp/dpn")"; mb="$(value gradient_mb_per_step < "$tmp/dpn")"
  speedup="$(awk -v a="$rn" -v b="$r1" 'BEGIN { printf "%.2f", a / b }')"
  echo "ProGAN-$pres, global batch $gbatch: 1 rank $r1 steps/s, $nranks ranks $rn steps/s (${speedup}x), $comm ms per step in collectives ($mb MB of gradients)"
  rows+=("| ProGAN-$pres data-parallel, global batch $gbatch | steps/s | $rn ($nranks ranks) | $r1 (1 rank) | - | ${speedup}x | $comm ms/step in collectives |")
  json_rows+=("{\"benchmark\": \"ProGAN-$pres data-parallel\", \"unit\": \"steps/s\", \"ranks\": $nranks, \"global_batch\": $gbatch, \"one_rank\": $r1, \"n_ranks\": $rn, \"speedup\": $speedup, \"comm_ms_per_step\": $comm, \"gradient_mb_per_step\": $mb}")
else
  echo "one $device device: the 1-rank vs N-rank check needs two (skipped)"
fi

results false
echo "== 6. real batches from host memory (pinned, non-blocking copies) vs held on $device"
pg=(bench train-step --arch progan --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --steps $psteps --device "$device")
for ((r = 0; r < rounds; r++)); do
  for where in device host; do
    extra=(); [ "$where" = host ] && extra=(--reals-on-host)
    "$gan" "${pg[@]}" "${extra[@]}" > "$tmp/out" 2> "$tmp/err" || { echo "gpu-check: ProGAN step with reals on the $where failed:"; cat "$tmp/err"; exit 1; } >&2
    value steps_per_s < "$tmp/out" >> "$tmp/reals.$where"
  done
done
held="$(median < "$tmp/reals.device")"; host="$(median < "$tmp/reals.host")"
copy_ratio="$(awk -v a="$host" -v b="$held" 'BEGIN { printf "%.2f", a / b }')"
echo "ProGAN-$pres stable step: reals on the device $held steps/s, from host memory $host steps/s (${copy_ratio}x)"
rows+=("| ProGAN-$pres step, real batches copied from host memory | steps/s | $host | $held (reals on the device) | - | ${copy_ratio}x | - |")
json_rows+=("{\"benchmark\": \"ProGAN-$pres step, real batches copied from host memory\", \"unit\": \"steps/s\", \"reals_on_host\": $host, \"reals_on_device\": $held, \"ratio\": $copy_ratio}")

results false
echo "== 7. training from a zip of PNGs (streamed) on $device"
if [ "$quick" = 1 ]; then zn=64; zres=16; zphase=0.05; else zn=2000; zres=128; zphase=0.5; fi
# Phases of zphase kimg from 4x4 to zres, then one more at zres.
zkimg="$(awk -v p="$zphase" -v r="$zres" 'BEGIN { n = 0; while (2 ^ (n + 2) < r) n++; printf "%g", p * (2 * n + 2) }')"
"$python" "$here/loader_torch.py" --make-inputs "$tmp/zip" --n $zn --resolution $zres > /dev/null
"$gan" train --dataset "zip:$tmp/zip/set.zip" --arch progan --resolution $zres --kimg "$zkimg" \
  --set progan.schedule.lod_training_kimg=$zphase --set progan.schedule.lod_transition_kimg=$zphase \
  --device "$device" --run-dir "$tmp/run" --no-report --no-tb > "$tmp/train.out" 2> "$tmp/train.err" \
  || { echo "gpu-check: training from the zip failed:"; tail -20 "$tmp/train.err"; exit 1; } >&2
ls "$tmp/run"/snapshot-*.safetensors > /dev/null || { echo "gpu-check: the streamed run left no snapshot" >&2; exit 1; }
zrate="$("$python" -c 'import json, sys; t = [json.loads(l) for l in open(sys.argv[1])][-1]; print("%.1f %d" % (1000 * t["kimg"] / t["train_s"], t["resolution"]))' "$tmp/run/stats.jsonl")"
read -r zips zfinal <<< "$zrate"
echo "ProGAN to ${zres}x$zres from zip:set.zip ($zn PNGs), $zkimg kimg: finished at ${zfinal}x$zfinal with a snapshot, $zips images/s over the run"
rows+=("| ProGAN 4x4 → ${zres}x$zres from a zip of $zn PNGs, $zkimg kimg | images/s | $zips | - | - | - | - |")
json_rows+=("{\"benchmark\": \"ProGAN from a zip of PNGs\", \"unit\": \"images/s\", \"images\": $zn, \"resolution\": $zres, \"kimg\": $zkimg, \"toolkit\": $zips}")

results false
echo "== 8. mixed precision: bf16 and fp16 against PyTorch autocast"
# speedup NAME FP32_RATE: a row with the toolkit's reduced-precision rate (the last bench) over
# its fp32 rate of the same step.
speedup() {
  local s; s="$(awk -v a="$bench_toolkit" -v b="$2" 'BEGIN { printf "%.2f", a / b }')"
  echo "$1: ${s}x the toolkit's fp32 step"
  rows+=("| $1 | speed-up | ${s}x | - | - | - | - |")
  json_rows+=("{\"benchmark\": \"$1\", \"unit\": \"speed-up\", \"toolkit\": $s}")
}
precisions=(bf16 fp16)
if [ "$device" = cpu ]; then
  precisions=(bf16)
  echo "fp16 on a CPU: libtorch has no vectorised float16 convolutions there (skipped)"
fi
for p in "${precisions[@]}"; do
  bench "DCGAN-32 NS step, C=3, batch 64, $p" "steps/s" steps_per_s \
    "$gan" bench train-step --arch dcgan32 --channels 3 --steps $dsteps --device "$device" --precision $p -- \
    "$python" "$here/dcgan32_step.py" --channels 3 --steps $dsteps --device "$device" --precision $p -- \
    "$python" "$here/dcgan32_step.py" --channels 3 --steps $dsteps --device "$device" --precision $p --channels-last
  speedup "DCGAN-32 $p / fp32 (toolkit)" "$fp32_dcgan"
  for phase in stable fade; do
    bench "ProGAN-$pres WGAN-GP step, $phase, batch $pbatch, fmaps $pbase/$pmax, $p" "steps/s" steps_per_s \
      "$gan" bench train-step --arch progan --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase $phase --steps $psteps --device "$device" --precision $p -- \
      "$python" "$here/progan_step.py" --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase $phase --steps $psteps --device "$device" --precision $p -- \
      "$python" "$here/progan_step.py" --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase $phase --steps $psteps --device "$device" --precision $p --channels-last
    fp32_var="fp32_progan_$phase"
    speedup "ProGAN-$pres $phase $p / fp32 (toolkit)" "${!fp32_var}"
  done
done
# StyleGAN2-ADA's mixed precision: num_fp16_res = 4, only the highest resolutions in the reduced
# type (fp16 on a GPU), the lower ones in float32, at most all but the lowest resolution; and
# conv_clamp = 256, every layer's feature maps clamped to ±256; in both programs.
last="${precisions[${#precisions[@]}-1]}"
p="$last"
levels="$(awk -v r="$pres" 'BEGIN { printf "%d", log(r) / log(2) + 0.5 }')"
top=$(( levels - 1 > 4 ? 4 : levels - 2 ))
bench "ProGAN-$pres WGAN-GP step, stable, batch $pbatch, fmaps $pbase/$pmax, highest $top resolutions in $p, clamp 256" "steps/s" steps_per_s \
  "$gan" bench train-step --arch progan --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase stable --steps $psteps --device "$device" --precision $p --reduced-precision-resolutions $top --conv-clamp 256 -- \
  "$python" "$here/progan_step.py" --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase stable --steps $psteps --device "$device" --precision $p --reduced-precision-resolutions $top --conv-clamp 256 -- \
  "$python" "$here/progan_step.py" --channels 3 --resolution $pres --fmap-base $pbase --fmap-max $pmax --batch $pbatch --phase stable --steps $psteps --device "$device" --precision $p --reduced-precision-resolutions $top --conv-clamp 256 --channels-last
speedup "ProGAN-$pres stable, highest $top resolutions in $p, clamp 256 / fp32 (toolkit)" "$fp32_progan_stable"

results false
echo "== 9. mixed precision on $device, step for step: the toolkit's steps against PyTorch's autocast steps"
# From the same weights and batches (drawn on the CPU by `gan bench losses --dump`, moved to the
# device), the losses of the first steps against the PyTorch script's --replay of them on the
# device: DCGAN-32 (non-saturating, 4 steps) and ProGAN at 8x8 (WGAN-GP with its double
# backward, 3 steps; in the last precision also with StyleGAN2-ADA's float32 low resolutions
# and clamp). Equal on a CPU; on a GPU within 1e-2 relative (nondeterministic cuDNN algorithms,
# TF32). Reported, not fatal, so that a difference does not cost the measurements above.
# agree NAME OURS THEIRS: the largest relative difference of two `step i loss_d loss_g` listings.
agree() {
  local worst verdict
  worst="$(paste <(grep '^step' "$2") <(grep '^step' "$3") | awk '
    NF != 8 { bad = 1 }
    { n++; for (j = 3; j <= 4; j++) { a = $j; b = $(j + 4); d = (a > b ? a - b : b - a);
        m = (b > 0 ? b : -b); if (m < 1e-12) m = 1e-12; if (d / m > w) w = d / m } }
    END { if (bad || n == 0) print "nan"; else printf "%.3g\n", w + 0 }')"
  verdict="$(awk -v w="$worst" 'BEGIN { print (w != "nan" && w + 0 <= 1e-2) ? "ok" : "DIFFERENT" }')"
  echo "$1: max relative difference $worst (tolerance 1e-2): $verdict"
  [ "$verdict" = ok ] || { echo "toolkit:"; cat "$2"; echo "PyTorch:"; cat "$3"; }
  rows+=("| $1 | max relative difference of the losses | $worst | - | - | $verdict | - |")
  json_rows+=("{\"benchmark\": \"$1\", \"unit\": \"max relative difference\", \"toolkit\": \"$worst\", \"tolerance\": 0.01, \"ok\": $([ "$verdict" = ok ] && echo true || echo false)}")
}
narrow=(--resolution 8 --fmap-base 32 --fmap-max 16 --batch 8)
for p in "${precisions[@]}"; do
  d="$tmp/replay-dcgan-$p"
  "$gan" bench losses --steps 4 --channels 1 --device "$device" --precision $p --dump "$d" > "$d.ours" 2> "$d.err" || cat "$d.err"
  "$python" "$here/dcgan32_step.py" --channels 1 --steps 4 --device "$device" --precision $p --replay "$d" > "$d.theirs" 2> "$d.err" || cat "$d.err"
  agree "DCGAN-32, 4 steps in $p against torch.autocast" "$d.ours" "$d.theirs"
  variants=("")
  [ "$p" = "$last" ] && variants+=("--reduced-precision-resolutions 1 --conv-clamp 256")
  for v in "${variants[@]}"; do
    d="$tmp/replay-progan-$p${v:+-sg2}"
    # $v unquoted: it holds whole options.
    "$gan" bench losses --arch progan "${narrow[@]}" --steps 3 --device "$device" --precision $p $v --dump "$d" > "$d.ours" 2> "$d.err" || cat "$d.err"
    "$python" "$here/progan_step.py" "${narrow[@]}" --steps 3 --device "$device" --precision $p $v --replay "$d" > "$d.theirs" 2> "$d.err" || cat "$d.err"
    agree "ProGAN-8 WGAN-GP, 3 steps in $p${v:+, highest resolution only, clamp 256} against torch.autocast" "$d.ours" "$d.theirs"
  done
done

results true
echo "== results on $device ($gpu), $rounds round(s), medians"
echo "$table"
