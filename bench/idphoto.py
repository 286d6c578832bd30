"""ID-photo figures for docs/idphoto.md, on real photos: faces found, every rule's outcome, head
height and eye line against each preset's range, time per photo, and a contact sheet to check by eye.

``python -m bench.idphoto [--model NAME (default: the default model)] [--portraits 40] [--groups 12] [--seed 0]
[--data ../shared/datasets] [--out bench/results/idphoto.json] [--sheet bench/results/idphoto_contact.jpg]``

Photos: ``--portraits`` test-split PicsArt portraits (weights/split.json, never trained on) and
``--groups`` group photos assembled from other test-split portraits (2-5 side by side at different
sizes and heights, so faces of 60-140 px sit in one photo; each portrait shows one person, so the
faces expected are known). Face finding is compared for three detectors that ship in installed
packages: dlib's HOG detector as it was (640 px long side), as it is now (a 1 MP copy), and dlib's CNN
detector from ``face_recognition_models`` (on a 0.5 MP copy; slower, measured for the choice only).
Every portrait is made into every preset with the model as the web app serves it (LiteRT,
refinement, test-time augmentation), each group into one photo per face (EU passport), each face
cut out from the crop around it. The contact
sheet shows every EU-passport result with its overall status, so each "pass" can be checked by eye.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import cv2
import numpy as np

from bench.machine import describe_machine
from ml.arguments import positive_int
from ml.errors import BackdropError
from ml.idphoto.face import OTHER_FACE_MIN_SCORE, counted_faces, detect_faces
from ml.idphoto.options import IdPhotoOptions
from ml.idphoto.pipeline import make_id_photo, make_id_photos
from ml.idphoto.presets import Preset, load_presets
from ml.imageio import load_image
from ml.library import DEFAULT_MODEL, new_segmenter
from ml.paths import DATASETS, ROOT
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES
from ml.segmenter import Matte

DATA = DATASETS
SPLIT = ROOT / "weights" / "split.json"
RESULTS = ROOT / "bench" / "results" / "idphoto.json"
SHEET = ROOT / "bench" / "results" / "idphoto_contact.jpg"
GROUP_PRESET = "eu-passport"
GROUP_HEIGHT = 640                  # canvas height of an assembled group photo
PORTRAIT_HEIGHTS = (240, 560)       # each pasted portrait's height: faces of about 60-140 px
TILE = (150, 193)                   # contact-sheet tile (35x45 mm at 110 DPI)
STATUS_COLOURS = {"pass": (27, 122, 50), "warn": (200, 140, 0), "fail": (179, 38, 30)}
Segment = Callable[[np.ndarray], Matte]


def test_portraits(data: Path, split: Path = SPLIT) -> list[Path]:
    """Every test-split PicsArt portrait, sorted."""
    keys = json.loads(split.read_text())["test"]
    return sorted(data / "picsart" / "images" / f"{key.split('/', 1)[1]}.jpg" for key in keys
                  if key.startswith("picsart/"))


def assemble_group(portraits: list[np.ndarray], rng: random.Random) -> np.ndarray:
    """Portraits side by side on a grey canvas, each at its own random height and vertical place."""
    strips = []
    for rgb in portraits:
        height = rng.randint(*PORTRAIT_HEIGHTS)
        resized = cv2.resize(rgb, (round(rgb.shape[1] * height / rgb.shape[0]), height), interpolation=cv2.INTER_AREA)
        strip = np.full((GROUP_HEIGHT, resized.shape[1], 3), 128, np.uint8)
        top = rng.randint(0, GROUP_HEIGHT - height)
        strip[top:top + height] = resized
        strips.append(strip)
    return np.hstack(strips)


def _shrunk(rgb: np.ndarray, area: float) -> tuple[np.ndarray, float]:
    scale = min(1.0, math.sqrt(area / (rgb.shape[0] * rgb.shape[1])))
    return (rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)), scale


def hog_before(rgb: np.ndarray) -> int:
    """dlib's HOG detector as the app ran it before: a copy of at most 640 px on the long side."""
    import dlib
    detector = getattr(hog_before, "detector", None) or dlib.get_frontal_face_detector()
    hog_before.detector = detector  # built once: building it costs about a second
    scale = min(1.0, 640 / max(rgb.shape[:2]))
    small = np.ascontiguousarray(cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    _, scores, _ = detector.run(small, 1, 0.0)
    return sum(score >= OTHER_FACE_MIN_SCORE for score in scores) or min(1, len(scores))


def hog_now(rgb: np.ndarray) -> int:
    """What the app counts now (ml.idphoto.face: HOG on a 1 MP copy, confident faces)."""
    return len(counted_faces(detect_faces(rgb)))


def cnn(rgb: np.ndarray) -> int:
    """dlib's CNN (MMOD) detector shipped in face_recognition_models, on a 0.5 MP copy."""
    import dlib
    import face_recognition_models
    model = getattr(cnn, "model", None) or dlib.cnn_face_detection_model_v1(
        face_recognition_models.cnn_face_detector_model_location())
    cnn.model = model
    small, _ = _shrunk(rgb, 5e5)
    return sum(d.confidence > 0.3 for d in model(np.ascontiguousarray(small), 0))


DETECTORS: dict[str, Callable[[np.ndarray], int]] = {
    "dlib HOG, 640 px (before)": hog_before, "dlib HOG, 1 MP (now)": hog_now, "dlib CNN (MMOD), 0.5 MP": cnn}


def detection_rows(portraits: list[np.ndarray], groups: list[tuple[np.ndarray, int]],
                   detectors: dict[str, Callable[[np.ndarray], int]] | None = None) -> list[dict]:
    """Per detector: faces found of those expected (groups), portraits with their face, extras, ms per photo."""
    rows = []
    for name, count in (detectors or DETECTORS).items():
        start = time.perf_counter()
        group_counts = [(count(rgb), expected) for rgb, expected in groups]
        portrait_counts = [count(rgb) for rgb in portraits]
        ms = (time.perf_counter() - start) * 1000 / max(1, len(groups) + len(portraits))
        rows.append({"detector": name, "group_faces_found": sum(min(f, e) for f, e in group_counts),
                     "group_faces": sum(e for _, e in group_counts),
                     "groups_all_found": sum(f >= e for f, e in group_counts), "groups": len(groups),
                     "portraits_found": sum(c >= 1 for c in portrait_counts), "portraits": len(portraits),
                     "extra_faces": sum(max(0, f - e) for f, e in group_counts) + sum(max(0, c - 1) for c in portrait_counts),
                     "ms_per_photo": round(ms, 1)})
    return rows


def memo(segment: Segment) -> Segment:
    """The segmenter, answering each picture once (every preset of a photo shares its cut-out).

    Keyed by the pixels, not by ``id``: the pipeline segments a fresh crop round the face each
    time, and a freed crop's ``id`` comes back for the next photo's crop (a stale matte, or one of
    the wrong shape)."""
    cache: dict[tuple, Matte] = {}

    def cached(rgb: np.ndarray) -> Matte:
        key = (rgb.shape, hashlib.sha1(np.ascontiguousarray(rgb).data).hexdigest())
        if key not in cache:
            cache[key] = segment(rgb)
        return cache[key]
    return cached


def photo_outcomes(portraits: list[tuple[str, np.ndarray]], segment: Segment,
                   presets: dict[str, Preset] | None = None) -> list[dict]:
    """Every portrait in every preset: the report's overall status and rules, or the error."""
    cached = memo(segment)
    outcomes = []
    for name, rgb in portraits:
        for preset in (presets or load_presets()).values():
            try:
                result = make_id_photo(rgb, cached, IdPhotoOptions.parse(preset))
            except BackdropError as exc:
                outcomes.append({"photo": name, "preset": preset.id, "error": str(exc)})
                continue
            outcomes.append({"photo": name, "preset": preset.id, "overall": result.report["overall"],
                             "rules": {r["id"]: [r["status"], r["value"]] for r in result.report["rules"]},
                             "image": result.photo})
    return outcomes


def group_outcomes(groups: list[tuple[np.ndarray, int]], segment: Segment) -> list[dict]:
    """One EU-passport photo per face found in each group photo."""
    outcomes = []
    for number, (rgb, _) in enumerate(groups, 1):
        try:
            made = make_id_photos(rgb, segment, IdPhotoOptions.parse(GROUP_PRESET))
        except BackdropError as exc:
            outcomes.append({"photo": f"group {number}", "preset": GROUP_PRESET, "error": str(exc)})
            continue
        for photo in made.photos:
            outcomes.append({"photo": f"group {number} face {photo.report['face']['number']}", "preset": GROUP_PRESET,
                             "overall": photo.report["overall"],
                             "rules": {r["id"]: [r["status"], r["value"]] for r in photo.report["rules"]},
                             "image": photo.photo})
    return outcomes


def time_per_photo(portraits: list[tuple[str, np.ndarray]], segment: Segment) -> dict:
    """Median ms of the whole EU-passport call per portrait, model included, and of its stages."""
    totals, stages = [], {}
    for _, rgb in portraits:
        start = time.perf_counter()
        try:
            report = make_id_photo(rgb, segment, IdPhotoOptions.parse(GROUP_PRESET)).report
        except BackdropError:
            continue
        totals.append((time.perf_counter() - start) * 1000)
        for stage, ms in report["timings_ms"].items():
            stages.setdefault(stage, []).append(ms)
    return {"total": round(statistics.median(totals), 1) if totals else None,
            **{stage: round(statistics.median(values), 1) for stage, values in stages.items()}}


def _share(values: list[bool]) -> str:
    return f"{sum(values)}/{len(values)}" if values else "-"


def preset_rows(outcomes: list[dict], presets: dict[str, Preset] | None = None) -> list[dict]:
    """Per preset: overall counts, head height median and how many inside the range, the same for the eye line."""
    rows = []
    for preset in (presets or load_presets()).values():
        made = [o for o in outcomes if o["preset"] == preset.id and "overall" in o]
        heads = [o["rules"]["head_height"][1] for o in made]
        eyes = [o["rules"]["eye_line"][1] for o in made if "eye_line" in o["rules"]]
        counts = Counter(o["overall"] for o in made)
        rows.append({"preset": preset.id, "head_range_mm": list(preset.head_mm),
                     "head_median_mm": round(statistics.median(heads), 1) if heads else None,
                     "head_in_range": _share([preset.head_mm[0] <= h <= preset.head_mm[1] for h in heads]),
                     "eye_range_mm": list(preset.eyes_from_bottom_mm) if preset.eyes_from_bottom_mm else None,
                     "eye_median_mm": round(statistics.median(eyes), 1) if eyes else None,
                     "eye_in_range": _share([preset.eyes_from_bottom_mm[0] <= e <= preset.eyes_from_bottom_mm[1]
                                             for e in eyes]) if eyes else "-",
                     "errors": sum("error" in o for o in outcomes if o["preset"] == preset.id),
                     "pass": counts["pass"], "warn": counts["warn"], "fail": counts["fail"]})
    return rows


def rule_rows(outcomes: list[dict]) -> list[dict]:
    """Per rule, over every photo made: how often it passed, warned and failed."""
    counts: dict[str, Counter] = {}
    for outcome in outcomes:
        for rule, (status, _) in outcome.get("rules", {}).items():
            counts.setdefault(rule, Counter())[status] += 1
    return [{"rule": rule, "pass": c["pass"], "warn": c["warn"], "fail": c["fail"]} for rule, c in counts.items()]


def markdown(rows: list[dict], columns: dict[str, str]) -> str:
    """A markdown table of ``rows`` with ``columns`` (key -> header); lists print as low-high."""
    def text(value) -> str:
        if isinstance(value, list):
            return "-".join(f"{v:g}" for v in value)
        return "-" if value is None else str(value)
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(text(row[key]) for key in columns) + " |" for row in rows]
    return "\n".join(lines)


def tables(detection: list[dict], presets: list[dict], rules: list[dict], timing: dict) -> str:
    """Everything the doc shows, as markdown."""
    for row in detection:
        row["groups_found"] = f"{row['group_faces_found']}/{row['group_faces']}"
        row["groups_complete"] = f"{row['groups_all_found']}/{row['groups']}"
        row["portraits_with_face"] = f"{row['portraits_found']}/{row['portraits']}"
    stages = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in timing.items() if stage != "total")
    return "\n\n".join([
        markdown(detection, {"detector": "detector", "groups_found": "faces found in group photos",
                             "groups_complete": "groups with every face", "portraits_with_face": "portraits with a face",
                             "extra_faces": "extra faces", "ms_per_photo": "ms per photo"}),
        markdown(presets, {"preset": "preset", "head_range_mm": "head range mm", "head_median_mm": "head median",
                           "head_in_range": "head in range", "eye_range_mm": "eye line range",
                           "eye_median_mm": "eye median", "eye_in_range": "eye in range", "pass": "pass",
                           "warn": "warn", "fail": "fail", "errors": "refused"}),
        markdown(rules, {"rule": "rule", "pass": "pass", "warn": "warn", "fail": "fail"}),
        f"Time per photo (EU passport, model included, median): {timing['total']} ms ({stages})."])


def contact_sheet(outcomes: list[dict], columns: int = 10) -> np.ndarray:
    """Every result as a tile with a bar in its overall status's colour and its name."""
    tiles = []
    for outcome in outcomes:
        tile = np.full((TILE[1] + 22, TILE[0], 3), 255, np.uint8)
        tile[:TILE[1]] = cv2.resize(outcome["image"], TILE, interpolation=cv2.INTER_AREA)
        tile[TILE[1]:] = STATUS_COLOURS[outcome["overall"]]
        cv2.putText(tile, f"{outcome['photo'][:16]} {outcome['overall']}", (3, TILE[1] + 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.idphoto", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODEL_FILES), default=DEFAULT_MODEL)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR, help="folder of the .tflite files")
    parser.add_argument("--data", type=Path, default=DATA, help="datasets folder holding picsart/")
    parser.add_argument("--split-file", type=Path, default=SPLIT, help="the split file naming the test photos")
    parser.add_argument("--portraits", type=positive_int, default=40, help="test portraits (default 40)")
    parser.add_argument("--groups", type=positive_int, default=12, help="assembled group photos (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    parser.add_argument("--sheet", type=Path, default=SHEET, help="contact sheet JPEG")
    return parser.parse_args(argv)


def choose_photos(paths: list[Path], portraits: int, groups: int, seed: int):
    """(portraits as (stem, rgb), groups as (rgb, faces expected)); groups use other portraits."""
    rng = random.Random(seed)
    needed = portraits + 5 * groups
    if len(paths) < needed:
        raise BackdropError(f"only {len(paths)} test portraits; {needed} are needed")
    chosen = rng.sample(paths, needed)
    singles = [(p.stem, load_image(p)) for p in chosen[:portraits]]
    pool = chosen[portraits:]
    made = []
    for _ in range(groups):
        count = rng.randint(2, 5)
        members, pool = pool[:count], pool[count:]
        made.append((assemble_group([load_image(p) for p in members], rng), count))
    return singles, made


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        singles, groups = choose_photos(test_portraits(args.data, args.split_file), args.portraits, args.groups, args.seed)
        segmenter = new_segmenter(args.model, weights_dir=args.weights)  # as the app serves it
        segment = segmenter.segment
        segment(singles[0][1])  # warm-up, untimed: the first call sets up the interpreter
    except (BackdropError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    detection = detection_rows([rgb for _, rgb in singles], groups)
    outcomes = photo_outcomes(singles, segment)
    grouped = group_outcomes(groups, segment)
    timing = time_per_photo(singles, segment)
    table = tables(detection, preset_rows(outcomes), rule_rows(outcomes + grouped), timing)
    print(table)
    shown = [o for o in outcomes if o["preset"] == GROUP_PRESET and "image" in o] + [o for o in grouped if "image" in o]
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.sheet), cv2.cvtColor(contact_sheet(shown), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    brief = [{"photo": o["photo"], "preset": o["preset"], "overall": o.get("overall", "refused"),
              "not_passed": {rule: status for rule, (status, _) in o.get("rules", {}).items() if status != "pass"}}
             for o in outcomes + grouped]
    args.out.write_text(json.dumps({
        "date": date.today().isoformat(), "model": args.model, "weights_status": segmenter.runtime.card.get("status"),
        "machine": describe_machine(), "load_average_1min": round(os.getloadavg()[0], 2),
        "photos": f"{args.portraits} test-split portraits and {args.groups} group photos assembled from "
                  f"{sum(e for _, e in groups)} others (seed {args.seed})",
        "detection": detection, "timing_ms": timing, "table": table,
        "outcomes": [json.dumps(o, separators=(",", ":")) for o in brief]}, indent=1))
    print(f"wrote {args.out} and {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
