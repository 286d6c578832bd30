"""Hostile input over HTTP: random bytes, truncated files, decompression bombs, oversized uploads,
path traversal. Each must get a 4xx with a message; the server must stay up; a canary file beside the
data directory must be neither served nor touched.

Sent to a real gunicorn, because part of the defence (request size, header limits, URL decoding)
happens before Flask sees the request.
"""
from __future__ import annotations

import io
import os
import random
import secrets
import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image

from bench.load import log
from devtools.appserver import Server
from devtools.client import Client, multipart


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` with a few compressed rows: tiny file, huge image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 4, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def hostile_requests(photo: bytes, canary: str) -> list[tuple[str, str, str, Any, dict[str, str]]]:
    """(label, method, path, body, headers): every one must get a 4xx with a message."""
    rng = random.Random(11)
    png = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(png, "PNG")
    png_bytes = png.getvalue()
    cases: list[tuple[str, str, str, Any, dict[str, str]]] = []

    def upload(label: str, data: bytes, content_type: str = "image/jpeg", fields: dict[str, str] | None = None,
               path: str = "/api/v1/remove-background", filename: str = "photo.jpg") -> None:
        body, ctype = multipart(fields or {}, [("image", filename, data, content_type)])
        cases.append((label, "POST", path, body, {"Content-Type": ctype}))

    for n in range(20):
        upload(f"random bytes #{n + 1}", rng.randbytes(rng.choice([1, 17, 1000, 50_000])))
    for cut in (0.1, 0.5, 0.9, 0.99):
        upload(f"JPEG truncated at {cut:.0%}", photo[:int(len(photo) * cut)])
        upload(f"PNG truncated at {cut:.0%}", png_bytes[:int(len(png_bytes) * cut)], "image/png")
    upload("PNG bomb 100000x100000 (few kB)", bomb_png(100_000, 100_000), "image/png")
    upload("PNG bomb 20000x20000", bomb_png(20_000, 20_000), "image/png")
    upload("0x0 PNG", bomb_png(0, 0), "image/png")
    one_pixel = io.BytesIO()
    Image.new("RGB", (1, 1)).save(one_pixel, "PNG")
    upload("1x1 PNG", one_pixel.getvalue(), "image/png")
    upload("empty file", b"")
    upload("text/plain declared", photo, "text/plain")
    upload("application/pdf declared", b"%PDF-1.4\n" + photo[:2000], "application/pdf")
    upload("unknown model", photo, fields={"model": "x" * 5000})
    upload("bad background", photo, fields={"background": "#" + "f" * 20000})
    upload("bad format", photo, fields={"format": "exe"})
    body, ctype = multipart({"model": "sinet"}, [("image", f"p{n}.jpg", photo[:100], "image/jpeg") for n in range(12)])
    cases.append(("12 files in one request", "POST", "/api/v1/remove-background", body, {"Content-Type": ctype}))
    body, ctype = multipart({f"f{n}": "x" for n in range(500)}, [("image", "p.jpg", photo, "image/jpeg")])
    cases.append(("500 form fields", "POST", "/api/v1/remove-background", body, {"Content-Type": ctype}))
    cases.append(("JSON body instead of a form", "POST", "/api/v1/remove-background", b'{"image": "../../etc/passwd"}',
                  {"Content-Type": "application/json"}))
    cases.append(("no body", "POST", "/api/v1/remove-background", b"", {"Content-Type": "multipart/form-data; boundary=x"}))
    cases.append(("broken multipart", "POST", "/api/v1/remove-background", b"--x\r\ngarbage" * 100,
                  {"Content-Type": "multipart/form-data; boundary=x"}))
    cases.append(("100 MB upload", "POST", "/api/v1/remove-background", (b"\0" * (1 << 20) for _ in range(100)),
                  {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(100 << 20)}))
    fake_id = "0" * 32
    for path in [f"/jobs/../../{canary}", f"/jobs/..%2f..%2f{canary}/files/x", f"/jobs/%2e%2e/files/{canary}",
                 f"/jobs/{fake_id}/files/..%2f..%2f..%2f{canary}", f"/jobs/{fake_id}/files/%252e%252e%252f{canary}",
                 f"/jobs/{fake_id}/files/..\\..\\{canary}", f"/jobs/{fake_id}/files/job.json",
                 f"/jobs/{fake_id}%00/files/x", f"/api/v1/jobs/..%2f..%2f{canary}", "/api/v1/jobs/" + "a" * 3000, "/api/v1/jobs/" + "a" * 5000,
                 f"/jobs/{'A' * 32}/files/original.jpg", f"/static/..%2f..%2f{canary}",
                 f"/static/vendor/jquery/..%2f..%2f..%2f{canary}"]:
        cases.append((f"GET {path[:70]}", "GET", path, None, {}))
    cases.append(("DELETE traversal", "DELETE", f"/api/v1/jobs/..%2f..%2f{canary}", None, {}))
    return cases


def hostile_phase(workdir: Path, photo: bytes) -> dict[str, Any]:
    """Send every hostile request to a live server; check 4xx + message, health after each, canary untouched."""
    log("hostile input over HTTP")
    server = Server(workdir / "hostile", 1, env={"BACKDROP_MAX_UPLOAD_MB": "20"})
    outside = server.workdir / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    canary = outside / "canary.txt"
    secret = secrets.token_hex(16)
    canary.write_text(secret)
    relative = os.path.relpath(canary, server.data_dir / "jobs")
    before = {p: p.stat().st_mtime_ns for p in server.workdir.rglob("*") if server.data_dir not in p.parents and p != server.data_dir}
    results = []
    with server:
        client = Client(server.port)
        for label, method, path, body, headers in hostile_requests(photo, relative):
            reply = client.request(method, path, body, headers)
            healthy = client.request("GET", "/healthz").status == 200
            message = reply.message()
            results.append({"input": label, "status": reply.status, "message": message[:160],
                            "ok": 400 <= reply.status < 500 and bool(message) and healthy and secret.encode() not in reply.body,
                            "healthy_after": healthy, "error": reply.error})
            if not results[-1]["ok"]:
                log(f"  NOT HANDLED: {label}: {reply.status} {reply.error} {message[:120]!r} healthy={healthy}")
        pids_after = server.worker_pids()
    after = {p: p.stat().st_mtime_ns for p in server.workdir.rglob("*") if server.data_dir not in p.parents and p != server.data_dir}
    touched = sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p) and not p.name.startswith("gunicorn-"))
    return {"tried": len(results), "handled": sum(r["ok"] for r in results), "server_stayed_up": all(r["healthy_after"] for r in results),
            "worker_pids_after": pids_after, "files_touched_outside_data_dir": touched,
            "statuses": dict(sorted(Counter(r["status"] for r in results).items())), "cases": results}
