"""Cut the person out of photos and put them on a new background.

``python -m ml.cutout INPUT... --background transparent|#RRGGBB|blur|grey|FILE --format png|jpg|webp
--output DIR [--model NAME] [--no-tta] [--crop]``

INPUT may be files, folders (their images) or quoted glob patterns. Each result is written as
``DIR/<stem>.<format>``. Files that cannot be read are listed at the end and the exit status is 1;
the rest are still processed.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ml.atomic import write_atomic
from ml.batch import EXIT_USAGE, add_model_arguments, run_batch, start_batch
from ml.compose import Background, parse_background
from ml.errors import BackdropError
from ml.imageio import encode_image, normalise_format
from ml.library import remove
from ml.segmenter import CROP_MARGIN, Segmenter


@dataclass(frozen=True)
class CutoutJob:
    """One configured run: segmenter, background and output settings applied to each file."""

    segmenter: Segmenter
    background: Background
    fmt: str
    output: Path
    crop: bool
    margin: float
    quality: int
    max_pixels: int

    def __call__(self, source: Path) -> None:
        cutout = remove(source, self.segmenter, self.background, self.crop, margin=self.margin,
                        max_pixels=self.max_pixels)
        data = encode_image(cutout, self.fmt, self.quality)
        write_atomic(self.output / f"{source.stem}.{self.fmt}", data)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.cutout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or quoted globs")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR", help="folder for the results")
    parser.add_argument("--background", default="transparent",
                        help="transparent (default), #RRGGBB, #RGB, a CSS colour name, blur, blur:STRENGTH (0.1-20, default 2), grey, "
                             "or an image file (fill:FILE crops it to cover, fit:FILE shows all of it)")
    parser.add_argument("--format", default="png", help="png (default), jpg or webp")
    parser.add_argument("--quality", type=int, default=92, help="jpg/webp quality 1-100 (default 92)")
    parser.add_argument("--crop", action="store_true", help="crop to the subject's bounding box")
    parser.add_argument("--margin", type=float, default=CROP_MARGIN,
                        help=f"margin round the subject with --crop, as a fraction of its size "
                             f"(default {CROP_MARGIN})")
    add_model_arguments(parser, matting=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        fmt = normalise_format(args.format)
        background = parse_background(args.background, args.max_pixels, files=True)
    except (ValueError, BackdropError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if fmt == "jpg" and background.transparent:
        print("error: JPEG cannot be transparent; choose --format png or webp, or a --background",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        batch = start_batch(args.inputs, args.output, args)
    except BackdropError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    job = CutoutJob(batch.segmenter, background, fmt, args.output, args.crop, args.margin,
                    args.quality, args.max_pixels)
    return run_batch(batch.files, job, batch.problems, desc="cutouts")


if __name__ == "__main__":
    sys.exit(main())
