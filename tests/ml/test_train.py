"""A real (tiny) training run through the CLI entry point, then a resumed one."""
import csv
import json
import shutil

import cv2
import numpy as np
import pytest

pytest.importorskip("keras")

from ml.holdout import held_back  # noqa: E402
from ml.teachers import ENSEMBLE, IGNORE  # noqa: E402
from ml.teachers.label import label_path  # noqa: E402
from ml.training import train  # noqa: E402
from ml.training.losses import Distilled  # noqa: E402
from ml.training.models import load_keras_model  # noqa: E402
from ml.training.pack import load_pack  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory, make_dataset):
    """One epoch of SINet at 64 px on 12 generated pairs (8 train, 2 val, 2 test), plus 4 photos
    labelled by (stored) teachers, with scenes, mosaics and composites on generated, cluttered backgrounds
    and prints on the people."""
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
            "--epochs", "1", "--split-file", str(split), "--teacher-data", str(unlabelled), "--labels", str(labels),
            "--backgrounds", str(backgrounds.parent), "--scenes", "0.3", "--mosaics", "0.2", "--composite", "0.3",
            "--clutter", "0.5", "--prints", "0.4"]
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
    assert recorded["command"].startswith("python -m ml.training.train ")
    assert (recorded["train_images"], recorded["val_images"]) == (8, 2)
    assert {"scenes": 0.3, "mosaics": 0.2, "composite": 0.3, "clutter": 0.5, "prints": 0.4}.items() <= recorded["data"].items()


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


def test_a_run_can_start_distilling_when_resumed(run, tmp_path, capsys):
    out, args = run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    done = json.loads((copy / "state.json").read_text())["epoch"]   # other tests may have resumed the run
    resumed = [str(copy) if a == str(out) else a for a in args]
    resumed = [a if a != "1" else str(done + 1) for a in resumed] + ["--resume", "--distil-from", "mobile-unet",
                                                                    "--distil-weight", "0.3"]
    assert train.main(resumed) == 0
    model = load_keras_model(copy / "last.keras", compile=True)
    assert isinstance(model.loss, Distilled) and model.loss.weight == 0.3
    assert json.loads((copy / "state.json").read_text())["epoch"] == done + 1
    assert json.loads((copy / "run.json").read_text())["data"]["distilled_from"] == "mobile-unet"


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


def _run_epochs(tmp_path, ious, patience, min_delta, keep_epochs=0):
    state = train.RunState()
    model = _Model()
    checkpointer = train.Checkpointer(tmp_path, state, patience, min_delta, keep_epochs=keep_epochs)
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
    assert sum(name.startswith(".best.keras.") for name in model.saved) == 2 and not state.stopped_early


def test_keep_epochs_keeps_a_window_of_the_latest_epochs(tmp_path):
    _run_epochs(tmp_path, [0.80, 0.81, 0.79, 0.78, 0.77], patience=50, min_delta=0.0, keep_epochs=3)
    assert sorted(path.name for path in tmp_path.glob("epoch*.keras")) == [
        "epoch003.keras", "epoch004.keras", "epoch005.keras"]
    assert (tmp_path / "epoch005.keras").read_bytes() == (tmp_path / "last.keras").read_bytes()
    without = tmp_path / "without"
    without.mkdir()
    _run_epochs(without, [0.80, 0.81], patience=50, min_delta=0.0)
    assert not list(without.glob("epoch*.keras")) and (without / "last.keras").is_file()


@pytest.mark.parametrize("flag,value", [("--epochs", "0"), ("--keep-epochs", "0"), ("--decay-epochs", "-5"), ("--patience", "0"),
                                        ("--batch", "0"), ("--min-delta", "-0.1"), ("--size", "100")])
def test_counts_and_thresholds_out_of_range_are_refused(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--model", "sinet", "--data", "d", "--out", "o", flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def test_a_pack_trains_like_its_folders_and_round_trips(run, tmp_path, capsys):
    """--pack-to writes what the run trains on; --packed trains from it without any folder."""
    _, args = run
    packed = tmp_path / "pack"
    assert train.main(args + ["--out", str(tmp_path / "unused"), "--pack-to", str(packed)]) == 0
    assert "packed" in capsys.readouterr().out and not (tmp_path / "unused" / "last.keras").exists()
    pack = load_pack(packed, 64)
    kept = sum(not held_back(f"street/{stem}") for stem in range(4))
    assert pack.images.shape == (8 + kept, 64, 64, 3) and pack.masks.shape == (8 + kept, 64, 64)
    assert pack.val_images.shape == (2, 64, 64, 3) and pack.labelled == 8 and len(pack.backgrounds) == 3
    # masks are lossless (the unlabelled value survives); photos are close to what the run loads
    assert set(np.unique(pack.masks)) <= {0, IGNORE, 255} and (pack.masks[:8] == 255).any()
    assert np.abs(load_pack(packed, 32).images.astype(int)).max() > 0
    assert load_pack(packed, 32).masks.shape == (8 + kept, 32, 32)     # packed at 64, read at another size
    out = tmp_path / "from-pack"
    assert train.main(["--model", "sinet", "--packed", str(packed), "--out", str(out), "--size", "64",
                       "--batch", "4", "--epochs", "1", "--epoch-size", "20"]) == 0
    assert f"8 labelled + {kept} teacher-labelled photos, 3 backgrounds, 8 cutouts" in capsys.readouterr().out
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["data"]["packed"] == str(packed) and recorded["train_images"] == 8
    assert json.loads((out / "state.json").read_text())["epoch"] == 1


def test_the_decoder_upsampling_is_asked_for_mobile_unet_only(tmp_path, capsys):
    from ml.training.models.mobile_unet import upsampling_of

    with pytest.raises(SystemExit):
        train.parse_args(["--model", "sinet", "--data", "d", "--out", "o", "--upsampling", "bilinear"])
    assert "mobile-unet" in capsys.readouterr().err
    args = train.parse_args(["--model", "mobile-unet", "--data", "d", "--out", str(tmp_path), "--size", "64",
                             "--upsampling", "conv-then-bilinear"])
    assert upsampling_of(train.prepare_model(args, train.RunState())) == "conv-then-bilinear"


def test_training_needs_data_or_a_pack(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--model", "sinet", "--out", "o"])
    assert "--packed" in capsys.readouterr().err


def test_a_missing_pack_is_a_message_not_a_traceback(tmp_path, capsys):
    assert train.main(["--model", "sinet", "--packed", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no training pack" in capsys.readouterr().err


def test_a_time_budget_decays_the_rate_by_time_spent():
    now = [0.0]
    schedule = train.poly_decay(1.0, epochs=1000, seconds=100, clock=lambda: now[0])
    assert schedule(0) == 1.0
    now[0] = 50.0
    assert schedule(1) == pytest.approx(0.5 ** 0.9)      # half the time gone, whatever the epoch
    now[0] = 150.0
    assert schedule(2) == 0.01


def _timed_run(tmp_path, monkeypatch, durations, deadline):
    """Epochs of the given lengths on a fake clock under a deadline; (state, model, clock) at the stop."""
    clock = [0.0]
    monkeypatch.setattr(train.time, "monotonic", lambda: clock[0])
    state, model = train.RunState(), _Model()
    checkpointer = train.Checkpointer(tmp_path, state, patience=50, deadline=deadline)
    checkpointer.set_model(model)
    (tmp_path / "log.csv").write_text("epoch,val_iou\n")
    for epoch, seconds in enumerate(durations):
        checkpointer.on_epoch_begin(epoch)
        clock[0] += seconds
        checkpointer.on_epoch_end(epoch, {"val_iou": 0.5 + epoch / 100})
        if model.stop_training:
            break
    return state, model, clock[0]


def test_checkpointer_stops_before_the_deadline(tmp_path, monkeypatch):
    state, model, _ = _timed_run(tmp_path, monkeypatch, [10.0] * 5, deadline=25.0)
    # after 20 s another 10 s epoch would end at 30 s > 25 s: stop, but not as an early stop
    assert state.epoch == 2 and model.stop_training and not state.stopped_early


@pytest.mark.parametrize("published", [False, True])
def test_init_weights_keep_the_layers_their_model_froze(tmp_path, published):
    """Starting from a model whose batch norms were frozen (the pretrained encoder's) keeps them
    frozen, from a training checkpoint or from the file published from it: a thawed identity batch
    norm would undo what that model learned."""
    from ml.training.export import strip_for_serving

    source = train.build_for_training("sinet", 64)
    frozen = [layer.name for layer in source.layers if layer.weights][:3]
    for name in frozen:
        source.get_layer(name).trainable = False
    source.save(tmp_path / "init.keras")
    if published:
        strip_for_serving(tmp_path / "init.keras", tmp_path / "sinet.keras")
    model = train.build_for_training("sinet", 64, init=tmp_path / ("sinet.keras" if published else "init.keras"))
    assert [layer.name for layer in model.layers if not layer.trainable] == frozen
    np.testing.assert_array_equal(model.get_weights()[0], source.get_weights()[0])


def test_the_compiling_first_epoch_does_not_shorten_a_timed_run(tmp_path, monkeypatch):
    # compile + epoch, then steady epochs
    state, _, elapsed = _timed_run(tmp_path, monkeypatch, [60.0] + [10.0] * 20, deadline=200.0)
    # steady 10 s epochs until one more would end past 200 s; counting the first one's 60 s would
    # have stopped at 150 s, 5 epochs early
    assert state.epoch == 15 and elapsed == 200.0
