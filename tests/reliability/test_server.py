"""A real gunicorn server with gunicorn.conf.py, as ``make run`` starts it: what only a real HTTP
server shows (malformed chunked bodies, clients that trickle their uploads)."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from devtools.appserver import Server
from devtools.client import API_KEY


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = Server(tmp_path_factory.mktemp("server"), workers=1).start()
    yield started
    started.stop()


def exchange(port: int, request: bytes, timeout: float = 20) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def chunked_post(body: bytes) -> bytes:
    return (b"POST /api/v1/remove-background HTTP/1.1\r\nHost: localhost\r\nX-API-Key: " + API_KEY.encode() +
            b"\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + body)


@pytest.mark.parametrize("body", [b"zz\r\n--b--\r\n0\r\n\r\n", b"5\r\n--b--XYZ0\r\n\r\n"],
                         ids=["chunk size not hex", "chunk without its CRLF"])
def test_a_malformed_chunked_body_is_a_400(server, body):
    """Failure 4: gunicorn's InvalidChunkSize reached the catch-all and answered 500."""
    answer = exchange(server.port, chunked_post(body))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"malformed" in answer and b"Traceback" not in answer
    assert exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_slow_uploads_leave_other_requests_answered(server):
    """Failure 8: 8 slow uploads from one address stopped the service (0 of 3 health probes answered).
    8 clients trickle a byte every half second for 8 s; every probe meanwhile is answered within 2 s."""
    stop = threading.Event()

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"POST /api/v1/remove-background HTTP/1.1\r\nHost: x\r\nX-API-Key: " + API_KEY.encode() +
                         b"\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n")
            while not stop.wait(0.5):
                sock.sendall(b"x")

    slow = [threading.Thread(target=trickle, daemon=True) for _ in range(8)]
    for thread in slow:
        thread.start()
    time.sleep(1.0)  # every slow client connected and holding its thread
    waits = []
    for _ in range(8):
        start = time.perf_counter()
        answer = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=10)
        waits.append(time.perf_counter() - start)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        time.sleep(0.5)
    stop.set()
    for thread in slow:
        thread.join(5)
    assert max(waits) < 2.0, waits
