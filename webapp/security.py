"""Defences every request passes through, installed by ``init_app(app)``.

* CSRF: the site's HTML forms change state (upload, re-run, delete), and a browser sends its cookies
  with a form another site makes it submit. Every such request must carry the token this site put in
  the form (field ``csrf_token``, or header ``X-CSRF-Token`` for scripts); the token lives in the
  signed session cookie (``SameSite=Lax``, ``HttpOnly``), so another origin can neither read nor
  forge it.
* API key (optional, ``BACKDROP_API_KEY``): when set, ``/api/*`` requests need it in ``X-API-Key``
  or ``Authorization: Bearer``, and so does every delete, on any route. The site's own pages call
  the API with their CSRF token instead, so the UI keeps working without knowing the key.
* Rate limit: a token bucket per client address for requests that make the server work or change
  state (not GET/HEAD). In memory, per worker process: N gunicorn workers allow N times the rate.
* Request shape: few multipart parts, one file per field, a handful of files per request, refused
  before any image is decoded.
* Headers on every response: a Content-Security-Policy without inline scripts or styles, nosniff,
  no framing, same-origin referrers; job files also get a sandboxing CSP of their own.

The session secret comes from ``BACKDROP_SECRET_KEY`` or, failing that, from ``<DATA_DIR>/secret.key``,
created once (mode 0600) and shared by every worker, so a form served by one worker can be posted to
another and survives restarts.
"""
from __future__ import annotations

import hmac
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping

from flask import Flask, Response, current_app, request, session
from markupsafe import Markup, escape

from webapp.errors import ErrorInfo, error_response

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
API_KEY_HEADER = "X-API-Key"
API_KEY_FIELD = "api_key"
SECRET_FILE = "secret.key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
                           "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
# Job files are user uploads and our renders: even if one were a polyglot, a browser opening it
# directly must not run anything in this origin.
FILE_SECURITY_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _flag(text: str) -> bool:
    if text.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if text.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("use 1/0, true/false, yes/no or on/off")


# Flask key -> (environment variable, default, parser); create_app's ``config`` overrides any of them.
_ENV_SETTINGS: dict[str, tuple[str, Any, Callable[[str], Any]]] = {
    "API_KEY": ("BACKDROP_API_KEY", "", str),
    # Costly or state-changing requests a client may make per minute, and how many in a burst; 0 = off.
    "RATE_LIMIT_PER_MINUTE": ("BACKDROP_RATE_LIMIT", 60.0, float),
    "RATE_LIMIT_BURST": ("BACKDROP_RATE_BURST", 20, int),
    # Multipart requests: parts (fields + files) and files; the forms need at most 2 files and ~12 fields.
    "FORM_PARTS_LIMIT": ("BACKDROP_MAX_FORM_PARTS", 64, int),
    "MAX_FILES": ("BACKDROP_MAX_FILES", 4, int),
    # Set behind HTTPS so the session cookie (which holds the CSRF token) never travels in clear.
    "COOKIE_SECURE": ("BACKDROP_COOKIE_SECURE", False, _flag),
}


def settings_from_env(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Values for the keys above that ``config`` does not set already, from ``BACKDROP_*`` variables."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for key, (variable, default, parse) in _ENV_SETTINGS.items():
        if key in config:
            continue
        raw = environ.get(variable)
        try:
            settings[key] = default if raw in (None, "") else parse(raw)
        except ValueError as exc:
            raise ValueError(f"{variable}={raw!r} is not a valid value: {exc}") from exc
    return settings
