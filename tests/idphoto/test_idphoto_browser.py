"""Making an ID photo through the page in a real browser (server and browser fixtures from tests/web)."""
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.web.test_browser import browser, page, server, shot  # noqa: F401  (shared fixtures)

PHOTO = Path(__file__).parent / "data" / "astronaut.jpg"


def test_make_an_id_photo_through_the_page(page, server, tmp_path):
    page.goto(server + "/")
    page.click("nav >> text=ID photo")
    page.wait_for_selector("[data-idphoto-form]")
    page.set_input_files("#idphoto-image", str(PHOTO))
    page.select_option("[data-preset]", "us-passport")
    assert page.input_value("[data-background]") == "white"   # the document's own default colour
    page.select_option("[data-background]", "off-white")
    page.click("[data-submit]")
    page.wait_for_selector("[data-idphoto-result]:visible", timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert page.eval_on_selector("[data-after]", "img => img.complete && img.naturalWidth") == 600
    assert page.eval_on_selector("[data-before]", "img => img.complete && img.naturalWidth") > 0
    rules = page.eval_on_selector_all("[data-rule]", "rows => rows.map(r => r.dataset.rule)")
    assert {"head_height", "eye_line", "face_count", "background_uniform", "resolution"} <= set(rules)
    assert page.get_attribute("[data-overall]", "data-status") in ("pass", "warn", "fail")
    shot(page, "idphoto.png")
    with page.expect_download() as info:
        page.click("[data-download]")
    saved = tmp_path / "id.jpg"
    info.value.save_as(saved)
    with Image.open(io.BytesIO(saved.read_bytes())) as image:
        assert image.size == (600, 600) and image.info["dpi"] == pytest.approx((300, 300))


def test_photo_without_a_face_shows_the_message(page, server, tmp_path):
    blank = tmp_path / "wall.jpg"
    Image.new("RGB", (320, 320), (200, 190, 170)).save(blank)
    page.goto(server + "/id-photo")
    page.set_input_files("#idphoto-image", str(blank))
    page.click("[data-submit]")
    page.wait_for_selector("[data-error-box]:visible", timeout=30_000)
    assert "No face was found" in page.text_content("[data-error-text]")
    assert page.is_hidden("[data-idphoto-result]")
