"""How long a cutout takes, stage by stage, for 1, 4 and 12 MP photos, and how much memory 24 MP needs.

``python -m bench.latency [--models sinet mobile-unet] [--sizes 1 4 12] [--runs 7] [--memory-mp 24]
[--matting | --no-matting] [--hide-avx512 [--calibrate REAL EMULATED]]``

The path timed is the served one, with one model call (mirror averaging, on when served, adds a
second): JPEG bytes in -> ``load_image`` (decode) -> ``Segmenter.segment``
(resize: the one area-average reduction; model: the LiteRT call; refine: guided upsample, blob and
hole clean-up, and the matting stage unless ``--no-matting``) -> ``compose`` onto transparent (composite, edge decontamination included) ->
``encode_image`` PNG (encode). "end to end" is one clock round the whole path, not a sum of medians.
Each figure is the median of ``--runs`` runs after one warm-up run; the best run is kept too, as the
closest figure to an idle machine, and so is the process's CPU time for the whole path ("cpu": all
threads together), which other processes' load hardly changes: on an idle machine the wall-clock time
cannot be much above it, since every stage uses at least one core.

The MediaPipe selfie model (bench/peers.py) is timed on the same photos: its canvas is made from
the photo the way MediaPipe does (stretched to 256x256), ours as served (letterboxed), and the three
models' calls are interleaved, 100 each, so that other processes' load falls on all alike; the ratio
printed is our model call / its model call.

Test photos: there is no large photo with a clear licence in the repository, so each size is made
from CCP photo 0007 (Apache-2.0; /work/shared/datasets/ccp) upscaled to the size (3:4 portrait) with
Gaussian noise (sigma 6) added so that it has a real photo's entropy (a 12 MP one is a 3 MB JPEG,
like a phone's), saved as JPEG quality 92.

``--hide-avx512`` times it all as on a CPU with AVX2 but no AVX-512 or VNNI (bench/no_avx512.py), and
writes ``bench/results/latency_no_avx512.json`` unless ``--out`` says otherwise. Hiding the instruction
sets does not make this CPU as slow as a real AVX2-only one (clock, caches and memory differ), so
``--calibrate REAL EMULATED`` also estimates the figures there: REAL is a results file timed on such a
CPU, EMULATED one timed here with ``--hide-avx512`` with the same weights, and each model call and
end-to-end time is scaled by their ratio, size by size (``scale_to_real``).

Peak memory is measured in a fresh process (ru_maxrss) for the whole 24 MP path; the process's
resting size after imports and model loading is reported beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np

from bench import no_avx512
from bench.machine import describe_machine
from ml.compose import Transparent, compose
from ml.errors import BackdropError
from ml.imageio import encode_image, load_image
from ml.library import new_segmenter
from ml.matting import ON_BY_DEFAULT as MATTING_ON_BY_DEFAULT
from ml.paths import DATASETS, ROOT
from ml.preprocess import letterbox
from ml.refine import RefineConfig, reduce
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, NUM_THREADS, load_runtime
from ml.segmenter import Segmenter

RESULTS = ROOT / "bench" / "results" / "latency.json"
RESULTS_NO_AVX512 = RESULTS.with_name("latency_no_avx512.json")
SOURCE_PHOTO = DATASETS / "ccp" / "images" / "0007.jpg"
CACHE = ROOT / ".cache" / "bench"
STAGES = ("decode", "resize", "model", "refine", "composite", "encode")
NOISE_SIGMA = 6


def bench_photo(megapixels: float, cache: Path = CACHE, source: Path = SOURCE_PHOTO) -> bytes:
    """JPEG bytes of a 3:4 portrait of about ``megapixels`` MP (made once, then cached)."""
    path = cache / f"photo_{megapixels:g}mp.jpg"
    if not path.is_file():
        width = round((megapixels * 1e6 * 3 / 4) ** 0.5)
        height = round(width * 4 / 3)
        small = load_image(source)
        big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
        big += np.random.default_rng(0).normal(0, NOISE_SIGMA, big.shape).astype(np.int16)
        cache.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_image(np.clip(big, 0, 255).astype(np.uint8), "jpg", quality=92))
    return path.read_bytes()


def run_once(segmenter: Segmenter, data: bytes) -> dict[str, float]:
    """One served cutout; milliseconds per stage and end to end."""
    times: dict[str, float] = {}
    cpu = time.process_time()
    start = time.perf_counter()
    rgb = load_image(data)
    times["decode"] = _ms(start)
    matte = segmenter.segment(rgb)
    times.update({stage: matte.timings_ms[stage] for stage in ("resize", "model", "refine")})
    mark = time.perf_counter()
    cutout = compose(rgb, matte.alpha, Transparent())
    times["composite"] = _ms(mark)
    mark = time.perf_counter()
    encode_image(cutout, "png")
    times["encode"] = _ms(mark)
    times["end_to_end"] = _ms(start)
    times["end_to_end_cpu"] = (time.process_time() - cpu) * 1000.0
    return times


def time_pipeline(segmenter: Segmenter, data: bytes, runs: int) -> dict[str, dict[str, float]]:
    run_once(segmenter, data)  # warm-up: first-call allocations, page faults
    samples = [run_once(segmenter, data) for _ in range(runs)]
    return {key: {"median": statistics.median(s[key] for s in samples), "best": min(s[key] for s in samples)}
            for key in samples[0]}


def model_canvases(runtimes: dict, peer, rgb: np.ndarray) -> dict[str, tuple]:
    """(runtime, canvas) per model for photo ``rgb``: ours letterboxed as served, MediaPipe's stretched
    to its square input as MediaPipe does."""
    pairs = {name: (runtime, letterbox(reduce(rgb, RefineConfig().work_side).rgb, runtime.input_size)[0])
             for name, runtime in runtimes.items()}
    if peer is not None:
        pairs[peer.name] = (peer, cv2.resize(rgb, (peer.input_size, peer.input_size), interpolation=cv2.INTER_AREA))
    return {name: (runtime, canvas.astype(np.float32)) for name, (runtime, canvas) in pairs.items()}


def interleaved_calls(pairs: dict[str, tuple], runs: int) -> dict[str, float]:
    """Median ms of one predict per model, calls interleaved model by model so that load from other
    processes falls on all of them alike (their ratio is then fair even on a busy machine)."""
    for runtime, canvas in pairs.values():
        runtime.predict(canvas)
    times: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(runs):
        for name, (runtime, canvas) in pairs.items():
            start = time.perf_counter()
            runtime.predict(canvas)
            times[name].append(_ms(start))
    return {name: statistics.median(values) for name, values in times.items()}


def thread_scaling(runtime, calls: int = 40) -> dict[str, float]:
    """Model calls per second from one thread and from two at once (the runtime's interpreter pool)."""
    canvas = np.random.default_rng(0).random((runtime.input_size, runtime.input_size, 3), np.float32) * 255
    runtime.predict(canvas)

    def work(count: int) -> None:
        for _ in range(count):
            runtime.predict(canvas)

    start = time.perf_counter()
    work(calls)
    one = calls / (time.perf_counter() - start)
    threads = [threading.Thread(target=work, args=(calls // 2,)) for _ in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    two = calls / (time.perf_counter() - start)
    return {"calls_per_s_1_thread": one, "calls_per_s_2_threads": two}


# VmHWM (the peak resident size) starts afresh at exec, unlike ru_maxrss, which a child inherits
# from the (large) benchmark process that forked it.
_MEMORY_SCRIPT = """
import json, sys
from bench.latency import run_once, bench_photo, vm_kb
from ml.library import new_segmenter
segmenter = new_segmenter(sys.argv[1], tta=False, matting=sys.argv[3] == "True")
data = bench_photo(float(sys.argv[2]))
resting = vm_kb("VmHWM")
times = run_once(segmenter, data)
print(json.dumps({"resting_mb": resting / 1024, "peak_mb": vm_kb("VmHWM") / 1024,
                  "end_to_end_ms": times["end_to_end"]}))
"""


def vm_kb(field: str) -> int:
    """A size from /proc/self/status (Linux), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(model: str, megapixels: float, matting: bool) -> dict[str, float]:
    """Peak resident memory (MB) of a fresh process doing one full cutout of a ``megapixels`` photo."""
    bench_photo(megapixels)  # make the photo here, so the child's peak is the cutout's alone
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, model, str(megapixels), str(matting)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _load_peer():
    """MediaPipe's model via bench/peers.py, or None (with the reason printed) when it cannot be had."""
    try:
        from bench.peers import load_peer

        return load_peer()
    except (ImportError, OSError, subprocess.CalledProcessError, BackdropError) as exc:
        print(f"MediaPipe peer not available ({exc}); its column is left out", file=sys.stderr)
        return None


def print_table(results: dict) -> None:
    header = (f"{'model':12s} {'MP':>4s} " + " ".join(f"{s:>9s}" for s in STAGES)
              + f" {'end2end':>9s} {'best':>7s} {'cpu':>7s}")
    print(header)
    for model, sizes in results["pipeline"].items():
        for size, row in sizes.items():
            cells = " ".join(f"{row[s]['median']:9.1f}" for s in STAGES)
            print(f"{model:12s} {size:>4s} {cells} {row['end_to_end']['median']:9.1f} "
                  f"{row['end_to_end']['best']:7.1f} {row['end_to_end_cpu']['median']:7.1f}")
    for size, calls in results["model_call_ms"].items():
        line = ", ".join(f"{name} {ms:.1f}" for name, ms in calls.items())
        ratios = ", ".join(f"{model} {ratio:.2f}x" for model, ratio in results.get("peer_ratio", {}).get(size, {}).items())
        print(f"model call at {size} MP (median of {results['model_call_runs']}, interleaved), ms: {line}"
              + (f"; ours / MediaPipe: {ratios}" if ratios else ""))


def scale_to_real(report: dict, real: dict, emulated: dict) -> dict[str, dict[str, dict[str, float]]]:
    """``report``'s model call and end-to-end medians times real / emulated, for each model and size
    the three files share. ``real`` and ``emulated`` must hold the same weights: their ratio is then the
    machine's share of the time alone, which the weights timed in ``report`` are assumed to share."""
    scaled: dict[str, dict[str, dict[str, float]]] = {}
    for model in sorted(report["pipeline"].keys() & real["pipeline"].keys() & emulated["pipeline"].keys()):
        sizes = report["pipeline"][model].keys() & real["pipeline"][model].keys() & emulated["pipeline"][model].keys()
        for size in sorted(sizes, key=float):
            call_ratio = real["model_call_ms"][size][model] / emulated["model_call_ms"][size][model]
            end_ratio = (real["pipeline"][model][size]["end_to_end"]["median"]
                         / emulated["pipeline"][model][size]["end_to_end"]["median"])
            scaled.setdefault(model, {})[size] = {
                "model_call_ratio": round(call_ratio, 3),
                "model_call_ms": round(report["model_call_ms"][size][model] * call_ratio, 1),
                "end_to_end_ratio": round(end_ratio, 3),
                "end_to_end_ms": round(report["pipeline"][model][size]["end_to_end"]["median"] * end_ratio, 1)}
    return scaled


def calibration(report: dict, real_file: Path, emulated_file: Path) -> dict:
    """The ``scaled_to_real_cpu`` entry of a results file: which files gave the ratios, and the estimates."""
    def named(path: Path) -> str:
        path = Path(path).resolve()
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)

    real, emulated = (json.loads(Path(f).read_text()) for f in (real_file, emulated_file))
    return {"real": named(real_file), "real_machine": real["machine"], "emulated": named(emulated_file),
            "models": scale_to_real(report, real, emulated)}


def print_calibration(entry: dict) -> None:
    """One line per model and size: the ratios used and the estimated times."""
    for model, sizes in entry["models"].items():
        for size, row in sizes.items():
            print(f"{model} {size} MP scaled to {entry['real']} (x{row['model_call_ratio']:.2f} call, "
                  f"x{row['end_to_end_ratio']:.2f} end to end): model call {row['model_call_ms']:.1f} ms, "
                  f"end to end {row['end_to_end_ms']:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODEL_FILES), choices=list(MODEL_FILES))
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--sizes", nargs="+", type=float, default=[1, 4, 12], help="megapixels")
    parser.add_argument("--runs", type=int, default=11, help="timed runs of the whole path per photo")
    parser.add_argument("--model-runs", type=int, default=100, help="timed calls per model for the MediaPipe ratio")
    parser.add_argument("--memory-mp", type=float, default=24, help="photo size for the peak-memory run (0: skip)")
    parser.add_argument("--no-peer", action="store_true", help="leave out the MediaPipe comparison")
    parser.add_argument("--matting", action=argparse.BooleanOptionalAction, default=MATTING_ON_BY_DEFAULT,
                        help="time the matting stage (default: as served)")
    parser.add_argument("--hide-avx512", action="store_true",
                        help="time as on a CPU with AVX2 but no AVX-512 or VNNI (re-runs itself; bench/no_avx512.py)")
    parser.add_argument("--calibrate", nargs=2, type=Path, metavar=("REAL", "EMULATED"),
                        help="with --hide-avx512: estimate the times on the real AVX2-only CPU of results file "
                        "REAL, by its ratio to EMULATED (the same weights timed here with --hide-avx512)")
    parser.add_argument("--out", type=Path, help="results file (default: bench/results/latency.json, "
                        "or latency_no_avx512.json with --hide-avx512)")
    args = parser.parse_args(argv)
    if args.calibrate and not args.hide_avx512:
        parser.error("--calibrate scales figures timed with --hide-avx512; add it")
    for path in args.calibrate or ():
        if not path.is_file():
            parser.error(f"--calibrate: no results file {path}")
    if args.hide_avx512:
        try:
            status = no_avx512.rerun_hidden("bench.latency", sys.argv[1:] if argv is None else argv)
        except no_avx512.NoAvx512Unavailable as exc:
            print(f"cannot time without AVX-512 here: {exc}", file=sys.stderr)
            return 2
        if status is not None:
            return status
    out = args.out or (RESULTS_NO_AVX512 if args.hide_avx512 else RESULTS)
    photos = {f"{size:g}": bench_photo(size) for size in args.sizes}
    decoded = {size: load_image(data) for size, data in photos.items()}
    peer = None if args.no_peer else _load_peer()
    results: dict = {
        "date": date.today().isoformat(), "machine": describe_machine(), "threads": NUM_THREADS, "runs": args.runs,
        "matting": args.matting, "avx512_hidden": args.hide_avx512, "instruction_sets": no_avx512.describe(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "photos": {size: {"pixels": int(decoded[size].shape[0] * decoded[size].shape[1]),
                          "shape": list(decoded[size].shape[:2]), "jpeg_bytes": len(data)}
                   for size, data in photos.items()},
        "pipeline": {}, "model_call_runs": args.model_runs, "threading": {}, "memory": {},
    }
    runtimes = {model: load_runtime(model, args.weights) for model in args.models}
    results["weights_status"] = {model: rt.card.get("status", "unknown") for model, rt in runtimes.items()}
    for model, runtime in runtimes.items():
        # One model call per photo, as the committed figures were measured; mirror averaging adds a second.
        segmenter = new_segmenter(model, tta=False, matting=args.matting, weights_dir=args.weights)
        results["pipeline"][model] = {size: time_pipeline(segmenter, data, args.runs) for size, data in photos.items()}
        results["threading"][model] = thread_scaling(runtime)
        if args.memory_mp:
            results["memory"][model] = {f"{args.memory_mp:g}": peak_memory(model, args.memory_mp, args.matting)}
    results["model_call_ms"] = {size: interleaved_calls(model_canvases(runtimes, peer, rgb), args.model_runs)
                                for size, rgb in decoded.items()}
    if peer is not None:
        results["peer_ratio"] = {size: {model: calls[model] / calls[peer.name] for model in runtimes}
                                 for size, calls in results["model_call_ms"].items()}
    results["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(f"{results['machine']} ({results['instruction_sets']}); load average {results['load_average_1min_at_start']} -> "
          f"{results['load_average_1min_at_end']}; median of {args.runs} runs, ms")
    print_table(results)
    for model, row in results["threading"].items():
        print(f"{model}: {row['calls_per_s_1_thread']:.0f} calls/s on 1 thread, "
              f"{row['calls_per_s_2_threads']:.0f} on 2 threads at once")
    for model, sizes in results["memory"].items():
        for size, row in sizes.items():
            print(f"{model}: {size} MP cutout peak memory {row['peak_mb']:.0f} MB "
                  f"(process at rest {row['resting_mb']:.0f} MB)")
    if args.hide_avx512:
        results["cpuid_answered_without_avx512"] = no_avx512.answered()
    if args.calibrate:
        results["scaled_to_real_cpu"] = calibration(results, *args.calibrate)
        print_calibration(results["scaled_to_real_cpu"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
