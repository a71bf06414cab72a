#!/usr/bin/env python3
"""fp32 against bf16 on the training-step rows, toolkit and PyTorch side by side: for each row
and round, `gan bench train-step --precision P` and the same computation in PyTorch
(`bench/dcgan32_step.py` / `bench/progan_step.py --channels-last --precision P`, autocast
bfloat16 around the same regions), alternated in one run. Prints per-row medians, each side's
bf16/fp32 speed-up, and the toolkit/PyTorch ratio in bf16 with its per-round range.

    python bench/precision_step.py --gan target/release/gan --rounds 3 [--widths paper]
"""
import argparse
import statistics
import subprocess

from tqdm import tqdm  # installed with torch-fidelity by `cargo xtask setup`

# (name, toolkit args, PyTorch script and args, steps per measurement). The DCGAN-32 step is the
# shortest (~0.1 s in bf16): 30 steps per measurement gave per-round ratios from 0.72 to 1.27 on
# a 2-core AMD EPYC (2026-12-06), 60 keep each measurement above 5 s.
ROWS = [
    ("DCGAN-32 C=1", ["--arch", "dcgan32", "--channels", "1"],
     ["bench/dcgan32_step.py", "--channels", "1"], 60),
    ("ProGAN-32 stable", ["--arch", "progan", "--resolution", "32", "--phase", "stable"],
     ["bench/progan_step.py", "--resolution", "32", "--phase", "stable"], 15),
    ("ProGAN-32 fade", ["--arch", "progan", "--resolution", "32", "--phase", "fade"],
     ["bench/progan_step.py", "--resolution", "32", "--phase", "fade"], 15),
    ("ProGAN-64 stable", ["--arch", "progan", "--resolution", "64", "--phase", "stable", "--batch", "16"],
     ["bench/progan_step.py", "--resolution", "64", "--phase", "stable", "--batch", "16"], 10),
    ("ProGAN-64 fade", ["--arch", "progan", "--resolution", "64", "--phase", "fade", "--batch", "16"],
     ["bench/progan_step.py", "--resolution", "64", "--phase", "fade", "--batch", "16"], 10),
]

# ProGAN with the paper's widths (Karras et al. 2018, Table 2: 512 feature maps up to 32x32, 256
# at 64x64; `--fmap-base 8192 --fmap-max 512`), batch 16, where the convolutions dominate the
# step: 2 steps per measurement after 1 warm-up step (one fp32 step takes about 14 s at 32 px and 33 s
# at 64 px on a 2-core Xeon with AMX). `--widths paper`.
PAPER = ["--fmap-base", "8192", "--fmap-max", "512", "--batch", "16"]
PAPER_ROWS = [
    (f"ProGAN-{res} {phase}, paper widths",
     ["--arch", "progan", "--resolution", str(res), "--phase", phase, "--warmup", "1", *PAPER],
     ["bench/progan_step.py", "--resolution", str(res), "--phase", phase, "--warmup", "1", *PAPER], 2)
    for res in (32, 64) for phase in ("stable", "fade")
]


def rate(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.startswith("steps_per_s")]
    if not lines:
        raise SystemExit(f"{cmd}: no steps_per_s line:\n{out}")
    return float(lines[-1].split()[1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gan", default="target/release/gan")
    p.add_argument("--python", default=".venv/bin/python")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--widths", choices=["preset", "paper"], default="preset",
                   help="preset: DCGAN-32 and the progan-fashion32 widths; paper: ProGAN with the paper's")
    args = p.parse_args()
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    print("cpu flags:", " ".join(x for x in ("amx_bf16", "avx512_bf16") if x in flags) or "no amx_bf16 / avx512_bf16")
    rows = PAPER_ROWS if args.widths == "paper" else ROWS
    # One tick per measurement (row x round x side x precision), with its rate and ETA.
    bar = tqdm(total=len(rows) * args.rounds * 4, unit="measurement")
    for name, gan_args, torch_args, steps in rows:
        r = {k: [] for k in ("ours fp32", "ours bf16", "torch fp32", "torch bf16")}
        for _ in range(args.rounds):
            for precision in ("fp32", "bf16"):
                bar.set_description(f"{name} {precision}")
                r[f"ours {precision}"].append(rate([args.gan, "bench", "train-step", "--device", "cpu",
                                                    "--steps", str(steps), "--precision", precision, *gan_args]))
                bar.update()
                r[f"torch {precision}"].append(rate([args.python, *torch_args, "--channels-last",
                                                     "--steps", str(steps), "--precision", precision]))
                bar.update()
        m = {k: statistics.median(v) for k, v in r.items()}
        per_round = [a / b for a, b in zip(r["ours bf16"], r["torch bf16"])]
        v = {k: (f"{x:.2f}" if x >= 1 else f"{x:.3f}") for k, x in m.items()}
        tqdm.write(f"{name}: ours fp32 {v['ours fp32']} bf16 {v['ours bf16']} "
              f"({m['ours bf16'] / m['ours fp32']:.2f}x) | torch fp32 {v['torch fp32']} "
              f"bf16 {v['torch bf16']} ({m['torch bf16'] / m['torch fp32']:.2f}x) | "
              f"bf16 ours/torch {m['ours bf16'] / m['torch bf16']:.2f} "
              f"[{min(per_round):.2f}-{max(per_round):.2f}]")
    bar.close()


if __name__ == "__main__":
    main()
