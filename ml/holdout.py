"""Which photo goes where, decided by hashing its key: stable across runs, machines and file order.

Used by the labelled split (``ml.data.make_split``) and by the unlabelled photos, a fixed tenth of
which is held back, never trained on, for the wild benchmark (``bench.wild``). Because a key's place
depends only on the key and the seed, adding photos later never moves one that is already placed.
"""
from __future__ import annotations

import hashlib

UNLABELLED_SEED = 7
HELD_BACK_SHARE = 0.1
SUBSETS = ("train", "val", "test", "wild")


def bucket(key: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) from ``key`` and ``seed``."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:12], 16) / float(16 ** 12)


def held_back(key: str) -> bool:
    """True for the fixed tenth of unlabelled photos kept for the wild benchmark."""
    return bucket(key, UNLABELLED_SEED) < HELD_BACK_SHARE


def subset_index(split: dict[str, list[str]]) -> dict[str, str]:
    """key -> train, val or test, from a split file's lists: built once, so placing thousands of
    photos does not scan the lists once per photo."""
    return {key: name for name in ("train", "val", "test") for key in split.get(name, ())}


def subset_of(key: str, index: dict[str, str]) -> str:
    """train, val or test for a labelled photo (``subset_index`` of the split file); for a photo the
    split file does not know (an unlabelled one): ``wild`` when held back, else train."""
    return index.get(key) or ("wild" if held_back(key) else "train")
