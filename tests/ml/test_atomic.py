"""ml.atomic: a file is written whole or not at all, and a failed write leaves no temporary."""
from __future__ import annotations

import os
import stat

import pytest

from ml.atomic import atomic_path, write_atomic


def test_write_atomic_replaces_whole_and_leaves_nothing_beside(tmp_path):
    target = tmp_path / "deep" / "card.json"
    write_atomic(target, "first")
    write_atomic(target, b"second", durable=True)
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["card.json"]


def test_private_files_are_for_their_owner_only(tmp_path):
    write_atomic(tmp_path / "photo.png", b"x", private=True, prefix=".tmp-1-")
    assert stat.S_IMODE((tmp_path / "photo.png").stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".keras") as tmp:
        assert tmp.name.startswith(".model.keras.") and tmp.name.endswith(".tmp.keras")
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.keras"]
