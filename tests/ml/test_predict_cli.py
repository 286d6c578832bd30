"""python -m ml.predict: a full-size 0/255 mask per image; unreadable files reported and skipped."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ml.predict import main
from ml.registry import available_models

pytestmark = pytest.mark.skipif(not available_models(), reason="no weights/*.tflite committed yet")
ROOT = Path(__file__).resolve().parents[2]


def write_inputs(folder: Path) -> dict[str, tuple[int, int]]:
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"p1.jpg": (320, 240), "p2.png": (100, 333), "p3.bmp": (50, 50)}
    for name, (height, width) in sizes.items():
        photo = np.full((height, width, 3), 230, np.uint8)
        cv2.circle(photo, (width // 2, height // 2), min(height, width) // 3, (50, 80, 120), -1)
        cv2.imwrite(str(folder / name), photo)
    (folder / "zero.png").write_bytes(b"")
    return sizes


@pytest.mark.parametrize("model", ["sinet", "mobile-unet"])
def test_masks_are_full_size_binary_png(tmp_path, capsys, model):
    if model not in available_models():
        pytest.skip(f"no {model} weights")
    sizes = write_inputs(tmp_path / "in")
    status = main(["--model", model, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "masks")])
    err = capsys.readouterr().err
    assert status == 1 and "zero.png: the file is empty" in err and "3 of 4 image(s) done" in err
    for name, (height, width) in sizes.items():
        mask = Image.open(tmp_path / "masks" / f"{Path(name).stem}.png")
        assert mask.mode == "L" and mask.size == (width, height)
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}
    assert not (tmp_path / "masks" / "zero.png").exists()


def test_single_file_input_exit_zero(tmp_path):
    write_inputs(tmp_path / "in")
    assert main(["--input", str(tmp_path / "in" / "p2.png"), "--output", str(tmp_path / "m")]) == 0
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["p2.png"]


def test_bad_paths_are_clear_errors(tmp_path, capsys):
    assert main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "m")]) == 2
    assert "no images found" in capsys.readouterr().err
    write_inputs(tmp_path / "in")
    (tmp_path / "file").write_text("x")
    assert main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "file")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_help_and_missing_arguments():
    out = subprocess.run([sys.executable, "-m", "ml.predict", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--model" in out.stdout and "--input" in out.stdout
    out = subprocess.run([sys.executable, "-m", "ml.predict", "--output", "x"], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 2 and "--input" in out.stderr
