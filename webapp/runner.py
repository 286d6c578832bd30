"""What a job does with its photo, in terms of ``ml/`` calls and job-store files.

Jobs, not pixels: every pixel is worked by ``ml`` (segment with ``ml.segmenter``, compose with
``ml.compose``, encode and decode with ``ml.imageio``, previews from ``ml.previews``, the comparison of
two models from ``ml.compare``); this module decides which files a job gets and records them. Within
one request a matte just made stays in memory; stored ones are decoded only by later requests.
Re-runs ("other model", "change background") decode the stored original again, never the lossy
preview, so a second result is exactly as good as the first.

Files in a job folder:
  original.<ext>        the upload, byte for byte        input.jpg / thumb.jpg  upright previews (1600, 360 px)
  alpha-<model>.png     soft matte (grey, 0-255)         mask-<model>.png       hard mask (0/255)
  cutout-<model>.png    RGBA cutout                      result-<n>.<fmt>       render n on its background
  <stem>-preview.<webp|jpg>  1600 px preview of a cutout (WebP) or result (JPEG), <stem>-thumb.* 360 px
  bg-<n>.<ext>          uploaded background of render n  truth.png / diff.png   compare page
"""
from __future__ import annotations

import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ml import compare, metrics
from ml.compose import Background, Colour, Framing, Transparent, compose, parse_background
from ml.errors import ImageError
from ml.imageio import MIME_TYPES, decode_mask, encode_image, file_type, load_image
from ml.previews import Previews, photo_previews, result_previews

from webapp.errors import FieldError
from webapp.jobstore import Files, JobDamaged, JobNotFound, JobStore, utc_now
from webapp.model_pool import ModelPool

@dataclass(frozen=True)
class Picture:
    """An uploaded image: its bytes as sent and the upright RGB pixels ``ml.imageio`` decoded."""

    data: bytes
    rgb: np.ndarray
    filename: str = ""


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 1)


def cutout_name(model: str) -> str:
    return f"cutout-{model}.png"


def stored_mask(data: bytes) -> np.ndarray:
    """A mask the job stored: unreadable means the job is damaged (410), not that the user erred."""
    try:
        return decode_mask(data)
    except ImageError:
        raise JobDamaged("a stored mask is unreadable") from None


def preview_files(previews: Previews, stem: str) -> tuple[dict[str, str], Files]:
    """Names for previews encoded outside any transaction (keys ``preview`` and ``thumb``, for the
    record) and the files to store: named only when stored, since a render's number is known only then."""
    names = {"preview": f"{stem}-preview.{previews.fmt}", "thumb": f"{stem}-thumb.{previews.fmt}"}
    content_type = MIME_TYPES[previews.fmt]
    return names, {names["preview"]: (previews.preview, content_type), names["thumb"]: (previews.thumb, content_type)}


@dataclass(frozen=True)
class Mattes:
    """What a model run made, kept in memory for the rest of the request that made it."""

    alpha: np.ndarray
    hard: np.ndarray


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
        ext, content_type = file_type(picture.data)
        height, width = picture.rgb.shape[:2]
        record = {
            "source": source,
            "owner": owner,
            "settings": settings,
            "original": {"file": f"original.{ext}", "filename": printable(picture.filename), "width": width,
                         "height": height, "bytes": len(picture.data), "content_type": content_type},
            "masks": {},
        }
        previews = photo_previews(picture.rgb)
        files = {
            f"original.{ext}": (picture.data, content_type),
            "input.jpg": (previews.preview, MIME_TYPES["jpg"]),
            "thumb.jpg": (previews.thumb, MIME_TYPES["jpg"]),
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
        return stored_mask(self.store.read_file(record["id"], record["masks"][model]["alpha"]))

    # -- masks ----------------------------------------------------------------------------------
    # Each step below computes its pixels outside any transaction and returns a Change that records
    # them; a request applies all of its changes in one transaction, so it is stored whole or not at all.
    def ensure_mask(self, record: dict[str, Any], model: str, rgb: np.ndarray | None = None,
                    others: dict[str, np.ndarray] | None = None) -> Mattes | None:
        """Run ``model`` on the job's photo unless it already has; store its mattes (and, with the
        second model, the comparison of both) in one transaction. Returns the mattes it made, for the
        rest of this request to use without decoding them again; None when the job had them.
        ``others``: hard masks of other models this request made, for the comparison."""
        if model in record["masks"]:
            return None
        changes, made = self._segment(record, model, rgb, others or {})
        self._change(record, combine(changes))
        return made

    def _segment(self, record: dict[str, Any], model: str, rgb: np.ndarray | None,
                 others: dict[str, np.ndarray]) -> tuple[list[Change], Mattes]:
        """The changes that store ``model``'s new mattes (and the comparison it completes), and the mattes."""
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
        return [add, *self._comparison(record, {**others, model: hard})], Mattes(matte.alpha, hard)

    def ensure_cutout(self, record: dict[str, Any], model: str, rgb: np.ndarray | None = None,
                      alpha: np.ndarray | None = None) -> str:
        """The RGBA cutout of ``model``'s matte (with its previews), composed on first use and then kept;
        ``alpha`` is the matte when this request made it (else the stored one is read).

        Made lazily because it costs as much as a whole colour render (edge decontamination plus a
        large PNG) and most uploads ask for a colour; the result page's download link triggers it.
        """
        name = cutout_name(model)
        if name not in record["files"]:
            alpha = self.alpha(record, model) if alpha is None else alpha
            self._change(record, self._cutout(record, model, rgb, alpha))
        return name

    def _cutout(self, record: dict[str, Any], model: str, rgb: np.ndarray | None, alpha: np.ndarray) -> Change:
        name = cutout_name(model)
        rgb = self.original_rgb(record) if rgb is None else rgb
        with self.models.slot():
            start = time.perf_counter()
            cutout = compose(rgb, alpha, Transparent())
            took = _ms(start)
            data = encode_image(cutout, "png")
            made = result_previews(cutout)

        def add(current: dict[str, Any]) -> Files:
            if name in current["files"]:
                return {}
            names, previews = preview_files(made, f"cutout-{model}")
            current["masks"][model]["timings_ms"]["cutout"] = took
            current["masks"][model].update({f"cutout_{key}": value for key, value in names.items()})
            return {name: (data, MIME_TYPES["png"]), **previews}

        return add

    def _comparison(self, record: dict[str, Any], new: dict[str, np.ndarray]) -> list[Change]:
        """Once two models have run (``new``: hard masks not stored yet): where they disagree, and
        their scores if a ground truth exists. Empty before that, or once compared."""
        names = [name for name in self.models.names if name in record["masks"] or name in new]
        if len(names) < 2 or "diff.png" in record["files"]:
            return []
        masks = {name: new[name] if name in new else self._hard_mask(record, name) for name in names}
        first, second = masks[names[0]], masks[names[1]]
        truth = stored_mask(self.store.read_file(record["id"], record["truth"]["file"])) if "truth" in record else None
        comparison = {"models": names[:2], "diff": "diff.png", **compare.agreement(first, second),
                      "scores": None if truth is None else compare.scores(masks, truth)}
        # The map is only looked at, so it is drawn over the preview, at its size.
        preview = load_image(self.store.read_file(record["id"], "input.jpg"), max_pixels=self.max_pixels)
        diff = encode_image(compare.disagreement_map(preview, first, second), "png")

        def add(current: dict[str, Any]) -> Files:
            if "diff.png" in current["files"]:
                return {}  # the other model's request got there first
            current["comparison"] = comparison
            return {"diff.png": (diff, MIME_TYPES["png"])}

        return [add]

    def _hard_mask(self, record: dict[str, Any], model: str) -> np.ndarray:
        return metrics.binarize(stored_mask(self.store.read_file(record["id"], record["masks"][model]["mask"])))

    # -- renders --------------------------------------------------------------------------------
    def render(self, record: dict[str, Any], model: str, chosen: ChosenBackground, rgb: np.ndarray | None = None,
               fmt: str = "jpg", framing: Framing = Framing()) -> dict[str, Any]:
        """Compose the job's photo with ``model``'s matte over the ``chosen`` background; returns the render.

        The render records the background's ``spec``. A transparent background in a format without
        alpha (JPEG) gets white. A whole transparent PNG is the cutout itself, not a copy; ``framing``
        (API: crop=subject, max_side) crops and scales the photo and matte first. The matte, cutout and render this needs are stored in one transaction, with the next free
        render number at that moment, whoever else renders meanwhile; or, if it fails, none of them.
        """
        changes: list[Change] = []
        hard: np.ndarray | None = None
        if model in record["masks"]:
            alpha = self.alpha(record, model)
        else:
            rgb = self.original_rgb(record) if rgb is None else rgb
            changes, made = self._segment(record, model, rgb, {})
            alpha, hard = made.alpha, made.hard
        background, picture = chosen.background, chosen.picture
        transparent = background.transparent
        cutout = cutout_name(model) if transparent else None
        if cutout is not None and cutout not in record["files"]:
            rgb = self.original_rgb(record) if rgb is None else rgb
            changes.append(self._cutout(record, model, rgb, alpha))
        render: dict[str, Any] = {"model": model, "background": background.spec}
        data = None
        shown: Previews | None = None
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
                    shown = result_previews(composed)
        uploaded = file_type(picture.data) if picture is not None else None

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
            if shown is not None:
                names, previews = preview_files(shown, f"result-{number}")
                render.update(names)
                files.update(previews)
            if uploaded is not None:
                render["background_file"] = f"bg-{number}.{uploaded[0]}"
                files[render["background_file"]] = (picture.data, uploaded[1])
            current["renders"].append(dict(render))
            return files

        self._change(record, combine([*changes, add]))
        return render

    def mask_file(self, record: dict[str, Any], model: str, fmt: str, framing: Framing = Framing(),
                  hard: np.ndarray | None = None) -> bytes:
        """``model``'s hard mask (0/255) in ``fmt``, cropped and scaled by ``framing``: the stored PNG
        itself when nothing changes. ``hard`` is the mask when this request made it."""
        if fmt == "png" and framing.whole:
            return self.store.read_file(record["id"], record["masks"][model]["mask"])
        mask = self._hard_mask(record, model) if hard is None else hard
        return encode_image(framing.apply_to_mask(mask.astype(np.uint8) * 255), fmt)

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
                person = compare.truth_mask(truth.rgb)
                self.attach(record, "truth", {"file": "truth.png", "foreground": round(float(person.mean()), 4)},
                            {"truth.png": (encode_image(person.astype(np.uint8) * 255, "png"), "image/png")})
            hard: dict[str, np.ndarray] = {}
            for name in self.models.names:
                made = self.ensure_mask(record, name, picture.rgb, hard)
                if made is not None:
                    hard[name] = made.hard
                self.ensure_cutout(record, name, picture.rgb, made.alpha if made else None)
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

