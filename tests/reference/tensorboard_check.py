"""Reads a run's TensorBoard event files with TensorBoard's own reader (EventAccumulator) and
checks them against its stats.jsonl: every number of every tick line is a scalar at the tick's
step (images shown), equal as float32; no tag has a step twice (a resumed run's earlier events
after its snapshot are dropped); the last `samples` image has the size of the last sample grid
(reduced to fit 1024 pixels).
Usage: tensorboard_check.py RUN_DIR LAST_GRID. Prints `checked N scalars at T steps`."""
import json
import os
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run_dir, last_grid = sys.argv[1], sys.argv[2]
acc = EventAccumulator(os.path.join(run_dir, "tb"), size_guidance={"scalars": 0, "images": 0})
acc.Reload()
tags = acc.Tags()
scalars = {tag: acc.Scalars(tag) for tag in tags["scalars"]}
for tag, events in scalars.items():
    steps = [e.step for e in events]
    assert len(steps) == len(set(steps)), f"{tag}: duplicate steps {steps}"

checked, ticks = 0, 0
with open(os.path.join(run_dir, "stats.jsonl")) as f:
    for line in f:
        stats = json.loads(line)
        step = round(stats["kimg"] * 1000)
        ticks += 1
        numbers = {}
        for key, value in stats.items():
            if key in ("tick", "kimg"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers[key] = value
            elif isinstance(value, dict):
                numbers.update({f"{key}/{k}": v for k, v in value.items()
                                if isinstance(v, (int, float)) and not isinstance(v, bool)})
        for tag, value in numbers.items():
            found = [e.value for e in scalars.get(tag, []) if e.step == step]
            assert found, f"tick {stats['tick']}: no scalar {tag} at step {step}"
            assert found[0] == np.float32(value), f"{tag} at {step}: {found[0]} vs {value}"
            checked += 1

images = acc.Images("samples")
assert len(images) == ticks, f"{len(images)} images for {ticks} ticks"
width, height = Image.open(last_grid).size
longest = max(width, height)
if longest > 1024:  # reduced to fit 1024 pixels, aspect kept (the toolkit's MAX_IMAGE_SIDE)
    width, height = [max(1, (side * 1024 + longest // 2) // longest) for side in (width, height)]
assert (images[-1].width, images[-1].height) == (width, height), (images[-1].width, images[-1].height, width, height)
print(f"checked {checked} scalars at {ticks} steps; last image {width}x{height}")
