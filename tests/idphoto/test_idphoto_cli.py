"""The ID-photo command line: one photo, folders and globs, a manifest, one JSON report, exit codes."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from devtools.portrait import PORTRAIT
from ml.idphoto import __main__ as cli
from ml.idphoto.presets import load_presets
from ml.segmenter import Matte
from tests.idphoto.conftest import CropAware


class ScaledMask:
    """The stored mask of the test portrait, resized to whatever copy of the portrait it is given."""

    def __init__(self, alpha: np.ndarray):
        self.alpha = alpha

    def segment(self, rgb: np.ndarray) -> Matte:
        alpha = cv2.resize(self.alpha, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return Matte(alpha, alpha >= 128, {})


@pytest.fixture
def photos(tmp_path, monkeypatch, portrait_alpha) -> Path:
    """A folder with a sharp portrait (the test portrait at 3x, enough detail for 300 DPI), the
    small original (fails the resolution rule) and a blank wall (no face)."""
    monkeypatch.setattr(cli, "build_segmenter", lambda args: ScaledMask(portrait_alpha))
    folder = tmp_path / "photos"
    folder.mkdir()
    with Image.open(PORTRAIT) as image:
        image.resize((1536, 1536), Image.LANCZOS).save(folder / "sharp.jpg", quality=95)
        image.save(folder / "small.jpg")
    Image.new("RGB", (300, 300), (90, 90, 90)).save(folder / "wall.png")
    return folder


def test_one_sharp_photo_passes_and_exits_0(photos, tmp_path, capsys):
    output, report = tmp_path / "id.jpg", tmp_path / "report.json"
    assert cli.main([str(photos / "sharp.jpg"), "--output", str(output), "--report", str(report)]) == 0
    with Image.open(output) as image:
        assert image.size == (413, 531)
    data = json.loads(report.read_text())
    assert data["counts"] == {"pass": 1, "warn": 0, "fail": 0, "error": 0}
    assert data["photos"][0]["report"]["overall"] == "pass"
    assert "Head height" in capsys.readouterr().out


def test_a_failed_rule_exits_1(photos, tmp_path, capsys):
    assert cli.main([str(photos / "small.jpg"), "--output", str(tmp_path / "id.jpg")]) == 1
    assert "FAIL Photo resolution" in capsys.readouterr().out


def test_a_folder_makes_every_photo_reports_each_and_exits_1_when_one_fails(photos, tmp_path, capsys):
    out, report = tmp_path / "out", tmp_path / "report.json"
    assert cli.main([str(photos), "--preset", "cn-2inch", "--layout", "sheet-4x6", "--gap-mm", "3",
                     "--output", str(out), "--report", str(report)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["sharp_cn-2inch.jpg", "small_cn-2inch.jpg"]
    outcomes = {Path(o["input"]).name: o for o in json.loads(report.read_text())["photos"]}
    assert (outcomes["sharp.jpg"]["status"], outcomes["small.jpg"]["status"]) == ("pass", "fail")
    assert outcomes["wall.png"]["status"] == "error" and "No face was found" in outcomes["wall.png"]["error"]
    assert outcomes["sharp.jpg"]["report"]["sheet"]["gap_mm"] == 3.0
    err = capsys.readouterr().err
    assert "2 of 3 image(s) done" in err and "wall.png: No face was found" in err


def test_a_manifest_gives_each_photo_its_preset_and_background(photos, tmp_path):
    manifest = photos / "list.csv"
    manifest.write_text("file,preset,background\nsharp.jpg,cn-1inch,red\nsmall.jpg,us-passport,\n")
    out, report = tmp_path / "out", tmp_path / "report.json"
    cli.main(["--manifest", str(manifest), "--output", str(out), "--report", str(report)])
    outcomes = {Path(o["input"]).name: o for o in json.loads(report.read_text())["photos"]}
    assert set(outcomes) == {"sharp.jpg", "small.jpg"}
    assert outcomes["sharp.jpg"]["report"]["background"] == "#D7261E"
    assert outcomes["small.jpg"]["report"]["background_method"] == "kept"
    assert (out / "sharp_cn-1inch.jpg").exists() and (out / "small_us-passport.jpg").exists()


def test_several_photos_need_an_output_folder(photos, capsys):
    assert cli.main([str(photos)]) == 2
    assert "--output DIR" in capsys.readouterr().err


def test_a_missing_input_or_manifest_is_a_usage_error(tmp_path, capsys):
    assert cli.main([str(tmp_path / "none.jpg")]) == 2
    assert "no images found" in capsys.readouterr().err
    assert cli.main(["--manifest", str(tmp_path / "none.csv")]) == 2
    assert "cannot read the manifest" in capsys.readouterr().err


def test_cli_explains_a_photo_without_a_face(photos, tmp_path, capsys):
    assert cli.main([str(photos / "wall.png"), "--output", str(tmp_path / "x.jpg")]) == 1
    assert "No face was found" in capsys.readouterr().err
    assert not (tmp_path / "x.jpg").exists()


def test_cli_lists_presets(capsys):
    assert cli.main(["--list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {p["id"] for p in listed} == set(load_presets())


def test_a_group_photo_needs_a_face_or_each_face(photos, tmp_path, monkeypatch, portrait_alpha, capsys):
    with Image.open(photos / "sharp.jpg") as one:
        pair = Image.new("RGB", (one.width * 2, one.height))
        pair.paste(one, (0, 0))
        pair.paste(one, (one.width, 0))
    pair.save(tmp_path / "two.jpg")
    with Image.open(tmp_path / "two.jpg") as saved:  # the stand-in answers crops of the photo as saved
        both = np.asarray(saved.convert("RGB"))
    alpha = cv2.resize(np.hstack([portrait_alpha] * 2), (both.shape[1], both.shape[0]))
    monkeypatch.setattr(cli, "build_segmenter", lambda args: CropAware(both, alpha))
    assert cli.main([str(tmp_path / "two.jpg"), "--output", str(tmp_path / "x.jpg")]) == 1
    assert "2 faces were found" in capsys.readouterr().err
    assert cli.main([str(tmp_path / "two.jpg"), "--face", "2", "--output", str(tmp_path / "two-2.jpg")]) == 0
    assert cli.main([str(tmp_path / "two.jpg"), "--each-face", "--output", str(tmp_path / "all.zip")]) == 0
    assert (tmp_path / "all.zip").read_bytes()[:2] == b"PK"
