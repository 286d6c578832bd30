"""bench.input_size: a trained model rebuilt and exported at other sizes, and the report it writes."""
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from bench import input_size  # noqa: E402
from bench.peers import PEER_NAME  # noqa: E402
from ml.training.export import serving_graph  # noqa: E402
from ml.training.models import build_model, rebuild_at_size  # noqa: E402
from tests.ml.conftest import write_dataset  # noqa: E402
from tests.ml.test_export import tensor_types  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """An (untrained, but seeded) SINet at 64 px saved where the bench looks for weights/sinet.keras."""
    keras.utils.set_random_seed(3)
    folder = tmp_path_factory.mktemp("weights")
    model = build_model("sinet", 64)
    model.save(folder / "sinet.keras")
    return folder, model


def test_rebuild_keeps_every_weight(weights):
    _, model = weights
    resized = rebuild_at_size(model, "sinet", 96)
    assert resized.input_shape[1:3] == (96, 96)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), resized.get_weights()))


def test_exports_run_at_their_own_size_and_the_original_size_is_unchanged(weights, tmp_path):
    folder, model = weights
    runtimes = input_size.export_at_sizes("sinet", folder, [64, 96], tmp_path, [], tmp_path / "no-split.json")
    assert {size: rt.input_size for size, rt in runtimes.items()} == {64: 64, 96: 96}
    canvas = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32) * 255
    served = runtimes[64].predict(canvas)
    reference = np.asarray(serving_graph(model)(canvas[None], training=False))[0, ..., 0]
    assert np.abs(served - reference).max() < 1e-4
    assert runtimes[96].predict(np.zeros((96, 96, 3), np.float32)).shape == (48, 48)   # SINet's stride 2
    assert not list(folder.glob("*.tflite"))  # the weights folder is not touched


def test_int8_models_are_exported_full_integer_at_each_size(tmp_path):
    """Mobile-UNet is served int8, so its sizes are measured int8, calibrated on training photos."""
    keras.utils.set_random_seed(3)
    weights = tmp_path / "weights"
    weights.mkdir()
    build_model("mobile-unet", 64).save(weights / "mobile_unet.keras")
    data = write_dataset(tmp_path / "set", 6)
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"train": [f"set/{i}" for i in range(4)], "val": ["set/4"], "test": ["set/5"]}))
    runtimes = input_size.export_at_sizes("mobile-unet", weights, [64, 96], tmp_path, [data], split_file)
    for size, runtime in runtimes.items():
        assert runtime.input_size == size
        assert np.int8 in tensor_types(tmp_path / f"mobile_unet_{size}.tflite")


def test_rows_compare_each_size_with_the_peer():
    summaries = {f"sinet {s}px": {"all": {"iou_mean": iou, "boundary_f_mean": bf}}
                 for s, iou, bf in ((224, 0.9, 0.7), (192, 0.89, 0.66))}
    timings = {PEER_NAME: {"median": 1.5, "p10": 1.2}, "sinet 224px": {"median": 1.8, "p10": 1.5},
               "sinet 192px": {"median": 1.2, "p10": 0.9}}
    rows = input_size.build_rows("sinet", [224, 192], summaries, timings)
    assert [row["ratio_to_peer"]["median"] for row in rows] == [1.2, 0.8]
    assert rows[1]["ratio_to_peer"]["p10"] == 0.75
    table = input_size.markdown_table(rows, timings[PEER_NAME])
    assert "| 192 px | 1.20 (0.80) | 0.90 | 0.8900 | 0.6600 |" in table
    assert table.splitlines()[-1].startswith("| MediaPipe, 256 px | 1.50 |")


def test_sizes_must_be_multiples_of_32(capsys):
    with pytest.raises(SystemExit):
        input_size.parse_args(["--sizes", "224", "200"])
    assert "multiple of 32" in capsys.readouterr().err
