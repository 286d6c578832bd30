"""Training speed per model and input size, the measurement the input sizes were chosen by.

``python -m bench.train_speed [--models sinet mobile-unet] [--sizes 160 192 224] [--batch 16] [--steps 8]``

Each model is built and compiled exactly as ``ml.training.train`` compiles it and trained on batches of
random photo-sized inputs and masks (``train_on_batch``: forward, loss, backward, Adam update), so
the figure is the network's own cost per image on this machine, without data loading or
augmentation (which run in parallel workers during training). Images/s is the batch size times the
timed steps over their wall-clock time, after ``--warmup`` untimed steps (graph tracing). Results go
to ``bench/results/train_speed.json`` and, through ``python -m bench.readme``, to the README.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from bench.machine import describe_machine
from ml.arguments import input_size, positive_int
from ml.paths import ROOT
from ml.registry import MODEL_FILES

RESULTS = ROOT / "bench" / "results" / "train_speed.json"
TRAIN_IMAGES = 2003  # the training split of weights/split.json, for "seconds per epoch"


def images_per_second(model_name: str, size: int, batch: int, steps: int, warmup: int) -> float:
    """Training images per second for one model and input size (see the module docstring)."""
    from ml.training.train import build_for_training

    model = build_for_training(model_name, size)
    rng = np.random.default_rng(0)
    images = rng.random((batch, size, size, 3), dtype=np.float32) * 255
    masks = (rng.random((batch, size, size, 1)) > 0.5).astype(np.float32)
    for _ in range(warmup):
        model.train_on_batch(images, masks)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, masks)
    return batch * steps / (time.perf_counter() - start)


def markdown_table(rows: list[dict]) -> str:
    lines = ["| model | input | training images/s | one epoch of the training split |", "| --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['size']} px | {row['images_per_s']:.1f} "
                     f"| {TRAIN_IMAGES / row['images_per_s']:.0f} s |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODEL_FILES), choices=sorted(MODEL_FILES))
    parser.add_argument("--sizes", nargs="+", type=input_size, default=[160, 192, 224], help="multiples of 32")
    parser.add_argument("--batch", type=positive_int, default=16)
    parser.add_argument("--steps", type=positive_int, default=8, help="timed training steps (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = []
    for model in args.models:
        for size in args.sizes:
            rate = images_per_second(model, size, args.batch, args.steps, args.warmup)
            rows.append({"model": model, "size": size, "images_per_s": round(rate, 1)})
            print(f"{model} {size}px: {rate:.1f} images/s", flush=True)
    table = markdown_table(rows)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "machine": describe_machine(), "batch": args.batch, "steps": args.steps,
        "load_average_1min": round(os.getloadavg()[0], 2), "rows": rows, "table": table}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
