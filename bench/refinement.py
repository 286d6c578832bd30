"""Does the edge-aware refinement beat plain bilinear upsampling, and which settings are best?

``python -m bench.refinement [--models sinet mobile-unet] [--subset val|test] [--sweep] [--limit N]``

Scores full-resolution masks against the ground truth of one split (default ``test``; pick settings
with ``--subset val --sweep`` so the test split stays unseen) of weights/split.json with
ml.metrics (IoU and boundary F at 0.75 % of the diagonal). The model is called once per image and
variant (letterbox / stretch, with and without the mirror-image average); every upsampling setting,
the matting stage included, is then applied to the same probabilities. Writes
bench/results/refinement.json.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ml.imageio import load_image
from ml.metrics import boundary_f, iou
from ml.paths import DATASETS, ROOT
from ml.refine import RefineConfig
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, ModelRuntime, load_runtime
from ml.segmenter import Segmenter

DEFAULT_DATA = DATASETS
RESULTS = ROOT / "bench" / "results" / "refinement.json"


def split_pairs(split_file: Path, data: Path, subset: str, limit: int | None) -> list[tuple[str, Path, Path]]:
    """(key, image, mask) for one subset of the split; keys are 'dataset/stem'."""
    keys = json.loads(split_file.read_text())[subset]
    if limit:
        keys = keys[::max(1, len(keys) // limit)][:limit]  # evenly spaced, so both datasets take part
    pairs = []
    for key in keys:
        folder, stem = key.split("/", 1)
        pairs.append((key, data / folder / "images" / f"{stem}.jpg", data / folder / "masks" / f"{stem}.png"))
    return pairs


def variants(sweep: bool) -> dict[str, dict]:
    """Named Segmenter settings. Each uses probabilities from (fit, tta); only upsampling differs."""
    base = RefineConfig()
    named = {
        "bilinear": dict(refine=False, clean=False),
        "bilinear+clean": dict(refine=False, clean=True),
        "guided (default)": dict(),
        "guided, stretch": dict(fit="stretch"),
        "guided, tta": dict(tta=True),
        "matting": dict(matting=True),
        "matting, tta": dict(tta=True, matting=True),
    }
    if sweep:
        for radius in sorted({0.5, 1.0, 2.0, 4.0, 8.0, 16.0} - {base.radius}):
            named[f"guided r={radius:g}"] = dict(config=replace(base, radius=radius))
            named[f"guided r={radius:g}, tta"] = dict(tta=True, config=replace(base, radius=radius))
        for eps in (1e-3, 1e-2):
            named[f"guided eps={eps:g}"] = dict(config=replace(base, eps=eps))
        for min_blob in (0.002, 0.005, 0.02):
            named[f"guided min_blob={min_blob:g}"] = dict(config=replace(base, min_blob=min_blob))
        for max_hole in (0.0, 0.002, 0.005):
            named[f"guided max_hole={max_hole:g}"] = dict(config=replace(base, max_hole=max_hole))
        named["guided, grey guide"] = dict(config=replace(base, colour_guide=False))
        named["guided, no clean"] = dict(clean=False)
        named["bilinear, stretch"] = dict(refine=False, clean=False, fit="stretch")
    return named


class Oracle(ModelRuntime):
    """Stands in for a perfect model of output size ``size``: the true mask, area-averaged down to it.

    With it the upsampling alone is measured, free of the model's own mistakes.
    """

    def __init__(self, size: int):
        super().__init__(f"oracle-{size}", Path("ground truth"), {})
        self.input_size = size

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the oracle's probabilities come from the ground truth")

    def probability(self, gt: np.ndarray) -> np.ndarray:
        scale = self.input_size / max(gt.shape)
        size = (max(1, round(gt.shape[1] * scale)), max(1, round(gt.shape[0] * scale)))
        return cv2.resize(gt.astype(np.float32), size, interpolation=cv2.INTER_AREA)


def evaluate(model: str, weights: Path, pairs, sweep: bool, oracle: int | None = None) -> dict[str, dict[str, float]]:
    runtime = Oracle(oracle) if oracle else load_runtime(model, weights)
    named = variants(sweep)
    if oracle:  # the oracle has no canvas: fit and mirror averaging do not apply
        named = {name: kwargs for name, kwargs in named.items() if "fit" not in kwargs and "tta" not in kwargs}
    segmenters = {name: Segmenter(runtime, **kwargs) for name, kwargs in named.items()}
    scores: dict[str, dict[str, list[float]]] = {name: {"iou": [], "boundary_f": []} for name in named}
    datasets: dict[str, dict[str, list[float]]] = {}
    for key, image_path, mask_path in tqdm(pairs, desc=model, file=sys.stderr):
        rgb = load_image(image_path)
        gt = load_image(mask_path)[:, :, 0] > 127
        probs: dict[tuple[str, bool], np.ndarray] = {}
        for name, segmenter in segmenters.items():
            variant = (segmenter.fit, segmenter.tta)
            if variant not in probs:
                probs[variant] = runtime.probability(gt) if oracle else segmenter.probability(rgb)
            mask = segmenter.upsample(rgb, probs[variant]) >= segmenter.threshold
            scores[name]["iou"].append(iou(mask, gt))
            scores[name]["boundary_f"].append(boundary_f(mask, gt))
            if name == "guided (default)" or name == "bilinear":
                bucket = datasets.setdefault(f"{name} / {key.split('/')[0]}", {"iou": [], "boundary_f": []})
                bucket["iou"].append(scores[name]["iou"][-1])
                bucket["boundary_f"].append(scores[name]["boundary_f"][-1])
    summary = {name: {metric: float(np.mean(v)) for metric, v in s.items()} for name, s in scores.items()}
    summary.update({name: {metric: float(np.mean(v)) for metric, v in s.items()} for name, s in datasets.items()})
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refinement", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(MODEL_FILES), choices=list(MODEL_FILES))
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding picsart/ and ccp/")
    parser.add_argument("--split-file", type=Path, default=DEFAULT_WEIGHTS_DIR / "split.json")
    parser.add_argument("--subset", choices=["val", "test"], default="test",
                        help="images to score (default test; tune settings on val)")
    parser.add_argument("--limit", type=int, help="only N evenly spaced images (quick look)")
    parser.add_argument("--sweep", action="store_true", help="also try other radii, eps, grey guide")
    parser.add_argument("--oracle", type=int, nargs="*", metavar="SIZE",
                        help="also score a perfect model of output size SIZE (the true mask area-averaged "
                             "down), which measures the upsampling alone")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    pairs = split_pairs(args.split_file, args.data, args.subset, args.limit)
    results = {"command": shlex.join(["python", "-m", "bench.refinement", *(sys.argv[1:] if argv is None else argv)]),
               "subset": args.subset, "images": len(pairs), "default_config": asdict(RefineConfig()), "models": {}}
    runs = [(model, None) for model in args.models] + [(f"oracle-{size}", size) for size in args.oracle or []]
    for model, oracle in runs:
        summary = evaluate(model, args.weights, pairs, args.sweep, oracle)
        status = "ground truth" if oracle else load_runtime(model, args.weights).card.get("status", "unknown")
        results["models"][model] = {"weights_status": status, "scores": summary}
        print(f"\n{model} ({len(pairs)} {args.subset} images, weights: {status})")
        print(f"  {'variant':34s} {'IoU':>7s} {'boundary F':>11s}")
        for name, values in summary.items():
            print(f"  {name:34s} {values['iou']:7.4f} {values['boundary_f']:11.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
