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
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import cv2
import numpy as np
from PIL import Image

from ml import metrics
from ml.compose import Background, Colour, Framing, Transparent, compose, parse_background
from ml.errors import ImageError
from ml.imageio import MIME_TYPES, encode_image, fit_within, load_image

from webapp.errors import FieldError
from webapp.jobstore import Files, JobDamaged, JobNotFound, JobStore, utc_now
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
    """A mask the job stored: unreadable means the job is damaged (410), not that the user erred."""
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if values is None:
        raise JobDamaged("a stored mask is unreadable")
    return values


@dataclass(frozen=True)
class Previews:
    """The page preview and history thumbnail of a cutout or result, encoded (outside any
    transaction); named only when stored, since a render's number is known only then."""

    fmt: str
    preview: bytes
    thumb: bytes

    def named(self, stem: str) -> tuple[dict[str, str], Files]:
        """Their names (keys ``preview`` and ``thumb``, for the record) and the files to store."""
        names = {"preview": f"{stem}-preview.{self.fmt}", "thumb": f"{stem}-thumb.{self.fmt}"}
        content_type = MIME_TYPES[self.fmt]
        return names, {names["preview"]: (self.preview, content_type), names["thumb"]: (self.thumb, content_type)}


def previews(image: np.ndarray) -> Previews:
    """Previews of a cutout (WebP, it needs alpha) or an opaque result (JPEG)."""
    fmt = "webp" if image.ndim == 3 and image.shape[2] == 4 else "jpg"
    preview = fit_within(image, PREVIEW_SIDE)
    encoded = (encode_image(picture, fmt, PREVIEW_QUALITY, webp_method=PREVIEW_WEBP_METHOD)
               for picture in (preview, fit_within(preview, THUMB_SIDE)))
    return Previews(fmt, *encoded)


@dataclass(frozen=True)
class ChosenBackground:
    """A request's background, parsed once: what to compose on and, for an image background, the
    upload it was read from (stored with the render, so "other model" can reuse it)."""

    background: Background
    picture: Picture | None = None

    @property
    def spec(self) -> str:
        """What the job records (``ml.compose.parse_background`` reads it back)."""
        return self.background.spec


# A change to a job: edits the record as stored now (JobStore.update) and returns the files it names.
Change = Callable[[dict[str, Any]], Files]


def combine(changes: list[Change]) -> Change:
    """One change that applies ``changes`` in order: what one request stores, in one transaction."""
    def apply(current: dict[str, Any]) -> Files:
        files: Files = {}
        for change in changes:
            files.update(change(current))
        return files
    return apply


def printable(text: str, limit: int = 200) -> str:
    """A client-chosen name as safe text: control characters (NUL, newlines, escapes) dropped."""
    return "".join(ch for ch in text if ch.isprintable())[:limit]


class JobRunner:
    """Creates and extends jobs: one instance per app, holding the store and the loaded models.

    Methods take the caller's ``record`` (its view of the job) and refresh it in place after each
    change, which the store makes in one transaction on the job as stored at that moment: slow work
    (models, compositing, encoding) happens outside it, so two requests on one job never wait for
    each other's pixels and never overwrite each other's results.
    """

    def __init__(self, store: JobStore, models: ModelPool, max_pixels: int) -> None:
        self.store = store
        self.models = models
        self.max_pixels = max_pixels

    # -- new jobs -------------------------------------------------------------------------------
    def start(self, picture: Picture, source: str, settings: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
        """Store the upload with its previews as a new job (no model run yet) belonging to ``owner``."""
        ext, content_type = upload_type(picture.data)
        height, width = picture.rgb.shape[:2]
        record = {
            "source": source,
            "owner": owner,
            "settings": settings,
            "original": {"file": f"original.{ext}", "filename": printable(picture.filename), "width": width,
                         "height": height, "bytes": len(picture.data), "content_type": content_type},
            "masks": {},
        }
        files = {
            f"original.{ext}": (picture.data, content_type),
            "input.jpg": (encode_image(fit_within(picture.rgb, PREVIEW_SIDE), "jpg", PREVIEW_QUALITY), MIME_TYPES["jpg"]),
            "thumb.jpg": (encode_image(fit_within(picture.rgb, THUMB_SIDE), "jpg", PREVIEW_QUALITY), MIME_TYPES["jpg"]),
        }
        return self.store.create(record, files)

    def _change(self, record: dict[str, Any], change: Change) -> dict[str, Any]:
        """Apply ``change`` to the stored job in one transaction; ``record`` becomes the stored state."""
        fresh = self.store.update(record["id"], change)
        record.clear()
        record.update(fresh)
        return record

    def attach(self, record: dict[str, Any], key: str, value: Any, files: Files) -> dict[str, Any]:
        """Record ``value`` under ``key`` with the files it names (an ID photo, a ground truth)."""
        def add(current: dict[str, Any]) -> Files:
            current[key] = value
            return files
        return self._change(record, add)

    def original_rgb(self, record: dict[str, Any]) -> np.ndarray:
        data = self.store.read_file(record["id"], record["original"]["file"])
        try:
            return load_image(data, max_pixels=self.max_pixels)
        except ImageError as exc:
            raise JobDamaged(f"its stored photo is unreadable ({exc})") from None

    def alpha(self, record: dict[str, Any], model: str) -> np.ndarray:
        return decode_grey_png(self.store.read_file(record["id"], record["masks"][model]["alpha"]))

    # -- masks ----------------------------------------------------------------------------------
    # Each step below computes its pixels outside any transaction and returns a Change that records
    # them; a request applies all of its changes in one transaction, so it is stored whole or not at all.
    def ensure_mask(self, record: dict[str, Any], model: str, rgb: np.ndarray | None = None) -> dict[str, Any]:
        """Run ``model`` on the job's photo unless it already has; store its mattes (and, with the
        second model, the comparison of both) in one transaction."""
        if model not in record["masks"]:
            self._change(record, combine(self._segment(record, model, rgb)[0]))
        return record

    def _segment(self, record: dict[str, Any], model: str,
                 rgb: np.ndarray | None) -> tuple[list[Change], np.ndarray, np.ndarray]:
        """The changes that store ``model``'s new mattes (and the comparison it completes), its alpha
        and its hard mask."""
        rgb = self.original_rgb(record) if rgb is None else rgb
        with self.models.slot():
            matte = self.models.segment(model, rgb, record["settings"].get("matting", False))
        mask = {"alpha": f"alpha-{model}.png", "mask": f"mask-{model}.png", "cutout": cutout_name(model),
                "timings_ms": {k: round(v, 1) for k, v in matte.timings_ms.items()},
                "foreground": round(float(matte.mask.mean()), 4), "created": utc_now()}
        files = {
            mask["alpha"]: (encode_image(matte.alpha, "png"), "image/png"),
            mask["mask"]: (encode_image(matte.mask.astype(np.uint8) * 255, "png"), "image/png"),
        }

        def add(current: dict[str, Any]) -> Files:
            if model in current["masks"]:
                return {}  # another request ran it meanwhile: keep theirs
            current["masks"][model] = mask
            return files

        hard = metrics.binarize(matte.mask)
        return [add, *self._comparison(record, {model: hard})], matte.alpha, hard

    def ensure_cutout(self, record: dict[str, Any], model: str, rgb: np.ndarray | None = None) -> str:
        """The RGBA cutout of ``model``'s matte (with its previews), composed on first use and then kept.

        Made lazily because it costs as much as a whole colour render (edge decontamination plus a
        large PNG) and most uploads ask for a colour; the result page's download link triggers it.
        """
        name = cutout_name(model)
        if name not in record["files"]:
            self._change(record, self._cutout(record, model, rgb, self.alpha(record, model)))
        return name

    def _cutout(self, record: dict[str, Any], model: str, rgb: np.ndarray | None, alpha: np.ndarray) -> Change:
        name = cutout_name(model)
        rgb = self.original_rgb(record) if rgb is None else rgb
        with self.models.slot():
            start = time.perf_counter()
            cutout = compose(rgb, alpha, Transparent())
            took = _ms(start)
            data = encode_image(cutout, "png")
            made = previews(cutout)

        def add(current: dict[str, Any]) -> Files:
            if name in current["files"]:
                return {}
            names, preview_files = made.named(f"cutout-{model}")
            current["masks"][model]["timings_ms"]["cutout"] = took
            current["masks"][model].update({f"cutout_{key}": value for key, value in names.items()})
            return {name: (data, MIME_TYPES["png"]), **preview_files}

        return add

    def _comparison(self, record: dict[str, Any], new: dict[str, np.ndarray]) -> list[Change]:
        """Once two models have run (``new``: hard masks not stored yet): where they disagree, and
        their scores if a ground truth exists. Empty before that, or once compared."""
        names = [name for name in self.models.names if name in record["masks"] or name in new]
        if len(names) < 2 or "diff.png" in record["files"]:
            return []
        masks = {name: new[name] if name in new else self._hard_mask(record, name) for name in names}
        first, second = masks[names[0]], masks[names[1]]
        scores = None
        if "truth" in record:
            truth = decode_grey_png(self.store.read_file(record["id"], record["truth"]["file"]))
            scores = {name: {"iou": round(metrics.iou(masks[name], truth), 4),
                             "boundary_f": round(metrics.boundary_f(masks[name], truth), 4)} for name in names}
        # The map is only looked at, so it is drawn at the preview's size, over the preview.
        rgb = load_image(self.store.read_file(record["id"], "input.jpg"), max_pixels=self.max_pixels)
        comparison = {
            "models": names[:2], "diff": "diff.png",
            "disagreement": round(float(np.mean(first != second)), 4),
            "iou_between": round(metrics.iou(first, second), 4),
            "scores": scores,
        }
        small_first, small_second = (_shrink_mask(mask, rgb.shape[:2]) for mask in (first, second))
        diff = encode_image(disagreement_map(rgb, small_first, small_second), "png")

        def add(current: dict[str, Any]) -> Files:
            if "diff.png" in current["files"]:
                return {}  # the other model's request got there first
            current["comparison"] = comparison
            return {"diff.png": (diff, MIME_TYPES["png"])}

        return [add]

    def _hard_mask(self, record: dict[str, Any], model: str) -> np.ndarray:
        return metrics.binarize(decode_grey_png(self.store.read_file(record["id"], record["masks"][model]["mask"])))

    # -- renders --------------------------------------------------------------------------------
    def render(self, record: dict[str, Any], model: str, chosen: ChosenBackground, rgb: np.ndarray | None = None,
               fmt: str = "jpg", framing: Framing = Framing()) -> dict[str, Any]:
        """Compose the job's photo with ``model``'s matte over the ``chosen`` background; returns the render.

        The render records the background's ``spec``. A transparent background in a format without alpha (JPEG) gets white. A whole transparent PNG is the cutout itself, not a
        copy; ``framing`` (API: crop=subject, max_side) crops and scales the photo and matte first.
        The matte, cutout and render this needs are stored in one transaction, with the next free
        render number at that moment, whoever else renders meanwhile; or, if it fails, none of them.
        """
        changes: list[Change] = []
        hard: np.ndarray | None = None
        if model in record["masks"]:
            alpha = self.alpha(record, model)
        else:
            rgb = self.original_rgb(record) if rgb is None else rgb
            changes, alpha, hard = self._segment(record, model, rgb)
        background, picture = chosen.background, chosen.picture
        transparent = background.transparent
        cutout = cutout_name(model) if transparent else None
        if cutout is not None and cutout not in record["files"]:
            rgb = self.original_rgb(record) if rgb is None else rgb
            changes.append(self._cutout(record, model, rgb, alpha))
        render: dict[str, Any] = {"model": model, "background": background.spec}
        data = None
        made: Previews | None = None
        if transparent and fmt == "png" and framing.whole:
            render["file"], render["timings_ms"] = cutout, {"compose": 0.0, "encode": 0.0}
        else:
            if transparent and fmt == "jpg":
                background = Colour((255, 255, 255))
            rgb = self.original_rgb(record) if rgb is None else rgb
            if not framing.whole:
                hard = self._hard_mask(record, model) if hard is None else hard
                rgb, alpha = framing.apply([rgb, alpha], hard)
            with self.models.slot():
                start = time.perf_counter()
                composed = compose(rgb, alpha, background)
                compose_ms = _ms(start)
                start = time.perf_counter()
                data = encode_image(composed, fmt)
                render["timings_ms"] = {"compose": compose_ms, "encode": _ms(start)}
                if not transparent:
                    made = previews(composed)
        uploaded = upload_type(picture.data) if picture is not None else None

        def add(current: dict[str, Any]) -> Files:
            number = max((r["n"] for r in current["renders"]), default=0) + 1
            render.update(n=number, created=utc_now())
            files: Files = {}
            if data is not None:
                render["file"] = f"result-{number}.{fmt}"
                files[render["file"]] = (data, MIME_TYPES[fmt])
            if transparent:  # the page shows the cutout's preview even when the file is a JPEG on white
                mask = current["masks"][model]  # (a cutout made before previews existed stands in for them)
                render.update(preview=mask.get("cutout_preview", cutout), thumb=mask.get("cutout_thumb", cutout))
            if made is not None:
                names, preview_files = made.named(f"result-{number}")
                render.update(names)
                files.update(preview_files)
            if uploaded is not None:
                render["background_file"] = f"bg-{number}.{uploaded[0]}"
                files[render["background_file"]] = (picture.data, uploaded[1])
            current["renders"].append(dict(render))
            return files

        self._change(record, combine([*changes, add]))
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

    def stored_background(self, record: dict[str, Any], render: dict[str, Any]) -> ChosenBackground:
        """The background of an earlier render, its uploaded picture included, to reuse it with another model."""
        name = render.get("background_file")
        picture = None
        if name is not None:
            data = self.store.read_file(record["id"], name)
            picture = Picture(data, load_image(data, max_pixels=self.max_pixels), name)
        return ChosenBackground(parse_background(render["background"], image=picture.rgb if picture else None), picture)

    # -- comparison with a ground truth ---------------------------------------------------------
    def start_compare(self, picture: Picture, truth: Picture | None, owner: str | None = None) -> dict[str, Any]:
        """A job that runs every model on ``picture``, scored against ``truth`` when one is given."""
        if truth is not None and truth.rgb.shape[:2] != picture.rgb.shape[:2]:
            (h, w), (th, tw) = picture.rgb.shape[:2], truth.rgb.shape[:2]
            raise FieldError("truth", f"truth: the mask is {tw}x{th} but the photo is {w}x{h}; they must match.")
        record = self.start(picture, "compare", {"models": self.models.names, "truth": truth is not None}, owner)
        with self.cleanup_on_error(record):
            if truth is not None:
                person = metrics.binarize(cv2.cvtColor(truth.rgb, cv2.COLOR_RGB2GRAY))
                self.attach(record, "truth", {"file": "truth.png", "foreground": round(float(person.mean()), 4)},
                            {"truth.png": (encode_image(person.astype(np.uint8) * 255, "png"), "image/png")})
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
            with suppress(JobNotFound):  # deleted meanwhile: nothing left to clean
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
