"""Datasets on disk: discovery of image/mask pairs, a reproducible split, and loading them.

A dataset is any folder holding ``images/<stem>.jpg|png`` and ``masks/<stem>.png`` (0 = background,
255 = person). Several folders can be used at once; each sample remembers which folder it came from
so metrics can be reported per dataset. Nothing here imports Keras: evaluation and the benchmarks
read datasets without TensorFlow; the training batches are in ``ml.training.batches``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

from ml.holdout import bucket, held_back
from ml.preprocess import letterbox
from ml.scenes import Cutout, make_cutout
from ml.teachers import BYSTANDER_TEACHERS, ENSEMBLE
from ml.teachers.label import ensemble_mask, label_path, mark_bystanders, photos

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """A dataset folder is missing, empty or malformed."""


@dataclass(frozen=True)
class Sample:
    """One image/mask pair; ``dataset`` is the folder's name, used for per-dataset metrics."""

    dataset: str
    stem: str
    image_path: Path
    mask_path: Path | None   # None: labelled by the teachers (``teacher_labelled``)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.stem}"


def discover(folder: str | Path) -> list[Sample]:
    """List the pairs of one dataset folder, sorted by stem; images without a mask are skipped."""
    folder = Path(folder)
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise DatasetError(f"{folder} must contain 'images/' and 'masks/' folders")
    samples = [
        Sample(folder.name, path.stem, path, masks / f"{path.stem}.png")
        for path in sorted(images.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES and (masks / f"{path.stem}.png").is_file()
    ]
    if not samples:
        raise DatasetError(f"{folder} holds no image with a matching mask")
    return samples


def discover_all(folders: Iterable[str | Path]) -> list[Sample]:
    """Pairs of several dataset folders together."""
    return [sample for folder in folders for sample in discover(folder)]


def make_split(samples: Sequence[Sample], seed: int = 42, val: float = 0.1, test: float = 0.1) -> dict[str, list[str]]:
    """Assign every sample key to train, val or test by hashing its stem with ``seed``."""
    split: dict[str, list[str]] = {name: [] for name in SPLITS}
    for sample in samples:
        u = bucket(sample.key, seed)
        name = "test" if u < test else "val" if u < test + val else "train"
        split[name].append(sample.key)
    return split


def load_or_make_split(path: Path, samples: Sequence[Sample], seed: int = 42) -> dict[str, list[str]]:
    """Reuse the split saved at ``path`` (so resumed runs and evaluation agree), else make and save one."""
    if path.is_file():
        return json.loads(path.read_text())
    split = make_split(samples, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**split, "seed": seed}, indent=1))
    return split


def select(samples: Sequence[Sample], split: dict[str, list[str]], name: str) -> list[Sample]:
    """The samples of one split (train, val or test)."""
    keys = set(split[name])
    return [sample for sample in samples if sample.key in keys]


def read_image(path: Path) -> np.ndarray:
    """Read an RGB uint8 image, failing loudly rather than returning None."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    """Read a mask as uint8 0/255 (anything above 127 is person)."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DatasetError(f"cannot read mask {path}")
    return np.where(mask > 127, 255, 0).astype(np.uint8)


def load_letterboxed(samples: Sequence[Sample], size: int,
                     mask_of: Callable[[Sample], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load every pair into memory, letterboxed to size x size: (N, S, S, 3) and (N, S, S) uint8.

    ``mask_of`` reads a sample's mask (default: its mask file). Decoding once up front keeps the
    2-core training loop busy with the model, not with JPEG.
    """
    from tqdm import tqdm

    mask_of = mask_of or (lambda sample: read_mask(sample.mask_path))
    images = np.zeros((len(samples), size, size, 3), np.uint8)
    masks = np.zeros((len(samples), size, size), np.uint8)
    for i, sample in enumerate(tqdm(samples, desc=f"loading {size}px", unit="img", leave=False, disable=None)):
        images[i] = letterbox(read_image(sample.image_path), size)[0]
        masks[i] = letterbox(mask_of(sample), size, cv2.INTER_NEAREST)[0]
    return images, masks


def with_bystanders_ignored(labels: Path) -> Callable[[Sample], np.ndarray]:
    """Mask reader that takes the people a dataset left unlabelled out of the loss, where the fast
    teachers have labelled the photo (``ml.teachers.label.mark_bystanders``)."""
    def read(sample: Sample) -> np.ndarray:
        mask = read_mask(sample.mask_path)
        teachers = ensemble_mask(labels, sample.dataset, sample.stem, BYSTANDER_TEACHERS)
        return mask if teachers is None else mark_bystanders(mask, teachers)
    return read


def teacher_labelled(folders: Iterable[Path], labels: Path) -> list[Sample]:
    """Photos without masks that every ensemble teacher has labelled, less the held-back tenth
    (``ml.holdout``) that the wild benchmark keeps unseen."""
    return [Sample(folder.name, path.stem, path, None)
            for folder in map(Path, folders) for path in photos(folder)
            if not held_back(f"{folder.name}/{path.stem}")
            and all(label_path(labels, folder.name, teacher, path.stem).is_file() for teacher in ENSEMBLE)]


def teacher_masks(labels: Path) -> Callable[[Sample], np.ndarray]:
    """Mask reader for ``teacher_labelled`` samples: the teachers' ensemble label."""
    return lambda sample: ensemble_mask(labels, sample.dataset, sample.stem)


def cutouts_of(samples: Sequence[Sample]) -> list[Cutout]:
    """The person of every labelled sample, cut out at the photo's resolution, for scene synthesis."""
    cuts = (make_cutout(read_image(s.image_path), read_mask(s.mask_path)) for s in samples)
    return [cut for cut in cuts if cut is not None]
