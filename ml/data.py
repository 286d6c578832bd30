"""Datasets on disk: discovery of image/mask pairs, a reproducible split, and batch generators.

A dataset is any folder holding ``images/<stem>.jpg|png`` and ``masks/<stem>.png`` (0 = background,
255 = person). Several folders can be used at once; each sample remembers which folder it came from
so metrics can be reported per dataset.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import keras
import numpy as np

from ml.augment import composite_onto, training_augmentation
from ml.preprocess import letterbox

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
    mask_path: Path

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


def _bucket(stem: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) from the stem, so a split never depends on file order."""
    digest = hashlib.sha256(f"{seed}:{stem}".encode()).hexdigest()
    return int(digest[:12], 16) / float(16 ** 12)


def make_split(samples: Sequence[Sample], seed: int = 42, val: float = 0.1, test: float = 0.1) -> dict[str, list[str]]:
    """Assign every sample key to train, val or test by hashing its stem with ``seed``."""
    split: dict[str, list[str]] = {name: [] for name in SPLITS}
    for sample in samples:
        u = _bucket(sample.key, seed)
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


def load_letterboxed(samples: Sequence[Sample], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Load every pair into memory, letterboxed to size x size: (N, S, S, 3) and (N, S, S) uint8.

    Decoding once up front keeps the 2-core training loop busy with the model, not with JPEG.
    """
    from tqdm import tqdm

    images = np.zeros((len(samples), size, size, 3), np.uint8)
    masks = np.zeros((len(samples), size, size), np.uint8)
    for i, sample in enumerate(tqdm(samples, desc=f"loading {size}px", unit="img", leave=False)):
        images[i] = letterbox(read_image(sample.image_path), size)[0]
        masks[i] = letterbox(read_mask(sample.mask_path), size, cv2.INTER_NEAREST)[0]
    return images, masks


class SegmentationBatches(keras.utils.PyDataset):
    """Batches of (float32 RGB 0-255, float32 mask 0/1) for any Keras backend.

    With ``augment`` each epoch sees freshly augmented, reshuffled samples; a fraction
    ``composite_p`` of them gets its person pasted onto another sample's background.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, batch_size: int, augment: bool = False,
                 composite_p: float = 0.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.images, self.masks = images, masks
        self.batch_size = batch_size
        self.augment = training_augmentation() if augment else None
        self.composite_p = composite_p
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(images))
        if augment:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.images) / self.batch_size))

    def _sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image, mask = self.images[index], self.masks[index]
        if self.augment is None:
            return image, mask
        if self.rng.random() < self.composite_p:
            image = composite_onto(image, mask, self.images[self.rng.integers(len(self.images))])
        out = self.augment(image=image, mask=mask)
        return out["image"], out["mask"]

    def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        indices = self.order[batch * self.batch_size:(batch + 1) * self.batch_size]
        pairs = [self._sample(i) for i in indices]
        x = np.stack([p[0] for p in pairs]).astype(np.float32)
        y = (np.stack([p[1] for p in pairs]) > 127).astype(np.float32)[..., None]
        return x, y

    def on_epoch_end(self) -> None:
        if self.augment is not None:
            self.rng.shuffle(self.order)
