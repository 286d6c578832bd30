"""ml.compose: exact pixels where alpha is 0 or 255, every background kind, no fringe after decontamination."""
import cv2
import numpy as np
import pytest

from ml.colour import colour_hex, parse_colour
from ml.compose import (Background, Blur, Colour, Framing, Grey, ImageBackground, Transparent, compose, edge_band,
                        parse_background)
from ml.errors import BackdropError, BackgroundError, ImageError

H, W = 120, 160


def scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy photo and a matte with solid inside, solid outside and a soft ring between."""
    rng = np.random.default_rng(seed)
    photo = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    distance = np.hypot(*np.meshgrid(np.arange(H) - H / 2, np.arange(W) - W / 2, indexing="ij"))
    alpha = np.clip((45 - distance) * 255 / 10, 0, 255).astype(np.uint8)
    return photo, alpha


BACKGROUNDS = {
    "colour": lambda: Colour((10, 100, 250)),
    "blur": lambda: Blur(2.0),
    "grey": lambda: Grey(),
    "image fill": lambda: ImageBackground(np.full((50, 300, 3), 77, np.uint8), "fill"),
    "image fit": lambda: ImageBackground(np.full((50, 300, 3), 77, np.uint8), "fit"),
}


@pytest.mark.parametrize("kind", sorted(BACKGROUNDS))
@pytest.mark.parametrize("decontaminate", [True, False])
def test_exact_background_at_alpha_0_and_exact_photo_at_255(kind, decontaminate):
    photo, alpha = scene()
    background = BACKGROUNDS[kind]()
    out = compose(photo, alpha, background, decontaminate=decontaminate)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    rendered = background.render(photo, alpha)
    np.testing.assert_array_equal(out[alpha == 0], rendered[alpha == 0])
    np.testing.assert_array_equal(out[alpha == 255], photo[alpha == 255])
    assert (alpha == 0).any() and (alpha == 255).any() and ((alpha > 0) & (alpha < 255)).any()


def test_colour_background_is_that_colour():
    photo, alpha = scene()
    out = compose(photo, alpha, parse_background("#0A64FA"))
    assert (out[alpha == 0] == (10, 100, 250)).all()


def test_transparent_output_is_rgba_with_the_matte_as_alpha():
    photo, alpha = scene()
    out = compose(photo, alpha, Transparent())
    assert out.shape == (H, W, 4)
    np.testing.assert_array_equal(out[:, :, 3], alpha)
    np.testing.assert_array_equal(out[alpha == 255][:, :3], photo[alpha == 255])
    assert not out[alpha == 0][:, :3].any()  # invisible colour is zeroed (smaller files)


def hair_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dark 'hair' on a white wall; the 8 px edge pixels are true mixtures I = a F + (1 - a) B."""
    height, width = 2 * H, 2 * W
    distance = np.hypot(*np.meshgrid(np.arange(height) - height / 2, np.arange(width) - width / 2, indexing="ij"))
    alpha = np.clip((80 - distance) * 255 / 8, 0, 255).astype(np.uint8)
    hair = np.array([40, 25, 15], np.float32)
    wall = np.array([245, 245, 240], np.float32)
    a = alpha[:, :, None] / 255.0
    photo = np.round(a * hair + (1 - a) * wall).astype(np.uint8)
    return photo, alpha, hair


def test_decontamination_removes_the_old_background_fringe():
    photo, alpha, hair = hair_scene()
    blue = np.array([20, 60, 200], np.float32)
    a = alpha[:, :, None] / 255.0
    ideal = a * hair + (1 - a) * blue  # what a perfect matting would give on blue
    band = (alpha > 0) & (alpha < 255)
    clean = compose(photo, alpha, Colour((20, 60, 200))).astype(np.float32)
    naive = compose(photo, alpha, Colour((20, 60, 200)), decontaminate=False).astype(np.float32)
    clean_error = np.abs(clean - ideal)[band].mean()
    naive_error = np.abs(naive - ideal)[band].mean()
    assert naive_error > 20          # pasting the mixed pixels keeps the white wall in them
    assert clean_error < 0.1 * naive_error
    # No edge pixel is lighter than both hair and blue would allow: no bright halo.
    assert (clean[band].sum(axis=1) <= ideal[band].sum(axis=1) + 30).all()


def test_blur_background_keeps_the_subject_out():
    photo = np.zeros((H, W, 3), np.uint8)
    photo[...] = (0, 200, 0)
    alpha = np.zeros((H, W), np.uint8)
    alpha[30:90, 50:110] = 255
    photo[alpha == 255] = (255, 0, 0)
    background = Blur(5.0).render(photo, alpha)
    assert background.shape == photo.shape
    # Next to the subject the blur shows the green wall, not a pink smear of the red subject.
    assert background[60, 45, 0] < 30 and background[60, 45, 1] > 170


def test_grey_background_is_grey():
    photo, alpha = scene()
    background = Grey().render(photo, alpha)
    assert (background[:, :, 0] == background[:, :, 1]).all() and (background[:, :, 1] == background[:, :, 2]).all()


@pytest.mark.parametrize("fit, size", [("fill", (H, W)), ("fit", (H, W))])
def test_image_background_fill_and_fit(fit, size):
    other = np.zeros((40, 160, 3), np.uint8)
    other[:, :80] = 255  # left half white, right half black
    rendered = ImageBackground(other, fit).render(np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.uint8))
    assert rendered.shape[:2] == size
    if fit == "fill":  # scaled x3 to cover the height, centre-cropped: the middle column split stays
        assert rendered[:, W // 2 - 3].min() == 255 and rendered[:, W // 2 + 3].max() == 0
    else:  # scaled to the width and padded above and below with the picture's mean colour
        assert (rendered[0] == 127).all() and (rendered[H // 2, :10] == 255).all()  # mean 127.5


def test_parse_background(tmp_path):
    assert isinstance(parse_background("transparent"), Transparent)
    assert parse_background("#ff8000") == Colour((255, 128, 0))
    assert parse_background("#F80") == Colour((255, 136, 0))
    assert parse_background("blur") == Blur(2.0)
    assert parse_background("blur:7.5") == Blur(7.5)
    assert isinstance(parse_background("Gray"), Grey)
    path = tmp_path / "beach.png"
    cv2.imwrite(str(path), np.full((20, 30, 3), 90, np.uint8))
    for spec, fit in [(str(path), "fill"), (f"fit:{path}", "fit")]:
        background = parse_background(spec, files=True)
        assert isinstance(background, ImageBackground) and background.fit == fit
        assert background.image.shape == (20, 30, 3)


def test_file_paths_only_where_the_caller_allows_them(tmp_path):
    """A request's background can never name a file on the server: paths need ``files=True``."""
    path = tmp_path / "beach.png"
    cv2.imwrite(str(path), np.full((20, 30, 3), 90, np.uint8))
    with pytest.raises(BackgroundError, match="unknown background") as info:
        parse_background(str(path))
    assert "the path of an image file" not in str(info.value)
    picture = np.zeros((4, 4, 3), np.uint8)
    assert parse_background("image", image=picture).image is picture
    with pytest.raises(BackgroundError):
        parse_background("image")


@pytest.mark.parametrize("background, spec, label", [
    (Transparent(), "transparent", "Transparent"),
    (Colour((67, 142, 219)), "#438edb", "Blue #438edb"),
    (Colour((1, 2, 3)), "#010203", "#010203"),
    (Blur(), "blur", "Blurred"),
    (Blur(7.5), "blur:7.5", "Blurred"),
    (Grey(), "grey", "Greyscale"),
    (ImageBackground(np.zeros((4, 4, 3), np.uint8)), "image", "Image"),
    (ImageBackground(np.zeros((4, 4, 3), np.uint8), "fit"), "fit:image", "Image"),
])
def test_a_background_writes_the_spec_it_is_read_back_from(background, spec, label):
    assert (background.spec, background.label) == (spec, label)
    again = parse_background(spec, image=np.zeros((4, 4, 3), np.uint8))
    assert (type(again), again.spec) == (type(background), spec)


@pytest.mark.parametrize("spec, message", [
    ("#12345", "'#12345' is not a colour"),
    ("#GGHHII", "is not a colour"),
    ("blur:abc", "blur strength 'abc' is not a number"),
    ("blur:50", "blur strength 50 is out of range"),
    ("sepia", "unknown background 'sepia'"),
    ("/no/such/picture.jpg", "unknown background '/no/such/picture.jpg'"),
])
def test_bad_background_specs_name_the_value(spec, message):
    with pytest.raises(BackgroundError, match=message) as info:
        parse_background(spec)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BackdropError)


def test_unreadable_background_image_raises_image_error(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ImageError):
        parse_background(str(path), files=True)


def test_parse_colour():
    assert parse_colour("#000000") == (0, 0, 0)
    assert parse_colour("FFFFFF") == (255, 255, 255)
    assert parse_colour("#F80") == (255, 136, 0)
    assert parse_colour(" Navy ") == (0, 0, 128) and parse_colour("rebeccapurple") == (102, 51, 153)
    assert colour_hex(parse_colour("#ABC")) == "#aabbcc"
    with pytest.raises(BackgroundError, match="CSS colour name"):
        parse_colour("#12345")
    with pytest.raises(BackgroundError):
        parse_colour("navy", css_names=False)
    assert isinstance(parse_background("teal"), Colour) and isinstance(parse_background("grey"), Grey)


def test_framing_a_mask_keeps_it_binary():
    mask = np.zeros((100, 200), np.uint8)
    mask[20:60, 50:90] = 255
    framed = Framing(crop_margin=0.0, max_side=15).apply_to_mask(mask)
    assert framed.shape == (15, 15) and set(np.unique(framed)) <= {0, 255}


def test_framing_crops_to_the_subject_and_scales_down():
    mask = np.zeros((100, 200), bool)
    mask[20:60, 50:90] = True  # a 40 x 40 subject
    rgb, alpha = np.zeros((100, 200, 3), np.uint8), mask.astype(np.uint8) * 255
    assert [a.shape for a in Framing(0.0).apply([rgb, alpha], mask)] == [(40, 40, 3), (40, 40)]
    assert Framing(0.25).apply([alpha], mask)[0].shape == (60, 60)  # 10 px of room on each side
    assert Framing(None, 50).apply([rgb], mask)[0].shape == (25, 50, 3)
    assert Framing(0.0).apply([alpha], np.zeros_like(mask))[0].shape == (100, 200)  # no subject: whole photo
    assert Framing().whole and not Framing(max_side=10).whole


def test_edge_band_and_mismatched_shapes():
    alpha = np.array([[0, 1, 254, 255]], np.uint8)
    ys, xs = edge_band(alpha)
    assert xs.tolist() == [1, 2] and ys.tolist() == [0, 0]
    with pytest.raises(ValueError, match="do not match"):
        compose(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), Colour((0, 0, 0)))


def test_every_background_kind_is_a_background():
    assert all(isinstance(make(), Background) for make in BACKGROUNDS.values())
