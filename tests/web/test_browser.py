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
import zipfile
from pathlib import Path

import io

import numpy as np
import pytest
from PIL import Image
from werkzeug.serving import make_server

from ml.catalogue import DEFAULT_MODEL, MODELS
from tests.models import OTHER_MODEL
from webapp import create_app

from .conftest import decode, encode, portrait

playwright_sync = pytest.importorskip("playwright.sync_api")
PlaywrightTimeout = playwright_sync.TimeoutError

CHROMIUM = "/usr/bin/chromium"
DEMO_STEM = "0037"
DEMO_DIR = Path("/work/shared/datasets/ccp")
SHOTS = Path(os.environ.get("BACKDROP_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "backdrop-screenshots"))
BLUE = "#438edb"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
CHECKER_GREY = (201, 204, 214)  # #c9ccd6, the dark squares of .checkerboard in app.css


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


def image_loaded(page, selector: str, timeout_ms: int = 15_000) -> bool:
    """The image has loaded (waiting for it: on a busy machine a thumbnail can arrive after its row
    says done), or it never does within the timeout."""
    try:
        page.wait_for_function("s => { const img = document.querySelector(s); "
                               "return !!img && img.complete && img.naturalWidth > 0; }",
                               arg=selector, timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True


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
    assert page.text_content("[data-model]").strip() == MODELS[DEFAULT_MODEL].label
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
    assert page.text_content("[data-error-text]") == "No file was uploaded; choose a photo first."


def test_non_image_shows_the_error_next_to_the_form(page, server):
    page.goto(server + "/")
    page.set_input_files("[data-image-input]", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                       "buffer": b"this is not a photo"}])
    page.click("[data-submit]")
    page.wait_for_selector("[data-error-box]:visible")
    message = page.text_content("[data-error-text]")
    assert message.startswith("The file is text/plain, not an image; upload a JPEG")  # no field name
    assert page.evaluate("document.activeElement.hasAttribute('data-error-box')")
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
    assert page.text_content("[data-model]").strip() == MODELS[OTHER_MODEL].label
    page.click(".change-bg summary")
    page.click(".change-bg .chip:has(input[value=transparent])")
    page.click(".change-bg button[type=submit]")
    page.wait_for_url(re.compile(r"render=3$"))
    assert page.eval_on_selector("[data-result]", "img => img.classList.contains('checkerboard')")
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


def screen_of(browser, viewport: dict):
    """A page in a fresh context of the given size (phones at 2x pixels, as a real phone draws)."""
    phone = viewport["width"] < 600
    context = browser.new_context(viewport=viewport, device_scale_factor=2 if phone else 1, is_mobile=phone)
    return context, context.new_page()


def upload_transparent(page, server, photo: Path) -> None:
    page.goto(server + "/")
    page.set_input_files("[data-image-input]", str(photo))
    page.click(".chip:has(input[value=transparent])")
    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"render=1$"))
    page.wait_for_load_state("networkidle")


def pixels(page, selector: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)


def share(image: np.ndarray, colour: tuple[int, int, int]) -> float:
    """Fraction of the screenshot's pixels that are ``colour`` (within 3 levels)."""
    return float((np.abs(image - colour).max(axis=2) <= 3).mean())


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_result_and_downloads_are_in_the_first_screen(browser, server, demo, viewport):
    context, page = screen_of(browser, viewport)
    upload_transparent(page, server, demo[0])
    assert image_loaded(page, "[data-result]")
    assert page.evaluate("window.scrollY") == 0
    result = page.locator("[data-result]").bounding_box()
    assert result["height"] > 150 and result["y"] + result["height"] <= viewport["height"], result
    for kind in ("cutout", "composite", "mask"):
        box = page.locator(f"[data-download={kind}]").bounding_box()
        assert box["y"] + box["height"] <= viewport["height"], (kind, box)
    if viewport is PHONE:
        shot(page, "result-phone.png")
    context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_transparent_areas_show_a_checkerboard_white_or_black(browser, server, demo, viewport):
    """Screenshots of the result: the checkerboard's grey squares show through the cutout's
    transparent pixels; the toggle swaps them for white or black (and the compare page has it too)."""
    context, page = screen_of(browser, viewport)
    upload_transparent(page, server, demo[0])
    checker = pixels(page, "[data-result]")
    assert share(checker, CHECKER_GREY) > 0.05 and share(checker, (255, 255, 255)) > 0.05
    page.click(".view-black")
    black = pixels(page, "[data-result]")
    assert share(black, CHECKER_GREY) < 0.002 and share(black, (0, 0, 0)) > 0.1
    page.click(".view-white")
    white = pixels(page, "[data-result]")
    assert share(white, CHECKER_GREY) < 0.002 and share(white, (255, 255, 255)) > 0.1
    page.click("text=Compare both models")
    page.wait_for_load_state("networkidle")
    cutout = pixels(page, f"[data-cutout={DEFAULT_MODEL}]")
    assert share(cutout, CHECKER_GREY) > 0.05
    context.close()


def test_a_12_megapixel_result_page_loads_under_one_and_a_half_megabytes(browser, server):
    """The page fetches the 1600 px previews made with the job, not the 12 MP files (a transparent
    cutout alone is several MB as PNG)."""
    grain = np.random.default_rng(1).integers(-12, 13, size=(4000, 3000, 3), dtype=np.int16)
    rgb = np.clip(portrait(4000, 3000) + grain, 0, 255).astype(np.uint8)  # film grain: as heavy as a photo
    data = encode(rgb, quality=90)
    context, page = screen_of(browser, DESKTOP)
    made = page.request.post(server + "/api/v1/remove-background", timeout=120_000, multipart={
        "image": {"name": "twelve.jpg", "mimeType": "image/jpeg", "buffer": data}})
    assert made.ok, made.text()[:300]
    job_id = made.headers["x-job-id"]
    loaded: list[int] = []
    page.on("response", lambda response: loaded.append(len(response.body()))
            if response.request.resource_type == "image" else None)
    page.goto(f"{server}/jobs/{job_id}")
    page.wait_for_load_state("networkidle")
    assert image_loaded(page, "[data-result]") and image_loaded(page, "[data-original]")
    cutout_bytes = len(made.body())
    print(f"12 MP result page: {sum(loaded):,} bytes of images in {len(loaded)} responses (the upload: "
          f"{len(data):,} bytes; the full-size PNG cutout: {cutout_bytes:,} bytes)")
    assert sum(loaded) < 1.5e6
    context.close()


FOCUS_SHOWN = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) { return null; }
    const ring = e => { if (!e) { return false; } const s = getComputedStyle(e);
                        return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2; };
    const seen = e => { const r = e.getBoundingClientRect();
                        return getComputedStyle(e).opacity !== "0" && r.width > 2 && r.height > 2; };
    const shown = (seen(el) && ring(el)) || ring(el.nextElementSibling) || ring(el.closest(".dropzone, .before-after"));
    return {control: el.tagName + " " + (el.name || el.className || el.textContent.trim().slice(0, 30)), shown};
}"""


def tab_through(page, stops: int = 40) -> list[dict]:
    """Press Tab until focus leaves the page; what each stop was and whether its focus could be seen."""
    visited = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_SHOWN)
        if stop is None:
            break
        visited.append(stop)
    return visited


def test_keyboard_skip_link_visible_focus_and_current_page(page, server, demo):
    page.goto(server + "/")
    assert page.get_attribute("nav a[aria-current=page]", "href") == "/"
    assert page.locator("nav a[aria-current]").count() == 1
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0  # shown once focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    visited = tab_through(page)
    assert any(stop["control"] == "INPUT image" for stop in visited), visited  # the drop zone's input
    assert [stop for stop in visited if not stop["shown"]] == [], visited

    page.set_input_files("[data-image-input]", str(demo[0]))
    page.click(".chip:has(input[value=transparent])")
    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"render=1$"))
    page.evaluate("document.activeElement.blur()")
    visited = tab_through(page)
    controls = [stop["control"] for stop in visited]
    assert {"INPUT view-bg", "SUMMARY button ghost", "INPUT ba-range"} <= set(controls), controls
    assert [stop for stop in visited if not stop["shown"]] == [], visited
    page.goto(server + "/history")
    assert page.get_attribute("nav a[aria-current=page]", "href") == "/history"


def test_errors_speak_to_people_and_take_the_focus(browser, server, demo):
    """On a phone, where the form is far down the page: the message has no field name, has the focus
    and is on screen, both for the script's inline error and for a page the server sent back."""
    context, page = screen_of(browser, PHONE)
    page.goto(server + "/")
    page.click("[data-submit]")
    assert page.evaluate("document.activeElement.hasAttribute('data-error-box')")
    assert page.text_content("[data-error-text]").startswith("No file was uploaded")

    upload_transparent(page, server, demo[0])
    page.click(".change-bg summary")
    page.click(".change-bg .chip:has(input[value=color])")
    page.fill(".change-bg [data-colour-hex]", "#zzz")
    page.click(".change-bg button[type=submit]")
    page.wait_for_load_state("networkidle")
    box = page.locator(".change-bg [data-error-box]")
    assert page.evaluate("document.activeElement.closest('.change-bg') !== null && "
                         "document.activeElement.hasAttribute('data-error-box')")
    text = box.text_content().strip()
    assert text.startswith("Cannot read '#zzz' as a colour") and "color:" not in text
    bounds = box.bounding_box()
    assert 0 <= bounds["y"] and bounds["y"] + bounds["height"] <= PHONE["height"], bounds
    context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_history_shows_whole_results_and_deletes_the_ticked_jobs(browser, server, demo, viewport):
    context, page = screen_of(browser, viewport)
    ids = []
    for _ in range(2):
        upload_transparent(page, server, demo[0])
        ids.append(re.search(r"/jobs/([0-9a-f]{32})", page.url).group(1))
    page.goto(server + "/history")
    page.wait_for_load_state("networkidle")
    for job_id in ids:
        item = f"[data-job='{job_id}']"
        page.locator(item).scroll_into_view_if_needed()
        assert page.locator(f"{item} .history-link").inner_text().strip() == demo[0].name
        shape = page.eval_on_selector(f"{item} .thumb img", "img => [img.naturalWidth / img.naturalHeight, "
                                      "img.clientWidth / img.clientHeight, img.src]")
        assert f"cutout-{DEFAULT_MODEL}-thumb.webp" in shape[2] and abs(shape[0] - shape[1]) < 0.03  # whole, not cropped
        assert share(pixels(page, f"{item} .thumb img"), CHECKER_GREY) > 0.05
    page.on("dialog", lambda dialog: dialog.accept())
    for job_id in ids:
        page.check(f"[data-job='{job_id}'] [data-tick]")
    page.click("[data-delete-selected]")
    page.wait_for_url(re.compile(r"/history\?page=1$"))
    assert all(page.locator(f"[data-job='{job_id}']").count() == 0 for job_id in ids)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    context.close()


DROP_OR_PASTE = """([kind, bytes, name, selector]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "image/jpeg"}));
    const target = document.querySelector(selector);
    if (kind === "paste") {
        return !target.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true}));
    }
    target.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    return !target.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
}"""


def test_drop_anywhere_and_paste_from_the_clipboard(page, server, demo):
    """A photo dropped on the page's heading (far from the drop zone) or pasted is taken, not opened by
    the browser in place of the page; on pages with no upload a drop is refused the same way."""
    payload = list(demo[0].read_bytes())
    page.goto(server + "/")
    assert page.evaluate(DROP_OR_PASTE, ["drop", payload, "dropped-far.jpg", "h1"])  # default prevented
    assert page.text_content("[data-preview-name]") == "dropped-far.jpg"
    assert page.evaluate(DROP_OR_PASTE, ["paste", payload, "pasted.jpg", "body"])
    assert page.text_content("[data-preview-name]") == "pasted.jpg"
    assert page.evaluate("document.querySelector('[data-image-input]').files[0].name") == "pasted.jpg"
    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"render=1$"))
    assert page.evaluate(DROP_OR_PASTE, ["drop", payload, "stray.jpg", "footer"])
    assert re.search(r"render=1$", page.url)


def test_several_photos_progress_retry_and_one_zip(page, server, demo, tmp_path):
    second = tmp_path / "second.png"
    second.write_bytes(encode(portrait(300, 220), "PNG"))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    cut_off = []

    def once_cut_off(route):
        """The first upload of second.png loses its connection; its retry goes through."""
        if not cut_off and b'filename="second.png"' in (route.request.post_data_buffer or b""):
            cut_off.append(True)
            route.abort()
        else:
            route.continue_()

    page.route("**/jobs", once_cut_off)
    page.goto(server + "/")
    page.set_input_files("[data-image-input]", [str(demo[0]), str(second), str(notes)])
    assert page.text_content("[data-preview-name]").startswith("3 photos: ")
    page.click(".chip:has(input[value=transparent])")
    page.evaluate("""() => { window.seen = [];
        new MutationObserver(changes => changes.forEach(change => window.seen.push(
            change.target.querySelector("[data-batch-name]").textContent + " " + change.target.dataset.state)))
        .observe(document.querySelector("[data-batch-list]"), {attributes: true, subtree: true, attributeFilter: ["data-state"]}); }""")
    page.click("[data-submit]")
    rows = page.locator("[data-batch-item]")
    settled = "() => [...document.querySelectorAll('[data-batch-item]')].every(r => ['done', 'failed'].includes(r.dataset.state))"
    page.wait_for_function(settled)
    assert [rows.nth(i).get_attribute("data-state") for i in range(3)] == ["done", "failed", "failed"]
    assert f"{demo[0].name} uploading" in page.evaluate("window.seen")  # each row shows its progress
    assert "The upload failed" in rows.nth(1).text_content()
    assert "not an image" in rows.nth(2).text_content() and "image:" not in rows.nth(2).text_content()
    assert page.url == server + "/"  # the page stays: results come in as they finish
    assert page.is_enabled("[data-submit]")  # busy only while the batch runs

    rows.nth(1).locator("[data-batch-retry]").click()
    page.wait_for_function(settled)
    assert rows.nth(1).get_attribute("data-state") == "done"
    for i in (0, 1):
        assert image_loaded(page, f"[data-batch-item]:nth-child({i + 1}) [data-batch-thumb]")
        assert re.search(r"/jobs/[0-9a-f]{32}\?render=1$", rows.nth(i).locator("[data-batch-link]").get_attribute("href"))
    shot(page, "batch.png")
    with page.expect_download() as info:
        page.click("[data-batch-zip]")
    archive = tmp_path / "all.zip"
    info.value.save_as(archive)
    bundle = zipfile.ZipFile(archive)
    assert len(bundle.namelist()) == 2 and all(name.endswith(".png") for name in bundle.namelist())
    sizes = sorted(decode(bundle.read(name)).size for name in bundle.namelist())
    assert sizes == sorted([decode(demo[0].read_bytes()).size, (220, 300)])  # full size
