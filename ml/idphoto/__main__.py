"""Make an ID photo from a portrait.

``python -m ml.idphoto INPUT --preset ID [--size 35x45mm|600x800px] --background NAME|#RRGGBB
--dpi 300 --layout single|sheet-4x6 --max-kb N --output FILE [--report FILE.json] [--json]``

Prints the compliance report (one line per rule) and writes the JPEG. ``--list`` prints the presets.
Exit status: 0 when the photo was made (read the report for warnings), 2 for bad options, no face
or several faces, or an unreadable photo.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.batch import EXIT_OK, EXIT_USAGE, add_model_arguments, build_segmenter
from ml.errors import BackdropError
from ml.idphoto.pipeline import LAYOUTS, make_id_photo
from ml.idphoto.presets import background_colours, load_presets, resolve_preset
from ml.imageio import load_image

MARKS = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.idphoto", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", type=Path, metavar="INPUT", help="the portrait photo")
    parser.add_argument("--list", action="store_true", help="list the presets and their rules, then exit")
    parser.add_argument("--preset", default="eu-passport", help=f"{', '.join(load_presets())} or custom")
    parser.add_argument("--size", help="with --preset custom: WxHmm, WxHin or WxHpx")
    parser.add_argument("--background", help=f"{', '.join(background_colours())} or #RRGGBB "
                                             "(default: the preset's first colour)")
    parser.add_argument("--dpi", type=int, help="output resolution (default: the preset's, 300)")
    parser.add_argument("--layout", default="single", choices=LAYOUTS, help="one photo or a 4x6 in print sheet")
    parser.add_argument("--max-kb", type=int, help="file-size cap in KB (lowers JPEG quality down to a floor)")
    parser.add_argument("--output", type=Path, help="JPEG to write (default: INPUT_<preset>.jpg beside INPUT)")
    parser.add_argument("--report", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of lines")
    add_model_arguments(parser)
    return parser.parse_args(argv)


def print_presets() -> None:
    colours = background_colours()
    print(json.dumps([p.to_dict(colours) for p in load_presets().values()], indent=2))


def print_report(report: dict, output: Path) -> None:
    print(f"{output}: {report['preset_name']}, {report['size_px'][0]}x{report['size_px'][1]} px at "
          f"{report['dpi']} DPI -> {report['overall'].upper()}")
    for rule in report["rules"]:
        value = "" if rule["value"] is None else f" {rule['value']} {rule['unit']}".rstrip()
        print(f"  {MARKS[rule['status']]} {rule['label']}:{value}  {rule['hint']}")
    if "sheet" in report:
        print(f"  sheet: {report['sheet']['copies']} copies on 4x6 in")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print_presets()
        return EXIT_OK
    if args.input is None:
        print("error: give the photo to use (INPUT), or --list", file=sys.stderr)
        return EXIT_USAGE
    output = args.output or args.input.with_name(f"{args.input.stem}_{args.preset}.jpg")
    try:
        preset = resolve_preset(args.preset, args.size, args.dpi)
        rgb = load_image(args.input, args.max_pixels)
        result = make_id_photo(rgb, build_segmenter(args).segment, preset, args.background, args.dpi, args.layout,
                               args.max_kb)
    except BackdropError as exc:
        print(f"error: {args.input}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    output.write_bytes(result.file.data)
    if args.report:
        args.report.write_text(json.dumps(result.report, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(result.report, indent=2))
    else:
        print_report(result.report, output)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
