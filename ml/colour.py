"""Colours as people write them (#RRGGBB, #RGB, CSS names) and as Backdrop stores them (#rrggbb).

The one colour parser: backgrounds from the CLIs, the API and the pages, ID-photo backgrounds and the
ID-photo presets' colours are all read here.
"""
from __future__ import annotations

import re

from PIL import ImageColor

from ml.errors import BackgroundError

RGB = tuple[int, int, int]

_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
# The colours the pickers offer by name (the ID-photo colours white, light blue and red among them);
# a label names them, so a result made on "blue" says so.
SWATCHES = [("white", "#ffffff"), ("blue", "#438edb"), ("red", "#d32f2f"), ("green", "#2e7d32"),
            ("grey", "#9e9e9e")]


def parse_colour(spec: str, css_names: bool = True) -> RGB:
    """'#RRGGBB', '#RGB' or (with ``css_names``) a CSS colour name ('navy', 'rebeccapurple') -> (r, g, b).

    The names are CSS's 148, from Pillow's table; callers with names of their own (an ID document's
    colours) leave them out. Raises BackgroundError naming the bad value.
    """
    text = spec.strip()
    match = _HEX.fullmatch(text)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if css_names and text.lower() in ImageColor.colormap:
        return ImageColor.getrgb(text.lower())[:3]
    raise BackgroundError(f"{spec!r} is not a colour; write it as #RRGGBB or #RGB (e.g. #1E90FF, #FFF) "
                          f"or use a CSS colour name such as navy")


def is_css_name(text: str) -> bool:
    """Whether ``text`` is one of CSS's colour names (so a background word can be told from a path)."""
    return text.strip().lower() in ImageColor.colormap


def colour_hex(rgb: RGB) -> str:
    """(r, g, b) -> '#rrggbb', the form job records and pages store colours in."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def colour_label(rgb: RGB) -> str:
    """How pages name a colour: 'Blue #438edb' for a swatch, the hex code otherwise."""
    code = colour_hex(rgb)
    name = next((name for name, swatch in SWATCHES if swatch == code), None)
    return f"{name.capitalize()} {code}" if name else code
