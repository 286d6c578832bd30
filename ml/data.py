"""Datasets on disk: discovery of image/mask pairs, a reproducible split, and batch generators.

A dataset is any folder holding ``images/<stem>.jpg|png`` and ``masks/<stem>.png`` (0 = background,
255 = person). Several folders can be used at once; each sample remembers which folder it came from
so metrics can be reported per dataset.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import albumentations as A
import cv2
import keras
import numpy as np

from ml.augment import composite_onto, scene_augmentation, training_augmentation
from ml.holdout import bucket, held_back
from ml.preprocess import letterbox
from ml.scenes import Cutout, make_cutout, mosaic, random_crop, synthesize_scene
from ml.teachers import BYSTANDER_TEACHERS, ENSEMBLE, IGNORE
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


@dataclass
class Synthesis:
    """What training mixes into its photos: person-free backgrounds, people to paste, and how often.

    Per sample: a synthetic scene with probability ``scene_p``, a mosaic of several photos with
    ``mosaic_p``, one photo's person on a person-free background with ``composite_p``, otherwise
    the photo as it is (all then augmented).
    """

    backgrounds: Sequence[np.ndarray] = ()
    cutouts: Sequence[Cutout] = ()
    scene_p: float = 0.3
    mosaic_p: float = 0.1
    composite_p: float = 0.15


def targets(masks: np.ndarray) -> np.ndarray:
    """(N, S, S, 2) float32 target and weight from uint8 masks: person where 255, and every pixel
    counted except the ``IGNORE`` ones (see ``ml.losses.split_target``)."""
    return np.stack([masks == 255, masks != IGNORE], axis=-1).astype(np.float32)


class SegmentationBatches(keras.utils.PyDataset):
    """Batches of (float32 RGB 0-255, float32 target + weight) for any Keras backend.

    With ``augment`` each epoch sees freshly augmented, reshuffled samples, mixed with synthetic
    scenes, mosaics and composites as ``synthesis`` says. An epoch holds ``epoch_size`` samples
    (default: every photo once; more: several reshuffled passes), so a fast machine can check
    point every few thousand steps rather than every few seconds.

    A batch's random draws come from (seed, epoch, batch) alone, never from state a worker keeps:
    batches made in parallel threads or forked processes differ from each other, and a resumed
    run makes the epochs it would have made.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, batch_size: int, augment: bool = False,
                 synthesis: Synthesis | None = None, seed: int = 0, epoch: int = 0,
                 epoch_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.images, self.masks = images, masks
        self.batch_size = batch_size
        self.augment = augment
        self.synthesis = synthesis or Synthesis(scene_p=0.0, mosaic_p=0.0, composite_p=0.0)
        self.seed, self.epoch = seed, epoch
        self.epoch_size = epoch_size or len(images)
        self.order = self._order()

    def _order(self) -> np.ndarray:
        """This epoch's sample indices: in order without augmentation, else reshuffled passes."""
        if not self.augment:
            return np.arange(len(self.images))
        rng = np.random.default_rng((self.seed, self.epoch))
        passes = -(-self.epoch_size // len(self.images))
        return np.concatenate([rng.permutation(len(self.images)) for _ in range(passes)])[:self.epoch_size]

    def __len__(self) -> int:
        return int(np.ceil(len(self.order) / self.batch_size))

    def _sample(self, index: int, rng: np.random.Generator, augment: A.Compose,
                scene_augment: A.Compose) -> tuple[np.ndarray, np.ndarray]:
        image, mask = self.images[index], self.masks[index]
        syn, size, draw = self.synthesis, image.shape[0], rng.random()
        if draw < syn.scene_p and syn.backgrounds and syn.cutouts:
            background = syn.backgrounds[rng.integers(len(syn.backgrounds))]
            return _apply(scene_augment, *synthesize_scene(background, syn.cutouts, size, rng))
        if draw < syn.scene_p + syn.mosaic_p:
            picks = rng.integers(len(self.images), size=4)
            return _apply(scene_augment, *mosaic(self.images[picks], self.masks[picks], size, rng))
        if draw < syn.scene_p + syn.mosaic_p + syn.composite_p and syn.backgrounds:
            background = syn.backgrounds[rng.integers(len(syn.backgrounds))]
            image, mask = composite_onto(image, mask, random_crop(background, size, rng))
        return _apply(augment, image, mask)

    def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        indices = self.order[batch * self.batch_size:(batch + 1) * self.batch_size]
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, batch))
            augment, scene_augment = (factory(int(rng.integers(2**31))) for factory in (training_augmentation,
                                                                                        scene_augmentation))
            pairs = [self._sample(i, rng, augment, scene_augment) for i in indices]
        else:
            pairs = [(self.images[i], self.masks[i]) for i in indices]
        x = np.stack([p[0] for p in pairs]).astype(np.float32)
        return x, targets(np.stack([p[1] for p in pairs]))

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def _apply(pipeline: A.Compose, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = pipeline(image=image, mask=mask)
    return out["image"], out["mask"]
