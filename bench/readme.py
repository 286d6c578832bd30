"""Write the README's (and docs') figures from the files the benchmarks and model cards produced.

``python -m bench.readme`` replaces every block between ``<!-- BEGIN generated:NAME -->`` and
``<!-- END generated:NAME -->`` in README.md and the docs in DOCUMENTS with the rendering of NAME below,
so no figure in them is typed by hand. ``--check`` exits 1 when one is out of date (a test runs it).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

from ml.catalogue import table
from ml.matting import ON_BY_DEFAULT as MATTING_ON_BY_DEFAULT
from ml.paths import ROOT

README = ROOT / "README.md"
DOCUMENTS = [README] + [ROOT / "docs" / name for name in ("training.md", "segmenter.md", "idphoto.md")]
RESULTS = ROOT / "bench" / "results"
BLOCK = re.compile(r"(<!-- BEGIN generated:(?P<name>[\w-]+) -->\n).*?(<!-- END generated:(?P=name) -->)", re.S)
MODEL_STEMS: dict[str, str] = table("stem")
# The halo benchmark on the weights served when issue 15 was filed (SINet, commit ee74114^).
EDGES_AT_ISSUE_15 = RESULTS / "edges_sinet_ee74114.json"


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _missing(path: Path) -> str:
    return f"_Not measured yet: `{path.relative_to(ROOT)}` is missing._\n"


def captioned(table: str, caption: str) -> str:
    """A generated block: the table, then its caption in italics (command, date, machine...), so every
    figure says where it came from in one form."""
    return f"{table.rstrip()}\n\n_{caption}._\n"


def from_results(name: str, render: Callable[[dict], str]) -> Callable[[], str]:
    """A block renderer for ``bench/results/<name>``: ``render`` gets the loaded report, and a block
    whose benchmark has not been run says so instead of failing."""
    def renderer() -> str:
        report = _load(RESULTS / name)
        return _missing(RESULTS / name) if report is None else render(report)
    return renderer


def _published_epoch(training: dict) -> str:
    """Which epoch the published weights are: the run's best, or "mean of N" checkpoints ("weighted" when
    a checkpoint was listed more than once to count for more)."""
    averaged = training.get("averaged")
    if not averaged:
        return str(training.get("best_epoch", ""))
    distinct = len(set(averaged))
    return f"mean of {distinct}" if distinct == len(averaged) else f"weighted mean of {distinct}"


def render_models() -> str:
    """Test-split metrics from each model card, per dataset."""
    rows = ["| model | status | epochs (published) | parameters | input | dataset | test images | IoU mean | IoU median "
            "| Dice | accuracy | boundary F |", "|" + " --- |" * 12]
    for name, stem in MODEL_STEMS.items():
        card = _load(ROOT / "weights" / f"{stem}.json")
        if card is None:
            rows.append(f"| {name} | no model card | | | | | | | | | | |")
            continue
        training = card.get("training", {})
        for dataset, m in card.get("metrics", {}).get("per_dataset", {}).items():
            rows.append(
                f"| {name} | {card.get('status', '')} | {training.get('epochs', '')} ({_published_epoch(training)}) "
                f"| {card.get('parameters', 0):,} | {card.get('input_size', '')} px | {dataset} | {m['images']} "
                f"| {m['iou_mean']:.3f} | {m['iou_median']:.3f} | {m['dice_mean']:.3f} | {m['accuracy_mean']:.3f} "
                f"| {m['boundary_f_mean']:.3f} |")
    return "\n".join(rows) + "\n"


def render_peers(report: dict) -> str:
    """The MediaPipe comparison table that bench/peers.py wrote."""
    return captioned(report["table"], f"`python -m bench.peers`, {report['date']}, {report['split']} split, "
                     f"{report['machine']}, load average {report['load_average_1min']} at the time")


def render_latency(report: dict) -> str:
    """Per-stage medians (ms) for each model and photo size, from bench/latency.py."""
    stages = ["decode", "resize", "model", "refine", "composite", "encode", "end_to_end"]
    rows = ["| model | photo | " + " | ".join(stages) + " | MediaPipe call | ours / MediaPipe call |",
            "|" + " --- |" * (len(stages) + 4)]
    for model, sizes in report["pipeline"].items():
        for mp, timings in sizes.items():
            cells = " | ".join(f"{timings[s]['median']:.1f}" if s in timings else "" for s in stages)
            rows.append(f"| {model} | {mp} MP | {cells} | {report['model_call_ms'][mp]['mediapipe-selfie']:.1f} "
                        f"| {report['peer_ratio'][mp][model]:.2f} |")
    memory = "; ".join(f"{model}: peak {m[size]['peak_mb']:.0f} MB for a {size} MP photo"
                       for model, m in report["memory"].items() for size in m)
    hidden = report.get("avx512_hidden", False)
    scaled = report.get("scaled_to_real_cpu")
    command = ("python -m bench.latency --hide-avx512" if hidden else "python -m bench.latency") + (
        f" --calibrate {scaled['real']} {scaled['emulated']}" if scaled else "")
    machine = f"{report['machine']}, {report['instruction_sets']}" if hidden else report["machine"]
    notes = (f"\n\nMemory: {memory}." if memory else "") + (f"\n\n{render_scaled(scaled)}" if scaled else "")
    return captioned("\n".join(rows) + notes,
                     f"`{command}`, {report['date']}, {machine}, {report['threads']} threads, load average "
                     f"{report['load_average_1min_at_start']} at the start; JPEG in, transparent PNG out; median ms")


def render_scaled(entry: dict) -> str:
    """bench.latency's estimate for a real AVX2-only CPU, one sentence per model: ranges over sizes."""
    def span(values: list[float], digits: int) -> str:
        low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
        return low if low == high else f"{low}-{high}"

    sentences = []
    for model, sizes in entry["models"].items():
        rows = list(sizes.values())
        largest = max(sizes, key=float)
        sentences.append(
            f"{model}: model call about {span([r['model_call_ms'] for r in rows], 1)} ms, a {largest} MP photo "
            f"about {sizes[largest]['end_to_end_ms']:.0f} ms end to end (calls x{span([r['model_call_ratio'] for r in rows], 2)}, "
            f"end to end x{span([r['end_to_end_ratio'] for r in rows], 2)})")
    return (f"Scaled to the real AVX2-only CPU of `{entry['real']}` ({entry['real_machine']}) by the "
            f"ratio of the same weights' times there and here with AVX-512 hidden "
            f"(`{entry['emulated']}`), size by size: " + "; ".join(sentences) + ".")


def render_refinement(report: dict) -> str:
    """IoU and boundary F of each upsampling variant, from a bench/refinement.py results file."""
    rows = ["| model | variant | IoU | boundary F |", "| --- | --- | --- | --- |"]
    for model, result in report["models"].items():
        for variant, score in result["scores"].items():
            if "/" not in variant:
                rows.append(f"| {model} | {variant} | {score['iou']:.4f} | {score['boundary_f']:.4f} |")
    subset = report.get("subset", "test")
    command = report.get("command", "python -m bench.refinement")
    return captioned("\n".join(rows), f"`{command}`, {report['images']} {subset} images")


def render_input_size(report: dict) -> str:
    """Model call and validation quality at each input size, from bench/input_size.py."""
    return captioned(report["table"], f"`python -m bench.input_size`, {report['date']}, {report['model']}, "
                     f"{report['images']} {report['subset']} images at full resolution as served; model call: LiteRT, "
                     f"{report['threads']} threads, {report['runs']} calls interleaved with MediaPipe's, "
                     f"{report['machine']}, load average {report['load_average_1min']}")


def render_idphoto(report: dict) -> str:
    """Faces found, per-preset and per-rule ID-photo outcomes on real photos, from bench/idphoto.py."""
    return captioned(report["table"], f"`python -m bench.idphoto`, {report['date']}, {report['photos']}, "
                     f"{report['model']} weights ({report['weights_status']}), {report['machine']}, load average "
                     f"{report['load_average_1min']}; contact sheet: `bench/results/idphoto_contact.jpg`")


def render_train_speed(report: dict) -> str:
    """Training images/s per model and input size, from bench/train_speed.py."""
    return captioned(report["table"], f"`python -m bench.train_speed`, {report['date']}, {report['machine']}, "
                     f"batches of {report['batch']} random inputs, {report['steps']} timed steps each, load average "
                     f"{report['load_average_1min']}; an epoch also validates and loads data in parallel")


def render_edges(report: dict) -> str:
    """The halo benchmark's table, from bench/edges.py."""
    timed = (f"; ms: `Segmenter.segment` + `compose` onto transparent, median of {report['runs']} on bench/latency.py's "
             f"photos, load average {report['load_average_1min']}" if report["sizes"] else "")
    return captioned(report["table"], f"`{report['command']}`, {report['date']}, {report['model']} weights "
                     f"({report['weights_status']}), {report['images']} {report['subset']} images, "
                     f"{report['machine']}{timed}")


def render_edges_baseline(report: dict) -> str:
    """Today's served edge stages against the app as it was when issue 15 was filed (SINet and the guided
    filter, the same benchmark re-run on those weights): the issue's "half of today's guided filter" read
    as the cut-outs users complained about, beside the same model's guided filter in the table above."""
    baseline = _load(EDGES_AT_ISSUE_15)
    if baseline is None:
        return _missing(EDGES_AT_ISSUE_15)
    base = baseline["scores"]["guided (today)"]
    rows = ["| cut-out | band colour error | SAD | share of the baseline (band colour / SAD) |", "| --- | --- | --- | --- |",
            f"| {baseline['model']}, guided filter, when issue 15 was filed | {base['band_colour']:.2f} | {base['sad']:.3f} "
            f"| 100 % / 100 % |"]
    labels = {"guided (today)": "guided filter", "matting": "matting (`--matting`)"}
    default = "matting" if MATTING_ON_BY_DEFAULT else "guided (today)"
    for variant, label in labels.items():
        score = report["scores"][variant]
        label += " (the default)" if variant == default else ""
        rows.append(f"| {report['model']}, {label} | {score['band_colour']:.2f} | {score['sad']:.3f} "
                    f"| {100 * score['band_colour'] / base['band_colour']:.0f} % / {100 * score['sad'] / base['sad']:.0f} % |")
    return captioned("\n".join(rows),
                     f"`{report['command']}`, {report['date']}, against `{baseline['command']}`, {baseline['date']}; "
                     f"{report['images']} {report['subset']} images both")


def render_teachers(report: dict) -> str:
    """Each teacher and the ensemble against the labelled masks, from bench/teachers.py."""
    return captioned(report["table"], f"`python -m bench.teachers`, {report['date']}, "
                     f"{' and '.join(report['subsets'])} photos; {report['missing_labels']} not yet labelled by every "
                     f"teacher were left out")


def render_wild(report: dict) -> str:
    """The wild benchmark's tables, one per set, from bench/wild.py (test or validation scenes)."""
    parts = [f"**{name}** ({result['images']} images; IoU / boundary F per model):\n\n{result['table'].rstrip()}\n"
             for name, result in report["sets"].items()]
    held_back = (f"; held-back photos scored against {' + '.join(report['teachers_in_reference'])}"
                 if "held-back photos" in report["sets"] else "")
    return ("\n".join(parts) + f"\n_`python -m bench.wild`, {report['date']}, {report['subset']} subset, seed "
            f"{report['seed']}, weights of " + ", ".join(f"{m} {d}" for m, d in report["weights_state"].items())
            + f"{held_back}._\n")


def render_refocus(report: dict) -> str:
    """Coarse to fine on and off on real labelled photos, from bench/refocus.py."""
    return captioned(report["table"], f"`python -m bench.refocus`, {report['date']}, {report['subset']} split, "
                     f"served with the mirror average, {report['machine']}")


def render_store(report: dict) -> str:
    """Job-store figures against issue 11's targets, from bench/store.py."""
    def renders(run: dict | str) -> str:
        if isinstance(run, str):
            return run
        return (f"{run['acknowledged']} of {run['requests']} acknowledged, {run['kept_whole']} kept whole, "
                f"{run['lost']} lost, numbers unique: {'yes' if run['numbers_unique'] else 'no'} ({run['wall_s']} s)")
    history, slow = report["history"], report["slow_clients"]
    lines = [
        "| target | measured |", "| --- | --- |",
        f"| 8 concurrent re-renders of one 12 MP job, 2 workers: 0 lost | {renders(report['rerenders_2_workers'])} |",
        f"| the same through two instances (PostgreSQL + Redis): 0 lost | {renders(report['rerenders_two_instances'])} |",
        f"| {slow['clients']} clients trickling uploads for {slow['seconds']:g} s: at least 90 % of probes within 2 s | "
        f"{slow['within_2s']} of {slow['probes']} ({100 * slow['share_within_2s']:.0f} %), slowest {slow['slowest_s']} s |",
        f"| History page with {history['jobs']:,} jobs in the store: under 100 ms | first page "
        f"{history['history_ms']['first page']} ms, last page {history['history_ms']['last page']} ms (one owner's "
        f"query {history['one_owner_query_ms']} ms) |",
        "| start-up (launch to first healthy answer) under 3 s | " + "; ".join(
            f"{kind}: {' and '.join(f'{s} s' for s in (seconds if isinstance(seconds, list) else [seconds]))}"
            for kind, seconds in report["startup_s"].items()) + " |",
    ]
    return captioned("\n".join(lines), f"`python -m bench.store`, {report['date']}, {report['machine']}, 2 cores, "
                     f"load average {report['load_average_1min']} at the start; SQLite unless said")


def render_reliability() -> str:
    """The fragment ``python -m bench.load`` generates."""
    path = ROOT / "docs" / "reliability-figures.md"
    return path.read_text() if path.is_file() else _missing(path)


RENDERERS: dict[str, Callable[[], str]] = {
    "models": render_models,
    "peers": from_results("peers.json", render_peers),
    "latency": from_results("latency.json", render_latency),
    "latency-no-avx512": from_results("latency_no_avx512.json", render_latency),
    "refinement": from_results("refinement.json", render_refinement),
    "refinement-sweep": from_results("refinement_sweep.json", render_refinement),
    "input-size": from_results("input_size.json", render_input_size),
    "idphoto": from_results("idphoto.json", render_idphoto),
    "train-speed": from_results("train_speed.json", render_train_speed),
    "edges": from_results("edges.json", render_edges),
    "edges-sweep": from_results("edges_sweep.json", render_edges),
    "edges-issue-baseline": from_results("edges.json", render_edges_baseline),
    "reliability": render_reliability,
    "teachers": from_results("teachers.json", render_teachers),
    "wild": from_results("wild.json", render_wild),
    "wild-val": from_results("wild_val.json", render_wild),
    "refocus": from_results("refocus.json", render_refocus),
    "store": from_results("store.json", render_store),
}


def render(readme: str) -> str:
    """README text with every generated block re-rendered."""
    def replace(match: re.Match) -> str:
        renderer = RENDERERS.get(match["name"])
        if renderer is None:
            raise KeyError(f"README names an unknown generated block {match['name']!r}")
        return match.group(1) + renderer() + match.group(3)

    return BLOCK.sub(replace, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a document is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for document in DOCUMENTS:
        current = document.read_text()
        updated = render(current)
        if updated == current:
            continue
        stale.append(document.relative_to(ROOT))
        if not args.check:
            document.write_text(updated)
            print(f"updated {document.relative_to(ROOT)}")
    if args.check and stale:
        print(f"{', '.join(map(str, stale))} out of date: run python -m bench.readme", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
