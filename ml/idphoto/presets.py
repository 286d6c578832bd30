"""ID-photo presets, read from presets.yaml so the rules stay data with their sources beside them.

Every length is kept in millimetres (what the official texts use) and turned into pixels only at
the DPI the user asks for, so one preset serves a 300 DPI print and a 600 DPI upload alike.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ml.colour import RGB, colour_hex, parse_colour
from ml.errors import BackdropError, BackgroundError

PRESETS_FILE = Path(__file__).with_name("presets.yaml")
MM_PER_INCH = 25.4
MIN_DPI, MAX_DPI = 72, 1200
MAX_CUSTOM_MM = 200.0
MAX_CUSTOM_PX = 4000
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[xX×]\s*(\d+(?:\.\d+)?)\s*(mm|px|in)?\s*$")


class PresetError(BackdropError):
    """Unknown preset, background, size or DPI: a user can fix it by choosing another value."""


@dataclass(frozen=True)
class Preset:
    """One photo specification. Ranges are (low, high) in millimetres at print size."""

    id: str
    name: str
    width_mm: float
    height_mm: float
    head_mm: tuple[float, float]
    backgrounds: tuple[str, ...]
    dpi: int
    source: str
    replace_background: bool        # may software replace the background (the document's own rule)
    background_rule: str            # the source's words for that rule
    url: str | None = None
    eyes_from_bottom_mm: tuple[float, float] | None = None
    top_margin_mm: tuple[float, float] | None = None
    max_kb: int | None = None

    def pixel_size(self, dpi: int | None = None) -> tuple[int, int]:
        """(width, height) in pixels at ``dpi`` (the preset's own DPI by default)."""
        dpi = dpi or self.dpi
        return mm_to_px(self.width_mm, dpi), mm_to_px(self.height_mm, dpi)

    def to_dict(self, background_colours: dict[str, str]) -> dict:
        """The JSON shape the API lists: rules with units in the names, colours resolved."""
        return {
            "id": self.id, "name": self.name,
            "width_mm": self.width_mm, "height_mm": self.height_mm,
            "pixels_at_dpi": list(self.pixel_size()), "dpi": self.dpi,
            "head_mm": list(self.head_mm),
            "eyes_from_bottom_mm": list(self.eyes_from_bottom_mm) if self.eyes_from_bottom_mm else None,
            "top_margin_mm": list(self.top_margin_mm) if self.top_margin_mm else None,
            "backgrounds": [{"name": b, "colour": background_colours.get(b, b)} for b in self.backgrounds],
            "max_kb": self.max_kb, "source": self.source, "url": self.url,
            "replace_background": self.replace_background, "background_rule": self.background_rule,
        }


def mm_to_px(mm: float, dpi: int) -> int:
    """Millimetres at print size to whole pixels (35 mm at 300 DPI is 413 px)."""
    return int(round(mm / MM_PER_INCH * dpi))


def px_per_mm(dpi: int) -> float:
    return dpi / MM_PER_INCH


def _pair(value) -> tuple[float, float] | None:
    return (float(value[0]), float(value[1])) if value else None


@lru_cache(maxsize=1)
def _data() -> dict:
    with open(PRESETS_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def background_colours() -> dict[str, str]:
    """Named background colours (white, off-white, light-grey, light-blue, red) as #RRGGBB."""
    return dict(_data()["backgrounds"])


@lru_cache(maxsize=1)
def load_presets() -> dict[str, Preset]:
    """All named presets by id, in file order."""
    presets = {}
    for pid, raw in _data()["presets"].items():
        presets[pid] = Preset(
            id=pid, name=raw["name"], width_mm=float(raw["width_mm"]), height_mm=float(raw["height_mm"]),
            head_mm=_pair(raw["head_mm"]), backgrounds=tuple(raw["backgrounds"]), dpi=int(raw["dpi"]),
            source=" ".join(raw["source"].split()), url=raw.get("url"),
            replace_background=bool(raw["background_replacement"]), background_rule=raw["background_rule"],
            eyes_from_bottom_mm=_pair(raw.get("eyes_from_bottom_mm")),
            top_margin_mm=_pair(raw.get("top_margin_mm")), max_kb=raw.get("max_kb"))
    return presets


def get_preset(preset_id: str) -> Preset:
    """A named preset; the error lists the valid ids so the user can pick one."""
    presets = load_presets()
    if preset_id not in presets:
        raise PresetError(f"Unknown ID-photo preset '{preset_id}'. Choose one of: "
                          f"{', '.join(presets)}, or 'custom' with a size.")
    return presets[preset_id]


def parse_size(text: str) -> tuple[float, float, str]:
    """'35x45mm', '600x800px' or '2x2in' -> (width, height, unit); mm is the default unit."""
    match = _SIZE.match(text or "")
    if not match:
        raise PresetError(f"Custom size '{text}' is not of the form 35x45mm, 2x2in or 600x800px.")
    return float(match.group(1)), float(match.group(2)), match.group(3) or "mm"


def custom_preset(size: str, dpi: int = 300) -> Preset:
    """A preset for a size the list lacks; head height follows the ICAO 70-80 % proportion."""
    dpi = check_dpi(dpi)
    width, height, unit = parse_size(size)
    if unit == "px":
        if not (16 <= width <= MAX_CUSTOM_PX and 16 <= height <= MAX_CUSTOM_PX):
            raise PresetError(f"Custom size in pixels must be between 16 and {MAX_CUSTOM_PX} on each side.")
        width, height = width / dpi * MM_PER_INCH, height / dpi * MM_PER_INCH
    elif unit == "in":
        width, height = width * MM_PER_INCH, height * MM_PER_INCH
    if not (5 <= width <= MAX_CUSTOM_MM and 5 <= height <= MAX_CUSTOM_MM):
        raise PresetError(f"Custom size must be between 5 and {MAX_CUSTOM_MM:g} mm on each side.")
    raw = _data()["custom"]
    low, high = raw["head_fraction"]
    return Preset(id="custom", name=f"{raw['name']} ({size.strip()})", width_mm=width, height_mm=height,
                  head_mm=(low * height, high * height), backgrounds=tuple(raw["backgrounds"]), dpi=dpi,
                  source=raw["source"], replace_background=bool(raw["background_replacement"]),
                  background_rule=raw["background_rule"])


def resolve_preset(preset_id: str, size: str | None = None, dpi: int | None = None) -> Preset:
    """The preset a request names: a listed id, or 'custom' with a size."""
    if preset_id == "custom":
        if not size:
            raise PresetError("A custom preset needs a size such as 35x45mm or 600x800px.")
        return custom_preset(size, dpi or 300)
    return get_preset(preset_id)


def check_dpi(dpi) -> int:
    """DPI as an int inside the range a printer or form can use."""
    try:
        value = int(dpi)
    except (TypeError, ValueError):
        raise PresetError(f"DPI '{dpi}' is not a whole number.") from None
    if not MIN_DPI <= value <= MAX_DPI:
        raise PresetError(f"DPI must be between {MIN_DPI} and {MAX_DPI}.")
    return value


@dataclass(frozen=True)
class DocumentColour:
    """An ID photo's background colour, resolved once: its RGB and, when it is one of the documents'
    named colours (white, light-blue...), that name, which the report shows."""

    rgb: RGB
    name: str | None = None

    @property
    def hex(self) -> str:
        """'#RRGGBB', as reports and job settings write it."""
        return colour_hex(self.rgb).upper()


def named_colours() -> dict[str, RGB]:
    """The documents' named background colours as RGB."""
    return {name: parse_colour(code) for name, code in background_colours().items()}


def resolve_background(spec: str | None, preset: Preset) -> DocumentColour:
    """A background name or #RRGGBB -> DocumentColour; the preset's first colour by default.

    CSS names are not read here: the documents name their own colours ("red" is theirs, not CSS's).
    """
    colours = named_colours()
    spec = (spec or preset.backgrounds[0]).strip()
    if spec in colours:
        return DocumentColour(colours[spec], spec)
    try:
        rgb = parse_colour(spec, css_names=False)
    except BackgroundError:
        raise PresetError(f"Background '{spec}' is not one of {', '.join(colours)} or a #RRGGBB colour.") from None
    return DocumentColour(rgb, next((name for name, known in colours.items() if known == rgb), None))
