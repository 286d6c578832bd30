"""Reading any user photo into RGB uint8, and writing results back out.

Every entry point (web upload, CLIs, benchmarks) goes through ``load_image`` so that the same rules
apply everywhere: the pixel limit is checked from the header before anything is decoded (a 50 kB
PNG can claim 100,000 x 100,000 pixels), EXIF orientation is applied so phones' portraits come out
upright, and every mode Pillow can open (16-bit, grey, palette, CMYK, RGBA...) becomes plain RGB.
iPhones save HEIC (read through the pillow-heif plugin, which applies the file's rotation itself and
resets the EXIF tag) and some phones and browsers AVIF (Pillow 13 reads it natively).
"""
from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageCms, UnidentifiedImageError

from ml.errors import ImageError, ImageTooLarge

pillow_heif.register_heif_opener()

# 40 MP: above any phone or consumer camera photo we expect (24 MP is the documented maximum use),
# low enough that the worst case stays within the memory budget of one request.
DEFAULT_MAX_PIXELS = 40_000_000

MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
# Pillow format -> (extension, content type) for keeping a file as it came.
FILE_TYPES = {"JPEG": ("jpg", "image/jpeg"), "MPO": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"),
              "WEBP": ("webp", "image/webp"), "BMP": ("bmp", "image/bmp"), "TIFF": ("tiff", "image/tiff"),
              "HEIF": ("heic", "image/heic"), "AVIF": ("avif", "image/avif")}

# Pillow format names we accept (MPO is the multi-picture JPEG many cameras write; HEIF covers .heic).
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "HEIF", "AVIF"}
# The same list as people know the formats: every message and page that names them uses this.
FORMAT_NAMES = "JPEG, PNG, WebP, BMP, TIFF, HEIC or AVIF"
_FORMAT_ALIASES = {"jpeg": "jpg"}

_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> operations that make the stored pixels upright (applied in order).
_ORIENT_OPS = {
    2: ("flip_lr",),
    3: ("rot180",),
    4: ("flip_ud",),
    5: ("transpose",),
    6: ("rot90_cw",),
    7: ("transverse",),
    8: ("rot90_ccw",),
}

_SRGB = ImageCms.createProfile("sRGB")


def load_image(source: bytes | str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` (file bytes or a path) to an upright RGB uint8 array of shape (H, W, 3).

    Raises ImageTooLarge before decoding when the header reports more than ``max_pixels`` pixels,
    and ImageError (with a message naming the problem) for missing, empty, corrupt or truncated
    files and unsupported formats.
    """
    data = _read(source)
    image = _open(data, max_pixels)
    try:
        with image:
            orientation = _orientation(image)
            rgb = _decode_jpeg_fast(image, data)
            if rgb is None:
                # Pillow opens every file at its first frame, which is the photo of a multi-page TIFF or
                # an animated WebP. Later frames are never looked at: counting them (n_frames) parses
                # every page, and one damaged page raised TypeError on a photo whose first page is fine.
                image.load()
                rgb = _to_rgb(image)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(_bomb_message(exc, max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"the image data is corrupt or truncated ({_describe(exc)})") from None
    except RuntimeError as exc:
        # pillow-heif's libheif: a HEIF container whose codec it lacks (an AVIF stream labelled heic),
        # or a stream it cannot decode.
        raise ImageError(f"the image cannot be decoded ({_describe(exc)})") from None
    return _apply_orientation(rgb, orientation)


def file_type(data: bytes) -> tuple[str, str]:
    """Extension and content type of a file ``load_image`` accepted, read from its header (an upload
    is stored as it came, under a name that says what it is)."""
    with Image.open(io.BytesIO(data)) as image:
        return FILE_TYPES.get(image.format or "", ("bin", "application/octet-stream"))


def decode_mask(data: bytes) -> np.ndarray:
    """A grey image file (a stored mask or matte) as a 2-D uint8 array; ImageError if unreadable."""
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if values is None:
        raise ImageError("the mask is unreadable")
    return values


def image_to_rgb(image: Image.Image) -> np.ndarray:
    """A Pillow image already in memory, as ``load_image`` would return its file: RGB uint8 from any
    mode, turned upright by its EXIF orientation (library callers hand over images they opened)."""
    return _apply_orientation(_to_rgb(image), _orientation(image))


def _read(source: bytes | str | os.PathLike) -> bytes:
    """The file's bytes; ImageError for a missing or empty file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"no such file: {path}")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path} ({exc.strerror or exc})") from None
    if not data:
        raise ImageError("the file is empty")
    return data


def _decode_jpeg_fast(image: Image.Image, data: bytes) -> np.ndarray | None:
    """Colour JPEGs through OpenCV: the same libjpeg-turbo pixels, about twice as fast (12 MP: 70 vs
    136 ms). None when the file is not one, or OpenCV cannot decode it (truncated, say): Pillow then
    decodes it, or says what is wrong."""
    if image.format not in ("JPEG", "MPO") or image.mode != "RGB":
        return None
    flags = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
    rgb = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if rgb is None or rgb.shape[:2] != (image.height, image.width):
        return None
    return rgb


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open the header only, and refuse unsupported formats and oversized images before decoding."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(_bomb_message(exc, max_pixels)) from None
    except UnidentifiedImageError:
        raise ImageError(f"the file is not an image in a supported format ({FORMAT_NAMES})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image data is corrupt or truncated ({_describe(exc)})") from None
    if image.format not in ACCEPTED_FORMATS:
        fmt = image.format
        image.close()
        raise ImageError(f"{fmt} images are not supported; use {FORMAT_NAMES}")
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLarge(f"the image is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
                            f"the limit is {max_pixels / 1e6:.1f} megapixels")
    if width == 0 or height == 0:
        image.close()
        raise ImageError("the image has no pixels")
    return image


def _bomb_message(exc: Exception, max_pixels: int) -> str:
    """Pillow refuses absurd sizes itself, before we see the header; say it in our own words."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(match.group(1)) / 1e6:.1f} megapixels" if match else "too many pixels"
    return f"the image is {size}; the limit is {max_pixels / 1e6:.1f} megapixels"


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _orientation(image: Image.Image) -> int:
    """EXIF orientation tag (1 = already upright); unreadable EXIF counts as upright."""
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (ValueError, TypeError, OSError, SyntaxError):
        return 1


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB uint8 (alpha dropped: segmentation looks at colour only)."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_depth_grey_to_rgb(image)
    if mode == "CMYK" and image.info.get("icc_profile"):
        converted = _icc_to_srgb(image)
        if converted is not None:
            return np.asarray(converted)
    if mode != "RGB":
        image = image.convert("RGBA" if mode in ("P", "PA") else "RGB")
        if image.mode == "RGBA":
            image = image.convert("RGB")
    return np.asarray(image)


def _high_depth_grey_to_rgb(image: Image.Image) -> np.ndarray:
    """16-bit and 32-bit grey: scale to 8 bits (Pillow's own convert would clip at 255)."""
    values = np.asarray(image)
    if image.mode == "F":
        top = 1.0 if float(np.nanmax(values, initial=0.0)) <= 1.0 else 65535.0
    else:
        top = 255.0 if int(values.max(initial=0)) <= 255 and image.mode == "I" else 65535.0
    grey = np.clip(np.nan_to_num(values.astype(np.float32)) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _icc_to_srgb(image: Image.Image) -> Image.Image | None:
    """Use the embedded profile for CMYK: a naive CMYK -> RGB formula gets print colours badly wrong."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        return ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip the decoded pixels so the array is upright (cheaper than Pillow's transpose)."""
    for op in _ORIENT_OPS.get(orientation, ()):
        if op == "flip_lr":
            rgb = cv2.flip(rgb, 1)
        elif op == "flip_ud":
            rgb = cv2.flip(rgb, 0)
        elif op == "rot180":
            rgb = cv2.rotate(rgb, cv2.ROTATE_180)
        elif op == "rot90_cw":
            rgb = cv2.rotate(rgb, cv2.ROTATE_90_CLOCKWISE)
        elif op == "rot90_ccw":
            rgb = cv2.rotate(rgb, cv2.ROTATE_90_COUNTERCLOCKWISE)
        elif op == "transpose":
            rgb = np.ascontiguousarray(rgb.transpose(1, 0, 2))
        elif op == "transverse":
            rgb = np.ascontiguousarray(rgb[::-1, ::-1].transpose(1, 0, 2))
    return rgb


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` scaled down (area averaging) so its longer side is at most ``max_side``; as is when it fits.

    Works on grey, RGB and RGBA uint8. RGBA is averaged with premultiplied alpha: a cutout's colour
    under transparent pixels is black (``ml.compose`` zeroes it), and plain averaging would pull that
    black into the edge as a dark fringe. OpenCV's own premultiply (uint8) keeps a 12 MP cutout's
    preview at about 90 ms.
    """
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.ndim == 2 or image.shape[2] != 4:
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGBA2mRGBA), size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_mRGBA2RGBA)


def normalise_format(fmt: str) -> str:
    """Map a user's format name ('PNG', 'jpeg', '.webp') to a key of MIME_TYPES, or raise ValueError."""
    key = fmt.lower().lstrip(".")
    key = _FORMAT_ALIASES.get(key, key)
    if key not in MIME_TYPES:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(MIME_TYPES)}")
    return key


def encode_image(image: np.ndarray, fmt: str, quality: int = 92, dpi: int | None = None,
                 webp_method: int = 4) -> bytes:
    """Encode an RGB or RGBA uint8 array, or a 2-D one (a grey mask or matte), as png, jpg or webp.

    JPEG has no alpha channel, so an RGBA array raises ValueError: the caller must compose onto a
    background first rather than have transparency silently turn black. A 2-D array is written as a
    single-channel image (a third of the size of the same mask as RGB). ``dpi`` is written into the
    file's header (print sizes for ID photos). ``webp_method`` is WebP's effort, 0 (fast) to 6
    (smallest); 4 is Pillow's default.
    """
    key = normalise_format(fmt)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(f"expected a grey, RGB or RGBA uint8 array, got {image.dtype} {image.shape}")
    if image.ndim == 2 and key == "webp":
        image = np.repeat(image[:, :, None], 3, axis=2)  # WebP has no grey mode
    if key == "jpg" and image.ndim == 3 and image.shape[2] == 4:
        raise ValueError("JPEG cannot hold transparency: compose the cutout onto a background first")
    if key == "png":
        return _encode_png(image, dpi)
    pil = Image.fromarray(image, {2: "L", 3: "RGB", 4: "RGBA"}[image.shape[2] if image.ndim == 3 else 2])
    options: dict = {"dpi": (dpi, dpi)} if dpi is not None else {}
    buffer = io.BytesIO()
    if key == "jpg":
        pil.save(buffer, "JPEG", quality=quality, subsampling=0 if quality >= 90 else 2, **options)
    else:
        pil.save(buffer, "WEBP", quality=quality, method=webp_method, **options)
    return buffer.getvalue()


def _encode_png(image: np.ndarray, dpi: int | None) -> bytes:
    """PNG through OpenCV at zlib level 1 with the "Up" row filter.

    Measured on a 12 MP cutout (bench/latency.py): 250 ms and 6.2 MB, against 460 ms and 6.5 MB for
    Pillow at level 1 and over a second at Pillow's default level; the PNG stays lossless.
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    ok, encoded = cv2.imencode(".png", image, params)
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    data = encoded.tobytes()
    return data if dpi is None else _with_png_dpi(data, dpi)


def _with_png_dpi(png: bytes, dpi: int) -> bytes:
    """Insert a pHYs chunk (pixels per metre) right after IHDR, which is where the spec wants it."""
    per_metre = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", per_metre, per_metre, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]
