"""One simulated user over HTTP: its own cookies, the upload form's CSRF token and the API key.

Plain ``http.client`` with a fresh connection per request, so a worker killed mid-request shows up
as a reply with status 0 and the error, never as an exception that would stop a client thread.
"""
from __future__ import annotations

import http.client
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Iterable

# The key every Server is started with and clients send by default (a fresh one per run).
API_KEY = "bench-" + secrets.token_hex(8)


@dataclass
class Reply:
    """An answer as the client saw it; status 0 and ``error`` set when none came (connection refused or cut)."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    error: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def message(self) -> str:
        """The error message of a JSON or HTML error answer ("" if it has none)."""
        try:
            return str(self.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            text = self.body.decode("utf-8", "replace")
            found = re.search(r"</h1>\s*<p[^>]*>(.*?)</p>", text, re.S) or re.search(r"<title>(.*?)</title>", text, re.S)
            return found.group(1).strip() if found else ""


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    """Encode a multipart/form-data body: ``files`` are (field, filename, data, content type)."""
    boundary = "backdrop-bench-" + secrets.token_hex(12)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, filename, data, content_type in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One simulated user: its own cookies (session with the CSRF token) and the API key."""

    def __init__(self, port: int, api_key: str = API_KEY, timeout: float = 300) -> None:
        self.port = port
        self.api_key = api_key
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | Iterable[bytes] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """One request on a fresh connection, never raising: failures come back as a ``Reply`` to count."""
        headers = dict(headers or {})
        if path.startswith("/api/") and self.api_key:
            headers.setdefault("X-API-Key", self.api_key)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        start = time.perf_counter()
        try:
            try:
                connection.request(method, path, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered (413) and closed before reading the whole body: read that answer
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Reply(0, {}, b"", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                     time.perf_counter() - start)

    def post_form(self, path: str, fields: dict[str, str], files: list[tuple[str, str, bytes, str]],
                  headers: dict[str, str] | None = None) -> Reply:
        body, content_type = multipart(fields, files)
        return self.request("POST", path, body, {"Content-Type": content_type, **(headers or {})})

    def fetch_csrf(self) -> Reply:
        """Open the upload page like a browser and keep the form's CSRF token (empty if it has none)."""
        reply = self.request("GET", "/")
        found = re.search(rb'name="csrf_token"\s+value="([^"]+)"', reply.body)
        self.csrf = found.group(1).decode() if found else ""
        return reply

