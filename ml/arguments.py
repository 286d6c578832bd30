"""argparse types shared by the command-line tools and benchmarks.

A value out of range is a usage error naming the option and saying why (exit status 2), never a
traceback from deep inside a run that has already loaded its data.
"""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A count that must be at least 1 (0 epochs would divide by zero in the decay; 0 timed runs
    have no median)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A threshold that cannot be negative."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def input_size(text: str) -> int:
    """A square model input size both networks accept (``ml.training.models.sizes``)."""
    from ml.training.models.sizes import check_input_size

    try:
        return check_input_size(int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def probability(text: str) -> float:
    """A share of samples: between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value
