"""A real (tiny) training run through the CLI entry point, then a resumed one."""
import csv
import json
import shutil

import cv2
import numpy as np
import pytest

pytest.importorskip("keras")

from ml import train  # noqa: E402
from ml.holdout import held_back  # noqa: E402
from ml.models import load_keras_model  # noqa: E402
from ml.teachers import ENSEMBLE  # noqa: E402
from ml.teachers.label import label_path  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory, make_dataset):
    """One epoch of SINet at 64 px on 12 generated pairs (8 train, 2 val, 2 test), plus 4 photos
    labelled by (stored) teachers, with scenes, mosaics and composites on generated backgrounds."""
    root = tmp_path_factory.mktemp("train")
    folder = make_dataset(root / "people", 12)
    split = root / "split.json"
    keys = [f"people/{i}" for i in range(12)]
    split.write_text(json.dumps({"train": keys[:8], "val": keys[8:10], "test": keys[10:], "seed": 0}))
    unlabelled = make_dataset(root / "street", 4)
    labels = root / "labels"
    for stem in range(4):
        for teacher in ENSEMBLE:
            path = label_path(labels, "street", teacher, str(stem))
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(unlabelled / "masks" / f"{stem}.png", path)
    backgrounds = root / "backgrounds" / "train"
    backgrounds.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(backgrounds / f"{i}.jpg"), np.random.default_rng(i).integers(0, 50, (70, 90, 3)).astype(np.uint8))
    out = root / "run"
    args = ["--model", "sinet", "--data", str(folder), "--out", str(out), "--size", "64", "--batch", "4",
            "--epochs", "1", "--split", str(split), "--teacher-data", str(unlabelled), "--labels", str(labels),
            "--backgrounds", str(backgrounds.parent), "--scenes", "0.3", "--mosaics", "0.2", "--composite", "0.3"]
    assert train.main(args) == 0
    return out, args


def read_log(out):
    return list(csv.DictReader((out / "log.csv").open()))


def test_one_epoch_writes_everything_a_restart_needs(run):
    out, _ = run
    for name in ("last.keras", "best.keras", "log.csv", "curves.png", "state.json", "run.json"):
        assert (out / name).is_file(), name
    state = json.loads((out / "state.json").read_text())
    assert state["epoch"] == 1 and state["best_epoch"] == 1 and not state["stopped_early"]
    rows = read_log(out)
    assert len(rows) == 1 and {"loss", "iou", "val_loss", "val_iou"} <= set(rows[0])
    assert state["best_iou"] == pytest.approx(float(rows[0]["val_iou"]))
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["command"].startswith("python -m ml.train ")
    assert (recorded["train_images"], recorded["val_images"]) == (8, 2)


def test_teacher_labelled_photos_join_training_except_the_held_back_ones(run, capsys):
    out, args = run
    kept = sum(not held_back(f"street/{stem}") for stem in range(4))
    train.main([a for a in args if a != "--resume"] + ["--out", str(out.parent / "again"), "--epochs", "1"])
    assert f"8 labelled + {kept} teacher-labelled photos, 3 backgrounds, 8 cutouts" in capsys.readouterr().out


def test_synthesis_without_backgrounds_is_refused(run, tmp_path, capsys):
    _, args = run
    empty = [a if a != args[args.index("--backgrounds") + 1] else str(tmp_path) for a in args]
    assert train.main(empty + ["--out", str(tmp_path / "run")]) == 2
    assert "no person-free backgrounds" in capsys.readouterr().err


def test_checkpoint_is_a_loadable_model(run):
    out, _ = run
    model = load_keras_model(out / "best.keras")
    assert model.input_shape == (None, 64, 64, 3) and model.output_shape == (None, 64, 64, 1)


def test_resume_continues_at_the_next_epoch(run, capsys):
    out, args = run
    resumed = [a if a != "1" else "2" for a in args] + ["--resume"]   # --epochs 1 -> 2
    assert train.main(resumed) == 0
    assert "resuming from" in capsys.readouterr().out
    assert json.loads((out / "state.json").read_text())["epoch"] == 2
    assert [row["epoch"] for row in read_log(out)] == ["0", "1"]
    # A finished run has nothing left to do and says so instead of training again.
    assert train.main(resumed) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert len(read_log(out)) == 2


def test_bad_data_folder_exits_with_message(tmp_path, capsys):
    code = train.main(["--model", "sinet", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run")])
    assert code == 2
    assert "images/" in capsys.readouterr().err


def test_poly_decay_reaches_its_floor_and_stays_there():
    schedule = train.poly_decay(1.0, epochs=10)
    rates = [schedule(epoch) for epoch in range(15)]
    assert rates[0] == 1.0
    assert all(a > b for a, b in zip(rates[:9], rates[1:10]))  # strictly decaying while it decays
    assert rates[10:] == [0.01] * 5  # past the decay: the floor, not an error or a negative base


def test_command_history_records_each_change_of_command(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"command": "train --epochs 100"}))  # written before history existed
    history = train.command_history(run_json, "train --epochs 100", 32)
    assert history == [{"from_epoch": None, "command": "train --epochs 100"}]
    run_json.write_text(json.dumps({"command": "train --epochs 100", "history": history}))
    history = train.command_history(run_json, "train --epochs 200 --decay-epochs 90", 74)
    assert history[-1] == {"from_epoch": 75, "command": "train --epochs 200 --decay-epochs 90"}
    assert len(history) == 2


def test_command_history_of_a_fresh_run_ignores_an_old_run_json(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"history": [{"from_epoch": 1, "command": "old"}]}))
    assert train.command_history(run_json, "new", 0) == [{"from_epoch": 1, "command": "new"}]


class _Model:
    """Just enough of a keras.Model for Checkpointer: records saves, takes a stop request."""

    def __init__(self):
        self.saved, self.stop_training = [], False

    def save(self, path):
        self.saved.append(path.name)
        path.write_text("weights")


def _run_epochs(tmp_path, ious, patience, min_delta):
    state = train.RunState()
    model = _Model()
    checkpointer = train.Checkpointer(tmp_path, state, patience, min_delta)
    checkpointer.set_model(model)
    (tmp_path / "log.csv").write_text("epoch,val_iou\n")
    for epoch, iou in enumerate(ious):
        checkpointer.on_epoch_end(epoch, {"val_iou": iou})
        if model.stop_training:
            break
    return state, model


def test_gains_below_min_delta_do_not_reset_patience(tmp_path):
    creeping = [0.80, 0.8001, 0.8002, 0.8003, 0.8004]
    state, model = _run_epochs(tmp_path, creeping, patience=3, min_delta=0.0005)
    assert model.stop_training and state.stopped_early
    assert (state.epoch, state.best_epoch, state.best_iou) == (4, 1, 0.80)

    state, model = _run_epochs(tmp_path, creeping, patience=3, min_delta=0.0)
    assert not model.stop_training  # every epoch beat the last: no stop without a min delta
    assert (state.best_epoch, state.wait) == (5, 0)


def test_a_real_gain_resets_patience_and_saves_best(tmp_path):
    state, model = _run_epochs(tmp_path, [0.80, 0.8002, 0.81, 0.8101], patience=3, min_delta=0.0005)
    assert (state.best_epoch, state.best_iou, state.wait) == (3, 0.81, 1)
    assert model.saved.count("best.tmp.keras") == 2 and not state.stopped_early


@pytest.mark.parametrize("flag,value", [("--epochs", "0"), ("--decay-epochs", "-5"), ("--patience", "0"),
                                        ("--batch", "0"), ("--min-delta", "-0.1"), ("--size", "100")])
def test_counts_and_thresholds_out_of_range_are_refused(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--model", "sinet", "--data", "d", "--out", "o", flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err
