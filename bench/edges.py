"""The halo benchmark: how much of the old background is left round the subject after a cut-out.

``python -m bench.edges [--subset test|val] [--limit 40] [--model NAME (default: the default model)] [--sizes 1 12] [--runs 3]``

Each person of the chosen split (weights/split.json; tune on ``val``, report ``test``) is composited
with its mask onto a strongly coloured or a busy background (alternately, fixed seed): that is the
photo. It is then cut out by each variant and composited onto pure blue, and compared with the
true composite, the person pasted onto blue with the same mask. The datasets' masks are binary, so
the true composite has a hard edge and the true alpha is 0 or 1: a soft matte is only rewarded where
it places the edge better, never for a "natural" softness the labels cannot show.

Figures per variant (means over images):
- band colour error: mean absolute difference (0-255 levels, over R, G, B) between the composite and
  the true one, in the band within 1.5 % of the photo's longer side of the true outline;
- SAD: sum of |alpha - true alpha| over the photo / 1000 (alpha 0-1), as in matting papers;
- MSE: mean squared alpha error, x 1e-3;
- the same band colour error and SAD over each kind of background alone (coloured, busy), for the
  served variants and the peer: a cut-out that is clean on a plain colour can still keep pieces of
  clutter that touch the person;
- timings: ``Segmenter.segment`` plus ``compose`` onto transparent, median ms, on bench/latency.py's
  1 and 12 MP photos.

Variants: ``bilinear`` (probability resized, no refinement or decontamination), ``guided`` (today:
guided filter and blur-fusion decontamination), ``matting`` (the closed-form matte of ml.matting,
blur-fusion colours); with ``+ pymatting fg`` the edge colours come from pymatting's multi-level
foreground estimation (Germer et al. 2020) over the whole photo instead; and pymatting's own KNN
and large-kernel matting solved on ml.matting's trimap, for comparison. Only the served variants
are timed: pymatting's solvers take seconds on a 0.3 MP photo, and its foreground estimation
100-700 ms even at 384 px.

``--oracle SIZE`` adds rows for a perfect model of that output size (the true mask area-averaged to
it, ``bench.refinement.Oracle``) through the served variants: what the edge stages make of a model
that puts every pixel right, so the rest of each figure is the model's own error.
``--peer`` adds MediaPipe Selfie's raw probability (the photo stretched into its input, resized
back bilinearly) cut out with the photo's own colours: the reference issue 15's acceptance names.
Writes bench/results/edges.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
from pymatting import estimate_alpha_knn, estimate_alpha_lkm, estimate_foreground_ml
from tqdm import tqdm

from bench.latency import SOURCE_PHOTO, bench_photo
from bench.machine import describe_machine
from bench.refinement import DEFAULT_DATA, Oracle, split_pairs
from ml.arguments import positive_int
from ml.compose import Colour, Transparent, compose
from ml.imageio import load_image
from ml.matting import MattingConfig, trimap, upsample_matte
from ml.paths import ROOT
from ml.refine import guided_fit, reduce
from ml.catalogue import DEFAULT_MODEL
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, ModelRuntime, load_runtime, stretched_probability
from ml.segmenter import Segmenter
from ml.teachers.mediapipe import load_peer

RESULTS = ROOT / "bench" / "results" / "edges.json"
SEED = 15
BLUE = (0, 0, 255)
BAND = 0.015  # half-width of the scored band, as a fraction of the photo's longer side
PEER_ROW = "MediaPipe raw probability"
# Variant name -> (Segmenter settings, edge colours: "paste", "blur-fusion" or "pymatting fg").
VARIANTS: dict[str, tuple[dict, str]] = {
    "bilinear": ({"refine": False, "clean": False}, "paste"),
    "guided (today)": ({}, "blur-fusion"),
    "guided + pymatting fg": ({}, "pymatting fg"),
    "matting": ({"matting": True}, "blur-fusion"),
    "matting + pymatting fg": ({"matting": True}, "pymatting fg"),
}
# The variants the app can serve: timed, and broken down by background (pymatting's colours are not served).
SERVED = tuple(name for name, (_, colours) in VARIANTS.items() if colours != "pymatting fg")


def coloured_background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A saturated colour (one channel high, one low) with a gentle gradient and sensor-like noise."""
    height, width = shape
    base = rng.permutation([rng.integers(200, 256), rng.integers(0, 60), rng.integers(60, 200)])
    ramp = np.linspace(-20, 20, height, dtype=np.float32)[:, None, None]
    noise = rng.normal(0, 4, (height, width, 3))
    return np.clip(base + ramp + noise, 0, 255).astype(np.uint8)


def busy_background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Leaves-and-sky clutter: random saturated discs and strokes of several sizes over a noise field."""
    height, width = shape
    field = cv2.resize(rng.integers(0, 256, (8, 6, 3), dtype=np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
    side = max(height, width)
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(field, centre, int(rng.integers(side // 100 + 1, side // 8)), colour, -1)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(field, centre, end, colour, int(rng.integers(1, side // 60 + 2)))
    return field


BACKGROUNDS = (coloured_background, busy_background)
# Matting settings tried with --sweep: (band, reach, unsure, eps, snap).
SWEEP = [(1, 3, 0.1, 1e-6, 0.0), (1, 3, 0.1, 1e-5, 0.0), (1, 3, 0.1, 1e-4, 0.0), (2, 3, 0.1, 1e-5, 0.0),
         (2, 6, 0.1, 1e-5, 0.0), (3, 6, 0.1, 1e-5, 0.0), (4, 8, 0.1, 1e-5, 0.0), (2, 6, 0.02, 1e-5, 0.0),
         (2, 6, 0.25, 1e-5, 0.0), (2, 6, 0.1, 1e-5, 0.05), (2, 6, 0.1, 1e-5, 0.2), (3, 6, 0.1, 1e-5, 0.1),
         (4, 8, 0.1, 1e-5, 0.1)]


# pymatting's whole-image solvers, run on the trimap ml.matting makes, for comparison with its own.
PYMATTING_SOLVERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "knn (pymatting)": estimate_alpha_knn, "large-kernel (pymatting)": estimate_alpha_lkm}


def segmenters(runtime, sweep: bool = False) -> dict[str, tuple[Segmenter, str]]:
    """Variant name -> (segmenter, edge colours: "paste", "blur-fusion" or "pymatting fg").

    ``sweep`` adds other trimap settings of the matting stage.
    """
    named = {name: (Segmenter(runtime, **settings), colours) for name, (settings, colours) in VARIANTS.items()}
    if sweep:
        for band, reach, unsure, eps, snap in SWEEP:
            config = MattingConfig(band=band, reach=reach, unsure=unsure, eps=eps, snap=snap)
            name = f"matting band={band:g} reach={reach:g} unsure={unsure:g} eps={eps:g} snap={snap:g}"
            named[name] = (Segmenter(runtime, matting=True, matting_config=config), "blur-fusion")
    return named


def cut_out(photo: np.ndarray, alpha: np.ndarray, colours: str) -> np.ndarray:
    """``photo`` with matte ``alpha`` composited onto blue, edge colours as ``colours`` says.

    "pymatting fg" solves pymatting's multi-level foreground over the whole photo (the benchmark's
    photos are at most 512 px; ml.compose's blur fusion does its smoothing at 384 px).
    """
    if colours != "pymatting fg":
        return compose(photo, alpha, Colour(BLUE), decontaminate=colours == "blur-fusion")
    a = alpha.astype(np.float64)[:, :, None] / 255.0
    foreground = estimate_foreground_ml(photo / 255.0, a[:, :, 0]) * 255.0
    return np.clip(a * foreground + (1.0 - a) * np.float64(BLUE) + 0.5, 0, 255).astype(np.uint8)


def background_kind(index: int) -> str:
    """Which generated background the ``index``-th scene has: "coloured" or "busy"."""
    return BACKGROUNDS[index % len(BACKGROUNDS)].__name__.removesuffix("_background")


def scene(image: np.ndarray, mask: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo (person on a generated background) and the true composite on blue."""
    rng = np.random.default_rng([SEED, index])
    background = BACKGROUNDS[index % len(BACKGROUNDS)](mask.shape, rng)
    person = mask[:, :, None]
    return np.where(person, image, background), np.where(person, image, np.uint8(BLUE))


def scores(alpha: np.ndarray, composite: np.ndarray, truth: np.ndarray, mask: np.ndarray,
           band: np.ndarray) -> dict[str, float]:
    """Band colour error, SAD and MSE (x 1e-3) of one cut-out."""
    error = alpha.astype(np.float64) / 255.0 - mask
    colour = np.abs(composite.astype(np.float64) - truth)[band].mean()
    return {"band_colour": float(colour), "sad": float(np.abs(error).sum() / 1000.0),
            "mse": float((error ** 2).mean() * 1000.0)}


def scored_band(mask: np.ndarray) -> np.ndarray:
    """Pixels within BAND of the photo's longer side of the true outline."""
    radius = max(1, round(BAND * max(mask.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    person = mask.astype(np.uint8)
    return cv2.dilate(person, kernel) != cv2.erode(person, kernel)


def mean_scores(rows: list[dict[str, float]]) -> dict:
    """Each figure's mean over images, and under "by_background" over each kind of background (rows
    alternate between the kinds, as the scenes do): the two kinds fail in different ways."""
    def means(chosen: list[dict[str, float]]) -> dict[str, float]:
        return {key: float(np.mean([row[key] for row in chosen])) for key in chosen[0]}
    kinds: dict[str, list[dict[str, float]]] = {}
    for index, row in enumerate(rows):
        kinds.setdefault(background_kind(index), []).append(row)
    return {**means(rows), "by_background": {kind: means(chosen) for kind, chosen in kinds.items()}}


def scenes(pairs, desc: str) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(photo, true composite, true mask, scored band) for each (key, image, mask) of ``pairs``."""
    for index, (_, image_path, mask_path) in enumerate(tqdm(pairs, desc=desc, file=sys.stderr)):
        mask = load_image(mask_path)[:, :, 0] > 127
        photo, truth = scene(load_image(image_path), mask, index)
        yield photo, truth, mask, scored_band(mask)


def evaluate(runtime, pairs, compare: bool, sweep: bool = False) -> dict[str, dict[str, float]]:
    """Mean scores per variant over ``pairs``. With an ``Oracle`` as the runtime the probability is
    the true mask's, and only the served variants are scored."""
    oracle = isinstance(runtime, Oracle)
    named = {name: (segmenter, colours) for name, (segmenter, colours) in segmenters(runtime, sweep).items()
             if not (oracle and colours == "pymatting fg")}
    matting = named["matting"][0]
    totals: dict[str, list[dict[str, float]]] = {}
    for photo, truth, mask, band in scenes(pairs, "edges"):
        prob = runtime.probability(mask) if oracle else named["guided (today)"][0].probability(photo)
        for name, (segmenter, colours) in named.items():
            alpha = segmenter.upsample(photo, prob)
            totals.setdefault(name, []).append(scores(alpha, cut_out(photo, alpha, colours), truth, mask, band))
        if compare:
            work = reduce(photo, matting.config.work_side)
            tri = trimap(guided_fit(work, prob, runtime.input_size, matting.config), matting.matting_config)
            for name, solve in PYMATTING_SOLVERS.items():
                alpha = upsample_matte(photo, work, solve(work.rgb / 255.0, tri), matting.matting_config)
                totals.setdefault(name, []).append(scores(alpha, cut_out(photo, alpha, "blur-fusion"), truth, mask, band))
    return {name: mean_scores(rows) for name, rows in totals.items()}


def peer_scores(peer: ModelRuntime | None, pairs) -> dict[str, dict[str, float]]:
    """MediaPipe's raw probability at the photo's size, pasted with the photo's own colours (none
    without a peer)."""
    if peer is None:
        return {}
    rows = []
    for photo, truth, mask, band in scenes(pairs, "edges, peer"):
        alpha = np.clip(stretched_probability(peer, photo) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        rows.append(scores(alpha, cut_out(photo, alpha, "paste"), truth, mask, band))
    return {PEER_ROW: mean_scores(rows)}


def oracle_scores(size: int | None, pairs) -> dict[str, dict[str, float]]:
    """The served variants' scores with a perfect model of output ``size`` (none without a size)."""
    if not size:
        return {}
    return {f"{name}, perfect {size} px model": score
            for name, score in evaluate(Oracle(size), pairs, compare=False).items()}


def timings(runtime, sizes: list[float], runs: int, source: Path) -> dict[str, dict[str, float]]:
    """Median ms of segment + compose onto transparent per served variant and photo size (the
    pymatting foreground is not timed: see the module's docstring)."""
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        rgb = load_image(bench_photo(size, source=source))
        for name, (segmenter, colours) in segmenters(runtime).items():
            if name not in SERVED:
                continue
            samples = []
            for _ in range(runs + 1):  # the first is a warm-up
                start = time.perf_counter()
                compose(rgb, segmenter.segment(rgb).alpha, Transparent(), decontaminate=colours == "blur-fusion")
                samples.append((time.perf_counter() - start) * 1000.0)
            out.setdefault(name, {})[f"{size:g}"] = statistics.median(samples[1:])
    return out


def table(report: dict) -> str:
    """Markdown table of the report (what bench/readme.py splices into README and docs)."""
    sizes = report["sizes"]
    rows = ["| variant | band colour error | SAD | MSE x 1e-3 |" + "".join(f" {s} MP ms |" for s in sizes),
            "|" + " --- |" * (4 + len(sizes))]
    for name, score in report["scores"].items():
        times = report["timings_ms"].get(name, {})
        cells = "".join(f" {times[s]:.0f} |" if s in times else " |" for s in sizes)
        rows.append(f"| {name} | {score['band_colour']:.2f} | {score['sad']:.3f} | {score['mse']:.2f} |{cells}")
    return "\n".join(rows) + "\n\n" + background_table(report["scores"])


def background_table(scores: dict[str, dict]) -> str:
    """Band colour error and SAD per kind of background, for the served variants and the peer."""
    kinds = list(next(iter(scores.values()))["by_background"])
    rows = ["| variant |" + "".join(f" {kind}: band colour | {kind}: SAD |" for kind in kinds),
            "|" + " --- |" * (1 + 2 * len(kinds))]
    for name, score in scores.items():
        if name in SERVED or name == PEER_ROW:
            rows.append(f"| {name} |" + "".join(f" {score['by_background'][kind]['band_colour']:.2f} |"
                                              f" {score['by_background'][kind]['sad']:.3f} |" for kind in kinds))
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edges", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODEL_FILES))
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding picsart/ and ccp/")
    parser.add_argument("--split-file", type=Path, default=DEFAULT_WEIGHTS_DIR / "split.json")
    parser.add_argument("--subset", choices=["val", "test"], default="test",
                        help="images to score (default test; tune settings on val)")
    parser.add_argument("--limit", type=positive_int, default=40, help="N evenly spaced images (default 40)")
    parser.add_argument("--sizes", nargs="*", type=float, default=[1, 12], help="megapixels to time at")
    parser.add_argument("--runs", type=positive_int, default=3, help="timed runs per variant and size")
    parser.add_argument("--sweep", action="store_true", help="also try other trimap settings (use with --subset val)")
    parser.add_argument("--no-compare", action="store_true", help="leave out pymatting's KNN and large-kernel")
    parser.add_argument("--oracle", type=positive_int, metavar="SIZE",
                        help="also score a perfect model of this output size (e.g. 224)")
    parser.add_argument("--peer", action="store_true",
                        help="also score MediaPipe Selfie's raw probability with the photo's own colours")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runtime = load_runtime(args.model, args.weights)
    pairs = split_pairs(args.split_file, args.data, args.subset, args.limit)
    report = {
        "command": shlex.join(["python", "-m", "bench.edges", *(sys.argv[1:] if argv is None else argv)]),
        "date": date.today().isoformat(), "machine": describe_machine(), "model": args.model,
        "weights_status": runtime.card.get("status", "unknown"), "subset": args.subset, "images": len(pairs),
        "sizes": [f"{s:g}" for s in args.sizes], "runs": args.runs,
        "scores": {**evaluate(runtime, pairs, not args.no_compare, args.sweep), **oracle_scores(args.oracle, pairs),
                   **peer_scores(load_peer() if args.peer else None, pairs)},
        "timings_ms": timings(runtime, args.sizes, args.runs, args.data / "ccp" / "images" / SOURCE_PHOTO.name),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    report["table"] = table(report)
    print(report["table"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
