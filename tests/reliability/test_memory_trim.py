"""webapp/memory.py: at most two malloc heaps, and after a request that did image work, freed heap
memory is handed back to the system once the response is sent (bench.load measures the effect
over 2,000 requests)."""
from __future__ import annotations

import io

from webapp import create_app, memory

from .conftest import TEST_CONFIG, encode, portrait


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_heaps_are_limited_at_start_and_trimmed_after_work_requests(data_dir, monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: libc)
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    assert libc.calls == [("mallopt", memory.M_ARENA_MAX, 2)]
    client = app.test_client()
    client.get("/")
    client.get("/healthz")
    assert len(libc.calls) == 1
    response = client.post("/api/v1/remove-background", data={"image": (io.BytesIO(encode(portrait())), "p.jpg")})
    assert response.status_code == 200 and len(libc.calls) == 1  # not before the response is done with
    response.close()
    assert libc.calls[1:] == [("malloc_trim", 0)]


def test_the_c_library_calls_are_found_and_harmless():
    libc = memory._libc()
    assert libc is not None  # glibc on the machines we run on
    assert libc.malloc_trim(0) in (0, 1)
