"""Score a model the way users get it: ``python -m ml.evaluate --model NAME|PATH --data DIR [DIR ...]``.

Each image of the chosen split (default ``test`` of ``weights/split.json``) is read like an upload,
segmented by the ``Segmenter`` (letterbox, model, refinement; ``--no-refine`` / ``--tta`` pass
through) and its full-resolution mask compared with the full-resolution ground truth. Scoring at the
model's own 224 px would hide what upsampling does to edges, which is what users see.

Prints mean/median IoU, Dice, pixel accuracy and boundary F per dataset folder and overall, and
writes ``summary.json`` and ``per_image.csv`` to ``--out`` (default ``.cache/eval/<model>-<split>``).
Exit status: 0 done, 1 some images could not be scored (listed), 2 bad arguments or data.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm import tqdm

from ml.batch import add_model_arguments
from ml.data import SPLITS, DatasetError, Sample, discover_all, read_mask, select
from ml.errors import BackdropError, ModelError
from ml.imageio import load_image
from ml.metrics import METRICS, score, summarize
from ml.paths import ROOT
from ml.registry import BACKENDS, DEFAULT_WEIGHTS_DIR, MODEL_FILES, ModelRuntime, load_runtime
from ml.segmenter import Segmenter

DEFAULT_SPLIT_FILE = DEFAULT_WEIGHTS_DIR / "split.json"
DEFAULT_OUT = ROOT / ".cache" / "eval"
OVERALL = "all"
CSV_FIELDS = ("dataset", "stem", "height", "width", *METRICS, "segment_ms")
SUFFIX_BACKENDS = {cls.suffix: name for name, cls in BACKENDS.items()}

MaskFn = Callable[[np.ndarray], np.ndarray]


def load_split(path: Path) -> dict[str, list[str]]:
    """The split file (``{"train": [keys], "val": [...], "test": [...]}``), or DatasetError."""
    try:
        split = json.loads(Path(path).read_text())
    except OSError as exc:
        raise DatasetError(f"cannot read split file {path} ({exc.strerror or exc})") from None
    except ValueError:
        raise DatasetError(f"split file {path} is not valid JSON") from None
    if not isinstance(split, dict) or not all(isinstance(split.get(name), list) for name in SPLITS):
        raise DatasetError(f"split file {path} must hold lists {', '.join(SPLITS)}")
    return split


def select_split(samples: Sequence[Sample], split: dict[str, list[str]], name: str) -> list[Sample]:
    """The samples of split ``name`` (train, val, test), or every sample for ``all``."""
    if name == "all":
        return list(samples)
    if name not in SPLITS:
        raise DatasetError(f"unknown split {name!r}; choose from {', '.join(SPLITS)} or all")
    return select(samples, split, name)


def load_model_runtime(model: str, weights: Path = DEFAULT_WEIGHTS_DIR, backend: str = "tflite") -> ModelRuntime:
    """A registered model by name, or any ``.tflite`` / ``.keras`` file by path."""
    if model in MODEL_FILES:
        return load_runtime(model, weights, backend)
    path = Path(model)
    if path.suffix not in SUFFIX_BACKENDS:
        raise ModelError(f"--model must be one of {', '.join(MODEL_FILES)} or a .tflite/.keras file, got {model!r}")
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    return BACKENDS[SUFFIX_BACKENDS[path.suffix]](path.stem, path, {})


def evaluate_samples(samples: Iterable[Sample], mask_fn: MaskFn, desc: str = "evaluating",
                     ) -> tuple[list[dict], list[tuple[str, str]]]:
    """Score ``mask_fn(photo)`` against each sample's mask; return per-image rows and (key, problem)s.

    An unreadable image or a mask of another size is reported and skipped rather than ending the run.
    """
    samples = list(samples)
    rows, problems = [], []
    for sample in tqdm(samples, desc=desc, unit="img", file=sys.stderr, disable=None):
        try:
            rgb, gt = load_image(sample.image_path), read_mask(sample.mask_path)
            if rgb.shape[:2] != gt.shape:
                raise DatasetError(f"mask is {gt.shape[1]}x{gt.shape[0]}, image {rgb.shape[1]}x{rgb.shape[0]}")
            start = time.perf_counter()
            pred = mask_fn(rgb)
            elapsed = (time.perf_counter() - start) * 1000.0
        except (BackdropError, DatasetError) as exc:
            problems.append((sample.key, str(exc)))
            continue
        rows.append({"dataset": sample.dataset, "stem": sample.stem, "height": gt.shape[0], "width": gt.shape[1],
                     **score(pred, gt), "segment_ms": elapsed})
    return rows, problems


def summarize_by_dataset(rows: Sequence[dict]) -> dict[str, dict]:
    """``{dataset: summary, ..., "all": summary}`` with mean and median of every metric and of time."""
    datasets = sorted({row["dataset"] for row in rows})
    groups = {name: [row for row in rows if row["dataset"] == name] for name in datasets}
    groups[OVERALL] = list(rows)
    return {name: summarize(group, (*METRICS, "segment_ms")) for name, group in groups.items()}


def format_table(per_dataset: dict[str, dict]) -> str:
    """A plain-text table of the summaries, one line per dataset."""
    header = f"{'dataset':<12}{'images':>7}" + "".join(f"{name + ' mean/med':>22}" for name in METRICS)
    lines = [header]
    for name, summary in per_dataset.items():
        cells = "".join(f"{summary[f'{m}_mean']:>13.4f} /{summary[f'{m}_median']:>7.4f}" if summary["images"]
                        else f"{'-':>22}" for m in METRICS)
        lines.append(f"{name:<12}{summary['images']:>7}{cells}")
    return "\n".join(lines)


def write_results(out: Path, summary: dict, rows: Sequence[dict]) -> None:
    """``summary.json`` and ``per_image.csv`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    with (out / "per_image.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: f"{value:.6f}" if isinstance(value, float) else value for key, value in row.items()})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__, conflict_handler="resolve",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, tta=False)  # the cards score the model alone, one call per photo
    parser.add_argument("--model", required=True, metavar="NAME|PATH",
                        help=f"{' or '.join(MODEL_FILES)} (from --weights), or a .tflite/.keras file")
    parser.add_argument("--data", required=True, nargs="+", type=Path, help="dataset folders (images/ + masks/)")
    parser.add_argument("--subset", default="test", help="train, val, test or all (default test)")
    parser.add_argument("--split-file", type=Path, default=DEFAULT_SPLIT_FILE,
                        help="split file (default weights/split.json)")
    parser.add_argument("--out", type=Path, help="folder for summary.json and per_image.csv "
                        "(default .cache/eval/<model>-<split>)")
    parser.add_argument("--limit", type=int, help="only the first N images of the split (a quick look)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Evaluate as the arguments say; return the summary and the per-image rows."""
    samples = select_split(discover_all(args.data), load_split(args.split_file), args.subset)[:args.limit]
    if not samples:
        raise DatasetError(f"subset {args.subset!r} of {args.split_file} holds no image of the given folders")
    runtime = load_model_runtime(args.model, args.weights, args.backend)
    segmenter = Segmenter(runtime, tta=args.tta, refine=not args.no_refine, threshold=args.threshold)
    rows, problems = evaluate_samples(samples, lambda rgb: segmenter.segment(rgb).mask, desc=runtime.name)
    summary = {
        "model": args.model, "model_file": str(runtime.path), "backend": type(runtime).__name__,
        "input_size": runtime.input_size, "split": args.subset, "split_file": str(args.split_file),
        "data": [str(folder) for folder in args.data], "limit": args.limit,
        "segmenter": {"tta": args.tta, "refine": not args.no_refine, "threshold": args.threshold,
                      "refine_config": asdict(segmenter.config) if segmenter.refine else None},
        "per_dataset": summarize_by_dataset(rows),
        "problems": [{"image": key, "problem": message} for key, message in problems],
        "date": date.today().isoformat(),
    }
    return summary, rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary, rows = run(args)
    except (BackdropError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or DEFAULT_OUT / f"{Path(args.model).stem}-{args.subset}"
    write_results(out, summary, rows)
    print(f"{args.model} on the {args.subset} split, full-resolution masks:")
    print(format_table(summary["per_dataset"]))
    for problem in summary["problems"]:
        print(f"  skipped {problem['image']}: {problem['problem']}", file=sys.stderr)
    print(f"wrote {out / 'summary.json'} and {out / 'per_image.csv'}")
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
