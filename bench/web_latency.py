"""End-to-end request times of the web app (Flask test client, real models, temporary data dir).

    python bench/web_latency.py [--sizes 1,12,24] [--repeat 3] [--photo PATH]

Prints, per photo size in megapixels, the median wall time of: a page upload (segment, cutout,
previews, render on a colour), the API's transparent PNG, the API's JPEG on a colour, and "change
background" (re-uses the stored matte), plus the stages recorded in job.json for the page upload.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.imageio import encode_image, load_image  # noqa: E402
from webapp import create_app  # noqa: E402

DEFAULT_PHOTO = Path("/work/shared/datasets/ccp/images/0037.jpg")


def photo_of(megapixels: float, source: Path | None) -> bytes:
    if source and source.exists():
        rgb = load_image(source)
    else:
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 255, (512, 384, 3), dtype=np.uint8)
    height, width = rgb.shape[:2]
    scale = (megapixels * 1e6 / (height * width)) ** 0.5
    size = (round(width * scale), round(height * scale))
    return encode_image(cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC), "jpg", 90)


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def post(client, url: str, data: bytes, **fields):
    form = {"image": (io.BytesIO(data), "photo.jpg", "image/jpeg"), **fields}
    response = client.post(url, data=form, content_type="multipart/form-data")
    if response.status_code not in (200, 303):
        raise SystemExit(f"{url}: {response.status_code} {response.data[:200]!r}")
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,12,24", help="photo sizes in megapixels")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app({"DATA_DIR": data_dir, "MAX_UPLOAD_MB": 200, "MAX_PIXELS": 40_000_000})
        client = app.test_client()
        store = app.extensions["backdrop"].store
        print(f"models loaded in {app.extensions['backdrop'].models.load_ms:.0f} ms")
        print(f"{'MP':>5} {'upload page':>12} {'API png':>9} {'API jpg':>9} {'change bg':>10}   stages of the page upload (ms)")
        for megapixels in (float(s) for s in args.sizes.split(",")):
            data = photo_of(megapixels, args.photo)
            rows: dict[str, list[float]] = {"page": [], "png": [], "jpg": [], "change": []}
            stages = {}
            for _ in range(args.repeat):
                ms, response = timed(lambda: post(client, "/jobs", data, background="color", color="#438edb"))
                rows["page"].append(ms)
                job_id = response.headers["Location"].split("/")[2].split("?")[0]
                record = store.load(job_id)
                stages = record["masks"]["sinet"]["timings_ms"] | record["renders"][0]["timings_ms"]
                rows["png"].append(timed(lambda: post(client, "/api/v1/remove-background", data))[0])
                rows["jpg"].append(timed(lambda: post(client, "/api/v1/remove-background", data,
                                                      background="#ffffff", format="jpg"))[0])
                rows["change"].append(timed(lambda: client.post(f"/jobs/{job_id}/background",
                                                                data={"background": "blur"}))[0])
            med = {k: statistics.median(v) for k, v in rows.items()}
            detail = " ".join(f"{k}={v:.0f}" for k, v in stages.items())
            print(f"{megapixels:5.1f} {med['page']:12.0f} {med['png']:9.0f} {med['jpg']:9.0f} {med['change']:10.0f}   {detail}")


if __name__ == "__main__":
    main()
