"""A training set packed into a few files small enough to carry to a lent GPU machine.

A lent accelerator (docs/training.md) takes the working tree plus 64 MiB and reaches no dataset
folder, label cache or background cache. ``python -m ml.training.train ... --pack-to DIR`` gathers exactly
what a run would train on (labelled photos with bystanders left out, teacher-labelled photos,
validation photos, person-free backgrounds), letterboxed, and writes it here: photos as WebP,
masks as PNG (lossless, so the unlabelled value survives), about 6 KB a photo at 224 px.
``python -m ml.training.train --packed DIR`` trains from it anywhere, on any Keras backend.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

PARTS = ("images", "masks", "val_images", "val_masks", "backgrounds")
FACTS = "facts.json"


class PackError(ValueError):
    """A folder given as a pack holds none."""


@dataclass
class Pack:
    """The arrays of a run. The first ``labelled`` training photos carry dataset masks: scene
    synthesis cuts its people from those alone (teacher labels are too rough at the outline)."""

    images: np.ndarray          # (N, S, S, 3) uint8
    masks: np.ndarray           # (N, S, S) uint8: 0, 255, IGNORE
    val_images: np.ndarray
    val_masks: np.ndarray
    backgrounds: list[np.ndarray]
    labelled: int
    facts: dict = field(default_factory=dict)


def _encode(arrays: Sequence[np.ndarray], mask: bool, quality: int) -> dict[str, np.ndarray]:
    """Concatenated encoded bytes and their offsets (a ragged array without pickling)."""
    chunks = []
    for array in arrays:
        ok, data = (cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 9]) if mask else
                    cv2.imencode(".webp", cv2.cvtColor(array, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, quality]))
        if not ok:
            raise ValueError("cannot encode a training image")
        chunks.append(data.ravel())
    offsets = np.cumsum([0] + [len(chunk) for chunk in chunks]).astype(np.int64)
    blob = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    return {"blob": blob, "offsets": offsets}


def _decode(path: Path, mask: bool) -> list[np.ndarray]:
    with np.load(path) as part:
        blob, offsets = part["blob"], part["offsets"]
    flag = cv2.IMREAD_GRAYSCALE if mask else cv2.IMREAD_COLOR
    decoded = [cv2.imdecode(blob[a:b], flag) for a, b in zip(offsets[:-1], offsets[1:])]
    return decoded if mask else [cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in decoded]


def save_pack(folder: Path, pack: Pack, quality: int = 80) -> int:
    """Write ``pack`` to ``folder``; returns the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PARTS:
        np.savez(folder / f"{name}.npz", **_encode(getattr(pack, name), "masks" in name, quality))
    (folder / FACTS).write_text(json.dumps({"labelled": pack.labelled, "facts": pack.facts}, indent=1))
    return sum(path.stat().st_size for path in folder.iterdir())


def _resized(images: list[np.ndarray], size: int, interpolation: int) -> np.ndarray:
    return np.stack([image if image.shape[0] == size else
                     cv2.resize(image, (size, size), interpolation=interpolation) for image in images])


def load_pack(folder: Path, size: int) -> Pack:
    """Read a pack, its square photos and masks resized to ``size`` when it was packed at another."""
    if not (folder / FACTS).is_file():
        raise PackError(f"{folder} holds no training pack (python -m ml.training.train ... --pack-to {folder})")
    meta = json.loads((folder / FACTS).read_text())
    part = {name: _decode(folder / f"{name}.npz", "masks" in name) for name in PARTS}
    return Pack(
        images=_resized(part["images"], size, cv2.INTER_AREA),
        masks=_resized(part["masks"], size, cv2.INTER_NEAREST),
        val_images=_resized(part["val_images"], size, cv2.INTER_AREA),
        val_masks=_resized(part["val_masks"], size, cv2.INTER_NEAREST),
        backgrounds=part["backgrounds"], labelled=meta["labelled"], facts=meta["facts"])
