"""ml.evaluate end to end on generated data, with tiny models whose answers are known."""
import csv
import json
from dataclasses import asdict

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ml import evaluate  # noqa: E402
from ml.data import Sample  # noqa: E402
from ml.refine import RefineConfig  # noqa: E402


def brightness_model(path, sign=1.0):
    """A 1x1 convolution that calls bright pixels person (``sign=-1``: dark ones).

    The generated photos have a bright person (200) on a dark background (< 60), so the model is
    nearly perfect, and its inverse nearly always wrong.
    """
    image = keras.Input((64, 64, 3))
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid")
    model = keras.Model(image, conv(image))
    conv.set_weights([np.full((1, 1, 3, 1), sign * 0.1 / 3, np.float32), np.array([-sign * 13.0], np.float32)])
    model.save(path)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory, make_dataset):
    """Two dataset folders of 6 pairs each; the split puts 2 of each in test."""
    root = tmp_path_factory.mktemp("evaluate")
    folders = [make_dataset(root / name, 6) for name in ("alpha", "beta")]
    keys = {name: [f"{name}/{i}" for i in range(6)] for name in ("alpha", "beta")}
    split = {"train": keys["alpha"][:3] + keys["beta"][:3], "val": [keys["alpha"][3], keys["beta"][3]],
             "test": keys["alpha"][4:] + keys["beta"][4:], "seed": 0}
    (root / "split.json").write_text(json.dumps(split))
    weights = root / "weights"
    weights.mkdir()
    brightness_model(weights / "sinet.keras")
    brightness_model(root / "inverse.keras", sign=-1.0)
    return root, folders


def run_cli(setup, *extra):
    root, folders = setup
    out = root / "out"
    code = evaluate.main(["--data", *map(str, folders), "--split-file", str(root / "split.json"),
                          "--out", str(out), *extra])
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else None
    return code, summary, out


def test_model_file_scored_per_dataset_and_overall(setup, capsys):
    code, summary, out = run_cli(setup, "--model", str(setup[0] / "weights" / "sinet.keras"))
    assert code == 0
    per_dataset = summary["per_dataset"]
    assert list(per_dataset) == ["alpha", "beta", "all"]
    assert [per_dataset[name]["images"] for name in per_dataset] == [2, 2, 4]
    assert per_dataset["all"]["iou_mean"] > 0.9 and per_dataset["all"]["accuracy_mean"] > 0.95
    assert summary["split"] == "test" and summary["input_size"] == 64
    # The refinement settings the figures were made with are recorded: they move with them.
    assert summary["segmenter"]["refine_config"] == asdict(RefineConfig())
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert sorted((row["dataset"], row["stem"]) for row in rows) == [
        ("alpha", "4"), ("alpha", "5"), ("beta", "4"), ("beta", "5")]
    assert (rows[0]["height"], rows[0]["width"]) == ("48", "64")         # scored at full resolution
    assert "iou mean/med" in capsys.readouterr().out


def test_a_wrong_model_scores_low(setup):
    code, summary, _ = run_cli(setup, "--model", str(setup[0] / "inverse.keras"))
    assert code == 0
    assert summary["per_dataset"]["all"]["iou_mean"] < 0.1


def test_registered_name_and_segmenter_options(setup):
    root = setup[0]
    code, summary, _ = run_cli(setup, "--model", "sinet", "--weights", str(root / "weights"), "--backend", "keras",
                               "--no-refine", "--tta", "--subset", "val")
    assert code == 0
    assert summary["segmenter"] == {"tta": True, "refine": False, "threshold": 128, "refine_config": None}
    assert summary["per_dataset"]["all"]["images"] == 2


@pytest.mark.parametrize("args, message", [
    (["--model", "nosuch"], "--model must be"),
    (["--model", "missing.tflite"], "does not exist"),
    (["--model", "sinet", "--subset", "holdout"], "unknown split"),
    (["--model", "sinet", "--split-file", "/nonexistent/split.json"], "cannot read split file"),
])
def test_bad_arguments_exit_2_with_message(setup, capsys, args, message):
    root, folders = setup
    code = evaluate.main(["--data", *map(str, folders), "--split-file", str(root / "split.json"),
                          "--weights", str(root / "weights"), "--backend", "keras", "--out", str(root / "bad"), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_mismatched_mask_is_reported_not_fatal(tmp_path, make_dataset):
    import cv2

    folder = make_dataset(tmp_path / "odd", 2)
    cv2.imwrite(str(folder / "masks" / "1.png"), np.zeros((10, 10), np.uint8))
    samples = [Sample("odd", str(i), folder / "images" / f"{i}.png", folder / "masks" / f"{i}.png") for i in range(2)]
    rows, problems = evaluate.evaluate_samples(samples, lambda rgb: rgb[..., 0] > 127)
    assert [row["stem"] for row in rows] == ["0"]
    assert problems[0][0] == "odd/1" and "mask is 10x10" in problems[0][1]


def test_summarize_by_dataset_by_hand():
    rows = [{"dataset": "a", "iou": 1.0, "dice": 1.0, "accuracy": 1.0, "boundary_f": 1.0, "segment_ms": 10.0},
            {"dataset": "b", "iou": 0.5, "dice": 0.5, "accuracy": 0.5, "boundary_f": 0.0, "segment_ms": 30.0},
            {"dataset": "b", "iou": 0.0, "dice": 0.0, "accuracy": 0.5, "boundary_f": 0.0, "segment_ms": 20.0}]
    summary = evaluate.summarize_by_dataset(rows)
    assert summary["a"]["iou_mean"] == 1.0 and summary["b"]["iou_mean"] == 0.25
    assert summary["all"]["iou_mean"] == pytest.approx(0.5) and summary["all"]["segment_ms_median"] == 20.0


def test_select_split_all_and_named(tmp_path):
    samples = [Sample("d", str(i), None, None) for i in range(3)]
    split = {"train": ["d/0"], "val": ["d/1"], "test": ["d/2"]}
    assert evaluate.select_split(samples, split, "all") == samples
    assert [s.stem for s in evaluate.select_split(samples, split, "val")] == ["1"]
    (tmp_path / "split.json").write_text('{"train": []}')
    with pytest.raises(evaluate.DatasetError, match="must hold lists"):
        evaluate.load_split(tmp_path / "split.json")


def test_evaluation_reads_datasets_without_keras():
    """ml.evaluate scores LiteRT models: reading the datasets must not pull TensorFlow in."""
    import subprocess
    import sys
    code = ("import sys, ml.evaluate, ml.data\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('keras', 'tensorflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
