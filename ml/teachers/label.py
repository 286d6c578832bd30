"""Label photos with the teachers: ``python -m ml.teachers.label --data DIR [DIR ...]``.

For every photo ``DIR/images/<stem>.*`` and every teacher, the teacher's person probability is
written as an 8-bit PNG to ``OUT/<folder>/<teacher>/<stem>.png`` (default OUT: the cache outside the
repository). Photos already labelled are skipped, so a killed run resumes where it stopped, and a
folder can be labelled by a fast teacher today and a slow one later. ``--subsets`` keeps only the
photos of those subsets: train, val or test as ``--split-file`` says for labelled photos; for
unlabelled ones ``wild`` (the held-back tenth of ``ml.holdout``) or train.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ml.atomic import write_atomic
from ml.holdout import SUBSETS, subset_index, subset_of
from ml.imageio import load_image
from ml.registry import DEFAULT_WEIGHTS_DIR
from ml.teachers import ENSEMBLE, IGNORE, TEACHERS, Teacher, ensemble_label, load_teacher
from ml.teachers.cache import CACHE_ROOT

OUT = CACHE_ROOT / "teachers"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def photos(folder: Path) -> list[Path]:
    """The photos of a dataset folder (``images/`` inside it), sorted by name."""
    images = folder / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"{folder} has no images/ folder")
    return sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def label_path(out: Path, folder: str, teacher: str, stem: str) -> Path:
    return out / folder / teacher / f"{stem}.png"


def read_probability(out: Path, folder: str, teacher: str, stem: str) -> np.ndarray | None:
    """A stored teacher probability as float32 0-1, or None when that photo is not labelled yet."""
    path = label_path(out, folder, teacher, stem)
    stored = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    return None if stored is None else stored.astype(np.float32) / 255.0


def ensemble_mask(out: Path, folder: str, stem: str, teachers: Sequence[str] = ENSEMBLE) -> np.ndarray | None:
    """The teachers' joint label of one photo (``ensemble_label``), or None until all have labelled it."""
    probabilities = [read_probability(out, folder, teacher, stem) for teacher in teachers]
    return None if any(p is None for p in probabilities) else ensemble_label(probabilities)


def mark_bystanders(mask: np.ndarray, teacher_label: np.ndarray, margin: int = 15) -> np.ndarray:
    """A dataset mask with unlabelled bystanders taken out of the loss.

    The ccp masks label one person per photo; people behind them are background there, which
    teaches the model to drop everyone but the main subject. Pixels that the mask calls background,
    that lie more than ``margin`` pixels from its person, and that the teachers agree are person
    (``teacher_label`` 255), become ``IGNORE``.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    near_person = cv2.dilate((mask > 127).astype(np.uint8), kernel) > 0
    marked = mask.copy()
    marked[(teacher_label == 255) & ~near_person] = IGNORE
    return marked


def encode_probability(prob: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return png.tobytes()


def keep(folder: Path, path: Path, index: dict[str, str], subsets: list[str]) -> bool:
    return subset_of(f"{folder.name}/{path.stem}", index) in subsets


def label_folder(folder: Path, teachers: list[Teacher], out: Path, paths: list[Path]) -> int:
    """Label every photo in ``paths`` that some teacher has not labelled yet; return how many."""
    done, start = 0, time.perf_counter()
    for i, path in enumerate(paths, 1):
        missing = [t for t in teachers if not label_path(out, folder.name, t.name, path.stem).is_file()]
        if missing:
            rgb = load_image(path)
            for teacher in missing:
                write_atomic(label_path(out, folder.name, teacher.name, path.stem),
                             encode_probability(teacher.probability(rgb)))
            done += 1
        if i % 50 == 0 or i == len(paths):
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(f"{folder.name}: {i}/{len(paths)} photos, {done} labelled now ({rate:.2f}/s)", flush=True)
    return done


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.teachers.label", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", type=Path, required=True, help="folders holding images/")
    parser.add_argument("--teachers", nargs="+", choices=sorted(TEACHERS), default=list(ENSEMBLE))
    parser.add_argument("--out", type=Path, default=OUT, help=f"label cache (default {OUT})")
    parser.add_argument("--split-file", type=Path, default=DEFAULT_WEIGHTS_DIR / "split.json", help="the labelled split")
    parser.add_argument("--subsets", nargs="+", choices=SUBSETS, default=list(SUBSETS))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    index = subset_index(json.loads(args.split_file.read_text()))
    try:
        folders = {folder: [p for p in photos(folder) if keep(folder, p, index, args.subsets)] for folder in args.data}
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    teachers = [load_teacher(name) for name in args.teachers]
    for folder, paths in folders.items():
        label_folder(folder, teachers, args.out, paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
