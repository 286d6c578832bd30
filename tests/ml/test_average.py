"""Averaging checkpoints: the mean of the weights, written as a run folder that export and cards accept."""
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ml.training import average  # noqa: E402
from ml.training.models import load_keras_model  # noqa: E402


def small_model(seed: int, channels: int = 2) -> keras.Model:
    """A convolution and a batch norm, with weights drawn from ``seed``."""
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(channels, 3, padding="same", name="conv")(image)
    model = keras.Model(image, keras.layers.BatchNormalization(name="bn")(x))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) ** 2 for w in model.get_weights()])
    return model


@pytest.fixture
def run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"command": "python -m ml.training.train --out run",
                                              "args": {"epochs": "3"}, "data": {"labelled": 5}}))
    (run / "state.json").write_text(json.dumps({"epoch": 3, "best_epoch": 2}))
    for seed in range(3):
        small_model(seed).save(run / f"ep{seed}.keras")
    return run


def test_the_mean_of_every_weight_batch_norm_statistics_included(run_folder, tmp_path):
    inputs = [str(run_folder / f"ep{seed}.keras") for seed in range(3)]
    assert average.main(["--run", str(run_folder), "--out", str(tmp_path / "avg"), *inputs]) == 0
    result = load_keras_model(tmp_path / "avg" / "best.keras")
    sources = [small_model(seed).get_weights() for seed in range(3)]
    assert len(result.get_weights()) == 6   # kernel, bias, gamma, beta, moving mean, moving variance
    for got, *originals in zip(result.get_weights(), *sources):
        np.testing.assert_allclose(got, (originals[0] + originals[1] + originals[2]) / 3, rtol=1e-6)
        assert not np.allclose(got, originals[0])


def test_the_run_facts_carry_over_with_the_command_in_the_history(run_folder, tmp_path):
    out = tmp_path / "avg"
    inputs = [str(run_folder / "ep0.keras"), str(run_folder / "ep1.keras")]
    average.main(["--run", str(run_folder), "--out", str(out), *inputs])
    run = json.loads((out / "run.json").read_text())
    assert run["command"].startswith("python -m ml.training.average --run ")
    assert [step["command"] for step in run["history"]] == ["python -m ml.training.train --out run", run["command"]]
    assert run["averaged"] == inputs and run["data"] == {"labelled": 5} and run["args"] == {"epochs": "3"}
    assert json.loads((out / "state.json").read_text()) == {"epoch": 3, "best_epoch": 2}


def test_checkpoints_of_different_shapes_are_refused(run_folder, tmp_path, capsys):
    small_model(0, channels=4).save(tmp_path / "wide.keras")
    code = average.main(["--run", str(run_folder), "--out", str(tmp_path / "avg"),
                         str(run_folder / "ep0.keras"), str(tmp_path / "wide.keras")])
    assert code == 2 and "one architecture" in capsys.readouterr().err
    assert not (tmp_path / "avg").exists()


def test_a_missing_checkpoint_is_named_and_nothing_is_written(run_folder, tmp_path, capsys):
    code = average.main(["--run", str(run_folder), "--out", str(tmp_path / "avg"),
                         str(run_folder / "ep0.keras"), str(run_folder / "nope.keras")])
    assert code == 2 and "nope.keras" in capsys.readouterr().err
    assert not (tmp_path / "avg").exists()


def test_a_file_that_is_not_a_model_is_refused_with_a_message(run_folder, tmp_path, capsys):
    (tmp_path / "notes.keras").write_text("not a model")
    code = average.main(["--run", str(run_folder), "--out", str(tmp_path / "avg"),
                         str(run_folder / "ep0.keras"), str(tmp_path / "notes.keras")])
    assert code == 2 and "notes.keras" in capsys.readouterr().err
    assert not (tmp_path / "avg").exists()


@pytest.mark.parametrize("target", ["run", "earlier"])
def test_a_folder_that_holds_a_run_or_a_model_is_not_overwritten(run_folder, tmp_path, capsys, target):
    inputs = [str(run_folder / "ep0.keras"), str(run_folder / "ep1.keras")]
    assert average.main(["--run", str(run_folder), "--out", str(tmp_path / "earlier"), *inputs]) == 0
    out = run_folder if target == "run" else tmp_path / "earlier"
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert average.main(["--run", str(run_folder), "--out", str(out), inputs[1], inputs[0]]) == 2
    assert "new folder" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_one_checkpoint_is_not_an_average(run_folder, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        average.main(["--run", str(run_folder), "--out", str(tmp_path / "avg"), str(run_folder / "ep0.keras")])
    assert exit_info.value.code == 2
