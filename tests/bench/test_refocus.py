"""bench.refocus on a tiny data folder laid out like the datasets (two photos of the val split)."""
import json

import cv2
import numpy as np

from bench import refocus
from ml.registry import DEFAULT_WEIGHTS_DIR


def test_scores_every_model_with_and_without_refocus(tmp_path):
    keys = json.loads((DEFAULT_WEIGHTS_DIR / "split.json").read_text())["val"][:2]
    for key in keys:
        folder, stem = key.split("/", 1)
        (tmp_path / folder / "images").mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "masks").mkdir(parents=True, exist_ok=True)
        photo = np.full((160, 120, 3), 40, np.uint8)
        mask = np.zeros((160, 120), np.uint8)
        cv2.ellipse(mask, (60, 100), (35, 60), 0, 0, 360, 255, -1)
        photo[mask > 0] = (200, 160, 140)
        cv2.imwrite(str(tmp_path / folder / "images" / f"{stem}.jpg"), photo)
        cv2.imwrite(str(tmp_path / folder / "masks" / f"{stem}.png"), mask)
    out = tmp_path / "refocus.json"
    assert refocus.main(["--data", str(tmp_path), "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert set(summary) == {"sinet", "sinet + refocus", "mobile-unet", "mobile-unet + refocus"}
    for per_dataset in summary.values():
        assert sum(row["images"] for row in per_dataset.values()) == 2
        assert all(0.0 <= row["iou"] <= 1.0 for row in per_dataset.values())


def test_no_photos_is_a_message(tmp_path, capsys):
    assert refocus.main(["--data", str(tmp_path), "--out", str(tmp_path / "r.json")]) == 2
    assert "no labelled photos" in capsys.readouterr().err
