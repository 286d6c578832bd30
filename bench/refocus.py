"""Coarse to fine (``ml.refocus``) on real photos: does the closer look at small regions cost the
photos whose person is large?

``python -m bench.refocus [--subset val|test]``

The wild benchmark (``bench.wild --refocus``) measures what the closer look gives small people in
synthetic scenes; this measures it on the labelled photos of one subset of weights/split.json
(default ``val``, where the default is decided), served as the app serves them (mirror average,
refinement), with and without refocus, IoU and boundary F per dataset. Writes
``bench/results/refocus.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

from bench.machine import describe_machine
from bench.refinement import DEFAULT_DATA, split_pairs
from ml.data import read_mask
from ml.imageio import load_image
from ml.library import new_segmenter
from ml.metrics import boundary_f, iou
from ml.paths import ROOT
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES

RESULTS = ROOT / "bench" / "results" / "refocus.json"


def score_models(pairs: list[tuple[str, Path, Path]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{model + variant: {dataset: {images, iou, boundary_f}}}`` with and without refocus."""
    rows: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for key, image_path, mask_path in pairs:
        rgb, truth = load_image(image_path), read_mask(mask_path) == 255
        for model in MODEL_FILES:
            for refocus in (False, True):
                mask = new_segmenter(model, refocus=refocus).segment(rgb).alpha >= 128
                name = f"{model} + refocus" if refocus else model
                rows.setdefault(name, {}).setdefault(key.split("/")[0], []).append(
                    (iou(mask, truth), boundary_f(mask, truth)))
    return {name: {dataset: {"images": len(values), "iou": round(float(np.mean([v[0] for v in values])), 4),
                             "boundary_f": round(float(np.mean([v[1] for v in values])), 4)}
                   for dataset, values in per_dataset.items()}
            for name, per_dataset in rows.items()}


def markdown_table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    datasets = sorted({dataset for per_dataset in summary.values() for dataset in per_dataset})
    lines = ["| model | " + " | ".join(f"IoU {d} | boundary F {d}" for d in datasets) + " |",
             "| --- |" + " --- | --- |" * len(datasets)]
    for name, per_dataset in summary.items():
        cells = [f"{per_dataset[d]['iou']:.4f} | {per_dataset[d]['boundary_f']:.4f}" for d in datasets]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refocus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", choices=["val", "test"], default="val")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    pairs = [pair for pair in split_pairs(DEFAULT_WEIGHTS_DIR / "split.json", args.data, args.subset, None)
             if pair[1].is_file() and pair[2].is_file()]
    if not pairs:
        print(f"error: no labelled photos of the {args.subset} split under {args.data}", file=sys.stderr)
        return 2
    summary = score_models(pairs)
    table = markdown_table(summary)
    print(table)
    args.out.write_text(json.dumps({"date": date.today().isoformat(), "machine": describe_machine(),
                                    "subset": args.subset, "summary": summary, "table": table}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
