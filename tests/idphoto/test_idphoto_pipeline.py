"""End to end on the test portrait: every preset's head height in the output, report, errors, CLI."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from ml.errors import FaceError
from ml.idphoto import __main__ as cli
from ml.idphoto.face import detect_faces
from ml.idphoto.pipeline import make_id_photo
from ml.idphoto.presets import PresetError, get_preset, hex_to_rgb, load_presets, px_per_mm, resolve_background
from ml.registry import available_models

RULE_IDS = {"face_count", "head_height", "top_margin", "centring", "roll", "background_colour",
            "background_uniform", "resolution", "padding"}


def head_height_mm(photo: np.ndarray, colour: str, dpi: int) -> float:
    """Measured without the framing code: crown = first row above the face that differs from the
    flat background colour, chin = from the face found again in the output."""
    face = max(detect_faces(photo), key=lambda f: f.width)
    centre = int(face.centre_x)
    band = photo[:int(face.eye_y), centre - 10:centre + 10].astype(int)
    differs = np.abs(band - np.array(hex_to_rgb(colour))).max(axis=2) > 40
    crown = np.flatnonzero(differs.mean(axis=1) > 0.5)[0]
    return (face.chin_y - crown) / px_per_mm(dpi)


@pytest.mark.parametrize("preset_id", sorted(load_presets()))
def test_head_height_in_the_output_is_inside_the_range(portrait, stored_segmenter, preset_id):
    preset = get_preset(preset_id)
    result = make_id_photo(portrait, stored_segmenter.segment, preset)
    assert result.photo.shape[:2] == preset.pixel_size(300)[::-1]
    colour, _ = resolve_background(None, preset)
    measured = head_height_mm(result.photo, colour, 300)
    low, high = preset.head_mm
    assert low <= measured <= high, f"{preset_id}: {measured:.1f} mm not in {low}-{high}"
    rules = {r["id"]: r for r in result.report["rules"]}
    assert RULE_IDS <= set(rules)
    assert rules["head_height"]["status"] == "pass"
    assert rules["face_count"]["value"] == 1
    assert ("eye_line" in rules) == bool(preset.eyes_from_bottom_mm)
    json.dumps(result.report)  # the report must be JSON-ready as it is


def test_report_flags_the_low_resolution_of_a_small_photo(portrait, stored_segmenter):
    report = make_id_photo(portrait, stored_segmenter.segment, get_preset("eu-passport")).report
    resolution = {r["id"]: r for r in report["rules"]}["resolution"]
    assert resolution["status"] in ("warn", "fail") and resolution["value"] < 300
    assert "higher-resolution" in resolution["hint"]


def test_jpeg_has_dpi_and_the_sheet_has_copies(portrait, stored_segmenter):
    single = make_id_photo(portrait, stored_segmenter.segment, get_preset("us-passport"), dpi=600)
    with Image.open(io.BytesIO(single.file.data)) as image:
        assert image.size == (1200, 1200) and image.info["dpi"] == pytest.approx((600, 600))
    sheet = make_id_photo(portrait, stored_segmenter.segment, get_preset("us-passport"), layout="sheet-4x6")
    with Image.open(io.BytesIO(sheet.file.data)) as image:
        assert sorted(image.size) == [1200, 1800] and image.info["dpi"] == pytest.approx((300, 300))
    assert sheet.report["sheet"]["copies"] == 6


def test_us_visa_uses_its_240_kb_limit(portrait, stored_segmenter):
    result = make_id_photo(portrait, stored_segmenter.segment, get_preset("us-visa"))
    size_rule = {r["id"]: r for r in result.report["rules"]}["file_size"]
    assert size_rule["allowed"] == [0, 240] and len(result.file.data) <= 240 * 1024


def test_background_not_allowed_by_the_document_fails_that_rule(portrait, stored_segmenter):
    result = make_id_photo(portrait, stored_segmenter.segment, get_preset("us-passport"), background="red")
    rule = {r["id"]: r for r in result.report["rules"]}["background_colour"]
    assert rule["status"] == "fail" and result.report["overall"] == "fail"
    assert tuple(result.photo[2, 2]) == hex_to_rgb("#D7261E")


def test_no_face_is_refused_before_segmentation(stored_segmenter):
    blank = np.full((300, 300, 3), 180, np.uint8)  # the stand-in would fail on this shape if called
    with pytest.raises(FaceError, match="No face"):
        make_id_photo(blank, stored_segmenter.segment, get_preset("eu-passport"))


def test_two_faces_are_refused(portrait, stored_segmenter):
    with pytest.raises(FaceError, match="2 faces"):
        make_id_photo(np.hstack([portrait, portrait]), stored_segmenter.segment, get_preset("eu-passport"))


@pytest.mark.parametrize("kwargs", [{"layout": "poster"}, {"max_kb": "lots"}, {"max_kb": 1}, {"dpi": 5},
                                    {"background": "plaid"}])
def test_bad_options_are_refused(portrait, stored_segmenter, kwargs):
    with pytest.raises(PresetError):
        make_id_photo(portrait, stored_segmenter.segment, get_preset("eu-passport"), **kwargs)


def test_cli_writes_the_photo_and_report(tmp_path, monkeypatch, portrait_alpha, stored_segmenter, capsys):
    monkeypatch.setattr(cli, "build_segmenter", lambda args: stored_segmenter)
    source = tmp_path / "me.jpg"
    source.write_bytes((__import__("pathlib").Path(__file__).parent / "data" / "astronaut.jpg").read_bytes())
    output, report = tmp_path / "id.jpg", tmp_path / "id.json"
    status = cli.main([str(source), "--preset", "custom", "--size", "600x800px", "--background", "light-blue",
                       "--layout", "sheet-4x6", "--max-kb", "900", "--output", str(output), "--report", str(report)])
    assert status == 0
    data = json.loads(report.read_text())
    assert data["preset"] == "custom" and data["size_px"] == [600, 800] and data["sheet"]["copies"] >= 2
    assert output.stat().st_size <= 900 * 1024
    assert "Head height" in capsys.readouterr().out


def test_cli_explains_a_photo_without_a_face(tmp_path, monkeypatch, stored_segmenter, capsys):
    monkeypatch.setattr(cli, "build_segmenter", lambda args: stored_segmenter)
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(blank)
    assert cli.main([str(blank), "--output", str(tmp_path / "x.jpg")]) == 2
    assert "No face was found" in capsys.readouterr().err
    assert not (tmp_path / "x.jpg").exists()


def test_cli_lists_presets(capsys):
    assert cli.main(["--list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {p["id"] for p in listed} == set(load_presets())


@pytest.mark.skipif("sinet" not in available_models(), reason="no trained sinet weights in weights/")
def test_real_segmenter_frames_the_portrait(portrait):
    from ml.registry import load_runtime
    from ml.segmenter import Segmenter
    preset = get_preset("eu-passport")
    result = make_id_photo(portrait, Segmenter(load_runtime("sinet")).segment, preset)
    head = {r["id"]: r for r in result.report["rules"]}["head_height"]
    assert preset.head_mm[0] <= head["value"] <= preset.head_mm[1]


def test_serving_path_does_not_import_tensorflow():
    import subprocess
    import sys
    code = ("import sys, ml.idphoto.pipeline, ml.idphoto.__main__; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras') or m.startswith('ml.models')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
