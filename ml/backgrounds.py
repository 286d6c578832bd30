"""Person-free backgrounds: ``python -m ml.backgrounds --data DIR [DIR ...]``.

Pasting a person onto another training photo that still shows its own person, labelled background,
teaches the model that people are background. Every background here is a photo with its people
removed, checked afterwards by two teachers:

- a photo with no person at all (label and teachers agree) is used whole;
- a photo whose people cover little of it gets them inpainted (OpenCV, on a generously dilated mask
  of the label and every teacher's person pixels, so shadows and hair go too);
- otherwise the largest strip beside, above or below the people, if big enough, or else inpainting
  of up to ``INPAINT_MAX_SHARE`` of the photo.

A candidate is dropped when MediaPipe or DeepLab still finds a person in it. Each background keeps
the split of the photo it came from (labelled: ``weights/split.json``; unlabelled: train, or
``wild`` for the held-back tenth), so training never sees a test photo's scenery. The JPEGs go to
the cache outside the repository, ``OUT/<split>/<folder>__<stem>.jpg`` (an empty ``.none`` file in
their place for a photo that gave none); a manifest with counts and hashes is written for the
repository (``--manifest``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from ml.atomic import write_atomic
from ml.holdout import subset_index, subset_of
from ml.imageio import load_image
from ml.registry import DEFAULT_WEIGHTS_DIR
from ml.teachers import BYSTANDER_TEACHERS as CHECKERS
from ml.teachers import Teacher, load_teacher
from ml.teachers.cache import CACHE_ROOT
from ml.teachers.label import photos

OUT = CACHE_ROOT / "backgrounds"
MANIFEST = Path(__file__).resolve().parent.parent / "checkpoints" / "data" / "backgrounds.json"
DILATE_SHARE = 0.03        # dilation radius as a share of the photo's diagonal
INPAINT_CLEAN_SHARE = 0.35  # inpainting less than this share of the photo leaves no visible smear
INPAINT_MAX_SHARE = 0.6    # never inpaint more than this share
STRIP_MIN_SHARE = 0.2      # a strip must hold at least this share of the photo
LEFTOVER_MAX_SHARE = 0.005  # a checked background may hold at most this share of "person" pixels
JPEG_QUALITY = 92


def people_mask(rgb: np.ndarray, probabilities: list[np.ndarray], label: np.ndarray | None) -> np.ndarray:
    """Union of the label's and every teacher's person pixels, dilated: bool (H, W)."""
    person = np.zeros(rgb.shape[:2], bool) if label is None else label > 127
    for prob in probabilities:
        person |= prob >= 0.5
    radius = max(2, round(DILATE_SHARE * float(np.hypot(*rgb.shape[:2]))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(person.astype(np.uint8), kernel) > 0


def largest_strip(person: np.ndarray) -> tuple[slice, slice] | None:
    """The largest full-height or full-width strip that holds no person pixel, if large enough."""
    height, width = person.shape
    cols, rows = np.flatnonzero(person.any(axis=0)), np.flatnonzero(person.any(axis=1))
    if cols.size == 0:
        return slice(0, height), slice(0, width)
    strips = [(slice(0, height), slice(0, cols[0])), (slice(0, height), slice(cols[-1] + 1, width)),
              (slice(0, rows[0]), slice(0, width)), (slice(rows[-1] + 1, height), slice(0, width))]
    best = max(strips, key=_area)
    return best if _area(best) >= STRIP_MIN_SHARE * height * width else None


def _area(box: tuple[slice, slice]) -> int:
    return (box[0].stop - box[0].start) * (box[1].stop - box[1].start)


def remove_people(rgb: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, str] | None:
    """The photo without its people and how that was done, or None when no way works.

    Inpainting a large area leaves a smeared column where the person stood, so a clean strip
    beside the people is preferred to inpainting more than ``INPAINT_CLEAN_SHARE`` of the photo.
    """
    share = float(person.mean())
    if share == 0.0:
        return rgb, "whole"
    strip = largest_strip(person)
    if share >= INPAINT_CLEAN_SHARE and strip is not None:
        return np.ascontiguousarray(rgb[strip]), "strip"
    if share < INPAINT_MAX_SHARE:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        filled = cv2.inpaint(bgr, person.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
        return cv2.cvtColor(filled, cv2.COLOR_BGR2RGB), "inpainted"
    return None


def holds_nobody(rgb: np.ndarray, checkers: list[Teacher]) -> bool:
    """No checking teacher finds more than a trace of a person."""
    return all(float((teacher.probability(rgb) >= 0.5).mean()) <= LEFTOVER_MAX_SHARE for teacher in checkers)


def read_label(folder: Path, stem: str) -> np.ndarray | None:
    path = folder / "masks" / f"{stem}.png"
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None


def make_backgrounds(folders: list[Path], split: dict[str, list[str]], out: Path,
                     teachers: list[Teacher] | None = None) -> list[dict]:
    """Write every usable background; return one manifest row per background written or found.
    ``teachers`` find and check people (default MediaPipe and DeepLab)."""
    teachers = teachers or [load_teacher(name) for name in CHECKERS]
    index = subset_index(split)
    rows = []
    for folder in folders:
        for path in photos(folder):
            key = f"{folder.name}/{path.stem}"
            name = subset_of(key, index)
            target = out / name / f"{folder.name}__{path.stem}.jpg"
            rejected = target.with_suffix(".none")
            if rejected.is_file():
                continue
            if not target.is_file():
                rgb = load_image(path)
                person = people_mask(rgb, [t.probability(rgb) for t in teachers], read_label(folder, path.stem))
                result = remove_people(rgb, person)
                if result is None or not holds_nobody(result[0], teachers):
                    # Remembered, so that a run resumed or repeated skips it (a third of the photos).
                    write_atomic(rejected, b"")
                    continue
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(result[0], cv2.COLOR_RGB2BGR),
                                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                write_atomic(target, jpeg.tobytes())
                write_atomic(target.with_suffix(".method"), result[1].encode())
            rows.append({"key": key, "split": name, "method": target.with_suffix(".method").read_text(),
                         "sha256": hashlib.sha256(target.read_bytes()).hexdigest()[:16]})
        print(f"{folder.name}: {sum(r['key'].startswith(folder.name + '/') for r in rows)} backgrounds", flush=True)
    return rows


def cached_rows(out: Path) -> list[dict]:
    """Manifest rows for every background in the cache (what a run that is still going has made)."""
    rows = []
    for path in sorted(out.glob("*/*.jpg")):
        folder, stem = path.stem.split("__", 1)
        rows.append({"key": f"{folder}/{stem}", "split": path.parent.name,
                     "method": path.with_suffix(".method").read_text(),
                     "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]})
    return rows


def manifest(rows: list[dict]) -> dict:
    """Counts per split and method, and every background's key and short hash."""
    return {"counts": {f"{s}/{m}": n for (s, m), n in sorted(Counter((r["split"], r["method"]) for r in rows).items())},
            "total": len(rows), "files": sorted(rows, key=lambda r: r["key"])}


def load_backgrounds(out: Path, split: str, max_side: int) -> list[np.ndarray]:
    """Every background of one split, as RGB no larger than ``max_side`` on the shorter side."""
    backgrounds = []
    for path in sorted((out / split).glob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        scale = min(1.0, max_side / min(rgb.shape[:2]))
        if scale < 1.0:
            rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        backgrounds.append(rgb)
    return backgrounds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.backgrounds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", type=Path, default=[], help="folders holding images/ (and masks/)")
    parser.add_argument("--split-file", type=Path, default=DEFAULT_WEIGHTS_DIR / "split.json")
    parser.add_argument("--out", type=Path, default=OUT, help=f"background cache (default {OUT})")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="manifest to write (committed)")
    parser.add_argument("--manifest-only", action="store_true", help="only list what the cache holds now")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data and not args.manifest_only:
        print("error: name the photo folders (--data), or ask for --manifest-only", file=sys.stderr)
        return 2
    try:
        rows = (cached_rows(args.out) if args.manifest_only
                else make_backgrounds(args.data, json.loads(args.split_file.read_text()), args.out))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = manifest(rows)
    args.manifest.parent.mkdir(parents=True, exist_ok=True)
    args.manifest.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["counts"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
