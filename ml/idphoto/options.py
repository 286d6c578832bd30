"""An ID photo's options, parsed and checked once into ``IdPhotoOptions``.

The web form, the API and the CLI hand over what people typed (strings, or None when left out);
``IdPhotoOptions.parse`` checks each value and turns it into its type, and ``make_id_photo`` trusts
the result. A refused value raises ``OptionError`` naming the option, so the web answers with the
form field and the CLI with the message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ml.idphoto.framing import Adjustment
from ml.idphoto.presets import DocumentColour, Preset, PresetError, check_dpi, resolve_background, resolve_preset

LAYOUTS = ("single", "sheet-4x6")
MAX_KB_RANGE = (10, 10_000)
GAP_RANGE_MM = (0.0, 10.0)


class OptionError(PresetError):
    """A refused ID-photo option; ``option`` names it as the form does (``max_kb``, ``gap_mm``...)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class IdPhotoOptions:
    """What one ID photo (or one per face) is made to: checked values only.

    ``max_kb`` is the cap the caller asked for (None: the document's own cap on a single photo);
    ``face`` picks one face of a group (1 = leftmost); ``adjust`` is a hand-set crop of that face.
    """

    preset: Preset
    background: DocumentColour
    dpi: int
    layout: str = "single"
    max_kb: int | None = None
    gap_mm: float | None = None
    face: int | None = None
    adjust: Adjustment | None = None

    @classmethod
    def parse(cls, preset: Preset | str = "eu-passport", size: str | None = None, background: str | None = None,
              dpi: Any = None, layout: str | None = None, max_kb: Any = None, gap_mm: Any = None,
              face: Any = None, head_mm: Any = None, offset_mm: Any = None, top_mm: Any = None) -> IdPhotoOptions:
        """Check the raw values of a form or command line (None or "" for those left out).

        ``preset`` is a preset id (``custom`` with ``size``) or a Preset already made; ``head_mm``,
        ``offset_mm`` and ``top_mm`` set the crop by hand (see ``check_adjustment``).
        """
        chosen = preset if isinstance(preset, Preset) else _checked("preset", resolve_preset, preset, size or None,
                                                                      dpi or None)
        return cls(preset=chosen,
                   background=_checked("background", resolve_background, background or None, chosen),
                   dpi=_checked("dpi", check_dpi, dpi or chosen.dpi),
                   layout=_checked("layout", check_layout, layout),
                   max_kb=_checked("max_kb", check_max_kb, max_kb),
                   gap_mm=_checked("gap_mm", check_gap, gap_mm),
                   face=_checked("face", check_face, face),
                   adjust=_checked("head_mm", check_adjustment, head_mm, offset_mm, top_mm))


def _checked(option: str, check: Callable, *values: Any) -> Any:
    """``check(*values)``, its PresetError turned into an OptionError naming ``option``."""
    try:
        return check(*values)
    except PresetError as exc:
        raise OptionError(option, str(exc)) from None


def check_layout(layout: str | None) -> str:
    layout = layout or "single"
    if layout not in LAYOUTS:
        raise PresetError(f"Layout '{layout}' is not one of {', '.join(LAYOUTS)}.")
    return layout


def _optional_number(value, convert, not_a_number: str):
    """None for an empty field, else ``convert(value)``; ``not_a_number`` as the PresetError when it fails."""
    if value in (None, ""):
        return None
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise PresetError(not_a_number) from None


def check_max_kb(max_kb) -> int | None:
    value = _optional_number(max_kb, int, f"File-size cap '{max_kb}' is not a whole number of KB.")
    if value is not None and not MAX_KB_RANGE[0] <= value <= MAX_KB_RANGE[1]:
        raise PresetError(f"File-size cap must be between {MAX_KB_RANGE[0]} and {MAX_KB_RANGE[1]} KB.")
    return value


def check_face(face) -> int | None:
    """The face number a request names (1 = leftmost), or None."""
    value = _optional_number(face, int, f"Face '{face}' is not a whole number (1 = the leftmost face).")
    if value is not None and value < 1:
        raise PresetError("Face numbers start at 1 (the leftmost face).")
    return value


def check_gap(gap_mm) -> float | None:
    """The gap between copies on a sheet in mm, or None for the widest that keeps the most copies."""
    value = _optional_number(gap_mm, float, f"Gap '{gap_mm}' is not a number of millimetres.")
    if value is not None and not GAP_RANGE_MM[0] <= value <= GAP_RANGE_MM[1]:
        raise PresetError(f"Gap must be between {GAP_RANGE_MM[0]:g} and {GAP_RANGE_MM[1]:g} mm.")
    return value


def check_adjustment(head_mm, offset_mm=None, top_mm=None) -> Adjustment | None:
    """A hand-set crop from form or CLI values (head height, face offset from the middle, space above
    the crown, all mm); None without a head height. The head is held inside the preset's range when
    framing."""
    if head_mm in (None, ""):
        return None
    values = []
    for name, value in (("Head height", head_mm), ("Offset", offset_mm), ("Space above the head", top_mm)):
        values.append(_optional_number(value, float, f"{name} '{value}' is not a number of millimetres."))
        if values[-1] is not None and (not np.isfinite(values[-1]) or abs(values[-1]) > 100):
            raise PresetError(f"{name} must be a number of millimetres under 100.")
    return Adjustment(values[0], values[1] or 0.0, values[2])

