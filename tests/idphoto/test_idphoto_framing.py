"""Framing on synthetic heads: crown finding, scale to the head range, eye rule, roll, and no padding
where any allowed head size avoids it."""
import cv2
import numpy as np
import pytest

from ml.idphoto.face import Face
from ml.idphoto.framing import Adjustment, apply_frame, body_cut_sides, find_crown, plan_frame
from ml.idphoto.presets import get_preset, px_per_mm


def synthetic_head(height=900, width=700, crown=150, eye=330, centre=350, roll_deg=0.0):
    """An alpha with a head (ellipse) on shoulders, and the Face a detector would report for it."""
    alpha = np.zeros((height, width), np.uint8)
    cv2.ellipse(alpha, (centre, 380), (150, 230), 0, 0, 360, 255, -1)
    alpha[560:, 120:580] = 255
    alpha[380:, 260:440] = 255
    face_w = 220
    eyes = ((centre - 50.0, float(eye)), (centre + 50.0, float(eye)))
    if roll_deg:
        rad = np.radians(roll_deg)
        eyes = ((centre - 50 * np.cos(rad), eye - 50 * np.sin(rad)), (centre + 50 * np.cos(rad), eye + 50 * np.sin(rad)))
    face = Face(centre - face_w / 2, eye - 0.22 * face_w, centre + face_w / 2, eye + 0.78 * face_w, 2.0, eyes)
    assert crown == 380 - 230
    return alpha, face


def test_crown_is_the_top_of_the_head_connected_to_the_face():
    alpha, face = synthetic_head()
    alpha[20:40, 330:370] = 255  # a stray blob above the head, not connected
    crown, from_mask, cut = find_crown(alpha, face.centre_x, face.eye_y, face.width)
    assert from_mask and not cut
    assert abs(crown - 150) <= 3


def test_crown_falls_back_when_the_mask_misses_the_head():
    alpha, face = synthetic_head()
    crown, from_mask, _ = find_crown(np.zeros_like(alpha), face.centre_x, face.eye_y, face.width)
    assert not from_mask


def test_crown_cut_by_the_top_edge_is_flagged():
    alpha, face = synthetic_head()
    crown, from_mask, cut = find_crown(alpha[200:], face.centre_x, face.eye_y - 200, face.width)
    assert from_mask and cut


@pytest.mark.parametrize("preset_id", ["eu-passport", "uk-passport", "ca-passport", "cn-1inch", "us-passport"])
def test_head_lands_in_the_middle_of_the_range_and_centred(preset_id):
    preset = get_preset(preset_id)
    alpha, face = synthetic_head()
    frame = plan_frame(alpha, face, preset, 300)
    out = apply_frame(alpha, frame, 0)
    assert out.shape == preset.pixel_size(300)[::-1]
    ppm = px_per_mm(300)
    rows = np.flatnonzero((out[:, out.shape[1] // 2 - 5:out.shape[1] // 2 + 5] >= 128).any(axis=1))
    crown_out = rows[0]
    chin_out = frame.output_point(face.centre_x, face.chin_y)[1]
    head_mm = (chin_out - crown_out) / ppm
    assert preset.head_mm[0] <= head_mm <= preset.head_mm[1]
    assert abs(head_mm - sum(preset.head_mm) / 2) < 0.3  # room all round: the middle of the range
    assert not frame.padded and frame.shift_px == 0
    cols = np.flatnonzero(out[crown_out + 40] >= 128)
    assert abs((cols[0] + cols[-1]) / 2 - out.shape[1] / 2) < 2
    if preset.eyes_from_bottom_mm:
        eyes_mm = (out.shape[0] - frame.output_point(face.centre_x, face.eye_y)[1]) / ppm
        assert preset.eyes_from_bottom_mm[0] <= eyes_mm <= preset.eyes_from_bottom_mm[1]


def test_small_roll_is_levelled():
    alpha, face = synthetic_head(roll_deg=6.0)
    frame = plan_frame(alpha, face, get_preset("eu-passport"), 300)
    assert frame.roll_corrected
    (lx, ly), (rx, ry) = face.eyes
    left, right = frame.matrix @ [lx, ly, 1], frame.matrix @ [rx, ry, 1]
    assert abs(left[1] - right[1]) < 0.5
    assert right[0] > left[0]


def test_large_roll_is_left_alone():
    alpha, face = synthetic_head(roll_deg=15.0)
    frame = plan_frame(alpha, face, get_preset("eu-passport"), 300)
    assert not frame.roll_corrected and frame.roll_deg == pytest.approx(15.0, abs=0.1)


def shifted(face: Face, dx: float, dy: float) -> Face:
    return Face(face.left - dx, face.top - dy, face.right - dx, face.bottom - dy, face.score,
                tuple((x - dx, y - dy) for x, y in face.eyes))


def test_levelling_a_tilt_leaves_no_wedges_when_the_photo_has_room():
    alpha, face = synthetic_head(roll_deg=8.0)
    frame = plan_frame(alpha, face, get_preset("eu-passport"), 300)
    assert frame.roll_corrected and not frame.padded


def half_width(head_height: float, head_mm: float, preset) -> float:
    """Half the output's width in source pixels when the head is framed at ``head_mm``."""
    return preset.pixel_size(300)[0] / 2 / (px_per_mm(300) * head_mm / head_height)


def test_a_larger_allowed_head_avoids_padding_when_the_middle_would_pad():
    alpha, face = synthetic_head()
    preset = get_preset("eu-passport")
    height = plan_frame(alpha, face, preset, 300).head.height
    half = int(half_width(height, 34, preset)) - 3  # the middle (34 mm) needs 3 px more on each side
    frame = plan_frame(alpha[:, 350 - half:350 + half], shifted(face, 350 - half, 0), preset, 300)
    head_mm = frame.scale * frame.head.height / px_per_mm(300)
    assert not frame.padded and frame.shift_px == 0
    assert 34 < head_mm <= 36


def test_tight_photo_is_padded_only_when_no_allowed_size_helps():
    alpha, face = synthetic_head()
    tight = alpha[100:700, 150:550]  # head fills the frame: no room below or beside
    frame = plan_frame(tight, shifted(face, 150, 100), get_preset("ca-passport"), 300)
    assert frame.padded and frame.padding["bottom"] > 0.5 and "bottom" in frame.padded_sides
    assert frame.shift_px == 0  # padded anyway: the face stays centred
    out = apply_frame(np.dstack([tight] * 3), frame, (10, 200, 30))
    assert tuple(out[-1, 0]) == (10, 200, 30)


def test_the_face_moves_off_centre_only_when_no_allowed_size_keeps_it_centred():
    alpha, face = synthetic_head()
    preset = get_preset("eu-passport")
    height = plan_frame(alpha, face, preset, 300).head.height
    cut = int(350 + half_width(height, 36, preset)) - 3  # even the largest head pads on the right
    frame = plan_frame(alpha[:, :cut], face, preset, 300)
    assert not frame.padded
    assert 0 < frame.shift_px <= 2 * px_per_mm(300)  # moved right, towards where the photo ends


def test_padding_across_the_body_is_told_apart_from_padding_beside_it():
    alpha, face = synthetic_head()
    above = alpha[120:]                      # the photo ends 30 px above the crown: padding only over background
    frame = plan_frame(above, shifted(face, 0, 120), get_preset("ca-passport"), 300)
    assert frame.padded and "top" in frame.padded_sides and body_cut_sides(above, frame) == []
    below = alpha[:620]                      # ends across the shoulders
    frame = plan_frame(below, face, get_preset("ca-passport"), 300)
    assert "bottom" in body_cut_sides(below, frame)


@pytest.mark.parametrize("asked, expected", [(33.0, 33.0), (40.0, 36.0), (20.0, 32.0)])
def test_a_hand_set_head_height_is_held_inside_the_range(asked, expected):
    alpha, face = synthetic_head()
    frame = plan_frame(alpha, face, get_preset("eu-passport"), 300, Adjustment(asked))
    assert frame.adjusted
    assert frame.scale * frame.head.height / px_per_mm(300) == pytest.approx(expected)


def test_a_hand_set_move_shifts_the_face_but_keeps_the_eyes_in_their_band():
    alpha, face = synthetic_head()
    preset = get_preset("us-passport")
    frame = plan_frame(alpha, face, preset, 300, Adjustment(30.0, 1.5, -40.0))
    eye_x, eye_y = frame.output_point(frame.head.centre_x, frame.head.eye_y)
    assert eye_x - preset.pixel_size(300)[0] / 2 == pytest.approx(1.5 * px_per_mm(300))
    eyes_from_bottom = (preset.pixel_size(300)[1] - eye_y) / px_per_mm(300)
    assert eyes_from_bottom == pytest.approx(preset.eyes_from_bottom_mm[1])  # the crown 40 mm above the top edge was asked: the band's top
