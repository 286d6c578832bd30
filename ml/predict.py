"""Write a full-size 8-bit person mask for every input image, for evaluation by any tool.

``python -m ml.predict --model NAME --input FILE|DIR|GLOB ... --output DIR``

Each image becomes ``DIR/<stem>.png``: one channel, the size of the (upright) input, 0 = background,
255 = person. Unreadable files are reported at the end and skipped; the exit status is then 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ml.atomic import write_atomic
from ml.batch import EXIT_USAGE, add_model_arguments, run_batch, start_batch
from ml.errors import BackdropError
from ml.imageio import encode_image, load_image
from ml.segmenter import Segmenter


def write_mask(mask: np.ndarray, target: Path) -> None:
    """Save a bool mask as a 0/255 single-channel PNG, via a temporary file so no half file is left."""
    write_atomic(target, encode_image(mask.astype(np.uint8) * 255, "png"))


def predict_file(segmenter: Segmenter, source: Path, output: Path, max_pixels: int) -> None:
    write_mask(segmenter.segment(load_image(source, max_pixels)).mask, output / f"{source.stem}.png")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", required=True, metavar="FILE|DIR|GLOB",
                        help="image files, folders of images, or quoted glob patterns")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR", help="folder for the masks")
    add_model_arguments(parser, matting=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        batch = start_batch(args.input, args.output, args)
    except BackdropError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_batch(batch.files, lambda path: predict_file(batch.segmenter, path, args.output, args.max_pixels),
                     batch.problems, desc=f"{args.model} masks")


if __name__ == "__main__":
    sys.exit(main())
