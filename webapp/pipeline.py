"""What a job does with its photo, in terms of ``ml/`` calls and job-store files.

The web layer's only image work lives here, and it is all bookkeeping around ``ml``: segment with
``ml.segmenter``, compose with ``ml.compose``, encode with ``ml.imageio``, score with ``ml.metrics``.
Re-runs ("other model", "change background") decode the stored original again, never the lossy
preview, so a second result is exactly as good as the first.

Pages show previews, made once when the photo or result is made: a 12 MP photo's full-size files
weigh 5-10 MB, and a page that fetched them would be slow on a phone for no visible gain in a frame
a few hundred pixels wide. Full-size files are only fetched by the download links.

Files in a job folder:
  original.<ext>        the upload, byte for byte        input.jpg / thumb.jpg  upright previews (1600, 360 px)
  alpha-<model>.png     soft matte (grey, 0-255)         mask-<model>.png       hard mask (0/255)
  cutout-<model>.png    RGBA cutout                      result-<n>.<fmt>       render n on its background
  <stem>-preview.<webp|jpg>  1600 px preview of a cutout (WebP) or result (JPEG), <stem>-thumb.* 360 px
  bg-<n>.<ext>          uploaded background of render n  truth.png / diff.png   compare page
"""
from __future__ import annotations

import io
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import cv2
import numpy as np
from PIL import Image

from ml import metrics
from ml.compose import Background, Colour, Framing, ImageBackground, compose, parse_background
from ml.errors import ImageError
from ml.imageio import MIME_TYPES, encode_image, fit_within, load_image

from webapp.errors import FieldError
from webapp.jobstore import JobStore, utc_now
from webapp.models import ModelPool

# Previews: the longer side of what pages show (sharp on a 2x screen at 800 px) and of history
# thumbnails. Opaque ones are JPEG (a 1600 px one encodes in 11 ms, against 300 ms for WebP at its
# default effort); cutouts need alpha, so WebP at its fastest effort (1600 px: 55-70 ms and 78 kB,
# against about 190 ms and 55 kB at the default 4): previews are made on every upload.
PREVIEW_SIDE = 1600
THUMB_SIDE = 360
PREVIEW_QUALITY = 85
PREVIEW_WEBP_METHOD = 0
# Pillow format -> (extension, content type) for storing an upload as it came.
UPLOAD_TYPES = {"JPEG": ("jpg", "image/jpeg"), "MPO": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"),
                "WEBP": ("webp", "image/webp"), "BMP": ("bmp", "image/bmp"), "TIFF": ("tiff", "image/tiff"),
                "HEIF": ("heic", "image/heic"), "AVIF": ("avif", "image/avif")}
# Disagreement map colours: where only the first model, or only the second, sees a person.
ONLY_FIRST = np.array([255, 140, 0], np.float32)
ONLY_SECOND = np.array([30, 120, 255], np.float32)

Files = dict[str, tuple[bytes, str]]


@dataclass(frozen=True)
class Picture:
    """An uploaded image: its bytes as sent and the upright RGB pixels ``ml.imageio`` decoded."""

    data: bytes
    rgb: np.ndarray
    filename: str = ""


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 1)


def upload_type(data: bytes) -> tuple[str, str]:
    """Extension and content type of an upload ``load_image`` accepted (read from its header)."""
    with Image.open(io.BytesIO(data)) as image:
        return UPLOAD_TYPES.get(image.format or "", ("bin", "application/octet-stream"))


def cutout_name(model: str) -> str:
    return f"cutout-{model}.png"


def decode_grey_png(data: bytes) -> np.ndarray:
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if values is None:
        raise ImageError("a stored mask is unreadable")
    return values


def previews(stem: str, image: np.ndarray) -> tuple[dict[str, str], Files]:
    """The page preview and history thumbnail of a cutout or result: their names (keys ``preview``
    and ``thumb``, for the record) and the files to store."""
    fmt = "webp" if image.ndim == 3 and image.shape[2] == 4 else "jpg"
    preview = fit_within(image, PREVIEW_SIDE)
    names = {"preview": f"{stem}-preview.{fmt}", "thumb": f"{stem}-thumb.{fmt}"}
    files = {name: (encode_image(picture, fmt, PREVIEW_QUALITY, webp_method=PREVIEW_WEBP_METHOD), MIME_TYPES[fmt])
             for name, picture in ((names["preview"], preview), (names["thumb"], fit_within(preview, THUMB_SIDE)))}
    return names, files


def background_for(spec: str, picture: Picture | None) -> Background:
    """A validated spec (``transparent``, ``blur``, ``#rrggbb``) or ``image`` with its picture.

    Image backgrounds are built from the uploaded pixels, never from a path: ``parse_background``
    also accepts file paths, which must never be reachable from a request.
    """
    if spec == "image":
        if picture is None:
            raise ValueError("an image background needs its picture")
        return ImageBackground(picture.rgb)
    return parse_background(spec)


class JobRunner:
    """Creates and extends jobs: one instance per app, holding the store and the loaded models."""

    def __init__(self, store: JobStore, models: ModelPool, max_pixels: int) -> None:
        self.store = store
        self.models = models
        self.max_pixels = max_pixels

    # -- new jobs -------------------------------------------------------------------------------
    def start(self, picture: Picture, source: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Store the upload with its previews as a new job (no model run yet)."""
        ext, content_type = upload_type(picture.data)
        height, width = picture.rgb.shape[:2]
        record = {
            "source": source,
            "settings": settings,
            "original": {"file": f"original.{ext}", "filename": picture.filename[:200], "width": width,
                         "height": height, "bytes": len(picture.data), "content_type": content_type},
            "masks": {},
            "renders": [],
        }
        files = {
            f"original.{ext}": (picture.data, content_type),
            "input.jpg": (encode_image(fit_within(picture.rgb, PREVIEW_SIDE), "jpg", PREVIEW_QUALITY), MIME_TYPES["jpg"]),
            "thumb.jpg": (encode_image(fit_within(picture.rgb, THUMB_SIDE), "jpg", PREVIEW_QUALITY), MIME_TYPES["jpg"]),
        }
        return self.store.create(record, files)

    def original_rgb(self, record: dict[str, Any]) -> np.ndarray:
        data = self.store.read_file(record["id"], record["original"]["file"])
        return load_image(data, max_pixels=self.max_pixels)

    def alpha(self, record: dict[str, Any], model: str) -> np.ndarray:
        return decode_grey_png(self.store.read_file(record["id"], record["masks"][model]["alpha"]))

    # -- masks ----------------------------------------------------------------------------------
    def ensure_mask(self, record: dict[str, Any], model: str, rgb: np.ndarray | None = None) -> dict[str, Any]:
        """Run ``model`` on the job's photo unless it already has; store its soft alpha and hard mask."""
        if model in record["masks"]:
            return record
        rgb = self.original_rgb(record) if rgb is None else rgb
        with self.models.slot():
            matte = self.models.segment(model, rgb)
        files = {
            f"alpha-{model}.png": (encode_image(matte.alpha, "png"), "image/png"),
            f"mask-{model}.png": (encode_image(matte.mask.astype(np.uint8) * 255, "png"), "image/png"),
        }
        record["masks"][model] = {
            "alpha": f"alpha-{model}.png", "mask": f"mask-{model}.png", "cutout": cutout_name(model),
            "timings_ms": {k: round(v, 1) for k, v in matte.timings_ms.items()},
            "foreground": round(float(matte.mask.mean()), 4),
            "created": utc_now(),
        }
        self.store.save(record, files)
        comparison = self._comparison(record)
        if comparison:
            self.store.save(record, comparison)
        return record

    def ensure_cutout(self, record: dict[str, Any], model: str, rgb: np.ndarray | None = None) -> str:
        """The RGBA cutout of ``model``'s matte (with its previews), composed on first use and then kept.

        Made lazily because it costs as much as a whole colour render (edge decontamination plus a
        large PNG) and most uploads ask for a colour; the result page's download link triggers it.
        """
        name = cutout_name(model)
        if name in record["files"]:
            return name
        rgb = self.original_rgb(record) if rgb is None else rgb
        with self.models.slot():
            start = time.perf_counter()
            cutout = compose(rgb, self.alpha(record, model), parse_background("transparent"))
            record["masks"][model]["timings_ms"]["cutout"] = _ms(start)
            data = encode_image(cutout, "png")
            names, files = previews(f"cutout-{model}", cutout)
        record["masks"][model].update({f"cutout_{key}": value for key, value in names.items()})
        self.store.save(record, {name: (data, MIME_TYPES["png"]), **files})
        return name

    def _comparison(self, record: dict[str, Any]) -> Files:
        """Once two models have run: where they disagree, and their scores if a ground truth exists."""
        names = [name for name in self.models.names if name in record["masks"]]
        if len(names) < 2:
            return {}
        first, second = (self._hard_mask(record, name) for name in names[:2])
        scores = None
        if "truth" in record:
            truth = decode_grey_png(self.store.read_file(record["id"], record["truth"]["file"]))
            scores = {name: {"iou": round(metrics.iou(self._hard_mask(record, name), truth), 4),
                             "boundary_f": round(metrics.boundary_f(self._hard_mask(record, name), truth), 4)}
                      for name in names}
        # The map is only looked at, so it is drawn at the preview's size, over the preview.
        rgb = load_image(self.store.read_file(record["id"], "input.jpg"), max_pixels=self.max_pixels)
        record["comparison"] = {
            "models": names[:2], "diff": "diff.png",
            "disagreement": round(float(np.mean(first != second)), 4),
            "iou_between": round(metrics.iou(first, second), 4),
            "scores": scores,
        }
        small_first, small_second = (_shrink_mask(mask, rgb.shape[:2]) for mask in (first, second))
        return {"diff.png": (encode_image(disagreement_map(rgb, small_first, small_second), "png"), MIME_TYPES["png"])}

    def _hard_mask(self, record: dict[str, Any], model: str) -> np.ndarray:
        return metrics.binarize(decode_grey_png(self.store.read_file(record["id"], record["masks"][model]["mask"])))

    # -- renders --------------------------------------------------------------------------------
    def render(self, record: dict[str, Any], model: str, spec: str, picture: Picture | None = None,
               rgb: np.ndarray | None = None, fmt: str = "jpg", framing: Framing = Framing()) -> dict[str, Any]:
        """Compose the job's photo with ``model``'s matte over background ``spec``; returns the render.

        ``picture`` is the uploaded background for ``spec == "image"``. A transparent background in a
        format without alpha (JPEG) gets white. A whole transparent PNG is the cutout itself, not a
        copy; ``framing`` (API: crop=subject, max_side) crops and scales the photo and matte first.
        """
        record = self.ensure_mask(record, model, rgb)
        number = max((r["n"] for r in record["renders"]), default=0) + 1
        background = background_for(spec, picture)
        transparent = background.transparent
        cutout = self.ensure_cutout(record, model, rgb) if transparent else None
        render = {"n": number, "model": model, "background": spec, "created": utc_now()}
        files: Files = {}
        if transparent:  # the page shows the cutout's preview even when the file is a JPEG on white
            mask = record["masks"][model]  # (a cutout made before previews existed stands in for them)
            render.update(preview=mask.get("cutout_preview", cutout), thumb=mask.get("cutout_thumb", cutout))
        if transparent and fmt == "png" and framing.whole:
            render["file"], render["timings_ms"] = cutout, {"compose": 0.0, "encode": 0.0}
        else:
            if transparent and fmt == "jpg":
                background = Colour((255, 255, 255))
            rgb = self.original_rgb(record) if rgb is None else rgb
            alpha = self.alpha(record, model)
            if not framing.whole:
                rgb, alpha = framing.apply([rgb, alpha], self._hard_mask(record, model))
            with self.models.slot():
                start = time.perf_counter()
                composed = compose(rgb, alpha, background)
                compose_ms = _ms(start)
                start = time.perf_counter()
                data = encode_image(composed, fmt)
                render["timings_ms"] = {"compose": compose_ms, "encode": _ms(start)}
                if not transparent:
                    names, preview_files = previews(f"result-{number}", composed)
                    render.update(names)
                    files.update(preview_files)
            render["file"] = f"result-{number}.{fmt}"
            files[render["file"]] = (data, MIME_TYPES[fmt])
        if picture is not None and spec == "image":
            ext, content_type = upload_type(picture.data)
            render["background_file"] = f"bg-{number}.{ext}"
            files[render["background_file"]] = (picture.data, content_type)
        record["renders"].append(render)
        self.store.save(record, files)
        return render

    def mask_file(self, record: dict[str, Any], model: str, fmt: str, framing: Framing = Framing()) -> bytes:
        """``model``'s hard mask (0/255) in ``fmt``, cropped and scaled by ``framing``: the stored PNG
        itself when nothing changes."""
        data = self.store.read_file(record["id"], record["masks"][model]["mask"])
        if fmt == "png" and framing.whole:
            return data
        stored = decode_grey_png(data)
        (scaled,) = framing.apply([stored], metrics.binarize(stored))
        mask = metrics.binarize(scaled).astype(np.uint8) * 255  # scaling greys the outline: 0/255 again
        return encode_image(mask, fmt)

    def stored_background(self, record: dict[str, Any], render: dict[str, Any]) -> Picture | None:
        """The uploaded background picture of an earlier render, to reuse it with another model."""
        name = render.get("background_file")
        if name is None:
            return None
        data = self.store.read_file(record["id"], name)
        return Picture(data, load_image(data, max_pixels=self.max_pixels), name)

    # -- comparison with a ground truth ---------------------------------------------------------
    def start_compare(self, picture: Picture, truth: Picture | None) -> dict[str, Any]:
        """A job that runs every model on ``picture``, scored against ``truth`` when one is given."""
        if truth is not None and truth.rgb.shape[:2] != picture.rgb.shape[:2]:
            (h, w), (th, tw) = picture.rgb.shape[:2], truth.rgb.shape[:2]
            raise FieldError("truth", f"truth: the mask is {tw}x{th} but the photo is {w}x{h}; they must match.")
        record = self.start(picture, "compare", {"models": self.models.names, "truth": truth is not None})
        with self.cleanup_on_error(record):
            if truth is not None:
                person = metrics.binarize(cv2.cvtColor(truth.rgb, cv2.COLOR_RGB2GRAY))
                record["truth"] = {"file": "truth.png", "foreground": round(float(person.mean()), 4)}
                self.store.save(record, {"truth.png": (encode_image(person.astype(np.uint8) * 255, "png"), "image/png")})
            for name in self.models.names:
                self.ensure_mask(record, name, picture.rgb)
                self.ensure_cutout(record, name, picture.rgb)
        return record

    @contextmanager
    def cleanup_on_error(self, record: dict[str, Any]) -> Iterator[None]:
        """Delete a job that failed half-way through being built, so history never shows a stub."""
        try:
            yield
        except BaseException:
            self.store.delete(record["id"])
            raise


def _shrink_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A full-size boolean mask at the size of the preview it is drawn over."""
    return cv2.resize(mask.astype(np.uint8) * 255, shape[::-1], interpolation=cv2.INTER_AREA) >= 128


def disagreement_map(rgb: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The photo dimmed to grey, with pixels only the first model keeps in orange, only the second in blue."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)[:, :, None]
    both = (first & second)[:, :, None]
    base = np.where(both, grey * 0.9 + 25, grey * 0.35)
    out = np.repeat(base, 3, axis=2)
    out[first & ~second] = ONLY_FIRST
    out[second & ~first] = ONLY_SECOND
    return np.clip(out, 0, 255).astype(np.uint8)
