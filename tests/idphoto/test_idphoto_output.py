"""JPEG with DPI, the KB cap (met, or reported when it cannot be), and the 4x6 print sheet."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from ml.idphoto.output import QUALITY_FLOOR, encode_photo, plan_sheet, render_sheet
from ml.idphoto.presets import get_preset

# Copies on a 6x4 in sheet at 300 DPI (1800x1200 px), worked out by hand from the pixel sizes.
EXPECTED_COPIES = {"eu-passport": 8, "us-passport": 6, "ca-passport": 4, "cn-1inch": 16, "cn-2inch": 8}


def noisy(height=531, width=413, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_jpeg_carries_the_dpi():
    for dpi in (300, 600):
        encoded = encode_photo(noisy(), dpi)
        with Image.open(io.BytesIO(encoded.data)) as image:
            assert image.format == "JPEG"
            assert image.info["dpi"] == pytest.approx((dpi, dpi))
            assert image.size == (413, 531)


def test_kb_cap_is_met_by_lowering_quality():
    smooth = cv2.GaussianBlur(noisy(), (0, 0), 3)
    uncapped = encode_photo(smooth, 300)
    cap = int(uncapped.kb * 0.6)
    capped = encode_photo(smooth, 300, max_kb=cap)
    assert capped.fits and len(capped.data) <= cap * 1024
    assert QUALITY_FLOOR <= capped.quality < uncapped.quality
    assert capped.rule()["status"] == "pass"


def test_unreachable_kb_cap_is_reported_not_hidden():
    capped = encode_photo(noisy(), 300, max_kb=10)
    assert not capped.fits and capped.quality == QUALITY_FLOOR
    rule = capped.rule()
    assert rule["status"] == "fail" and "10 KB" in rule["hint"]


def test_no_cap_means_no_rule():
    assert encode_photo(noisy(), 300).rule() is None


@pytest.mark.parametrize("preset_id, copies", sorted(EXPECTED_COPIES.items()))
def test_sheet_holds_the_expected_copies(preset_id, copies):
    preset = get_preset(preset_id)
    layout = plan_sheet(preset)
    assert layout.copies == copies
    photo = np.full(preset.pixel_size(300)[::-1] + (3,), (200, 30, 40), np.uint8)
    sheet = render_sheet(photo, layout)
    assert sheet.shape[:2] in ((1200, 1800), (1800, 1200))
    pw, ph = layout.photo_px
    for x, y in layout.origins():
        assert np.all(sheet[y:y + ph, x:x + pw] == (200, 30, 40))
    assert np.all(sheet == (200, 30, 40), axis=2).sum() == copies * pw * ph  # copies do not overlap


def test_a_chosen_gap_is_kept_between_copies():
    layout = plan_sheet(get_preset("eu-passport"), gap_mm=4.0)
    assert layout.gap_px == 47 and layout.copies == 8  # 4 mm at 300 DPI: 4 x 413 + 3 x 47 <= 1800
    assert plan_sheet(get_preset("eu-passport"), gap_mm=10.0).copies < 8
    (x0, y0), (x1, _) = layout.origins()[:2]
    assert x1 - x0 == layout.photo_px[0] + 47


def test_sheet_has_crop_marks_in_the_margin_only():
    layout = plan_sheet(get_preset("eu-passport"))
    sheet = render_sheet(np.full((531, 413, 3), 255, np.uint8), layout)
    x, y = layout.origins()[0]
    marks = np.all(sheet == 0, axis=2)
    assert marks[:y, x].any() and marks[y, :x].any()          # in line with the first cut, in the margin
    assert not marks[y:y + 531, x:x + 413].any()              # never on a photo


def test_several_people_share_one_sheet_in_turn():
    layout = plan_sheet(get_preset("eu-passport"))
    red, blue = (np.full((531, 413, 3), colour, np.uint8) for colour in ((200, 0, 0), (0, 0, 200)))
    sheet = render_sheet([red, blue], layout)
    firsts = [tuple(sheet[y + 5, x + 5]) for x, y in layout.origins()]
    assert firsts == [(200, 0, 0), (0, 0, 200)] * (layout.copies // 2)
