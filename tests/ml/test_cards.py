"""Model cards are assembled from the run, the model file, the datasets README and an evaluation."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ml import evaluate  # noqa: E402
from ml.training import cards  # noqa: E402

README = """# Training data

| folder | pairs | what | image size | licence |
| --- | --- | --- | --- | --- |
| `alpha/` | 6 | portraits | 64x48 | none stated: research/competition data |
| `beta/` | 1,003 | full bodies | about 341x512 | Apache-2.0 (repository) |

Rules: read-only.
"""
SCHEMA_KEYS = {"name", "architecture", "input_size", "parameters", "status", "serving", "data", "synthesis", "split_file",
               "split_counts", "training", "metrics", "date"}
UNLABELLED_README = """# Unlabelled photos

| folder | photos | what | size | licence |
| --- | --- | --- | --- | --- |
| `street/images/` | 40 | street photos | 512 | Apache-2.0 (repository) |
"""


def tiny_model(seed):
    """A 64 px model that calls bright pixels person (the generated photos have bright people)."""
    image = keras.Input((64, 64, 3))
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid")
    model = keras.Model(image, conv(image))
    conv.set_weights([np.full((1, 1, 3, 1), 0.1 / 3 + seed * 1e-3, np.float32), np.array([-13.0], np.float32)])
    return model


@pytest.fixture
def project(tmp_path, make_dataset):
    """Dataset folders with README, split file, a finished-looking run, published weights, an evaluation."""
    datasets = tmp_path / "datasets"
    folders = [make_dataset(datasets / name, 6) for name in ("alpha", "beta")]
    (datasets / "README.md").write_text(README)
    keys = [f"{f.name}/{i}" for f in folders for i in range(6)]
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"train": keys[0:3] + keys[6:9], "val": keys[3:4] + keys[9:10],
                                      "test": keys[4:6] + keys[10:12], "seed": 42}))
    run = tmp_path / "run"
    run.mkdir()
    command = f"python -m ml.training.train --model sinet --data {folders[0]} {folders[1]} --out {run} --epochs 3"
    (run / "run.json").write_text(json.dumps({"command": command, "args": {
        "data": repr([str(f) for f in folders]), "split": str(split_file), "epochs": "3"},
        "history": [{"from_epoch": 1, "command": command}]}))
    (run / "state.json").write_text(json.dumps(
        {"epoch": 2, "best_iou": 0.812345, "best_epoch": 2, "wait": 0, "stopped_early": False}))
    tiny_model(0).save(run / "best.keras")
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(run / "best.keras", weights / "sinet.keras")
    out = tmp_path / "eval"
    assert evaluate.main(["--model", str(weights / "sinet.keras"), "--data", *map(str, folders),
                          "--split-file", str(split_file), "--out", str(out)]) == 0
    return {"run": run, "weights": weights, "split": split_file, "eval": out / "summary.json", "folders": folders}


def make_card(project, *extra):
    return cards.main(["--model", "sinet", "--run", str(project["run"]), "--weights", str(project["weights"]),
                       "--eval", str(project["eval"]), *extra])


def test_card_follows_the_schema_with_facts_from_their_sources(project):
    assert make_card(project) == 0
    card = json.loads((project["weights"] / "sinet.json").read_text())
    assert set(card) == SCHEMA_KEYS
    assert card["name"] == "sinet" and card["architecture"].startswith("SINet")
    assert card["input_size"] == 64 and card["parameters"] == 4          # 3 weights + 1 bias
    assert card["status"] == "interim"                                   # 2 of 3 epochs
    assert card["serving"] == "LiteRT float32"                          # SINet is not quantised
    assert card["data"] == [
        {"folder": "alpha", "pairs": 6, "licence": "none stated: research/competition data"},
        {"folder": "beta", "pairs": 6, "licence": "Apache-2.0 (repository)"}]
    assert card["split_counts"] == {"train": 6, "val": 2, "test": 4}
    run = json.loads((project["run"] / "run.json").read_text())
    assert card["training"] == {"command": run["command"], "history": run["history"],
                                "epochs": 2, "best_epoch": 2, "stopped_early": False, "best_val_iou": 0.8123}
    metrics = card["metrics"]
    assert metrics["split"] == "test" and list(metrics["per_dataset"]) == ["alpha", "beta", "all"]
    assert set(metrics["per_dataset"]["all"]) == set(cards.CARD_METRICS)
    assert metrics["per_dataset"]["all"]["images"] == 4 and metrics["per_dataset"]["alpha"]["images"] == 2
    summary = json.loads(project["eval"].read_text())
    assert metrics["per_dataset"]["all"]["iou_mean"] == round(summary["per_dataset"]["all"]["iou_mean"], 4)
    assert card["synthesis"] is None          # a run from before teachers and scenes


def test_card_of_averaged_weights_names_the_checkpoints_averaged(project, tmp_path):
    from ml.training import average

    tiny_model(5).save(tmp_path / "other.keras")
    inputs = [str(project["run"] / "best.keras"), str(tmp_path / "other.keras")]
    averaged = tmp_path / "averaged"
    assert average.main(["--run", str(project["run"]), "--out", str(averaged), *inputs]) == 0
    shutil.copy(averaged / "best.keras", project["weights"] / "sinet.keras")
    assert make_card(project) == 2                                      # no longer the run's best.keras
    assert cards.main(["--model", "sinet", "--run", str(averaged), "--weights", str(project["weights"]),
                       "--eval", str(project["eval"])]) == 0
    training = json.loads((project["weights"] / "sinet.json").read_text())["training"]
    assert training["command"].startswith("python -m ml.training.average") and training["averaged"] == inputs
    assert "best_epoch" not in training and training["run_best_epoch"] == 2   # the run's best, not these weights
    assert [step["command"] for step in training["history"]][-1] == training["command"]


def test_card_names_every_teacher_source_and_count(project):
    run_json = project["run"] / "run.json"
    run = json.loads(run_json.read_text())
    run["history"] = [{"from_epoch": 1, "command": run["command"] + " --pretrained-encoder"},
                      {"from_epoch": 2, "command": run["command"] + " --resume"}]
    run["data"] = {"labelled": 6, "teacher_labelled": {"street": 36}, "teachers": ["mediapipe", "isnet"],
                   "bystanders_by": ["mediapipe"], "backgrounds": 12, "cutouts": 6, "scenes": 0.3, "mosaics": 0.1,
                   "composite": 0.15}
    run_json.write_text(json.dumps(run))
    (project["folders"][0].parent / "unlabelled").mkdir()
    (project["folders"][0].parent / "unlabelled" / "README.md").write_text(UNLABELLED_README)
    assert make_card(project) == 0
    synthesis = json.loads((project["weights"] / "sinet.json").read_text())["synthesis"]
    assert synthesis["teacher_labelled"] == [{"folder": "street", "photos": 36, "licence": "Apache-2.0 (repository)"}]
    assert [t["name"] for t in synthesis["teachers"]] == ["mediapipe", "isnet"]
    assert "Apache-2.0" in synthesis["teachers"][0]["source"] and "MIT" in synthesis["teachers"][1]["source"]
    assert synthesis["backgrounds"] == 12 and synthesis["init"].startswith("DeepLabV3 MobileNetV2 width 0.5")


def test_card_names_what_the_starting_checkpoint_was_taught(project, tmp_path):
    """A run started from another run's checkpoint inherits that run's teacher-labelled photos: the
    card names them too, so no data source drops out of the card when a model is trained on."""
    facts = {"labelled": 6, "teachers": ["isnet"], "bystanders_by": [], "backgrounds": 12, "cutouts": 6}
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "run.json").write_text(json.dumps(
        {"command": "python -m ml.training.train --model sinet", "data": {**facts, "teacher_labelled": {"portraits": 20}}}))
    run_json = project["run"] / "run.json"
    run = json.loads(run_json.read_text())
    run["history"] = [{"from_epoch": 1, "command": run["command"] + f" --init {earlier / 'best.keras'}"}]
    run["data"] = {**facts, "teacher_labelled": {"street": 36}}
    run_json.write_text(json.dumps(run))
    assert make_card(project) == 0
    synthesis = json.loads((project["weights"] / "sinet.json").read_text())["synthesis"]
    assert synthesis["init"] == str(earlier / "best.keras")
    assert [e["folder"] for e in synthesis["teacher_labelled"]] == ["street"]
    assert [e["folder"] for e in synthesis["init_synthesis"]["teacher_labelled"]] == ["portraits"]
    assert synthesis["init_synthesis"]["init"] == "random" and "init_synthesis" not in synthesis["init_synthesis"]


def test_a_chain_of_starting_checkpoints_that_loops_ends(tmp_path):
    """Two runs that name each other's checkpoint as their start: the chain stops where it comes round."""
    first, second = tmp_path / "first", tmp_path / "second"
    for run, other in ((first, second), (second, first)):
        run.mkdir()
        (run / "run.json").write_text(json.dumps({"command": f"python -m ml.training.train --init {other / 'best.keras'}",
                                                  "data": {"teacher_labelled": {run.name: 1}, "teachers": []}}))
    synthesis = cards.synthesis_entry(json.loads((first / "run.json").read_text()), {})
    assert synthesis["init_synthesis"]["init_synthesis"]["teacher_labelled"][0]["folder"] == "first"
    assert "init_synthesis" not in synthesis["init_synthesis"]["init_synthesis"]


def test_finished_run_is_trained(project):
    state = json.loads((project["run"] / "state.json").read_text())
    (project["run"] / "state.json").write_text(json.dumps({**state, "stopped_early": True}))
    assert make_card(project) == 0
    assert json.loads((project["weights"] / "sinet.json").read_text())["status"] == "trained"


def test_weights_that_are_not_the_runs_best_are_refused(project, capsys):
    tiny_model(1).save(project["weights"] / "sinet.keras")
    assert make_card(project) == 2
    assert "publish it again" in capsys.readouterr().err
    assert not (project["weights"] / "sinet.json").exists()


def test_partial_evaluation_is_refused(project, capsys):
    summary = json.loads(project["eval"].read_text())
    project["eval"].write_text(json.dumps({**summary, "limit": 2}))
    assert make_card(project) == 2
    assert "whole test split" in capsys.readouterr().err


def test_evaluation_of_another_model_is_refused(project, capsys):
    summary = json.loads(project["eval"].read_text())
    project["eval"].write_text(json.dumps({**summary, "model_file": "weights/mobile_unet.tflite"}))
    assert make_card(project) == 2
    assert "not of model 'sinet'" in capsys.readouterr().err


def test_without_eval_the_card_evaluates_itself(project, monkeypatch, tmp_path):
    monkeypatch.setattr(evaluate, "DEFAULT_OUT", tmp_path / "auto")
    card = cards.build_card("sinet", project["run"], project["weights"], backend="keras")
    assert card["metrics"]["per_dataset"]["all"]["images"] == 4
    assert card["metrics"]["segmenter"]["refine"] is True and card["metrics"]["segmenter"]["tta"] is False
    assert (tmp_path / "auto" / "sinet-test" / "summary.json").is_file()


def test_licences_parsed_from_markdown_table(tmp_path):
    (tmp_path / "README.md").write_text(README)
    assert cards.dataset_licences(tmp_path / "README.md") == {
        "alpha": "none stated: research/competition data", "beta": "Apache-2.0 (repository)"}
    assert cards.dataset_licences(tmp_path / "missing.md") == {}


def test_starting_weights_come_from_the_command_that_began_the_run():
    """A resumed command names no --init; the card still says where the weights started."""
    run = {"command": "python -m ml.training.train --model sinet --resume",
           "history": [{"from_epoch": 1, "command": "python -m ml.training.train --model sinet --init 'old run/best.keras'"},
                       {"from_epoch": 10, "command": "python -m ml.training.train --model sinet --resume"}]}
    assert cards.starting_weights(run) == "old run/best.keras"
    assert cards.starting_weights({"command": "python -m ml.training.train --model sinet"}) == "random"


@pytest.mark.parametrize("recorded", ["None", "not a list", None])
def test_a_run_without_recorded_folders_asks_for_data(recorded):
    """A run trained from a pack (--packed) records --data as "None": the card asks for --data."""
    run = {"args": {} if recorded is None else {"data": recorded}}
    with pytest.raises(cards.CardError, match="pass --data"):
        cards.run_data_folders(run)
    assert cards.run_data_folders({"args": {"data": "['a', 'b']"}}) == [Path("a"), Path("b")]
