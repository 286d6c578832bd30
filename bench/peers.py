"""Our models side by side with MediaPipe Selfie Segmentation on the test split.

``python -m bench.peers [--data DIR ...] [--split-file weights/split.json] [--runs 100]``

The peer is MediaPipe's ``selfie_segmentation.tflite`` (``ml.teachers.mediapipe``: fetched once from
the mediapipe==0.10.14 wheel into the cache outside the repository, its one custom operator rewritten
into standard ones). The rewrite is checked numerically against the original on every run
(``rewrite_max_diff`` in the results) and needs no delegate, so the peer runs wherever ours do.

Quality is measured on full-resolution masks, as users get them: our models through the
``Segmenter`` (letterbox, model, edge-aware refinement: the plain model name, as the CLIs serve it;
"+ tta": also the mirror-image average, as the web app serves it by default, at the cost of a second
model call; "raw": plain bilinear upsampling), the peer resized back bilinearly (MediaPipe's own
post-processing is its app's business). The targets are checked on the plain rows: one model call.
Latency is the model call alone: LiteRT, 2 threads, median of ``--runs`` calls, the three models
interleaved call by call so that load from other processes hits them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from bench.machine import describe_machine
from ml.arguments import positive_int
from ml.data import Sample
from ml.errors import BackdropError
from ml.paths import DATASETS, ROOT
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, NUM_THREADS, TFLiteRuntime, load_runtime, tflite_parameters
from ml.segmenter import Segmenter
from ml.teachers.mediapipe import (MEDIAPIPE_VERSION, PEER_NAME, PEER_SIZE, WHEEL_MEMBER, extract_original,
                                   load_peer, peer_mask, peer_model)

RESULTS = ROOT / "bench" / "results" / "peers.json"
TTA_SUFFIX = " + tta"
DEFAULT_DATA = [DATASETS / name for name in ("picsart", "ccp")]

def _peer_outputs(path: Path, canvases: list[np.ndarray], delegate: bool) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(path), num_threads=2, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for canvas in canvases:
        interpreter.set_tensor(inp["index"], (canvas.astype(np.float32) / 255)[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"]).copy())
    return np.stack(outputs)


def rewrite_difference(photos: list[np.ndarray]) -> dict[str, float]:
    """Largest |original - rewritten| person probability on real photos.

    The original can only run on XNNPACK (the delegate implements its custom op). ``xnnpack``: the
    rewritten file on XNNPACK too; ``builtin_kernels``: the rewritten file on LiteRT's own kernels
    with no delegate, which shows the rewrite means the same thing, not just the same XNNPACK call.
    """
    canvases = [cv2.resize(photo, (PEER_SIZE, PEER_SIZE), interpolation=cv2.INTER_AREA) for photo in photos]
    original = _peer_outputs(extract_original(), canvases, delegate=True)
    rewritten = peer_model()
    return {name: float(np.abs(original - _peer_outputs(rewritten, canvases, delegate)).max())
            for name, delegate in (("xnnpack", True), ("builtin_kernels", False))}


def interleaved_call_times(runtimes: dict[str, TFLiteRuntime], runs: int, warmup: int = 5) -> dict[str, list[float]]:
    """Milliseconds of each timed ``predict`` per runtime, calls interleaved across runtimes so that
    load from other processes hits them alike."""
    canvases = {name: np.random.default_rng(0).random((rt.input_size, rt.input_size, 3)).astype(np.float32) * 255
                for name, rt in runtimes.items()}
    times: dict[str, list[float]] = {name: [] for name in runtimes}
    for i in range(warmup + runs):
        for name, runtime in runtimes.items():
            start = time.perf_counter()
            runtime.predict(canvases[name])
            if i >= warmup:
                times[name].append((time.perf_counter() - start) * 1000.0)
    return times


def model_call_latency(runtimes: dict[str, TFLiteRuntime], runs: int, warmup: int = 5) -> dict[str, float]:
    """Median milliseconds of one ``predict`` per runtime (see ``interleaved_call_times``)."""
    return {name: statistics.median(values) for name, values in interleaved_call_times(runtimes, runs, warmup).items()}


def quality(samples, masks: dict[str, Callable[[np.ndarray], np.ndarray]]) -> dict[str, dict]:
    """Per-dataset summaries (``ml.evaluate``) for each named mask function."""
    from ml.evaluate import evaluate_samples, summarize_by_dataset

    results = {}
    for name, mask_fn in masks.items():
        rows, problems = evaluate_samples(samples, mask_fn, desc=name)
        if problems:
            raise BackdropError(f"{name}: {len(problems)} image(s) failed, first: {problems[0]}")
        results[name] = summarize_by_dataset(rows)
    return results


def ratio(ours: float, peer: float) -> float | None:
    return round(ours / peer, 3) if peer else None


def build_report(summaries: dict[str, dict], latency: dict[str, float], parameters: dict[str, int],
                 models: list[str]) -> dict:
    """Rows per model with ours/peer ratios, and the two targets checked per dataset."""
    peer = summaries[PEER_NAME]
    rows = {}
    for name, summary in summaries.items():
        runtime_name = name.split(" ")[0]
        calls = 2 if name.endswith(TTA_SUFFIX) else 1  # the mirror-image average runs the model twice
        model_ms = latency[runtime_name] * calls
        rows[name] = {
            "per_dataset": {ds: {k: summary[ds][k] for k in ("images", "iou_mean", "iou_median", "boundary_f_mean")}
                            for ds in summary},
            "model_calls": calls,
            "model_ms_median": round(model_ms, 2),
            "parameters": parameters[runtime_name],
        }
        if name != PEER_NAME:
            rows[name]["ratio_to_peer"] = {
                "iou_mean": {ds: ratio(summary[ds]["iou_mean"], peer[ds]["iou_mean"]) for ds in summary},
                "boundary_f_mean": {ds: ratio(summary[ds]["boundary_f_mean"], peer[ds]["boundary_f_mean"])
                                    for ds in summary},
                "model_ms": ratio(model_ms, latency[PEER_NAME]),
                "parameters": ratio(parameters[runtime_name], parameters[PEER_NAME]),
            }
    targets = {
        f"{model} iou >= peer on {ds}": summaries[model][ds]["iou_mean"] >= peer[ds]["iou_mean"]
        for model in models for ds in peer if ds != "all"
    }
    if "sinet" in latency:
        targets["sinet model call <= peer"] = latency["sinet"] <= latency[PEER_NAME]
    return {"rows": rows, "targets": targets}


def markdown_table(report: dict, datasets: list[str]) -> str:
    """One line per model; each quality cell is "value (ours / peer)"."""
    header = (["model"] + [f"IoU {ds}" for ds in datasets] + [f"boundary F {ds}" for ds in datasets]
              + ["model call ms (vs peer)", "parameters (vs peer)"])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, row in report["rows"].items():
        ratios = row.get("ratio_to_peer")

        def cell(value: float, ratio_value: float | None, digits: int = 4) -> str:
            return f"{value:.{digits}f}" + (f" ({ratio_value:.2f})" if ratios else "")

        cells = [cell(row["per_dataset"][ds]["iou_mean"], ratios and ratios["iou_mean"][ds]) for ds in datasets]
        cells += [cell(row["per_dataset"][ds]["boundary_f_mean"], ratios and ratios["boundary_f_mean"][ds])
                  for ds in datasets]
        cells.append(cell(row["model_ms_median"], ratios and ratios["model_ms"], 2))
        cells.append(f"{row['parameters']:,}" + (f" ({ratios['parameters']:.2f})" if ratios else ""))
        lines.append("| " + " | ".join([name] + cells) + " |")
    return "\n".join(lines)


def add_sample_arguments(parser: argparse.ArgumentParser, default_subset: str) -> None:
    """The photos a comparison scores, as this benchmark and ``bench.input_size`` both choose them:
    dataset folders, the split file, one subset of it (``--subset``) and an optional limit;
    ``chosen_samples`` reads them."""
    parser.add_argument("--data", nargs="+", type=Path, default=DEFAULT_DATA, help="dataset folders")
    parser.add_argument("--split-file", type=Path, default=DEFAULT_WEIGHTS_DIR / "split.json")
    parser.add_argument("--subset", default=default_subset,
                        help=f"train, val, test or all (default {default_subset})")
    parser.add_argument("--limit", type=int, help="only the first N images (a quick look, not for the published figures)")


def chosen_samples(args: argparse.Namespace) -> list[Sample]:
    """The samples ``add_sample_arguments`` chose; a missing folder or split file raises ``DatasetError``."""
    from ml.data import discover_all
    from ml.evaluate import load_split, select_split

    return select_split(discover_all(args.data), load_split(args.split_file), args.subset)[:args.limit]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sample_arguments(parser, "test")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR, help="folder of our .tflite files")
    parser.add_argument("--runs", type=positive_int, default=100, help="timed model calls per model (default 100)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS.relative_to(ROOT)})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from ml.data import DatasetError
    from ml.imageio import load_image

    args = parse_args(argv)
    try:
        samples = chosen_samples(args)
        ours = {name: load_runtime(name, args.weights) for name in MODEL_FILES}
        peer = load_peer()
    except (BackdropError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    drift = rewrite_difference([load_image(sample.image_path) for sample in samples[:4]])
    print("MediaPipe rewrite (custom op -> TRANSPOSE_CONV), max |original - rewritten|: "
          + ", ".join(f"{name} {value:.2e}" for name, value in drift.items()))
    masks = {PEER_NAME: lambda rgb: peer_mask(peer, rgb)}
    for name, runtime in ours.items():
        masks[name] = lambda rgb, s=Segmenter(runtime): s.segment(rgb).mask
        masks[f"{name}{TTA_SUFFIX}"] = lambda rgb, s=Segmenter(runtime, tta=True): s.segment(rgb).mask
        masks[f"{name} (raw)"] = lambda rgb, s=Segmenter(runtime, refine=False, clean=False): s.segment(rgb).mask
    try:
        summaries = quality(samples, masks)
    except BackdropError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    runtimes = {PEER_NAME: peer, **ours}
    latency = model_call_latency(runtimes, args.runs)
    parameters = {name: tflite_parameters(rt.path.read_bytes()) for name, rt in runtimes.items()}
    report = build_report(summaries, latency, parameters, list(ours))
    datasets = list(summaries[PEER_NAME])
    table = markdown_table(report, datasets)
    print(table)
    for target, met in report["targets"].items():
        print(f"target {target}: {'met' if met else 'MISSED'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "split": args.subset, "split_file": str(args.split_file),
        "limit": args.limit, "machine": describe_machine(),
        "load_average_1min": round(os.getloadavg()[0], 2), "threads": NUM_THREADS, "runs": args.runs,
        "peer": {"source": f"mediapipe=={MEDIAPIPE_VERSION} wheel, {WHEEL_MEMBER}",
                 "input": "RGB stretched to 256x256, /255", "rewrite_max_diff": drift},
        "models": {name: str(rt.path.relative_to(ROOT)) if rt.path.is_relative_to(ROOT) else str(rt.path)
                   for name, rt in runtimes.items()},
        "weights_state": {name: {key: rt.card.get(key) for key in ("status", "training", "date")}
                          if rt.card else "no model card" for name, rt in ours.items()},
        **report, "table": table}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
