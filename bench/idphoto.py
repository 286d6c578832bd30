"""ID-photo figures for docs/idphoto.md: what the report measures per preset on the test portrait.

``python -m bench.idphoto [--model sinet] [--runs 3] [--out bench/results/idphoto.json]``

Each preset is made twice from ``tests/idphoto/data/astronaut.jpg``: once with its stored,
hand-checked mask (blurred 5x5 for the soft edge a model gives, as the tests do), which shows the
framing alone, and once with the model as the web app serves it (LiteRT, edge-aware refinement,
test-time augmentation on: webapp/config.py ``TTA``). The figures are the report's own: head height
and eye line measured in the finished photo, the overall status, and every rule that warns or
fails, so the doc says what a user would be told. Time is the whole ``make_id_photo`` call with the
model (face, cut-out, framing, report, JPEG), median of ``--runs``.
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
from ml.errors import BackdropError
from ml.idphoto.pipeline import make_id_photo
from ml.idphoto.presets import Preset, load_presets
from ml.imageio import load_image
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, load_runtime
from ml.segmenter import Matte, Segmenter

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "tests" / "idphoto" / "data" / "astronaut.jpg"
RESULTS = ROOT / "bench" / "results" / "idphoto.json"
Segment = Callable[[np.ndarray], Matte]


class StoredMask:
    """Answers the test portrait with its stored mask, softened like a model's edge."""

    def __init__(self, path: Path):
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise BackdropError(f"cannot read the stored mask {path}")
        self.alpha = cv2.GaussianBlur(np.where(mask > 0, 255, 0).astype(np.uint8), (5, 5), 0)

    def segment(self, rgb: np.ndarray) -> Matte:
        if rgb.shape[:2] != self.alpha.shape:
            raise BackdropError("the stored mask belongs to another photo")
        return Matte(self.alpha, self.alpha >= 128, {})


def _issue(rule: dict) -> str:
    """"resolution: fail (119 dpi)": a rule that did not pass, with what was measured."""
    measured = " ".join(str(part) for part in (rule["value"], rule["unit"]) if part not in (None, ""))
    return f"{rule['id']}: {rule['status']}" + (f" ({measured})" if measured else "")


def outcome(rgb: np.ndarray, segment: Segment, preset: Preset, runs: int = 1) -> dict:
    """Head height, eye line, overall status and the rules that are not "pass"; ms is the median call."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        report = make_id_photo(rgb, segment, preset).report
        times.append((time.perf_counter() - start) * 1000)
    rules = {rule["id"]: rule for rule in report["rules"]}
    issues = [_issue(rule) for rule in report["rules"] if rule["status"] != "pass"]
    return {"head_mm": rules["head_height"]["value"], "eye_line_mm": rules.get("eye_line", {}).get("value"),
            "overall": report["overall"], "issues": issues, "ms": round(statistics.median(times), 1)}


def build_rows(rgb: np.ndarray, stored: Segment, model: Segment, runs: int,
               presets: dict[str, Preset] | None = None) -> list[dict]:
    """One row per preset: its allowed ranges, the stored-mask outcome and the model's."""
    rows = []
    for preset in (presets or load_presets()).values():
        eyes = preset.eyes_from_bottom_mm
        rows.append({"preset": preset.id, "head_range_mm": list(preset.head_mm),
                     "eye_range_mm": list(eyes) if eyes else None,
                     "stored_mask": outcome(rgb, stored, preset), "model": outcome(rgb, model, preset, runs)})
    return rows


def span(pair: list[float]) -> str:
    return "-".join(f"{value:g}" for value in pair)


def markdown_table(rows: list[dict], model: str) -> str:
    """One line per preset; the eye line only where the preset sets one, issues are the model's."""
    header = ["preset", "head range mm", "head, stored mask", f"head, {model}", f"eye line, {model} (range)",
              f"overall, {model}", f"time, {model}", f"warn/fail, {model}"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        ours = row["model"]
        eye = f"{ours['eye_line_mm']} ({span(row['eye_range_mm'])})" if row["eye_range_mm"] else "-"
        cells = [row["preset"], span(row["head_range_mm"]), f"{row['stored_mask']['head_mm']}", f"{ours['head_mm']}",
                 eye, ours["overall"], f"{ours['ms']:.0f} ms", "; ".join(ours["issues"]) or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.idphoto", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODEL_FILES), default="sinet")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR, help="folder of the .tflite files")
    parser.add_argument("--photo", type=Path, default=PHOTO, help="portrait; its mask is <stem>_mask.png beside it")
    parser.add_argument("--runs", type=positive_int, default=3, help="timed calls per preset with the model (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rgb = load_image(args.photo)
        stored = StoredMask(args.photo.with_name(f"{args.photo.stem}_mask.png"))
        runtime = load_runtime(args.model, args.weights)
        model = Segmenter(runtime, tta=True).segment
        model(rgb)  # warm-up, untimed: the first call sets up the interpreter
        rows = build_rows(rgb, stored.segment, model, args.runs)
    except BackdropError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = markdown_table(rows, args.model)
    print(table)
    photo = args.photo.resolve()
    photo = photo.relative_to(ROOT) if photo.is_relative_to(ROOT) else photo
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "photo": str(photo), "model": args.model,
        "weights_status": runtime.card.get("status"), "machine": describe_machine(),
        "load_average_1min": round(os.getloadavg()[0], 2), "runs": args.runs, "rows": rows, "table": table}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
