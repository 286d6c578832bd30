"""Synthetic training scenes: people cut from training photos, pasted onto person-free backgrounds.

The two labelled datasets show one large, centred person per photo, so a model trained on them alone
never sees a small person in a busy street or three people side by side, and learns that whatever
is in the middle is the person. A scene here holds 1 to 5 people, each 5-100 % of the frame height,
anywhere, overlapping and partly outside the frame; every pasted person is labelled person, and the
background is a photo known to hold nobody (``ml.backgrounds``). Half-body portraits stay cut where
their photo cut them (at the bottom edge of the frame), so no torso floats in mid-air. A mosaic puts
several real samples side by side in one frame: real people, small, with their real labels.
Clutter draws things that are not people (shapes in flat colours and in textures of the scenery)
over a background before people are pasted, so the things touching a person are not always plain.

Everything takes a ``numpy.random.Generator``, so a seeded generator gives the same scenes every
time (the wild benchmark depends on that). Masks are uint8: 0 background, 255 person,
``ml.teachers.IGNORE`` unlabelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np


PEOPLE_PER_SCENE = (1, 2, 3, 4, 5)
PEOPLE_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)
HEIGHT_RANGE = (0.05, 1.0)        # a person's height as a fraction of the frame height
CUTOUT_MAX_SIDE = 320             # cutouts are stored no larger than this (scenes are ~224 px)
BOTTOM_CUT_SHARE = 0.02           # a mask covering this much of its photo's bottom row runs off it
CLUTTER_SHAPES = (3, 16)          # how many shapes a cluttered background gets (low inclusive, high exclusive)
CLUTTER_RADIUS = (0.04, 0.3)      # a shape's radius as a fraction of the canvas side (log-uniform): the
                                  # smallest are kept larger than a distant person's head
CLUTTER_FLAT_SHARE = 0.25         # shapes in a flat colour; the rest are textures (a flat shape looks like a bag)
PRINT_SHAPES = (1, 4)             # how many prints a person gets (low inclusive, high exclusive)


@dataclass(frozen=True)
class Cutout:
    """One person cut from a photo: the tight box around the mask, and whether the photo cut them."""

    rgb: np.ndarray          # (h, w, 3) uint8
    mask: np.ndarray         # (h, w) uint8, 255 person
    cut_at_bottom: bool      # half-body: the person runs off the bottom edge of their photo


def make_cutout(rgb: np.ndarray, mask: np.ndarray, max_side: int = CUTOUT_MAX_SIDE) -> Cutout | None:
    """The person of a labelled photo as a cutout, or None when the mask is (nearly) empty."""
    person = mask == 255
    rows, cols = np.flatnonzero(person.any(axis=1)), np.flatnonzero(person.any(axis=0))
    if rows.size < 8 or cols.size < 4:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    cut = person[-1].mean() >= BOTTOM_CUT_SHARE
    crop_rgb, crop_mask = rgb[top:bottom, left:right], np.where(person[top:bottom, left:right], 255, 0).astype(np.uint8)
    scale = min(1.0, max_side / max(crop_rgb.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(crop_rgb.shape[1] * scale)), max(1, round(crop_rgb.shape[0] * scale)))
        crop_rgb = cv2.resize(crop_rgb, size, interpolation=cv2.INTER_AREA)
        crop_mask = np.where(cv2.resize(crop_mask, size, interpolation=cv2.INTER_LINEAR) > 127, 255, 0).astype(np.uint8)
    return Cutout(np.ascontiguousarray(crop_rgb), crop_mask, bool(cut))


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator, zoom: tuple[float, float] = (1.0, 2.0)) -> np.ndarray:
    """A size x size view of ``image``: a random square of 1/zoom of its shorter side, resized."""
    height, width = image.shape[:2]
    side = max(2, int(min(height, width) / rng.uniform(*zoom)))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def _match_colour(rgb: np.ndarray, mask: np.ndarray, background: np.ndarray, strength: float) -> np.ndarray:
    """Move the person's mean colour part of the way toward the background's (shared lighting)."""
    person = mask > 127
    if not person.any():
        return rgb
    shift = (background.reshape(-1, 3).mean(axis=0) - rgb[person].mean(axis=0)) * strength
    return np.clip(rgb.astype(np.float32) + shift, 0, 255).astype(np.uint8)


def _placement(cutout: Cutout, height_px: float, size: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a pasted person: anywhere, partly outside the frame allowed;
    a half-body person stands on (or below) the bottom edge, as in the photo it came from."""
    h = max(4, round(height_px))
    w = max(2, round(cutout.rgb.shape[1] * h / cutout.rgb.shape[0]))
    left = round(rng.uniform(-0.3 * w, size - 0.7 * w))
    if cutout.cut_at_bottom:
        top = size - h + round(rng.uniform(0.0, 0.25) * h)
    else:
        top = round(rng.uniform(0.3 * size, size + 0.3 * h)) - h
    return top, left, h, w


def paste(canvas: np.ndarray, label: np.ndarray, cutout: Cutout, box: tuple[int, int, int, int],
          rng: np.random.Generator) -> None:
    """Paste ``cutout`` into ``canvas`` in place at ``box``; its pixels become person in ``label``.

    The edge is feathered by a pixel so the model cannot find pasted people by their hard outline;
    the person gets the background's lighting in part and, sometimes, a blur like a distant subject.
    """
    top, left, h, w = box
    rgb = cv2.resize(cutout.rgb, (w, h), interpolation=cv2.INTER_AREA if h < cutout.rgb.shape[0] else cv2.INTER_LINEAR)
    mask = cv2.resize(cutout.mask, (w, h), interpolation=cv2.INTER_LINEAR)
    rgb = _match_colour(rgb, mask, canvas, rng.uniform(0.0, 0.35))
    if rng.random() < 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.4, 1.2))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, canvas.shape[0]), min(left + w, canvas.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    src = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    alpha = cv2.GaussianBlur(mask, (3, 3), 0)[src].astype(np.float32)[..., None] / 255.0
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.rint(rgb[src] * alpha + region * (1.0 - alpha)).astype(np.uint8)
    label[y0:y1, x0:x1][mask[src] > 127] = 255


def synthesize_scene(background: np.ndarray, cutouts: Sequence[Cutout], size: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A size x size scene of 1-5 people from ``cutouts`` on a crop of ``background``, and its mask."""
    return populate(random_crop(background, size, rng), cutouts, rng)


def populate(canvas: np.ndarray, cutouts: Sequence[Cutout], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """1-5 people from ``cutouts`` pasted onto a copy of the square ``canvas``, and the mask.

    Half of the scenes are groups (people of similar height, as in a group photo), the others
    streets (each person at their own distance, so their own height).
    """
    canvas, size = canvas.copy(), canvas.shape[0]
    label = np.zeros((size, size), np.uint8)
    count = int(rng.choice(PEOPLE_PER_SCENE, p=PEOPLE_WEIGHTS))
    low, high = np.log(HEIGHT_RANGE[0]), np.log(HEIGHT_RANGE[1])
    group_height = np.exp(rng.uniform(low, high))
    group = rng.random() < 0.5
    for _ in range(count):
        cutout = cutouts[rng.integers(len(cutouts))]
        fraction = group_height * rng.uniform(0.8, 1.2) if group else np.exp(rng.uniform(low, high))
        paste(canvas, label, cutout, _placement(cutout, fraction * size, size, rng), rng)
    return canvas, label


def clutter(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``background`` with 3-15 shapes drawn over it: polygons, ellipses and strokes, each filled with
    a recoloured texture of the background itself or, less often, a flat colour, edges softened a little.

    Behind real people stand signs, leaves, posters and furniture of every colour, touching the
    outline. A model that has only seen people pasted onto rooms and streets keeps such a shape as a
    hat or a bag. The shapes are background: a person is pasted over them afterwards.
    """
    canvas = background.astype(np.float32)
    size = min(background.shape[:2])
    for _ in range(int(rng.integers(*CLUTTER_SHAPES))):
        canvas = _paint(canvas, _shape_mask(background.shape[:2], size, rng), background, rng)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def print_on(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` with 1-3 shapes painted inside its people (pixels where ``mask`` is 255): the photo's
    own texture from elsewhere, recoloured, or a flat colour, as ``clutter`` draws them. The mask is
    unchanged: they are person.

    The counterpart of ``clutter``: a model taught that shapes of scenery-like texture are
    background cuts holes where a skirt has the wall's colour or a dress a busy print. Painted
    inside the outline and labelled person, they teach that the outline, not the texture, decides.
    """
    person = mask == 255
    ys, xs = np.nonzero(person)
    if ys.size == 0:
        return image
    side = int(max(np.ptp(ys), np.ptp(xs))) + 1
    canvas = image.astype(np.float32)
    for _ in range(int(rng.integers(*PRINT_SHAPES))):
        pick = rng.integers(ys.size)
        shape = _shape_mask(image.shape[:2], side, rng, centre=(float(xs[pick]), float(ys[pick])))
        canvas = _paint(canvas, shape, image, rng, inside=person)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _paint(canvas: np.ndarray, shape: np.ndarray, source: np.ndarray, rng: np.random.Generator,
           inside: np.ndarray | None = None) -> np.ndarray:
    """float32 ``canvas`` with ``shape`` (edges softened, clipped to ``inside`` if given) filled by
    ``_fill(source)``."""
    alpha = cv2.GaussianBlur(shape, (0, 0), rng.uniform(0.3, 1.5))
    if inside is not None:
        alpha = alpha * inside
    alpha = alpha[..., None]
    return canvas * (1.0 - alpha) + _fill(source, rng) * alpha


def _shape_mask(shape: tuple[int, int], size: int, rng: np.random.Generator,
                centre: tuple[float, float] | None = None) -> np.ndarray:
    """A float32 0/1 mask of one random polygon, ellipse or stroke, radius a share of ``size``, round
    ``centre`` (x, y) or anywhere in the frame."""
    mask = np.zeros(shape, np.uint8)
    centre = np.array(centre) if centre is not None else np.array([rng.uniform(0, shape[1]), rng.uniform(0, shape[0])])
    radius = size * np.exp(rng.uniform(*np.log(CLUTTER_RADIUS)))
    kind = rng.integers(3)
    if kind == 0:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 9))))
        reach = radius * rng.uniform(0.4, 1.0, angles.size)
        points = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * reach[:, None]
        cv2.fillPoly(mask, [np.rint(points).astype(np.int32)], 1)
    elif kind == 1:
        axes = (max(1, round(radius)), max(1, round(radius * rng.uniform(0.2, 1.0))))
        cv2.ellipse(mask, tuple(np.rint(centre).astype(int)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    else:
        points = centre + rng.normal(0, radius, (int(rng.integers(2, 5)), 2))
        width = max(1, round(size * rng.uniform(0.004, 0.04)))
        cv2.polylines(mask, [np.rint(points).astype(np.int32)], False, 1, width)
    return mask.astype(np.float32)


def _fill(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a shape is made of: a flat colour with a little grain, or the background's texture
    from elsewhere, enlarged and with its colour channels shuffled."""
    height, width = background.shape[:2]
    if rng.random() < CLUTTER_FLAT_SHARE:
        colour = rng.integers(0, 256, 3).astype(np.float32)
        return colour + rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    texture = cv2.resize(random_crop(background, min(height, width), rng, zoom=(1.5, 4.0)), (width, height))
    return texture[..., rng.permutation(3)].astype(np.float32)


def mosaic(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], size: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two or four samples side by side in one size x size frame, each cell a random crop of one
    sample (image and mask cropped alike), split at a random point."""
    cells = 4 if len(images) >= 4 else 2
    split_x = int(size * rng.uniform(0.3, 0.7))
    split_y = int(size * rng.uniform(0.3, 0.7)) if cells == 4 else size
    canvas = np.zeros((size, size, 3), np.uint8)
    label = np.zeros((size, size), np.uint8)
    boxes = [(0, 0, split_y, split_x), (0, split_x, split_y, size - split_x)]
    if cells == 4:
        boxes += [(split_y, 0, size - split_y, split_x), (split_y, split_x, size - split_y, size - split_x)]
    for (top, left, h, w), image, mask in zip(boxes, images, masks):
        canvas[top:top + h, left:left + w], label[top:top + h, left:left + w] = _fill_cell(image, mask, h, w, rng)
    return canvas, label


def _fill_cell(image: np.ndarray, mask: np.ndarray, h: int, w: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random crop of ``image`` with the cell's aspect ratio (at least half the photo), resized."""
    height, width = image.shape[:2]
    scale = rng.uniform(0.5, 1.0) * min(height / h, width / w)
    ch, cw = max(1, int(h * scale)), max(1, int(w * scale))
    top, left = rng.integers(0, height - ch + 1), rng.integers(0, width - cw + 1)
    crop_image = cv2.resize(image[top:top + ch, left:left + cw], (w, h), interpolation=cv2.INTER_AREA)
    crop_mask = cv2.resize(mask[top:top + ch, left:left + cw], (w, h), interpolation=cv2.INTER_NEAREST)
    return crop_image, crop_mask

