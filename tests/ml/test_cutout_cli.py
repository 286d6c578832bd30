"""python -m ml.cutout: folders and globs, every output format, bad files listed with exit status 1."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from devtools.portrait import PORTRAIT
from ml.cutout import main
from ml.registry import available_models

pytestmark = pytest.mark.skipif(not available_models(), reason="no weights/*.tflite committed yet")
ROOT = Path(__file__).resolve().parents[2]


def make_photos(folder: Path) -> dict[str, tuple[int, int]]:
    """Three small photos (two formats, two orientations), one corrupt JPEG and a stray text file."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"a.jpg": (90, 120), "b.png": (150, 100), "c.jpg": (64, 64)}
    rng = np.random.default_rng(0)
    for name, (height, width) in sizes.items():
        photo = np.full((height, width, 3), 220, np.uint8)
        cv2.ellipse(photo, (width // 2, height), (width // 3, height // 2), 0, 0, 360, (60, 90, 150), -1)
        photo = np.clip(photo + rng.integers(-5, 6, photo.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / name), photo)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this JPEG stops here")
    (folder / "notes.txt").write_text("not a photo")
    return sizes


def test_folder_with_one_corrupt_file(tmp_path, capsys):
    sizes = make_photos(tmp_path / "in")
    status = main([str(tmp_path / "in"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 1
    assert "3 of 4 image(s) done" in err
    assert "broken.jpg: the image data is corrupt or truncated" in err
    assert "notes.txt" not in err  # folders contribute image files only
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["a.png", "b.png", "c.png"]
    for name, (height, width) in sizes.items():
        cutout = Image.open(tmp_path / "out" / f"{Path(name).stem}.png")
        assert cutout.mode == "RGBA" and cutout.size == (width, height)


def test_all_good_files_exit_zero_and_globs_work(tmp_path, capsys):
    make_photos(tmp_path / "in")
    status = main([str(tmp_path / "in" / "*.png"), str(tmp_path / "in" / "a.jpg"), "--output",
                   str(tmp_path / "out"), "--background", "#0000FF", "--format", "jpg", "--tta"])
    assert status == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.jpg"]
    assert Image.open(tmp_path / "out" / "b.jpg").mode == "RGB"


@pytest.mark.parametrize("background", ["blur", "grey", "#123456"])
def test_webp_and_backgrounds(tmp_path, background):
    sizes = make_photos(tmp_path / "in")
    assert main([str(tmp_path / "in" / "a.jpg"), "--output", str(tmp_path / "out"), "--background",
                 background, "--format", "webp"]) == 0
    assert Image.open(tmp_path / "out" / "a.webp").size == sizes["a.jpg"][::-1]


def test_image_file_background_and_crop(tmp_path):
    make_photos(tmp_path / "in")
    beach = tmp_path / "beach.png"
    cv2.imwrite(str(beach), np.full((300, 500, 3), (200, 180, 40), np.uint8))
    assert main([str(tmp_path / "in" / "b.png"), "--output", str(tmp_path / "out"), "--background", str(beach),
                 "--crop", "--margin", "0"]) == 0
    cropped = Image.open(tmp_path / "out" / "b.png")
    assert cropped.mode == "RGB"
    assert cropped.size[0] <= 100 and cropped.size[1] <= 150


def test_missing_input_is_reported_and_others_go_on(tmp_path, capsys):
    make_photos(tmp_path / "in")
    status = main([str(tmp_path / "in" / "c.jpg"), str(tmp_path / "nope.jpg"), "--output", str(tmp_path / "out")])
    assert status == 1
    assert "nope.jpg: no such file, folder or matching pattern" in capsys.readouterr().err
    assert (tmp_path / "out" / "c.png").is_file()


def test_same_stem_twice_is_reported_not_overwritten(tmp_path, capsys):
    make_photos(tmp_path / "in")
    cv2.imwrite(str(tmp_path / "in" / "a.png"), np.zeros((10, 10, 3), np.uint8))
    status = main([str(tmp_path / "in" / "a.jpg"), str(tmp_path / "in" / "a.png"), "--output", str(tmp_path / "out")])
    assert status == 1
    assert "a.png: same name as" in capsys.readouterr().err
    assert Image.open(tmp_path / "out" / "a.png").size == (120, 90)


@pytest.mark.parametrize("args, message", [
    (["--format", "jpg"], "JPEG cannot be transparent"),
    (["--format", "gif"], "unknown output format 'gif'"),
    (["--background", "#zzzzzz"], "is not a colour"),
    (["--background", "blur:0"], "blur strength 0 is out of range"),
])
def test_bad_options_exit_2_with_a_message(tmp_path, capsys, args, message):
    make_photos(tmp_path / "in")
    assert main([str(tmp_path / "in"), "--output", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_images_and_bad_model(tmp_path, capsys):
    assert main([str(tmp_path / "empty*.jpg"), "--output", str(tmp_path / "out")]) == 2
    assert "no images found" in capsys.readouterr().err
    make_photos(tmp_path / "in")
    assert main([str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--weights", str(tmp_path)]) == 2
    assert "has no weights file at" in capsys.readouterr().err


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "ml.cutout", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--background" in out.stdout and "--crop" in out.stdout


def test_a_run_prints_only_its_own_lines(tmp_path):
    """LiteRT's "Created TensorFlow Lite XNNPACK delegate" line is silenced; our summary still shows."""
    make_photos(tmp_path / "in")
    out = subprocess.run([sys.executable, "-m", "ml.cutout", str(tmp_path / "in" / "a.jpg"), "--output",
                          str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "XNNPACK" not in out.stderr and "INFO" not in out.stderr
    assert "1 of 1 image(s) done" in out.stderr


def portrait(height: int = 96, width: int = 72) -> Image.Image:
    photo = np.full((height, width, 3), 225, np.uint8)
    cv2.ellipse(photo, (width // 2, height), (width // 3, height // 2), 0, 0, 360, (150, 90, 60), -1)
    cv2.circle(photo, (width // 2, height // 3), width // 6, (200, 150, 120), -1)
    return Image.fromarray(photo)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


INPUT_MODES = {
    "rgb.jpg": lambda im: im,
    "grey.png": lambda im: im.convert("L"),
    "palette.png": lambda im: im.convert("P", palette=Image.Palette.ADAPTIVE, colors=16),
    "rgba.png": lambda im: im.convert("RGBA"),
    "cmyk.jpg": lambda im: im.convert("CMYK"),
    "cmyk.tif": lambda im: im.convert("CMYK"),
    "grey16.png": lambda im: Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257),
    "photo.bmp": lambda im: im,
    "photo.webp": lambda im: im,
    "photo.tif": lambda im: im,
    "photo.heic": lambda im: im,
    "photo.avif": lambda im: im,
}


@pytest.mark.parametrize("name", sorted(INPUT_MODES) + ["rgb16.png"])
def test_every_input_mode_gives_a_cutout_of_the_right_size(tmp_path, name):
    base = portrait()
    path = tmp_path / name
    if name == "rgb16.png":
        cv2.imwrite(str(path), np.asarray(base)[:, :, ::-1].astype(np.uint16) * 257)
    else:
        INPUT_MODES[name](base).save(path)
    assert main([str(path), "--output", str(tmp_path / "out")]) == 0
    cutout = Image.open(tmp_path / "out" / f"{path.stem}.png")
    assert cutout.mode == "RGBA" and cutout.size == base.size


def test_a_folder_of_iphone_and_avif_photos(tmp_path):
    """Folders contribute .heic/.heif/.avif files like any other photo."""
    (tmp_path / "in").mkdir()
    for name in ("iphone.heic", "other.heif", "web.avif"):
        portrait().save(tmp_path / "in" / name)
    assert main([str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["iphone.png", "other.png", "web.png"]


def test_exif_rotated_photo_gives_an_upright_cutout(tmp_path):
    # Stored sideways (landscape pixels) with orientation 6: the camera was held upright.
    sideways = portrait().transpose(Image.Transpose.ROTATE_90)
    sideways.save(tmp_path / "phone.jpg", quality=95, exif=_exif(6))
    assert main([str(tmp_path / "phone.jpg"), "--output", str(tmp_path / "out"), "--background", "#00ff00",
                 "--format", "jpg"]) == 0
    cutout = Image.open(tmp_path / "out" / "phone.jpg")
    assert cutout.size == portrait().size  # upright: taller than wide


def test_matting_switch_reaches_the_segmenter():
    from ml.batch import build_segmenter
    from ml.cutout import parse_args
    from ml.matting import ON_BY_DEFAULT

    def matting(*options: str) -> bool:
        return build_segmenter(parse_args(["in.jpg", "--output", "out", *options])).matting

    assert matting() is ON_BY_DEFAULT
    assert matting("--matting") and not matting("--no-matting")
    assert not matting("--matting", "--no-refine")  # matting builds on the refinement


def test_matting_changes_the_cutout_edge(tmp_path):
    """On a real portrait (a drawn blob is no person to every model, so it has no edge to matte)."""
    (tmp_path / "in").mkdir()
    Image.open(PORTRAIT).reduce(4).save(tmp_path / "in" / "b.png")
    for option in ("--matting", "--no-matting"):
        assert main([str(tmp_path / "in" / "b.png"), "--output", str(tmp_path / option), option]) == 0
    matted, plain = (np.asarray(Image.open(tmp_path / option / "b.png")) for option in ("--matting", "--no-matting"))
    assert matted.shape == plain.shape and matted.shape[2] == 4
    assert 0.05 < (plain[:, :, 3] > 127).mean() < 0.95   # a person was found
    assert (matted[:, :, 3] != plain[:, :, 3]).any()
