"""How good are the teachers? Each one, and their ensemble, against the labelled masks.

``python -m bench.teachers [--subsets val test]`` reads the teacher labels that
``python -m ml.teachers.label`` stored for the labelled datasets and scores them against the
datasets' masks at full resolution: IoU and boundary F per teacher (``ml.metrics``), and for the
ensemble, which labels only the pixels where every teacher agrees, the share of pixels it labels
(coverage) and the share of those it gets wrong. Photos not yet labelled by every teacher are left
out (and counted). Writes ``bench/results/teachers.json``; ``python -m bench.readme`` puts the table
into docs/training.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

from ml.data import read_mask
from ml.metrics import boundary_f, iou
from ml.paths import DATASETS, ROOT
from ml.teachers import ENSEMBLE, IGNORE, TEACHERS, ensemble_label
from ml.teachers.label import OUT as LABELS
from ml.teachers.label import read_probability

RESULTS = ROOT / "bench" / "results" / "teachers.json"
DEFAULT_DATA = [DATASETS / name for name in ("picsart", "ccp")]


def score_photo(truth: np.ndarray, probabilities: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-teacher IoU and boundary F, and the ensemble's coverage and error on one photo."""
    row = {}
    for name, prob in probabilities.items():
        row[f"{name} iou"], row[f"{name} boundary_f"] = iou(prob >= 0.5, truth), boundary_f(prob >= 0.5, truth)
    label = ensemble_label([probabilities[name] for name in ENSEMBLE])
    labelled = label != IGNORE
    row["ensemble coverage"] = float(labelled.mean())
    row["ensemble error"] = float(((label == 255) != truth)[labelled].mean()) if labelled.any() else 0.0
    return row


def measure(folders: list[Path], keys: set[str], labels: Path, teachers: list[str]) -> tuple[dict, int]:
    """Mean scores per dataset folder and overall, and how many photos had no complete labels."""
    rows: dict[str, list[dict]] = {}
    missing = 0
    for folder in folders:
        for mask_path in sorted((folder / "masks").glob("*.png")):
            if f"{folder.name}/{mask_path.stem}" not in keys:
                continue
            probabilities = {t: read_probability(labels, folder.name, t, mask_path.stem) for t in teachers}
            if any(p is None for p in probabilities.values()):
                missing += 1
                continue
            truth = read_mask(mask_path) == 255
            rows.setdefault(folder.name, []).append(score_photo(truth, probabilities))
    rows["all"] = [row for name in list(rows) for row in rows[name]]
    means = {name: {"images": len(r), **{k: round(float(np.mean([x[k] for x in r])), 4) for k in r[0]}}
             for name, r in rows.items() if r}
    return means, missing


def markdown_table(means: dict, teachers: list[str]) -> str:
    datasets = list(means)
    lines = ["| teacher | " + " | ".join(f"IoU {d}" for d in datasets) + " | "
             + " | ".join(f"boundary F {d}" for d in datasets) + " |", "|" + " --- |" * (1 + 2 * len(datasets))]
    for teacher in teachers:
        cells = [f"{means[d][f'{teacher} iou']:.3f}" for d in datasets]
        cells += [f"{means[d][f'{teacher} boundary_f']:.3f}" for d in datasets]
        lines.append(f"| {teacher} | " + " | ".join(cells) + " |")
    coverage = ", ".join(f"{d} {100 * means[d]['ensemble coverage']:.1f} %" for d in datasets)
    error = ", ".join(f"{d} {100 * means[d]['ensemble error']:.2f} %" for d in datasets)
    return ("\n".join(lines) + f"\n\nEnsemble ({' + '.join(ENSEMBLE)}, a pixel labelled only where all agree): "
            f"labels {coverage} of the pixels; of those, wrong: {error}.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.teachers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split-file", type=Path, default=ROOT / "weights" / "split.json")
    parser.add_argument("--subsets", nargs="+", default=["val", "test"])
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--teachers", nargs="+", choices=sorted(TEACHERS), default=list(ENSEMBLE))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    split = json.loads(args.split_file.read_text())
    keys = {key for subset in args.subsets for key in split[subset]}
    teachers = list(dict.fromkeys(list(ENSEMBLE) + args.teachers))
    means, missing = measure(args.data, keys, args.labels, teachers)
    if not means:
        print(f"error: no photo of {', '.join(args.subsets)} is labelled by {', '.join(teachers)} in {args.labels}",
              file=sys.stderr)
        return 1
    table = markdown_table(means, teachers)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": date.today().isoformat(), "subsets": args.subsets,
                                    "missing_labels": missing, "teachers": teachers, "means": means,
                                    "table": table}, indent=1))
    print(f"wrote {args.out} ({missing} photos not labelled by every teacher yet, left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
