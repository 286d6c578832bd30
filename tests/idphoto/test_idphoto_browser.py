"""The ID-photo page in a real browser (server and browser fixtures from tests/web): drop a photo, pick a
face of a group, read the report, errors that clear the old result, a 390 px phone, reopening from History."""
import io
from pathlib import Path

import pytest
from PIL import Image

from devtools.portrait import PORTRAIT
from tests.web.test_browser import browser, page, server, shot  # noqa: F401  (shared fixtures)


@pytest.fixture
def pair(tmp_path) -> Path:
    """Two copies of the portrait side by side: a group of two."""
    with Image.open(PORTRAIT) as one:
        both = Image.new("RGB", (one.width * 2, one.height))
        both.paste(one, (0, 0))
        both.paste(one, (one.width, 0))
    path = tmp_path / "two.jpg"
    both.save(path)
    return path


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    yield context.new_page()
    context.close()


def make(page, photo, preset="eu-passport"):
    page.set_input_files("#idphoto-image", str(photo))
    page.wait_for_selector("[data-face-box]")
    page.select_option("[data-preset]", preset)
    page.click("[data-submit]")
    page.wait_for_selector("[data-idphoto-result]:visible", timeout=60_000)
    page.wait_for_load_state("networkidle")


def test_make_an_id_photo_through_the_page(page, server, tmp_path):
    page.goto(server + "/")
    page.click("nav >> text=ID photo")
    page.wait_for_selector("[data-idphoto-form]")
    page.set_input_files("#idphoto-image", str(PORTRAIT))
    # The preview has a size only once the browser has decoded the photo: wait for it, don't race it.
    page.wait_for_selector("[data-id-preview-img]", state="visible")
    page.wait_for_selector("[data-face-box='1'].selected")  # one face: chosen for you
    page.select_option("[data-preset]", "cn-2inch")
    assert page.input_value("[data-background]") == "white"   # the document's own default colour
    page.select_option("[data-background]", "light-blue")
    page.check("input[name=model][value=sinet]", force=True)
    page.click("[data-submit]")
    page.wait_for_selector("[data-idphoto-result]:visible", timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert page.eval_on_selector("[data-after]", "img => img.complete && img.naturalWidth") == 413
    assert page.eval_on_selector("[data-before]", "img => img.complete && img.naturalWidth") > 0
    rules = page.eval_on_selector_all("[data-rule]", "rows => rows.map(r => r.dataset.rule)")
    assert {"head_height", "face_count", "cutout_clean", "background_method", "resolution"} <= set(rules)
    assert page.get_attribute("[data-overall]", "data-status") in ("pass", "warn", "fail")
    shot(page, "idphoto.png")
    with page.expect_download() as info:
        page.click("[data-download]")
    saved = tmp_path / "id.jpg"
    info.value.save_as(saved)
    with Image.open(io.BytesIO(saved.read_bytes())) as image:
        assert image.size == (413, 579) and image.info["dpi"] == pytest.approx((300, 300))


def test_a_document_that_forbids_replacement_hides_the_colour_and_says_why(page, server):
    page.goto(server + "/id-photo")
    page.select_option("[data-preset]", "au-passport")
    assert page.is_hidden("[data-background-field]")
    assert "kept as photographed" in page.text_content("[data-preset-rule]")


def test_a_group_shows_numbered_faces_to_click(page, server, pair):
    page.goto(server + "/id-photo")
    page.set_input_files("#idphoto-image", str(pair))
    page.wait_for_selector("[data-face-box='2']")
    assert "2 faces found" in page.text_content("[data-faces-note]")
    left = page.eval_on_selector("[data-face-box='1']", "b => b.getBoundingClientRect().left")
    right = page.eval_on_selector("[data-face-box='2']", "b => b.getBoundingClientRect().left")
    assert left < right
    page.click("[data-face-box='2']")
    assert page.input_value("[data-face]") == "2"
    page.click("[data-submit]")
    page.wait_for_selector("[data-idphoto-result]:visible", timeout=60_000)
    assert "Face 2 of 2" in page.text_content("[data-rule='face_count']")


def test_an_error_clears_the_previous_result(page, server, pair):
    page.goto(server + "/id-photo")
    make(page, PORTRAIT)
    page.set_input_files("#idphoto-image", str(pair))  # two faces, none chosen
    page.wait_for_selector("[data-face-box='2']")
    page.click("[data-submit]")
    page.wait_for_selector("[data-error-box]:visible", timeout=30_000)
    assert "2 faces were found" in page.text_content("[data-error-text]")
    assert page.is_hidden("[data-idphoto-result]")


def test_photo_without_a_face_shows_the_message(page, server, tmp_path):
    blank = tmp_path / "wall.jpg"
    Image.new("RGB", (320, 320), (200, 190, 170)).save(blank)
    page.goto(server + "/id-photo")
    page.set_input_files("#idphoto-image", str(blank))
    page.wait_for_selector("[data-faces-note]:has-text('No face')")
    page.click("[data-submit]")
    page.wait_for_selector("[data-error-box]:visible", timeout=30_000)
    assert "No face was found" in page.text_content("[data-error-text]")
    assert page.is_hidden("[data-idphoto-result]")


def test_the_report_fits_a_390_px_phone(phone, server):
    phone.goto(server + "/id-photo")
    make(phone, PORTRAIT)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    hint = phone.eval_on_selector("[data-rule='head_height'] td:last-child", "td => td.getBoundingClientRect().right")
    assert hint <= 390
    shot(phone, "idphoto-phone.png")


def test_history_reopens_the_id_result(page, server):
    page.goto(server + "/id-photo")
    make(page, PORTRAIT, preset="cn-1inch")
    job_id = page.get_attribute("[data-job-json]", "href").rsplit("/", 1)[1]
    page.goto(server + "/history")
    page.click(f"[data-job='{job_id}'] .history-title")
    page.wait_for_selector("[data-idphoto-result]:visible", timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert page.input_value("[data-preset]") == "cn-1inch"
    assert page.eval_on_selector("[data-after]", "img => img.complete && img.naturalWidth") == 295
    assert page.locator("[data-rule]").count() >= 8


def test_the_crop_can_be_dragged_and_zoomed_within_the_range(page, server):
    page.goto(server + "/id-photo")
    make(page, PORTRAIT)
    assert page.get_attribute("[data-adjust-head]", "min") == "32" and page.get_attribute("[data-adjust-head]", "max") == "36"
    page.eval_on_selector("[data-adjust-head]", "s => { s.value = '33'; s.dispatchEvent(new Event('input')); }")
    assert "33.0 mm" in page.text_content("[data-adjust-value]")
    page.locator("[data-adjust-frame]").scroll_into_view_if_needed()
    box = page.locator("[data-adjust-frame]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 16, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    assert "translate(16px" in page.get_attribute("[data-adjust-img]", "style")  # the live preview moved
    page.click("[data-adjust-apply]")
    page.wait_for_selector("[data-idphoto-result]:visible", timeout=60_000)
    page.wait_for_selector("[data-rule='head_height']")
    head = float(page.text_content("[data-rule='head_height'] td:nth-child(2)").split()[0])
    assert head == pytest.approx(33, abs=0.1)
    assert float(page.input_value("[data-crop='offset_mm']")) > 0
    assert "You moved the face" in page.text_content("[data-rule='centring']")
