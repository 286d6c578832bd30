"""Before/after picture of the matting stage on hair, for the README.

``python -m bench.matting_demo [--photo FILE] [--model sinet] [--out docs/images/matting.png]``

Cuts the subject out twice with the served segmenter (test-time augmentation on), with today's
guided filter and with the matting stage, and composes both onto blue with the same edge
decontamination; the picture shows the photo, both composites, and both enlarged round the hair
(nearest-neighbour). The default photo is the one bench/decontamination_demo.py uses: CCP 0283 from
the test split (dark hair against pale stone; Clothing Co-Parsing, Apache-2.0).
"""
from __future__ import annotations

import sys

import cv2
import numpy as np

from bench.decontamination_demo import BLUE, ZOOM, demo_main, hair_box, label, side_by_side
from ml.compose import Colour, compose
from ml.library import new_segmenter
from ml.paths import ROOT

DEFAULT_OUT = ROOT / "docs" / "images" / "matting.png"


def build(photo: np.ndarray, model: str) -> np.ndarray:
    """Photo, guided and matted composites on blue, and both enlarged round the hair, side by side."""
    mattes = [new_segmenter(model, matting=matting).segment(photo) for matting in (False, True)]
    composites = [compose(photo, matte.alpha, Colour(BLUE)) for matte in mattes]
    size = max(32, photo.shape[0] // 6)
    top, left, bottom, right = hair_box(mattes[0].mask, size)
    zoom = [cv2.resize(image[top:bottom, left:right], None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
            for image in composites]
    height = zoom[0].shape[0]
    scale = height / photo.shape[0]
    whole = [cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for image in [photo, *composites]]
    cv2.rectangle(whole[0], (round(left * scale), round(top * scale)), (round(right * scale), round(bottom * scale)),
                  (255, 0, 0), 2)
    panels = [label(whole[0], "photo"), label(whole[1], "guided filter"), label(whole[2], "matting"),
              label(zoom[0], f"guided filter, x{ZOOM}"), label(zoom[1], f"matting, x{ZOOM}")]
    return side_by_side(panels)


def main(argv: list[str] | None = None) -> int:
    return demo_main(build, "python -m bench.matting_demo", __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    sys.exit(main())
