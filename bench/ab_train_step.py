#!/usr/bin/env python3
"""A/B of two `gan` binaries on the training-step rows of `cargo xtask bench` (DCGAN-32 C=1 and
C=3, ProGAN-32 stable and fade), alternating the binaries round by round in one run, so that
the machine's drift falls on both. Prints per-row medians and the ratio new / old with its
per-round range, and writes the rounds as JSON.

    python bench/ab_train_step.py --old target/release/gan-old --new target/release/gan \
        --rounds 5 --steps 30 --json target/ab.json
"""
import argparse
import json
import statistics
import subprocess

ROWS = [
    ("DCGAN-32 C=1", ["--arch", "dcgan32", "--channels", "1"]),
    ("DCGAN-32 C=3", ["--arch", "dcgan32", "--channels", "3"]),
    ("ProGAN-32 stable", ["--arch", "progan", "--phase", "stable"]),
    ("ProGAN-32 fade", ["--arch", "progan", "--phase", "fade"]),
]


def rate(binary, args, steps):
    out = subprocess.run(
        [binary, "bench", "train-step", "--device", "cpu", "--steps", str(steps), *args],
        check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key == "steps_per_s":
            return float(value)
    raise SystemExit(f"{binary} printed no steps_per_s line:\n{out}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--old", required=True)
    p.add_argument("--new", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--json")
    p.add_argument("--only", help="rows whose name contains this text (e.g. ProGAN)")
    a = p.parse_args()
    record = []
    for name, args in ROWS:
        if a.only and a.only not in name:
            continue
        steps = a.steps if "dcgan32" in args else max(1, a.steps * 2 // 3)
        old, new = [], []
        for r in range(a.rounds):
            # Alternate which binary goes first, so that neither always runs on a warmer machine.
            order = [("old", a.old), ("new", a.new)] if r % 2 == 0 else [("new", a.new), ("old", a.old)]
            for which, binary in order:
                (old if which == "old" else new).append(rate(binary, args, steps))
        ratios = [n / o for n, o in zip(new, old)]
        m_old, m_new = statistics.median(old), statistics.median(new)
        print(f"{name}: old {m_old:.2f} steps/s, new {m_new:.2f} steps/s, new/old {m_new / m_old:.3f} "
              f"[{min(ratios):.3f}-{max(ratios):.3f}]", flush=True)
        record.append({"row": name, "old": old, "new": new, "median_ratio": m_new / m_old})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"old": a.old, "new": a.new, "steps": a.steps, "rows": record}, f, indent=1)


if __name__ == "__main__":
    main()
