"""Model cards: ``python -m ml.training.cards --model sinet --run runs/sinet [--eval SUMMARY.json]``.

Writes ``weights/<stem>.json`` in the schema of docs/architecture.md from the facts, never by hand:
input size and parameter count from the ``.keras`` file, datasets and their licences from the
README beside the dataset folders, split counts from the split file, the training command and
epochs from the run folder (``run.json``, ``state.json``), and test metrics per dataset from an
``ml.evaluate`` summary (run here when ``--eval`` is not given). A card whose metrics are not on
the full test split of its own split file is refused: the numbers would not mean what they say.
"""
from __future__ import annotations

import argparse
import ast
import json
import shlex
import sys
from datetime import date
from pathlib import Path
from typing import Any

from ml import evaluate
from ml.atomic import write_atomic
from ml.catalogue import table
from ml.data import SPLITS, DatasetError, discover
from ml.errors import BackdropError
from ml.paths import ROOT
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES
from ml.teachers import SOURCES
from ml.training.export import serving_format

ARCHITECTURES: dict[str, str] = table("architecture")
CARD_METRICS = ("images", "iou_mean", "iou_median", "dice_mean", "accuracy_mean", "boundary_f_mean")
STATUSES = ("trained", "interim")


class CardError(BackdropError):
    """A fact the card needs is missing or inconsistent."""


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise CardError(f"cannot read {path} ({exc.strerror or exc})") from None
    except ValueError:
        raise CardError(f"{path} is not valid JSON") from None


def dataset_licences(readme: Path) -> dict[str, str]:
    """``{folder: licence}`` from the markdown table of a datasets README (columns folder ... licence)."""
    try:
        lines = readme.read_text().splitlines()
    except OSError:
        return {}
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines
            if line.strip().startswith("|")]
    for i, header in enumerate(rows):
        names = [cell.lower() for cell in header]
        if "folder" in names and "licence" in names:
            folder, licence = names.index("folder"), names.index("licence")
            return {row[folder].strip("`/ "): row[licence] for row in rows[i + 1:]
                    if len(row) == len(header) and not set(row[folder]) <= set("-: ")}
    return {}


def data_entries(folders: list[Path]) -> list[dict[str, Any]]:
    """One entry per dataset folder: name, pairs found on disk, licence quoted from its README."""
    entries = []
    for folder in folders:
        licences = dataset_licences(folder.parent / "README.md")
        entries.append({"folder": folder.name, "pairs": len(discover(folder)),
                        "licence": licences.get(folder.name, f"not stated in {folder.parent / 'README.md'}")})
    return entries


def unlabelled_licences(folders: list[Path]) -> dict[str, str]:
    """Licences of the unlabelled folders, from the README beside them (``<datasets>/unlabelled``)."""
    table = dataset_licences(folders[0].parent / "unlabelled" / "README.md") if folders else {}
    return {folder.split("/")[0]: licence for folder, licence in table.items()}   # "ccp-photos/images" -> "ccp-photos"


def run_facts(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run.json, state.json) of a training run folder."""
    return read_json(run_dir / "run.json"), read_json(run_dir / "state.json")


def run_data_folders(run: dict[str, Any]) -> list[Path]:
    """The ``--data`` folders a run was trained on (run.json keeps them as the repr of a list)."""
    try:
        folders = ast.literal_eval(run["args"]["data"])
    except (KeyError, ValueError, SyntaxError):
        folders = None
    if not isinstance(folders, list):   # a run from a pack (--packed) records "None"
        raise CardError("run.json does not record the --data folders (a run from a pack?); pass --data")
    return [Path(folder) for folder in folders]


def training_entry(run: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The commands and the run's epochs. For weights averaged from checkpoints (``ml.training.average``)
    the run's best epoch is not the published model: the card then names which checkpoints were
    averaged, and the best epoch and its validation IoU as the run's (``run_best_...``)."""
    best = {"best_epoch": state["best_epoch"], "best_val_iou": round(state["best_iou"], 4)}
    if "averaged" in run:
        best = {f"run_{key}": value for key, value in best.items()} | {"averaged": run["averaged"]}
    return {"command": run["command"], "history": run.get("history", []), "epochs": state["epoch"],
            "stopped_early": state["stopped_early"], **best}


def synthesis_entry(run: dict[str, Any], licences: dict[str, str],
                    seen: frozenset[Path] = frozenset()) -> dict[str, Any] | None:
    """What the run mixed into its photos (run.json's ``data``): teacher-labelled folders with their
    counts and licences, each teacher's source, backgrounds, cutouts and shares; None for runs from
    before teachers and scenes. ``seen``: the earlier runs already named, so a chain that loops ends."""
    facts = run.get("data")
    if not facts:
        return None
    init = starting_weights(run)
    earlier = earlier_run_file(init)
    return {**facts,
            "teacher_labelled": [{"folder": folder, "photos": count,
                                  "licence": licences.get(folder, "see ../shared/datasets/unlabelled/README.md")}
                                 for folder, count in facts["teacher_labelled"].items()],
            "teachers": [{"name": name, "source": SOURCES[name]} for name in facts["teachers"]],
            "backgrounds_manifest": "checkpoints/data/backgrounds.json",
            "init": init,
            **({"init_synthesis": synthesis_entry(read_json(earlier), licences, seen | {earlier})}
               if earlier and earlier not in seen else {})}


def earlier_run_file(init: str) -> Path | None:
    """run.json of the run whose checkpoint the weights started from (``checkpoints/<run>/best.keras``),
    if it is at hand: what that run was taught is part of this model too, so the card names it."""
    path = Path(init) if Path(init).is_absolute() else ROOT / init
    run_file = (path.parent / "run.json").resolve()
    return run_file if path.suffix == ".keras" and run_file.is_file() else None


def starting_weights(run: dict[str, Any]) -> str:
    """Where the run's weights started, read from the command that began it: a resumed command's own
    arguments no longer name ``--init`` or ``--pretrained-encoder``."""
    history = run.get("history") or [{"command": run["command"]}]
    words = shlex.split(history[0]["command"])
    if "--init" in words[:-1]:
        return words[words.index("--init") + 1]
    if "--pretrained-encoder" in words:
        return "DeepLabV3 MobileNetV2 width 0.5 encoder (../shared/pretrained, Apache-2.0)"
    return "random"


def infer_status(run: dict[str, Any], state: dict[str, Any]) -> str:
    """``trained`` once the run has stopped early or used all its epochs, else ``interim``."""
    planned = int(run.get("args", {}).get("epochs", 0) or 0)
    return "trained" if state["stopped_early"] or (planned and state["epoch"] >= planned) else "interim"


def model_facts(keras_path: Path, run_dir: Path) -> tuple[int, int]:
    """(input size, parameter count) read from the published model, after checking it is the run's best.

    Otherwise the card would pair one model's numbers with another's training history.
    """
    from ml.training.models import load_keras_model, same_weights

    publish = f"python -m ml.training.export --publish {run_dir} {keras_path.stem}"
    if not keras_path.is_file():
        raise CardError(f"{keras_path} does not exist; publish the weights first ({publish})")
    model = load_keras_model(keras_path)
    if not same_weights(model, load_keras_model(run_dir / "best.keras")):
        raise CardError(f"{keras_path} is not {run_dir / 'best.keras'}; publish it again ({publish})")
    return int(model.input_shape[1]), int(model.count_params())


def metrics_entry(summary: dict[str, Any], model: str, split_file: Path, datasets: list[str]) -> dict[str, Any]:
    """The card's metrics block, refusing a summary of another model, split file or a partial split."""
    if Path(summary.get("model_file", "")).stem != MODEL_FILES[model]:
        raise CardError(f"the evaluation is of {summary.get('model_file')}, not of model {model!r}")
    if summary.get("split") != "test" or summary.get("limit"):
        raise CardError("the evaluation must cover the whole test split (no --limit, --subset test)")
    if Path(summary.get("split_file", "")).resolve() != split_file.resolve():
        raise CardError(f"the evaluation used split file {summary.get('split_file')}, the card {split_file}")
    results = summary["per_dataset"]
    missing = [name for name in datasets if name not in results]
    if missing:
        raise CardError(f"the evaluation has no results for {', '.join(missing)}")
    per_dataset = {name: {key: round(results[name][key], 4) if isinstance(results[name][key], float)
                          else results[name][key] for key in CARD_METRICS}
                   for name in [*datasets, evaluate.OVERALL]}
    # How the masks were made (letterbox, refinement settings, TTA): the figures move with these.
    return {"split": "test", "segmenter": summary.get("segmenter"), "per_dataset": per_dataset}


def evaluate_now(model: str, weights: Path, folders: list[Path], split_file: Path,
                 backend: str = "tflite") -> dict[str, Any]:
    """Run ``ml.evaluate`` with its defaults (LiteRT, refinement on) and return its summary."""
    args = evaluate.parse_args(["--model", model, "--weights", str(weights), "--split-file", str(split_file),
                                "--backend", backend, "--data", *map(str, folders)])
    summary, rows = evaluate.run(args)
    evaluate.write_results(evaluate.DEFAULT_OUT / f"{model}-test", summary, rows)
    return summary


def display_path(path: Path) -> str:
    """Paths inside the repository are written relative to it, so cards do not depend on a checkout."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def build_card(model: str, run_dir: Path, weights: Path, eval_summary: dict | None = None,
               folders: list[Path] | None = None, split_file: Path | None = None,
               status: str | None = None, backend: str = "tflite") -> dict[str, Any]:
    """Gather every fact of the card; see the module docstring for where each comes from."""
    run, state = run_facts(run_dir)
    folders = folders or run_data_folders(run)
    split_file = split_file or Path(run["args"].get("split") or run_dir / "split.json")
    split = read_json(split_file)
    input_size, parameters = model_facts(weights / f"{MODEL_FILES[model]}.keras", run_dir)
    summary = eval_summary or evaluate_now(model, weights, folders, split_file, backend)
    return {
        "name": model, "architecture": ARCHITECTURES[model], "input_size": input_size, "parameters": parameters,
        "status": status or infer_status(run, state), "serving": serving_format(MODEL_FILES[model]),
        "data": data_entries(folders),
        "synthesis": synthesis_entry(run, unlabelled_licences(folders)),
        "split_file": display_path(split_file), "split_counts": {name: len(split[name]) for name in SPLITS},
        "training": training_entry(run, state),
        "metrics": metrics_entry(summary, model, split_file, [folder.name for folder in folders]),
        "date": date.today().isoformat(),
    }


def write_card(card: dict[str, Any], target: Path) -> None:
    write_atomic(target, json.dumps(card, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.cards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=sorted(MODEL_FILES))
    parser.add_argument("--run", required=True, type=Path, help="training run folder (run.json, state.json)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR, help="folder of the published weights")
    parser.add_argument("--eval", type=Path, help="ml.evaluate summary.json on the test split (default: evaluate now)")
    parser.add_argument("--data", nargs="+", type=Path, help="dataset folders (default: those the run used)")
    parser.add_argument("--split-file", type=Path, help="split file (default: the one the run used)")
    parser.add_argument("--status", choices=STATUSES, help="default: trained once the run has finished")
    args = parser.parse_args(argv)
    try:
        summary = read_json(args.eval) if args.eval else None
        card = build_card(args.model, args.run, args.weights, summary, args.data, args.split_file, args.status)
    except (BackdropError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"error: field {exc} missing from run.json, state.json or the evaluation summary", file=sys.stderr)
        return 2
    target = args.weights / f"{MODEL_FILES[args.model]}.json"
    write_card(card, target)
    print(json.dumps(card, indent=1))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
