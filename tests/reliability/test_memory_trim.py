"""webapp/memory.py: after a request that did image work, freed heap memory is handed back to the
system once the response is sent (bench/load.py measures the effect over 2,000 requests)."""
from __future__ import annotations

import io

from webapp import create_app, memory

from .conftest import TEST_CONFIG, encode, portrait


def test_heap_is_trimmed_after_work_requests_only(data_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: lambda: calls.append("trim"))
    app = create_app({**TEST_CONFIG, "DATA_DIR": data_dir})
    client = app.test_client()
    client.get("/")
    client.get("/healthz")
    assert calls == []
    response = client.post("/api/v1/remove-background", data={"image": (io.BytesIO(encode(portrait())), "p.jpg")})
    assert response.status_code == 200 and calls == []  # not before the response is done with
    response.close()
    assert calls == ["trim"]


def test_the_c_library_trim_is_found_and_harmless():
    trim = memory._malloc_trim()
    assert trim is not None  # glibc on the machines we run on
    trim()
