"""Training batches: photos augmented, mixed with synthetic scenes, mosaics and composites, as
(image, target + weight) pairs for Keras on any backend. The training side only (imports Keras).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import albumentations as A
import keras
import numpy as np

from ml.scenes import Cutout, clutter, mosaic, populate, print_on, random_crop
from ml.teachers import IGNORE
from ml.training.augment import composite_onto, scene_augmentation, training_augmentation


@dataclass
class Synthesis:
    """What training mixes into its photos: person-free backgrounds, people to paste, and how often.

    Per sample: a synthetic scene with probability ``scene_p``, a mosaic of several photos with
    ``mosaic_p``, one photo's person on a person-free background with ``composite_p``, otherwise
    the photo as it is (all then augmented). A scene's or composite's background gets clutter
    (``ml.scenes.clutter``) with probability ``clutter_p``; whatever the sample, its people get prints
    (``ml.scenes.print_on``) with probability ``print_p``.
    """

    backgrounds: Sequence[np.ndarray] = ()
    cutouts: Sequence[Cutout] = ()
    scene_p: float = 0.3
    mosaic_p: float = 0.1
    composite_p: float = 0.15
    clutter_p: float = 0.0
    print_p: float = 0.0

    def scenery(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """A size x size crop of a random background, cluttered with probability ``clutter_p``."""
        crop = random_crop(self.backgrounds[rng.integers(len(self.backgrounds))], size, rng)
        return clutter(crop, rng) if rng.random() < self.clutter_p else crop

    def printed(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``image`` with prints on its people with probability ``print_p`` (no draw when it is 0,
        so runs without prints make the samples they made before)."""
        return print_on(image, mask, rng) if self.print_p and rng.random() < self.print_p else image


def targets(masks: np.ndarray) -> np.ndarray:
    """(N, S, S, 2) float32 target and weight from uint8 masks: person where 255, and every pixel
    counted except the ``IGNORE`` ones (see ``ml.training.losses.split_target``)."""
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

    With ``soft_targets`` (``ml.training.distil.SoftTargets``) a trained model's probability for each
    finished canvas becomes the target's third channel, for ``ml.training.losses.Distilled``.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, batch_size: int, augment: bool = False,
                 synthesis: Synthesis | None = None, seed: int = 0, epoch: int = 0,
                 epoch_size: int | None = None,
                 soft_targets: Callable[[np.ndarray], np.ndarray] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.images, self.masks = images, masks
        self.batch_size = batch_size
        self.augment = augment
        self.synthesis = synthesis or Synthesis(scene_p=0.0, mosaic_p=0.0, composite_p=0.0)
        self.seed, self.epoch = seed, epoch
        self.epoch_size = epoch_size or len(images)
        self.soft_targets = soft_targets
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
        syn, size, draw, pipeline = self.synthesis, image.shape[0], rng.random(), augment
        if draw < syn.scene_p and syn.backgrounds and syn.cutouts:
            image, mask = populate(syn.scenery(size, rng), syn.cutouts, rng)
            pipeline = scene_augment
        elif draw < syn.scene_p + syn.mosaic_p:
            picks = rng.integers(len(self.images), size=4)
            image, mask = mosaic(self.images[picks], self.masks[picks], size, rng)
            pipeline = scene_augment
        elif draw < syn.scene_p + syn.mosaic_p + syn.composite_p and syn.backgrounds:
            image, mask = composite_onto(image, mask, syn.scenery(size, rng))
        return _apply(pipeline, syn.printed(image, mask, rng), mask)

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
        y = targets(np.stack([p[1] for p in pairs]))
        if self.soft_targets is not None:
            y = np.concatenate([y, self.soft_targets(x)[..., None].astype(np.float32)], axis=-1)
        return x, y

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def _apply(pipeline: A.Compose, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = pipeline(image=image, mask=mask)
    return out["image"], out["mask"]
