"""What serving a trained model at another input size would cost and buy.

``python -m bench.input_size [--model sinet] [--sizes 224 192] [--subset val] [--runs 300]``

Both networks are fully convolutional, so the published weights can be rebuilt at any input size
that is a multiple of 32 and exported to LiteRT again (in a temporary folder; ``weights/`` is not
touched). For each size this measures full-resolution quality through the ``Segmenter`` (as served:
letterbox, model, edge-aware refinement) and the LiteRT model call, interleaved call by call with
MediaPipe's so that load from other processes hits them alike. Quality is measured on the
validation split by default, because choosing the serving size is a model choice and the test split
is kept for the final figures. Each size is exported as the model is served (Mobile-UNet full-integer,
calibrated on training photos at that size). Results go to ``bench/results/input_size.json`` and, through
``python -m bench.readme``, to docs/training.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

from bench.machine import describe_machine
from bench.peers import PEER_NAME, add_sample_arguments, chosen_samples, interleaved_call_times, load_peer, quality
from ml.arguments import input_size, positive_int
from ml.errors import BackdropError
from ml.paths import ROOT
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, NUM_THREADS, TFLiteRuntime
from ml.segmenter import Segmenter

RESULTS = ROOT / "bench" / "results" / "input_size.json"


def export_at_sizes(model: str, weights: Path, sizes: list[int], folder: Path,
                    data: list[Path], split_file: Path) -> dict[int, TFLiteRuntime]:
    """A LiteRT runtime per input size, from ``weights/<stem>.keras`` rebuilt at that size and
    exported as it is served: full-integer for the catalogue's int8 models (calibrated on training
    photos of ``data`` at that size), float32 for the others."""
    from ml.training.export import convert_as_served
    from ml.training.models import load_keras_model, rebuild_at_size

    stem = MODEL_FILES[model]
    trained = load_keras_model(weights / f"{stem}.keras")
    runtimes = {}
    for size in sizes:
        path = folder / f"{stem}_{size}.tflite"
        drift, tolerance = convert_as_served(rebuild_at_size(trained, model, size), stem, path, data, split_file)
        if not drift <= tolerance:
            raise BackdropError(f"{model} at {size} px: LiteRT and Keras disagree (max difference {drift:.2e})")
        runtimes[size] = TFLiteRuntime(f"{model} {size}px", path, {})
    return runtimes


def call_times(runtimes: dict[str, TFLiteRuntime], runs: int) -> dict[str, dict[str, float]]:
    """Median and 10th-percentile ms of one model call per runtime, interleaved.

    The 10th percentile is the least disturbed figure on a shared machine; the median is what the
    README's other tables report.
    """
    times = interleaved_call_times(runtimes, runs, warmup=10)
    return {name: {"median": round(statistics.median(values), 3), "p10": round(float(np.percentile(values, 10)), 3)}
            for name, values in times.items()}


def build_rows(model: str, sizes: list[int], summaries: dict[str, dict],
               timings: dict[str, dict[str, float]]) -> list[dict]:
    """One row per input size: quality over all images, model call, and the call relative to the peer's."""
    peer = timings[PEER_NAME]
    rows = []
    for size in sizes:
        name = f"{model} {size}px"
        overall = summaries[name]["all"]
        rows.append({
            "input_size": size, "iou_mean": overall["iou_mean"], "boundary_f_mean": overall["boundary_f_mean"],
            "model_ms": timings[name],
            "ratio_to_peer": {key: round(timings[name][key] / peer[key], 3) for key in ("median", "p10")},
        })
    return rows


def markdown_table(rows: list[dict], peer: dict[str, float]) -> str:
    """Sizes as rows, with MediaPipe's call last for reference."""
    lines = ["| served at | model call median ms (vs MediaPipe) | p10 ms | IoU | boundary F |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['input_size']} px | {row['model_ms']['median']:.2f} ({row['ratio_to_peer']['median']:.2f}) "
                     f"| {row['model_ms']['p10']:.2f} | {row['iou_mean']:.4f} | {row['boundary_f_mean']:.4f} |")
    lines.append(f"| MediaPipe, 256 px | {peer['median']:.2f} | {peer['p10']:.2f} | | |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.input_size", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODEL_FILES), default="sinet")
    parser.add_argument("--sizes", nargs="+", type=input_size, default=[224, 192], help="input sizes, multiples of 32")
    add_sample_arguments(parser, "val")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR, help="folder of the .keras files")
    parser.add_argument("--runs", type=positive_int, default=300, help="timed calls per model (default 300)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from ml.data import DatasetError

    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        try:
            samples = chosen_samples(args)
            runtimes = export_at_sizes(args.model, args.weights, args.sizes, Path(folder), args.data, args.split_file)
            peer = load_peer()
            summaries = quality(samples, {rt.name: (lambda rgb, s=Segmenter(rt): s.segment(rgb).mask)
                                          for rt in runtimes.values()})
        except (BackdropError, DatasetError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        timings = call_times({PEER_NAME: peer, **{rt.name: rt for rt in runtimes.values()}}, args.runs)
    rows = build_rows(args.model, args.sizes, summaries, timings)
    table = markdown_table(rows, timings[PEER_NAME])
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "model": args.model, "subset": args.subset, "images": len(samples),
        "limit": args.limit, "machine": describe_machine(), "threads": NUM_THREADS,
        "load_average_1min": round(os.getloadavg()[0], 2), "runs": args.runs,
        "peer_ms": timings[PEER_NAME], "rows": rows, "table": table}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
