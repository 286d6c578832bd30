"""ml.imageio: every input mode becomes upright RGB uint8; bad input raises our own errors."""
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from ml.errors import ImageError, ImageTooLarge
from ml.imageio import MIME_TYPES, decode_mask, encode_image, file_type, fit_within, load_image

H, W = 30, 40


def photo() -> np.ndarray:
    """A small RGB picture whose quadrants differ, so a rotation or flip is visible."""
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[: H // 2, : W // 2] = (200, 30, 30)
    rgb[: H // 2, W // 2:] = (30, 200, 30)
    rgb[H // 2:, : W // 2] = (30, 30, 200)
    rgb[H // 2:, W // 2:] = (220, 220, 220)
    return rgb


def grey() -> np.ndarray:
    return cv2.cvtColor(photo(), cv2.COLOR_RGB2GRAY)


def save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pil_rgb() -> Image.Image:
    return Image.fromarray(photo(), "RGB")


CASES = {
    "jpeg": lambda: save(pil_rgb(), "JPEG", quality=95),
    "png": lambda: save(pil_rgb(), "PNG"),
    "webp": lambda: save(pil_rgb(), "WEBP", lossless=True),
    "bmp": lambda: save(pil_rgb(), "BMP"),
    "tiff": lambda: save(pil_rgb(), "TIFF"),
    "grey png": lambda: save(pil_rgb().convert("L"), "PNG"),
    "grey jpeg": lambda: save(pil_rgb().convert("L"), "JPEG"),
    "1-bit png": lambda: save(pil_rgb().convert("L").point(lambda v: 255 if v >= 128 else 0).convert("1"), "PNG"),
    "palette png": lambda: save(pil_rgb().convert("P", palette=Image.Palette.ADAPTIVE, colors=8), "PNG"),
    "palette gif-style transparency": lambda: save(
        pil_rgb().convert("P", palette=Image.Palette.ADAPTIVE, colors=8), "PNG", transparency=0),
    "rgba png": lambda: save(Image.fromarray(np.dstack([photo(), np.full((H, W), 10, np.uint8)]), "RGBA"), "PNG"),
    "grey+alpha png": lambda: save(pil_rgb().convert("LA"), "PNG"),
    "cmyk jpeg": lambda: save(pil_rgb().convert("CMYK"), "JPEG", quality=95),
    "cmyk tiff": lambda: save(pil_rgb().convert("CMYK"), "TIFF"),
    "16-bit grey png": lambda: cv2.imencode(".png", grey().astype(np.uint16) * 257)[1].tobytes(),
    "16-bit rgb png": lambda: cv2.imencode(".png", photo()[:, :, ::-1].astype(np.uint16) * 257)[1].tobytes(),
    "16-bit rgb tiff": lambda: cv2.imencode(".tiff", photo()[:, :, ::-1].astype(np.uint16) * 257)[1].tobytes(),
    "heic": lambda: save(pil_rgb(), "HEIF", quality=95),
    "avif": lambda: save(pil_rgb(), "AVIF", quality=95),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_mode_round_trips_to_rgb_of_the_right_size(case):
    rgb = load_image(CASES[case]())
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    # Quadrant colours survive (as grey levels for grey modes; 1-bit only keeps light vs dark).
    expected = photo().astype(int)
    if "grey" in case:
        expected = np.repeat(grey()[:, :, None].astype(int), 3, axis=2)
    if "1-bit" in case:
        expected = np.repeat(np.where(grey() >= 128, 255, 0)[:, :, None], 3, axis=2)
    tolerance = 40 if "palette" in case else 12
    centres = [(H // 4, W // 4), (H // 4, 3 * W // 4), (3 * H // 4, W // 4), (3 * H // 4, 3 * W // 4)]
    for y, x in centres:
        assert np.abs(rgb[y, x].astype(int) - expected[y, x]).max() <= tolerance, (case, y, x, rgb[y, x])


def test_16_bit_grey_is_scaled_not_clipped():
    grey = np.array([[0, 257 * 100, 65535]], np.uint16)
    rgb = load_image(cv2.imencode(".png", grey)[1].tobytes())
    assert rgb[0, :, 0].tolist() == [0, 100, 255]


def test_first_frame_of_a_multi_page_tiff():
    pages = [Image.new("RGB", (W, H), (250, 0, 0)), Image.new("RGB", (W, H), (0, 0, 250))]
    data = save(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert load_image(data)[0, 0].tolist() == [250, 0, 0]


def test_a_damaged_later_page_does_not_stop_the_first():
    """Failure 3 (issue 11): counting a TIFF's pages raised TypeError on a page without ImageWidth."""
    from tests.reliability.conftest import tiff_with_a_damaged_second_page

    rgb = np.full((H, W, 3), (250, 0, 0), np.uint8)
    data = tiff_with_a_damaged_second_page(rgb)
    with pytest.raises(TypeError):
        Image.open(io.BytesIO(data)).n_frames
    assert load_image(data)[0, 0].tolist() == [250, 0, 0]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = save(pil_rgb(), "PNG", exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    rgb = load_image(data)
    assert rgb.shape == upright.shape
    assert np.array_equal(rgb, upright)
    if orientation in (6, 8):  # a portrait stored sideways comes out tall
        assert rgb.shape[:2] == (W, H)


def test_exif_rotated_jpeg_file_comes_out_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: the camera was turned clockwise
    path = tmp_path / "phone.jpg"
    path.write_bytes(save(pil_rgb(), "JPEG", quality=95, exif=exif))
    rgb = load_image(path)
    assert rgb.shape == (W, H, 3)
    # Orientation 6: the stored top-left (red) quadrant ends up top-right.
    assert np.abs(rgb[2, -3].astype(int) - (200, 30, 30)).max() < 20


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_phone_formats_come_out_upright(fmt):
    """An iPhone HEIC or an AVIF taken with the phone turned: the stored top-left (red) quadrant ends
    up top-right, whether the file rotates itself (HEIC's irot) or says so in EXIF (AVIF here)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb = load_image(save(pil_rgb(), fmt, quality=95, exif=exif.tobytes()))
    assert rgb.shape == (W, H, 3)
    assert np.abs(rgb[2, -3].astype(int) - (200, 30, 30)).max() < 30


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_phone_formats_have_the_same_pixel_limit(fmt):
    data = save(Image.new("RGB", (30, 20)), fmt)
    with pytest.raises(ImageTooLarge, match=r"30x20 = 0\.0 megapixels"):
        load_image(data, max_pixels=599)
    assert load_image(data, max_pixels=600).shape == (20, 30, 3)


def test_fit_within_keeps_small_images_and_shrinks_large_ones():
    assert fit_within(photo(), 100).shape == (H, W, 3)
    assert fit_within(photo(), 20).shape == (15, 20, 3)
    assert fit_within(grey(), 8).shape == (6, 8)


def test_fit_within_rgba_leaves_no_dark_fringe():
    """White subject on transparent (colour zeroed there, as ml.compose writes it): halving it must
    keep the edge pixels white, only less opaque; plain averaging would make them grey."""
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :3] = (255, 255, 255, 255)  # columns 0-2 opaque white; column 3 is a half-covered edge
    small = fit_within(rgba, 4)
    assert small.shape == (4, 4, 4)
    assert small[0, 1, 3] == 128 and small[0, 1, :3].tolist() == [255, 255, 255]
    assert small[0, 3, 3] == 0


def test_pixel_limit_refuses_with_a_clear_message():
    with pytest.raises(ImageTooLarge, match=r"30x20 = 0\.0 megapixels; the limit is 0\.0"):
        load_image(save(Image.new("RGB", (30, 20)), "PNG"), max_pixels=599)
    assert load_image(save(Image.new("RGB", (30, 20)), "PNG"), max_pixels=600).shape == (20, 30, 3)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (its data is far too short)."""
    data = bytearray(save(Image.new("L", (8, 8)), "PNG"))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_decompression_bomb_is_refused_from_the_header():
    bomb = bomb_png(100_000, 100_000)
    assert len(bomb) < 200
    with pytest.raises(ImageTooLarge, match="10000.0 megapixels"):
        load_image(bomb)
    with pytest.raises(ImageTooLarge, match="limit is 40.0 megapixels"):
        load_image(bomb_png(8000, 6000))


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"this is not an image at all" * 10, "not an image in a supported format"),
    (None, "corrupt or truncated"),  # truncated JPEG, filled in below
    (b"GIF89a" + b"\x00" * 40, "not an image|not supported"),
])
def test_corrupt_input_raises_image_error_saying_what_is_wrong(data, message):
    if data is None:
        full = save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), "JPEG")
        data = full[: len(full) // 2]
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_a_heif_file_libheif_cannot_decode_is_an_image_error():
    """An AVIF stream in a container labelled heic goes to pillow-heif, whose libheif here has no AV1
    decoder and raises RuntimeError: a bad upload (ImageError), never a crash."""
    avif = save(pil_rgb(), "AVIF")
    labelled_heic = avif.replace(b"ftypavif", b"ftypheic", 1).replace(b"avif", b"heic")
    with pytest.raises(ImageError, match="cannot be decoded|corrupt|not an image"):
        load_image(labelled_heic)

def test_unsupported_format_is_named():
    with pytest.raises(ImageError, match="GIF images are not supported"):
        load_image(save(pil_rgb(), "GIF"))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(str(tmp_path / "empty.jpg"))


@pytest.mark.parametrize("fmt", sorted(MIME_TYPES))
def test_encode_round_trips(fmt):
    rgb = photo()
    back = load_image(encode_image(rgb, fmt, quality=95))
    assert back.shape == rgb.shape
    if fmt == "png":
        assert np.array_equal(back, rgb)
    else:  # lossy: compare away from the colour edges, where chroma subsampling blurs
        for y, x in [(H // 4, W // 4), (H // 4, 3 * W // 4), (3 * H // 4, W // 4), (3 * H // 4, 3 * W // 4)]:
            assert np.abs(back[y, x].astype(int) - rgb[y, x]).max() <= 12


def test_encode_rgba_keeps_alpha_and_png_is_lossless():
    rgba = np.dstack([photo(), np.tile(np.arange(W, dtype=np.uint8) * 6, (H, 1))])
    for fmt in ("png", "webp"):
        decoded = np.asarray(Image.open(io.BytesIO(encode_image(rgba, fmt, quality=100))))
        assert decoded.shape == (H, W, 4)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_image(rgba, "png")))), rgba)


def test_encode_refuses_rgba_jpeg_and_unknown_formats():
    rgba = np.dstack([photo(), np.full((H, W), 255, np.uint8)])
    with pytest.raises(ValueError, match="JPEG cannot hold transparency"):
        encode_image(rgba, "jpg")
    with pytest.raises(ValueError, match="unknown output format 'gif'"):
        encode_image(photo(), "gif")


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_encode_writes_dpi(fmt):
    info = Image.open(io.BytesIO(encode_image(photo(), fmt, dpi=300))).info
    assert round(info["dpi"][0]) == 300


def test_fast_jpeg_path_gives_pillows_pixels():
    rng = np.random.default_rng(3)
    noisy = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (160, 120), interpolation=cv2.INTER_CUBIC)
    data = save(Image.fromarray(noisy), "JPEG", quality=90)
    np.testing.assert_array_equal(load_image(data), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_png_dpi_chunk_is_valid():
    data = encode_image(photo(), "png", dpi=600)
    image = Image.open(io.BytesIO(data))
    image.verify()  # checks every chunk's CRC
    assert round(Image.open(io.BytesIO(data)).info["dpi"][0]) == 600


@pytest.mark.parametrize("fmt, mode", [("png", "L"), ("jpg", "L"), ("webp", "RGB")])
def test_encode_grey_masks(fmt, mode):
    mask = np.zeros((H, W), np.uint8)
    mask[5:20, 10:30] = 255
    decoded = Image.open(io.BytesIO(encode_image(mask, fmt, quality=100)))
    assert decoded.mode == mode and decoded.size == (W, H)
    grey = np.asarray(decoded.convert("L")).astype(int)
    assert np.abs(grey - mask).max() <= (0 if fmt == "png" else 60)
    with pytest.raises(ValueError, match="expected a grey, RGB or RGBA uint8 array"):
        encode_image(mask.astype(np.float32), fmt)


def test_file_type_names_what_was_uploaded():
    assert file_type(encode_image(photo(), "jpg")) == ("jpg", "image/jpeg")
    assert file_type(encode_image(photo(), "webp")) == ("webp", "image/webp")


def test_decode_mask_reads_a_stored_mask_and_refuses_garbage():
    mask = (grey() > 100).astype(np.uint8) * 255
    assert np.array_equal(decode_mask(encode_image(mask, "png")), mask)
    with pytest.raises(ImageError, match="unreadable"):
        decode_mask(b"not a png")
