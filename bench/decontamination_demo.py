"""Before/after picture of edge colour decontamination, for the docs.

``python -m bench.decontamination_demo [--photo FILE] [--model NAME (default: the default model)] [--out docs/images/decontamination.png]``

Cuts the subject out with the served segmenter and composes it onto blue twice, without and with
decontamination; the picture shows the photo, both composites, and both enlarged round the hair
(nearest-neighbour, so the pixels are the composites' own). The default photo is CCP 0283 from the
test split (dark hair against pale stone; Clothing Co-Parsing, Apache-2.0).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ml.compose import Colour, compose
from ml.imageio import encode_image, load_image
from ml.library import DEFAULT_MODEL, new_segmenter
from ml.paths import DATASETS, ROOT
from ml.registry import MODEL_FILES

DEFAULT_PHOTO = DATASETS / "ccp" / "images" / "0283.jpg"
DEFAULT_OUT = ROOT / "docs" / "images" / "decontamination.png"
BLUE = (30, 80, 200)
ZOOM = 4


def hair_box(mask: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """A size x size window centred on the left edge of the subject's head (top, left, bottom, right)."""
    rows = np.flatnonzero(mask.any(axis=1))
    row = rows[0] + (rows[-1] - rows[0]) // 14
    cols = np.flatnonzero(mask[row])
    centre_y, centre_x = row, cols[0]
    top = int(np.clip(centre_y - size // 2, 0, mask.shape[0] - size))
    left = int(np.clip(centre_x - size // 2, 0, mask.shape[1] - size))
    return top, left, top + size, left + size


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (255, 255, 255), -1)
    cv2.putText(out, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Panels of one height in a row, 6 px of white between them."""
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return np.hstack(row)


def build(photo: np.ndarray, model: str) -> np.ndarray:
    """Photo, plain and decontaminated composites on blue, and both enlarged round the hair."""
    matte = new_segmenter(model).segment(photo)  # as served
    naive = compose(photo, matte.alpha, Colour(BLUE), decontaminate=False)
    clean = compose(photo, matte.alpha, Colour(BLUE))
    band = (matte.alpha > 0) & (matte.alpha < 255)
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[band].mean() for image in (naive, clean)]
    print(f"edge band: {int(band.sum())} pixels; mean brightness on blue: plain {grey[0]:.1f}, "
          f"decontaminated {grey[1]:.1f} (blue itself {cv2.cvtColor(np.uint8([[BLUE]]), cv2.COLOR_RGB2GRAY)[0, 0]})")
    size = max(32, photo.shape[0] // 6)
    top, left, bottom, right = hair_box(matte.mask, size)
    zoom = [cv2.resize(image[top:bottom, left:right], None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
            for image in (naive, clean)]
    height = zoom[0].shape[0]
    scale = height / photo.shape[0]
    whole = [cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for image in (photo, naive, clean)]
    boxed = whole[0].copy()
    cv2.rectangle(boxed, (round(left * scale), round(top * scale)), (round(right * scale), round(bottom * scale)),
                  (255, 0, 0), 2)
    panels = [label(boxed, "photo"), label(whole[1], "plain"), label(whole[2], "decontaminated"),
              label(zoom[0], f"plain, x{ZOOM}"), label(zoom[1], f"decontaminated, x{ZOOM}")]
    return side_by_side(panels)


def demo_main(build: Callable[[np.ndarray, str], np.ndarray], prog: str, description: str, default_out: Path,
              argv: list[str] | None) -> int:
    """The command line both demo pictures share: --photo, --model, --out; writes ``build``'s PNG."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODEL_FILES))
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    picture = build(load_image(args.photo), args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(encode_image(picture, "png"))
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return demo_main(build, "python -m bench.decontamination_demo", __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    sys.exit(main())
