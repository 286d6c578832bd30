"""ml.library: ``remove`` on every kind of input and background, ``new_segmenter`` made once and shared,
and the CLIs taking their defaults from it."""
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devtools.portrait import PORTRAIT
from ml import new_segmenter, remove
from ml.compose import Colour
from ml.imageio import load_image
from ml.library import DEFAULT_MODEL, TTA_ON_BY_DEFAULT, to_rgb
from ml.registry import DEFAULT_WEIGHTS_DIR, MODEL_FILES, available_models, load_runtime
from ml.segmenter import Segmenter

pytestmark = pytest.mark.skipif(not available_models(), reason="no weights/*.tflite committed yet")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real portrait (upright RGB), small enough to segment quickly."""
    return np.ascontiguousarray(load_image(PORTRAIT)[::2, ::2])


@pytest.fixture(scope="module")
def png(photo, tmp_path_factory) -> Path:
    """The portrait as a lossless file, so every input form holds exactly the same pixels."""
    path = tmp_path_factory.mktemp("library") / "astronaut.png"
    Image.fromarray(photo).save(path)
    return path


@pytest.fixture(scope="module")
def reference(photo) -> np.ndarray:
    """The cut-out wired by hand with the served settings, which ``remove`` must reproduce."""
    from ml.compose import Transparent, compose
    matte = Segmenter(load_runtime(DEFAULT_MODEL), tta=TTA_ON_BY_DEFAULT).segment(photo)
    return compose(photo, matte.alpha, Transparent())


def test_every_input_form_gives_the_same_rgba_cutout(photo, png, reference):
    inputs = {"path": png, "str": str(png), "bytes": png.read_bytes(), "pil": Image.open(png), "array": photo,
              "rgba array": np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])}
    for name, image in inputs.items():
        cutout = remove(image)
        assert cutout.shape == (*photo.shape[:2], 4) and cutout.dtype == np.uint8, name
        np.testing.assert_array_equal(cutout, reference, err_msg=name)
    assert 0.05 < (reference[..., 3] > 127).mean() < 0.95  # a person was found, not all or nothing


def test_colour_blur_grey_and_image_backgrounds_give_rgb(photo, png, reference, tmp_path):
    scenery = tmp_path / "scenery.png"
    Image.fromarray(np.full((30, 50, 3), (10, 200, 30), np.uint8)).save(scenery)
    outside = reference[..., 3] == 0
    assert outside.any()
    for background in ("#0000ff", "navy", "blur", "blur:5", "grey", str(scenery), f"fit:{scenery}", Colour((0, 0, 255))):
        out = remove(photo, background=background)
        assert out.shape == photo.shape, background
    np.testing.assert_array_equal(remove(photo, background="#0000ff")[outside], [[0, 0, 255]] * int(outside.sum()))
    assert (remove(png, background=str(scenery))[outside] == (10, 200, 30)).all()
    grey = remove(photo, background="grey")[outside].astype(int)
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()


def test_crop_trims_to_the_subject_with_its_margin(photo, reference):
    rows, cols = np.flatnonzero((reference[..., 3] >= 128).any(1)), np.flatnonzero((reference[..., 3] >= 128).any(0))
    tight = remove(photo, crop=True, margin=0.0)
    assert tight.shape == (rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0], 4)
    assert remove(photo, crop=True).shape[0] >= tight.shape[0]


def test_settings_reach_the_segmenter(photo):
    plain = Segmenter(load_runtime("sinet"), tta=False, refine=False).segment(photo)
    out = remove(photo, "sinet", tta=False, refine=False)
    np.testing.assert_array_equal(out[..., 3], plain.alpha)
    with pytest.raises(TypeError, match="settings"):
        remove(photo, new_segmenter(), tta=False)


def test_a_segmenter_is_made_once_per_model_and_settings():
    assert new_segmenter() is new_segmenter(DEFAULT_MODEL) is new_segmenter(DEFAULT_MODEL, tta=TTA_ON_BY_DEFAULT)
    assert new_segmenter().tta is TTA_ON_BY_DEFAULT
    variants = {new_segmenter(DEFAULT_MODEL, tta=False), new_segmenter(DEFAULT_MODEL, matting=True),
                new_segmenter("sinet"), new_segmenter("mobile-unet"), new_segmenter(DEFAULT_MODEL, threshold=200),
                new_segmenter()}
    assert len(variants) == 5   # new_segmenter() is one of the two named models
    assert new_segmenter("mobile-unet").runtime.name == "mobile-unet"


def test_coarse_to_fine_only_when_asked():
    """Off by default (it costs real photos more than it gives small people); one switch turns it on."""
    assert new_segmenter("sinet").refocus is None and new_segmenter("mobile-unet").refocus is None
    assert new_segmenter("sinet", refocus=True).refocus is not None
    assert new_segmenter("sinet", refocus=True) is not new_segmenter("sinet")


def test_replaced_weights_get_a_new_segmenter(tmp_path):
    weights = f"{MODEL_FILES[DEFAULT_MODEL]}.tflite"
    shutil.copy(DEFAULT_WEIGHTS_DIR / weights, tmp_path / weights)
    first = new_segmenter(weights_dir=tmp_path)
    assert new_segmenter(weights_dir=tmp_path) is first
    (tmp_path / weights).write_bytes((DEFAULT_WEIGHTS_DIR / weights).read_bytes() + b"\0")
    assert new_segmenter(weights_dir=tmp_path) is not first


def test_a_pillow_image_is_turned_upright_by_its_exif():
    sideways = Image.new("RGB", (40, 20), (200, 10, 10))
    data = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(data, "JPEG", exif=exif)
    assert to_rgb(Image.open(data)).shape == (40, 20, 3)
    assert to_rgb(Image.new("L", (5, 3), 9)).shape == (3, 5, 3)


@pytest.mark.parametrize("array, problem", [(np.zeros((4, 4, 3), np.float32), "uint8"),
                                            (np.zeros((4, 4, 2), np.uint8), r"\(H, W\)")])
def test_arrays_that_are_not_images_are_refused(array, problem):
    with pytest.raises(ValueError, match=problem):
        remove(array)


def test_clis_share_the_library_defaults_and_segmenters():
    from ml.batch import build_segmenter
    from ml.cutout import parse_args as cutout_args
    from ml.evaluate import parse_args as evaluate_args

    assert build_segmenter(cutout_args(["in.jpg", "--output", "out"])) is new_segmenter()
    assert build_segmenter(cutout_args(["in.jpg", "--output", "out", "--no-tta"])) is new_segmenter(tta=False)
    assert not evaluate_args(["--model", "sinet", "--data", "d"]).tta  # model cards score the model alone
