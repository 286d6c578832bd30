"""End-to-end through a real browser: Debian's chromium driven by Playwright against the app served
in-process on a free port with a temporary data directory.

Screenshots of the upload, result and compare pages are taken on every run, and kept in
$BACKDROP_SCREENSHOT_DIR when it is set (`make screenshots` points it at docs/screenshots/), so a plain
test run never rewrites the committed pictures. They use a real photo when the shared CCP data set is on this machine
(Apache-2.0) and a drawn portrait otherwise.
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from werkzeug.serving import make_server

from webapp import create_app

from .conftest import decode, encode, portrait

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
DEMO_STEM = "0037"
DEMO_DIR = Path("/work/shared/datasets/ccp")
SHOTS = Path(os.environ.get("BACKDROP_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "backdrop-screenshots"))
BLUE = "#438edb"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = create_app({"DATA_DIR": tmp_path_factory.mktemp("data"), "MAX_UPLOAD_MB": 5})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    """(photo, ground-truth mask) files to upload."""
    image, mask = DEMO_DIR / "images" / f"{DEMO_STEM}.jpg", DEMO_DIR / "masks" / f"{DEMO_STEM}.png"
    if image.exists() and mask.exists():
        return image, mask
    folder = tmp_path_factory.mktemp("demo")
    rgb = portrait(480, 360)
    (folder / "portrait.jpg").write_bytes(encode(rgb))
    truth = np.zeros(rgb.shape[:2], np.uint8)
    truth[int(480 * 0.14):, 360 // 2 - 150:360 // 2 + 150] = 255
    (folder / "truth.png").write_bytes(encode(truth, "PNG"))
    return folder / "portrait.jpg", folder / "truth.png"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def image_loaded(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0")


def test_upload_pick_colour_result_and_download(page, server, demo, tmp_path):
    page.goto(server + "/")
    page.set_input_files("[data-image-input]", str(demo[0]))
    page.wait_for_selector("[data-preview-img]:visible")
    assert image_loaded(page, "[data-preview-img]")
    page.click(".swatch-blue")
    assert page.input_value("[data-colour-hex]") == BLUE
    assert page.is_checked("input[name=background][value=color]")
    shot(page, "upload.png")

    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}\?render=1$"))
    page.wait_for_load_state("networkidle")
    assert image_loaded(page, "[data-original]") and image_loaded(page, "[data-result]")
    assert page.text_content("[data-model]").strip() == "SINet"
    shot(page, "result.png")

    with page.expect_download() as info:
        page.click("[data-download=composite]")
    jpg = tmp_path / "result.jpg"
    info.value.save_as(jpg)
    with page.expect_download() as info:
        page.click("[data-download=mask]")
    mask_path = tmp_path / "mask.png"
    info.value.save_as(mask_path)
    result = np.asarray(decode(jpg.read_bytes()).convert("RGB")).astype(int)
    mask = np.asarray(decode(mask_path.read_bytes()))
    original = decode(demo[0].read_bytes())
    assert result.shape[:2] == mask.shape == (original.height, original.width)
    background = result[mask == 0]
    assert background.size, "the model kept every pixel, so the colour cannot be checked"
    assert np.abs(np.median(background, axis=0) - [0x43, 0x8E, 0xDB]).max() <= 6


def test_drag_and_drop_hex_colour_and_reset(page, server, demo):
    page.goto(server + "/")
    payload = list(demo[0].read_bytes())
    page.evaluate("""bytes => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "dropped.jpg", {type: "image/jpeg"}));
        const zone = document.querySelector("[data-dropzone]");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", payload)
    page.wait_for_selector("[data-preview-img]:visible")
    assert page.text_content("[data-preview-name]") == "dropped.jpg"
    assert page.evaluate("document.querySelector('[data-image-input]').files.length") == 1
    page.fill("[data-colour-hex]", "#2e7d32")
    assert page.input_value("[data-colour-picker]") == "#2e7d32"
    assert "selected" in page.get_attribute(".swatch-green", "class")
    page.click(".chip:has(input[value=blur])")
    assert page.is_hidden("[data-colour-hex]")  # only the chosen kind's options show
    page.click("[data-reset]")
    assert page.is_checked("input[name=background][value=color]")
    page.wait_for_selector("[data-preview]", state="hidden")
    assert page.input_value("[data-colour-hex]") == "#ffffff" and "selected" in page.get_attribute(".swatch-white", "class")
    assert page.evaluate("document.querySelector('[data-image-input]').files.length") == 0
    page.click("[data-submit]")  # nothing chosen: told so at once, nothing sent
    assert "no file was uploaded" in page.text_content("[data-error-text]")


def test_non_image_shows_the_error_next_to_the_form(page, server):
    page.goto(server + "/")
    page.set_input_files("[data-image-input]", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                       "buffer": b"this is not a photo"}])
    page.click("[data-submit]")
    page.wait_for_selector("[data-error-box]:visible")
    message = page.text_content("[data-error-text]")
    assert "image" in message and "not an image" in message
    assert page.url == server + "/"
    assert "invalid" in page.get_attribute("[data-dropzone]", "class")
    assert page.is_visible("[data-preview-none]") and not page.is_visible("[data-preview-img]")


def test_other_model_and_change_background_reuse_the_upload(page, server, demo):
    page.goto(server + "/")
    page.set_input_files("[data-image-input]", str(demo[0]))
    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"render=1$"))
    page.click("[data-other-model]")
    page.wait_for_url(re.compile(r"render=2$"))
    assert page.text_content("[data-model]").strip() == "Mobile-UNet"
    page.click(".change-bg summary")
    page.click(".change-bg .chip:has(input[value=transparent])")
    page.click(".change-bg button[type=submit]")
    page.wait_for_url(re.compile(r"render=3$"))
    assert page.eval_on_selector("[data-result]", "img => img.parentElement.classList.contains('checkerboard')")
    assert image_loaded(page, "[data-result]")


def test_compare_page_with_ground_truth(page, server, demo):
    page.goto(server + "/compare")
    page.set_input_files("[data-image-input]", str(demo[0]))
    page.set_input_files("input[name=truth]", str(demo[1]))
    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}/compare$"))
    page.wait_for_load_state("networkidle")
    assert image_loaded(page, "[data-diff]")
    for name in ("sinet", "mobile-unet"):
        assert image_loaded(page, f"[data-cutout={name}]")
        iou = float(page.text_content(f"[data-score-row={name}] [data-iou]"))
        assert 0.0 <= iou <= 1.0
    shot(page, "compare.png")
    page.goto(server + "/history")
    assert page.locator(".history-item").count() >= 1
    shot(page, "history.png")


def test_phone_width_has_no_sideways_scroll(browser, server, demo):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(server + "/")
    shot(page, "upload-phone.png")
    page.set_input_files("[data-image-input]", str(demo[0]))
    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"render=1$"))
    result = page.url
    for url in (server + "/", server + "/compare", server + "/history", result,
                result.split("?")[0] + "/compare"):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    context.close()
