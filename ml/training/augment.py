"""Training augmentation: the same random geometry for image and mask, photometric noise on the image.

Follows the SINet recipe from the seeds (flip, rotation up to 45 degrees, scale 0.5-1.5, translation
up to 25 %, blur, noise, colour changes) with albumentations, plus JPEG quality, which phone uploads
have and clean datasets do not. Synthetic scenes (``ml.scenes``) already place their people at every
size and position, so they get only the flip and the photometric part.
"""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np


def photometric() -> list[A.BasicTransform]:
    """Changes of blur, noise, exposure, colour and compression: the image only."""
    return [
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 5))], p=0.25),
        A.GaussNoise(std_range=(0.0, 0.05), p=0.25),
        A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.5),
        A.RandomGamma(gamma_limit=(60, 160), p=0.3),
        A.HueSaturationValue(hue_shift_limit=15, sat_shift_limit=30, val_shift_limit=0, p=0.4),
        A.ImageCompression(quality_range=(40, 95), p=0.3),
    ]


def training_augmentation(seed: int | None = None) -> A.Compose:
    """Augmentation pipeline for square, letterboxed training photos (``seed``: the same draws every time)."""
    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.Affine(scale=(0.5, 1.5), translate_percent=(-0.25, 0.25), rotate=(-45, 45),
                 border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.7),
        *photometric(),
    ], seed=seed)


def scene_augmentation(seed: int | None = None) -> A.Compose:
    """Augmentation for synthetic scenes and mosaics: a flip and the photometric changes."""
    return A.Compose([A.HorizontalFlip(p=0.5), *photometric()], seed=seed)


def composite_onto(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paste the person (mask 255) onto a person-free background of the same size.

    Gives the model people on backgrounds they were never photographed against, so it learns the
    person rather than the dataset's typical scenery. Everything else, unlabelled pixels included,
    is now the new background, so the returned mask is plain person/background.
    """
    person = mask == 255
    alpha = person.astype(np.float32)[..., None]
    composite = (image * alpha + background * (1.0 - alpha)).astype(np.uint8)
    return composite, np.where(person, 255, 0).astype(np.uint8)
