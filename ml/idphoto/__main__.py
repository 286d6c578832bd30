"""Make ID photos from portraits: one photo, or a batch of files and folders.

``python -m ml.idphoto INPUT... --preset ID [--size 35x45mm|600x800px] --background NAME|#RRGGBB
--dpi 300 --layout single|sheet-4x6 --gap-mm MM --max-kb N [--face N | --each-face]
--output FILE|DIR [--manifest CSV] [--report FILE.json] [--json]``

INPUT is a photo, a folder (its images) or a glob. With one photo and an --output ending in .jpg (or
.zip with --each-face) the result goes to that file; otherwise --output is a folder and each photo
becomes ``<stem>_<preset>.jpg`` in it. ``--manifest CSV`` (header ``file,preset,background``; files
relative to the CSV) adds photos with their own preset and background. Prints every rule of every
report, shows progress on stderr, and ``--report`` writes one JSON file with every photo's status and
rules. ``--list`` prints the presets.

Exit status: 0 every photo was made and none failed a rule (warnings allowed); 1 at least one photo
failed a rule or could not be made (no face, several faces without --face, unreadable); 2 bad options,
nothing to process, an unusable output, or broken model weights.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ml.batch import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, add_model_arguments, build_segmenter, gather, \
    prepare_output, run_batch
from ml.errors import BackdropError
from ml.idphoto.options import LAYOUTS, IdPhotoOptions
from ml.idphoto.pipeline import make_id_photo, make_id_photos
from ml.idphoto.presets import background_colours, load_presets
from ml.imageio import load_image
from ml.segmenter import Segmenter

MARKS = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}
FILE_SUFFIXES = (".jpg", ".jpeg", ".zip")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.idphoto", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="photos, folders or glob patterns")
    parser.add_argument("--list", action="store_true", help="list the presets and their rules, then exit")
    parser.add_argument("--preset", default="eu-passport", help=f"{', '.join(load_presets())} or custom")
    parser.add_argument("--size", help="with --preset custom: WxHmm, WxHin or WxHpx")
    parser.add_argument("--background", help=f"{', '.join(background_colours())} or #RRGGBB "
                                             "(default: the preset's first colour)")
    parser.add_argument("--dpi", type=int, help="output resolution (default: the preset's, 300)")
    parser.add_argument("--layout", default="single", choices=LAYOUTS, help="one photo or a 4x6 in print sheet")
    parser.add_argument("--gap-mm", type=float, help="gap between copies on the sheet (default: widest that fits)")
    parser.add_argument("--max-kb", type=int, help="file-size cap in KB (lowers JPEG quality down to a floor)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--face", type=int, help="in a group photo, the face to use (1 = leftmost)")
    who.add_argument("--each-face", action="store_true", help="one photo per face: a zip, or one sheet")
    parser.add_argument("--output", type=Path, help="file (one photo) or folder (default: beside a single INPUT)")
    parser.add_argument("--manifest", type=Path, help="CSV with columns file,preset,background")
    parser.add_argument("--report", type=Path, help="also write every report as one JSON file")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON instead of lines")
    add_model_arguments(parser)
    return parser.parse_args(argv)


def print_presets() -> None:
    colours = background_colours()
    print(json.dumps([p.to_dict(colours) for p in load_presets().values()], indent=2))


def print_report(report: dict, output: Path) -> None:
    """One line per rule, as a user reads it; a group's reports one after the other."""
    for person in report.get("reports", [report]):
        title = f" face {person['face']['number']}" if "reports" in report else ""
        print(f"{output}{title}: {person['preset_name']}, {person['size_px'][0]}x{person['size_px'][1]} px at "
              f"{person['dpi']} DPI -> {person['overall'].upper()}")
        for rule in person["rules"]:
            value = "" if rule["value"] is None else f" {rule['value']} {rule['unit']}".rstrip()
            print(f"  {MARKS[rule['status']]} {rule['label']}:{value}  {rule['hint']}")
    if "sheet" in report:
        print(f"  sheet: {report['sheet']['copies']} copies on 4x6 in, {report['sheet']['gap_mm']} mm apart")


def read_manifest(path: Path) -> dict[Path, dict[str, str]]:
    """{photo path: {"preset": ..., "background": ...}} from a CSV; paths are relative to the CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise BackdropError(f"cannot read the manifest {path} ({exc.strerror or exc})") from None
    if not rows or "file" not in rows[0]:
        raise BackdropError(f"manifest {path} needs a header line with the columns file,preset,background")
    return {(path.parent / row["file"].strip()).resolve(): {k: (row.get(k) or "").strip() for k in ("preset", "background")}
            for row in rows if (row.get("file") or "").strip()}


@dataclass
class IdBatch:
    """Makes one photo's ID photo per call and keeps every outcome for the one JSON report."""

    args: argparse.Namespace
    segmenter: Segmenter
    output: Path
    single_file: bool
    manifest: dict[Path, dict[str, str]]
    outcomes: list[dict] = field(default_factory=list)

    def __call__(self, source: Path) -> None:
        own = self.manifest.get(source.resolve(), {})
        preset_id = own.get("preset") or self.args.preset
        entry = {"input": str(source), "preset": preset_id, "status": "error"}
        self.outcomes.append(entry)
        try:
            options = IdPhotoOptions.parse(preset_id, self.args.size, own.get("background") or self.args.background,
                                           self.args.dpi, self.args.layout, self.args.max_kb, self.args.gap_mm,
                                           self.args.face)
            rgb = load_image(source, self.args.max_pixels)
            if self.args.each_face:
                group = make_id_photos(rgb, self.segmenter.segment, options)
                data, report, suffix = group.data, group.report, ".jpg" if self.args.layout != "single" else ".zip"
            else:
                made = make_id_photo(rgb, self.segmenter.segment, options)
                data, report, suffix = made.file.data, made.report, ".jpg"
        except BackdropError as exc:
            entry["error"] = str(exc)
            raise
        target = self.output if self.single_file else self.output / f"{source.stem}_{options.preset.id}{suffix}"
        target.write_bytes(data)
        entry.update(output=str(target), status=report["overall"], report=report)
        if not self.args.json:
            print_report(report, target)


def _plan_output(args: argparse.Namespace, files: list[Path]) -> tuple[Path, bool]:
    """(where results go, whether that is one file): a file for one photo, else a folder."""
    if len(files) == 1 and (args.output is None or args.output.suffix.lower() in FILE_SUFFIXES):
        source = files[0]
        suffix = ".zip" if args.each_face and args.layout == "single" else ".jpg"
        return args.output or source.with_name(f"{source.stem}_{args.preset}{suffix}"), True
    if args.output is None:
        raise BackdropError("several photos: give the folder to write them to with --output DIR")
    prepare_output(args.output)
    return args.output, False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print_presets()
        return EXIT_OK
    try:
        manifest = read_manifest(args.manifest) if args.manifest else {}
        arguments = args.inputs + [str(path) for path in manifest]
        if not arguments:
            raise BackdropError("give the photos to use (INPUT, a folder or --manifest), or --list")
        files, problems = gather(arguments)
        if not files:
            raise BackdropError("no images found in " + ", ".join(arguments))
        output, single_file = _plan_output(args, files)
        batch = IdBatch(args, build_segmenter(args), output, single_file, manifest)
    except BackdropError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    status = run_batch(files, batch, problems, "ID photos")
    if args.report:
        counts = {s: sum(o["status"] == s for o in batch.outcomes) for s in ("pass", "warn", "fail", "error")}
        args.report.write_text(json.dumps({"counts": counts, "photos": batch.outcomes}, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(batch.outcomes, indent=2))
    failed = any(outcome["status"] == "fail" for outcome in batch.outcomes)
    return EXIT_SOME_FAILED if failed or status != EXIT_OK else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
