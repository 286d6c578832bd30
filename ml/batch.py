"""What the command-line tools over the segmenter share: finding the input files, the model options,
and a loop that keeps going past bad files and reports them at the end.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from ml.errors import BackdropError
from ml.imageio import DEFAULT_MAX_PIXELS
from ml.library import DEFAULT_MODEL, DEFAULT_THRESHOLD, MATTING_ON_BY_DEFAULT, TTA_ON_BY_DEFAULT, new_segmenter
from ml.registry import BACKENDS, DEFAULT_WEIGHTS_DIR, MODEL_FILES
from ml.segmenter import Segmenter

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass
class Inputs:
    """Files to process, in a stable order, and the arguments that matched nothing."""

    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def collect_inputs(arguments: Iterable[str]) -> Inputs:
    """Expand files, folders (their image files, not recursive) and glob patterns; drop duplicates."""
    inputs = Inputs()
    seen: set[Path] = set()
    for argument in arguments:
        matches = _expand(argument)
        if not matches:
            inputs.missing.append(argument)
        for path in matches:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                inputs.files.append(path)
    return inputs


def _expand(argument: str) -> list[Path]:
    path = Path(argument)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if path.is_file():
        return [path]
    if glob.has_magic(argument):
        return [Path(p) for p in sorted(glob.glob(argument, recursive=True)) if os.path.isfile(p)]
    return []


def add_model_arguments(parser: argparse.ArgumentParser, matting: bool = False,
                        tta: bool = TTA_ON_BY_DEFAULT) -> None:
    """The options every segmenting CLI takes (model, backend, refinement, limits), defaulting to the
    library's settings, and ``--matting`` for those that make cut-outs. ml.evaluate passes ``tta=False``
    and no matting: it scores the model's own hard masks, as the model cards record them."""
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODEL_FILES),
                        help=f"segmentation model (default {DEFAULT_MODEL})")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR, help="folder of model files")
    parser.add_argument("--backend", default="tflite", choices=sorted(BACKENDS),
                        help="tflite (LiteRT, the default and what the server runs) or keras (for checking)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=tta,
                        help=f"average with the mirror image (2x model time; default {_on_off(tta)})")
    parser.add_argument("--no-refine", action="store_true",
                        help="plain bilinear upsampling instead of the edge-aware refinement (no matting either)")
    if matting:
        parser.add_argument("--matting", action=argparse.BooleanOptionalAction, default=MATTING_ON_BY_DEFAULT,
                            help="solve a real alpha matte round the outline, for hair and fine edges "
                                 f"(default {_on_off(MATTING_ON_BY_DEFAULT)})")
    parser.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD,
                        help=f"alpha at or above which a pixel is person (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"refuse images with more pixels than this (default {DEFAULT_MAX_PIXELS:,})")


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while the block runs.

    LiteRT's C++ logger writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to
    fd 2 when an interpreter is made, and no environment variable turns it off (TF_CPP_MIN_LOG_LEVEL
    does not reach it). It swaps a process-wide descriptor, so it is for the single-threaded CLIs only,
    never the server, where another thread's log line could vanish with it. A broken weights file is
    still reported: the runtime raises ModelError with LiteRT's reason in it.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def build_segmenter(args: argparse.Namespace) -> Segmenter:
    """The shared segmenter for the parsed options; raises ModelError (caught by the caller) for bad weights."""
    matting = vars(args).get("matting", False) and not args.no_refine  # CLIs without --matting: off
    with native_stderr_silenced():
        return new_segmenter(args.model, tta=args.tta, refine=not args.no_refine, matting=matting,
                             threshold=args.threshold, weights_dir=args.weights, backend=args.backend)


def prepare_output(folder: Path) -> None:
    """Create the output folder; raise BackdropError when the path exists and is not a folder."""
    if folder.exists() and not folder.is_dir():
        raise BackdropError(f"output {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackdropError(f"cannot create output folder {folder} ({exc.strerror or exc})") from None


def gather(arguments: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to process, and (argument, problem) for what cannot be: no match, or a clashing name.

    Outputs are named by the input's stem, so of two inputs with the same stem only the first is
    processed; the other is reported instead of silently overwriting the first's result.
    """
    inputs = collect_inputs(arguments)
    problems = [(argument, "no such file, folder or matching pattern") for argument in inputs.missing]
    kept, stems = [], {}
    for path in inputs.files:
        if path.stem in stems:
            problems.append((str(path), f"same name as {stems[path.stem]}, whose output it would overwrite"))
        else:
            stems[path.stem] = path
            kept.append(path)
    return kept, problems


@dataclass
class Batch:
    """What a batch CLI needs before its loop: the files, the problems found so far, the segmenter."""

    files: list[Path]
    problems: list[tuple[str, str]]
    segmenter: Segmenter


def start_batch(arguments: list[str], output: Path, args: argparse.Namespace) -> Batch:
    """Gather the inputs, create the output folder and load the model, in that order (cheapest first).

    Raises BackdropError (no images at all, unusable output folder, bad weights): the CLI stops with
    EXIT_USAGE before doing any work.
    """
    files, problems = gather(arguments)
    if not files:
        raise BackdropError("no images found in " + ", ".join(arguments))
    prepare_output(output)
    return Batch(files, problems, build_segmenter(args))


def run_batch(files: list[Path], process: Callable[[Path], None], problems: list[tuple[str, str]],
              desc: str) -> int:
    """Call ``process`` on each file under a progress bar; report problems; return the exit status.

    A bad file (BackdropError: unreadable, too large...) or an unwritable result is listed at the end
    with the earlier ``problems`` and makes the status EXIT_SOME_FAILED; the other files still go on.
    """
    failures = list(problems)
    failed = 0
    for path in tqdm(files, desc=desc, unit="image", file=sys.stderr, disable=None):
        try:
            process(path)
        except BackdropError as exc:
            failures.append((str(path), str(exc)))
            failed += 1
        except OSError as exc:
            failures.append((str(path), f"could not write the result ({exc.strerror or exc})"))
            failed += 1
    print(f"{len(files) - failed} of {len(files)} image(s) done", file=sys.stderr)
    if failures:
        print(f"{len(failures)} problem(s):", file=sys.stderr)
        for name, message in failures:
            print(f"  {name}: {message}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
