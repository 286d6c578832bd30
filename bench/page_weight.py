"""Bytes of images a browser loads for a job's result page and for the history, by photo size.

    python -m bench.page_weight [--sizes 1,12,24] [--photo PATH]

Serves the app (real models, temporary data directory) and opens the pages in Debian's chromium
through Playwright, counting the bodies of image responses. Pages show previews (at most 1600 px,
``ml.previews.PREVIEW_SIDE``), so the figures should barely grow with the photo; the "full-size
files" column is what the page would weigh if it showed the stored files instead (the photo as a
JPEG and the result as stored), which is what it loaded before previews. Goal: a 12 MP result page
under 1.5 MB (tests/web/test_browser.py checks it on a drawn photo).
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from bench.machine import describe_machine
from ml.compose import parse_background
from ml.imageio import encode_image, load_image
from webapp import create_app
from webapp.runner import ChosenBackground, Picture

CHROMIUM = "/usr/bin/chromium"
DEFAULT_PHOTO = Path("/work/shared/datasets/ccp/images/0037.jpg")
BACKGROUNDS = {"transparent": "transparent", "colour": "#438edb"}


def photo_of(megapixels: float, source: Path) -> np.ndarray:
    """The photo scaled to ``megapixels``, with a little grain so it weighs what a camera's file does."""
    rgb = load_image(source) if source.exists() else np.full((512, 384, 3), 128, np.uint8)
    height, width = rgb.shape[:2]
    scale = (megapixels * 1e6 / (height * width)) ** 0.5
    big = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(0).integers(-6, 7, big.shape, dtype=np.int16)
    return np.clip(big + grain, 0, 255).astype(np.uint8)


def image_bytes(page, url: str) -> int:
    """Bytes of every image response while ``url`` loads, in a fresh cache."""
    loaded: list[int] = []
    page.on("response", lambda r: loaded.append(len(r.body())) if r.request.resource_type == "image" else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return sum(loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,12,24", help="photo sizes in megapixels")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would bury the table
    with tempfile.TemporaryDirectory() as data_dir, sync_playwright() as pw:
        # Shared history: the jobs are made here, not by the browser session that loads /history.
        app = create_app({"DATA_DIR": data_dir, "MAX_PIXELS": 40_000_000, "SHARED_HISTORY": True})
        jobs = app.extensions["backdrop"]
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        server = f"http://127.0.0.1:{httpd.server_port}"
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        print(f"{'photo':>6} {'background':>12} {'page images':>12} {'full-size files':>16}")
        for megapixels in (float(size) for size in args.sizes.split(",")):
            rgb = photo_of(megapixels, args.photo)
            data = encode_image(rgb, "jpg", 90)
            for label, spec in BACKGROUNDS.items():
                record = jobs.start(Picture(data, rgb, "photo.jpg"), "page", {"model": "sinet", "background": spec})
                render = jobs.render(record, "sinet", ChosenBackground(parse_background(spec)), rgb=rgb)
                full = len(data) + record["files"][record["masks"]["sinet"]["cutout"] if spec == "transparent"
                                                   else render["file"]]["bytes"]
                context = browser.new_context(viewport={"width": 1366, "height": 900})
                weight = image_bytes(context.new_page(), f"{server}/jobs/{record['id']}")
                context.close()
                print(f"{megapixels:5.0f}MP {label:>12} {weight / 1e6:10.2f}MB {full / 1e6:14.2f}MB")
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        history = image_bytes(context.new_page(), f"{server}/history")
        print(f"history page with {2 * len(args.sizes.split(','))} jobs: {history / 1e3:.0f} kB of images")
        print(f"_{describe_machine()}; {args.photo.name if args.photo.exists() else 'a grey picture'} "
              f"scaled up, with grain._")
        browser.close()
        httpd.shutdown()


if __name__ == "__main__":
    main()
