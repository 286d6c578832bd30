"""Average the weights of checkpoints of one architecture into a new run folder.

``python -m ml.training.average --run RUN_DIR --out OUT_DIR A.keras B.keras ...``

Checkpoints late in one run, or a run and the weights it started from, lie in one basin of the loss:
their mean is often better than any one of them (stochastic weight averaging, "model soups"), and
costs no training. The batch-norm statistics are averaged like the weights, which holds while the
checkpoints are this close (the validation figures decide; docs/training.md).

``OUT_DIR`` gets ``best.keras`` (the mean) and the ``run.json`` and ``state.json`` of ``RUN_DIR``, the
run whose data and schedule made the checkpoints, with this command added to its history, so
``ml.training.export --publish OUT_DIR`` and ``ml.training.cards --run OUT_DIR`` work as for a run.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import keras
import numpy as np

from ml.atomic import atomic_path, write_atomic
from ml.training.models import load_keras_model


def average_models(models: list[keras.Model]) -> keras.Model:
    """The first model, its weights replaced by the element-wise mean of all the models' weights."""
    weights = [model.get_weights() for model in models]
    shapes = [[w.shape for w in ws] for ws in weights]
    if any(shape != shapes[0] for shape in shapes[1:]):
        raise ValueError("the checkpoints do not share one architecture (their weights differ in shape)")
    models[0].set_weights([np.mean(np.stack(group), axis=0) for group in zip(*weights)])
    return models[0]


def averaged_run(run: dict, command: str, inputs: list[str]) -> dict:
    """``run``'s facts with the averaging step added: the card names it as the last command."""
    history = run.get("history") or [{"command": run["command"]}]
    return {**run, "command": command, "history": [*history, {"command": command}], "averaged": inputs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.average", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="the run folder the checkpoints come from")
    parser.add_argument("--out", required=True, type=Path, help="folder to write best.keras, run.json, state.json")
    parser.add_argument("checkpoints", nargs="+", type=Path, help="two or more .keras files of one model")
    args = parser.parse_args(argv)
    if len(args.checkpoints) < 2:
        parser.error("give at least two checkpoints to average")
    if args.out.resolve() == args.run.resolve() or (args.out / "best.keras").exists():
        print(f"error: {args.out} already holds a run or a model; give --out a new folder", file=sys.stderr)
        return 2
    missing = [str(path) for path in [args.run / "run.json", args.run / "state.json", *args.checkpoints]
               if not path.is_file()]
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:   # a file that is not a Keras model, or models of different shapes
        model = average_models([load_keras_model(path) for path in args.checkpoints])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "best.keras", suffix=".keras") as tmp:
        model.save(tmp)
    command = shlex.join(["python", "-m", "ml.training.average", *(argv if argv is not None else sys.argv[1:])])
    run = json.loads((args.run / "run.json").read_text())
    write_atomic(args.out / "run.json", json.dumps(averaged_run(run, command, list(map(str, args.checkpoints))),
                                                   indent=1) + "\n")
    write_atomic(args.out / "state.json", (args.run / "state.json").read_bytes())
    print(f"averaged {len(args.checkpoints)} checkpoints into {args.out / 'best.keras'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
