"""The wild benchmark: photos unlike the training framings, scored by person size and head count.

``python -m bench.wild [--scenes 300] [--teachers deeplab isnet] [--refocus] [--subset val]``

Two sets, both kept away from training:

- **scenes**: ``--scenes`` synthetic scenes (fixed seed) of 1-5 people cut from the *test* split, each
  5-100 % of the frame height, on person-free backgrounds made from *test*-split photos
  (``ml.scenes``, ``ml.backgrounds``): groups, small people, busy backgrounds, exact labels;
- **held-back photos**: the fixed tenth of the unlabelled photos that no training run sees
  (``ml.holdout``), scored against the teachers' ensemble label, pixels where the teachers disagree
  left out. The ensemble's members (MediaPipe among them) agree with it on every labelled pixel by
  construction, so they have no row there.

Every model is scored at full resolution: ours through the ``Segmenter`` as the command-line tools
serve them, MediaPipe and the teachers resized back. Rows: IoU and boundary F overall, by the share
of the frame that is person (< 5, 5-15, 15-40, > 40 %) and by the number of separate people regions
(1, 2, 3+). Writes ``bench/results/wild.json``; ``python -m bench.readme`` puts the tables in README.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from bench.machine import describe_machine
from ml.backgrounds import OUT as BACKGROUNDS
from ml.backgrounds import load_backgrounds
from ml.holdout import subset_index, subset_of
from ml.imageio import load_image
from ml.metrics import boundary_f, iou
from ml.paths import DATASETS, ROOT
from ml.refocus import RefocusConfig
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, load_runtime, stretched_probability
from ml.scenes import make_cutout, synthesize_scene
from ml.segmenter import Segmenter
from ml.teachers import ENSEMBLE, IGNORE, load_teacher
from ml.teachers.label import OUT as LABELS
from ml.teachers.label import ensemble_mask, photos
from ml.teachers.mediapipe import PEER_NAME, load_peer

RESULTS = ROOT / "bench" / "results" / "wild.json"
LABELLED = [DATASETS / name for name in ("picsart", "ccp")]
UNLABELLED = [DATASETS / "unlabelled" / name for name in ("ccp-photos", "picsart-test")]
SCENE_SIZE = 512
SEED = 2026
SIZE_BINS = ((0.0, 0.05, "< 5 %"), (0.05, 0.15, "5-15 %"), (0.15, 0.40, "15-40 %"), (0.40, 1.01, "> 40 %"))
PEOPLE_BINS = ((1, 1, "1"), (2, 2, "2"), (3, 99, "3+"))
# The held-back photos' reference is the teachers' ensemble: its members cannot be scored against it.
REFERENCE = set(ENSEMBLE) | {PEER_NAME}
MIN_REGION_SHARE = 0.001   # a person region smaller than this share of the frame is not counted
MaskFn = Callable[[np.ndarray], np.ndarray]


def scenes_of(subset: str, count: int, split: dict[str, list[str]],
              backgrounds: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``count`` scenes (RGB, 0/255 truth) from the people and backgrounds of one split's photos
    (``test`` for the figures; ``val`` to tune settings without looking at test)."""
    cutouts, index = [], subset_index(split)
    for folder in LABELLED:
        for path in photos(folder):
            if subset_of(f"{folder.name}/{path.stem}", index) == subset:
                mask = cv2.imread(str(folder / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE)
                cut = make_cutout(load_image(path), np.where(mask > 127, 255, 0).astype(np.uint8))
                cutouts += [cut] if cut is not None else []
    scenery = load_backgrounds(backgrounds, subset, max_side=SCENE_SIZE)
    if not cutouts or not scenery:
        raise FileNotFoundError(f"no {subset}-split people or backgrounds (run python -m ml.backgrounds; {backgrounds})")
    rng = np.random.default_rng(SEED)
    for _ in range(count):
        yield synthesize_scene(scenery[rng.integers(len(scenery))], cutouts, SCENE_SIZE, rng)


def held_back_photos(labels: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The held-back unlabelled photos that every teacher has labelled, with their ensemble label."""
    for folder in UNLABELLED:
        for path in photos(folder):
            if subset_of(f"{folder.name}/{path.stem}", {}) == "wild":
                label = ensemble_mask(labels, folder.name, path.stem)
                if label is not None:
                    yield load_image(path), label


def people_regions(truth: np.ndarray) -> int:
    """Separate person regions of a label (touching people count as one)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats((truth == 255).astype(np.uint8))
    return int((stats[1:, cv2.CC_STAT_AREA] >= MIN_REGION_SHARE * truth.size).sum())


def score(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """IoU over the labelled pixels (an ``IGNORE`` pixel counts for neither side) and boundary F
    against the person label."""
    person = truth == 255
    return {"iou": iou(pred & (truth != IGNORE), person), "boundary_f": boundary_f(pred, person)}


def evaluate(images: list[tuple[np.ndarray, np.ndarray]], models: dict[str, MaskFn]) -> dict[str, list[dict]]:
    """Per image: its size and people bins, and every model's scores."""
    rows = []
    for rgb, truth in images:
        share, regions = float((truth == 255).mean()), people_regions(truth)
        row = {"size": next(n for lo, hi, n in SIZE_BINS if lo <= share < hi),
               "people": next((n for lo, hi, n in PEOPLE_BINS if lo <= regions <= hi), None)}
        row.update({name: score(mask_fn(rgb), truth) for name, mask_fn in models.items()})
        rows.append(row)
    return rows


def summarize(rows: list[dict], models: list[str]) -> dict[str, dict]:
    """Mean IoU and boundary F per model: overall, per size bin, per people bin (with image counts)."""
    groups = {"all": rows}
    groups.update({f"person {n}": [r for r in rows if r["size"] == n] for _, _, n in SIZE_BINS})
    groups.update({f"people: {n}": [r for r in rows if r["people"] == n] for _, _, n in PEOPLE_BINS})
    return {group: {"images": len(members), **{
        model: {metric: round(float(np.mean([r[model][metric] for r in members])), 4)
                for metric in ("iou", "boundary_f")} for model in models}}
        for group, members in groups.items() if members}


def markdown_table(summary: dict, models: list[str]) -> str:
    lines = ["| photos | images | " + " | ".join(models) + " |", "|" + " --- |" * (len(models) + 2)]
    for group, values in summary.items():
        cells = [f"{values[m]['iou']:.3f} / {values[m]['boundary_f']:.3f}" for m in models]
        lines.append(f"| {group} | {values['images']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mask_functions(weights: Path, teachers: list[str], refocus: bool) -> dict[str, MaskFn]:
    models: dict[str, MaskFn] = {}
    for name in MODEL_FILES:
        variants = {name: Segmenter(load_runtime(name, weights))}
        if refocus:
            variants[f"{name} + refocus"] = Segmenter(load_runtime(name, weights), refocus=RefocusConfig())
        models.update({label: (lambda rgb, s=segmenter: s.segment(rgb).mask) for label, segmenter in variants.items()})
    peer = load_peer()
    models[PEER_NAME] = lambda rgb: stretched_probability(peer, rgb) >= 0.5
    for name in teachers:
        teacher = load_teacher(name)
        models[name] = lambda rgb, t=teacher: t.probability(rgb) >= 0.5
    return models


def digest(images: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """A short hash of a set's pixels and labels: the same seed must give the same set."""
    sha = hashlib.sha256()
    for rgb, truth in images:
        sha.update(rgb.tobytes())
        sha.update(truth.tobytes())
    return sha.hexdigest()[:16]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.wild", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=300, help="synthetic test scenes (default 300)")
    parser.add_argument("--teachers", nargs="*", default=["deeplab", "isnet"], help="teachers to score too")
    parser.add_argument("--subset", choices=["test", "val"], default="test",
                        help="whose people and backgrounds make the scenes: test for figures, val for tuning")
    parser.add_argument("--refocus", action="store_true", help="also score our models with coarse-to-fine (ml.refocus)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--split-file", type=Path, default=DEFAULT_WEIGHTS_DIR / "split.json")
    parser.add_argument("--backgrounds", type=Path, default=BACKGROUNDS)
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    split = json.loads(args.split_file.read_text())
    try:
        sets = {"scenes": list(scenes_of(args.subset, args.scenes, split, args.backgrounds))}
        if args.subset == "test":
            sets["held-back photos"] = list(held_back_photos(args.labels))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    models = mask_functions(args.weights, args.teachers, args.refocus)
    report = {"date": date.today().isoformat(), "machine": describe_machine(), "subset": args.subset,
              "load_average_1min": round(os.getloadavg()[0], 2), "seed": SEED, "teachers_in_reference": list(ENSEMBLE),
              "weights_state": {name: load_runtime(name, args.weights).card.get("date") for name in MODEL_FILES},
              "sets": {}}
    for name, images in sets.items():
        if not images:
            print(f"{name}: nothing to score yet", file=sys.stderr)
            continue
        scored = models if name == "scenes" else {m: f for m, f in models.items() if m not in REFERENCE}
        summary = summarize(evaluate(images, scored), list(scored))
        table = markdown_table(summary, list(scored))
        print(f"\n{name} ({len(images)} images; IoU / boundary F)\n{table}")
        report["sets"][name] = {"images": len(images), "digest": digest(images), "summary": summary, "table": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
