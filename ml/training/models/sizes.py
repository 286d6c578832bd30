"""The input-size rule both networks share, kept apart from the builders so that command-line tools
can check a size before anything is built (and the builders themselves refuse a bad one)."""
from __future__ import annotations

# Both encoders reduce the input by 32 (MobileNetV2's stride; SINet's S/8 maps average-pooled by 4).
INPUT_MULTIPLE = 32


def check_input_size(size: int) -> int:
    """``size`` when both models can be built at it, else ValueError saying why."""
    if size < INPUT_MULTIPLE or size % INPUT_MULTIPLE:
        raise ValueError(f"input size must be a positive multiple of {INPUT_MULTIPLE}, got {size}")
    return size
