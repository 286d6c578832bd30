"""Defences every request passes through, installed by ``init_app(app)``.

* CSRF (Flask-WTF's CSRFProtect): the site's HTML forms change state (upload, re-run, delete), and
  a browser sends its cookies with a form another site makes it submit. Every such request must carry
  the token this site put in the form (field ``csrf_token``, or header ``X-CSRF-Token`` for scripts),
  signed against a secret in the session cookie (``SameSite=Lax``, ``HttpOnly``), so another origin
  can neither read nor forge it.
* API key (optional, ``BACKDROP_API_KEY``): when set, ``/api/*`` requests need it in ``X-API-Key``
  or ``Authorization: Bearer``; a page's CSRF token is not a key (anyone can fetch one). The site's
  pages post to page routes with their CSRF token instead. Who may delete a job: webapp/owners.py.
* Rate limit (Flask-Limiter, moving windows): requests that make the server work or change state (not
  GET/HEAD, except the reads marked ``@rate_limited``, such as a zip of full-size results), per client
  address, or per API key with a higher limit for key holders (batch scripts);
  every 429 says when to come back (Retry-After). Counted in Redis when ``BACKDROP_REDIS_URL`` is set,
  so every worker and host shares one count; in each process's memory otherwise.
* Request shape: few multipart parts, one file per field, a handful of files per request, refused
  before any image is decoded.
* Headers on every response: a Content-Security-Policy without inline scripts or styles, nosniff,
  no framing, same-origin referrers; job files also get a sandboxing CSP of their own.

The session secret comes from ``BACKDROP_SECRET_KEY`` or, failing that, from ``<DATA_DIR>/secret.key``,
created once (mode 0600) and shared by every worker, so a form served by one worker can be posted to
another and survives restarts.
"""
from __future__ import annotations

import math
import os
import secrets
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from markupsafe import Markup, escape
from werkzeug.exceptions import RequestEntityTooLarge

from webapp import owners
from webapp.errors import ErrorInfo, error_response

CSRF_FIELD = "csrf_token"
SECRET_FILE = "secret.key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
                           "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
# Job files are user uploads and our renders: even if one were a polyglot, a browser opening it
# directly must not run anything in this origin.
FILE_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# -- session secret ------------------------------------------------------------------------------
def load_secret_key(data_dir: Path) -> str:
    """The key in ``data_dir/secret.key``, created by whichever worker gets there first.

    A fresh key is written to a private temporary file and hard-linked into place: linking fails
    if the name exists, so concurrent workers agree on one key and nobody reads a half-written one.
    """
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret-{os.getpid()}-{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker won the race; use its key
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it and start again "
                           f"(users will have to reload open forms), or set BACKDROP_SECRET_KEY")
    return key


def _secret_key(app: Flask) -> str:
    """``BACKDROP_SECRET_KEY``, else the shared key file; a per-process key if the disk refuses."""
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    try:
        return load_secret_key(app.config["DATA_DIR"])
    except OSError as exc:
        # Read-only data directory: forms still work with one worker; say why they may not with more.
        app.logger.warning("could not store a session key in %s (%s); using a per-process key, so "
                           "forms only work with one worker. Set BACKDROP_SECRET_KEY.", app.config["DATA_DIR"], exc)
        return secrets.token_hex(32)


# -- CSRF ------------------------------------------------------------------------------------------
csrf = CSRFProtect()


def csrf_field() -> Markup:
    """The hidden input a state-changing form needs: ``{{ csrf_field() }}``."""
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(generate_csrf())}">')


def api_key_required() -> bool:
    return bool(current_app.config["API_KEY"])


# -- rate limit ------------------------------------------------------------------------------------
def _client() -> str:
    """Whose count a request adds to: the API key's (its own, higher limit) or the client address's.
    Only headers are read here: the body is not parsed before the limit is checked."""
    return owners.API_KEY_OWNER if owners.holds_api_key(form=False) else f"addr:{request.remote_addr or 'unknown'}"


def _limits() -> str:
    """The limits of this request's client, as Flask-Limiter reads them ("N per minute; ...")."""
    config = current_app.config
    if owners.holds_api_key(form=False):
        return f"{round(config['RATE_LIMIT_KEY_PER_MINUTE'])} per minute"
    return f"{config['RATE_LIMIT_BURST']} per 10 seconds; {round(config['RATE_LIMIT_PER_MINUTE'])} per minute"


def _too_many(limit: RequestLimit) -> Response:
    seconds = max(1, math.ceil(limit.reset_at - time.time()))
    return _refuse(429, f"Too many requests; try again in {seconds} s (the limit is per client, per minute).",
                   headers={"Retry-After": str(seconds)})


def rate_limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """Count a GET view like work (it makes the server work hard): ``@rate_limited`` under its route."""
    view.rate_limited = True  # type: ignore[attr-defined]
    return view


def _exempt() -> bool:
    """Reads are free, except views marked ``@rate_limited``."""
    view = current_app.view_functions.get(request.endpoint or "")
    return request.method in SAFE_METHODS and not getattr(view, "rate_limited", False)


def _make_limiter(app: Flask) -> Limiter:
    """One per app: its storage (memory or Redis) and on/off setting are the app's own."""
    # Application limits: one count per client across every route (default limits count per route).
    return Limiter(_client, app=app, application_limits=[_limits], strategy="moving-window", on_breach=_too_many,
                   application_limits_exempt_when=_exempt)


# -- the checks ------------------------------------------------------------------------------------
def _refuse(status: int, message: str, field: str | None = None,
            headers: Mapping[str, str] | None = None) -> Response:
    body, status = error_response(ErrorInfo(status, message, field))
    response = current_app.make_response((body, status))
    response.headers.update(headers or {})
    return response


def _shape_problem() -> ErrorInfo | None:
    """Too many files, or several files in one field (which the views would silently ignore)."""
    files = request.files  # parsing applies MAX_CONTENT_LENGTH and MAX_FORM_PARTS (413)
    for name in files:
        if len(files.getlist(name)) > 1:
            shown = name if len(name) <= 40 else name[:40] + "..."
            return ErrorInfo(400, f"{shown}: send one file in this field, not {len(files.getlist(name))}.", shown)
    limit = current_app.config["MAX_FILES"]
    if len(files) > limit:
        return ErrorInfo(400, f"The request holds {len(files)} files; send at most {limit}.")
    return None


# Page views whose first act is reading the upload: a body over the size limit makes them refuse the
# request before anything is stored, and they show the form again with the message. Any other route
# gets the 413 here, before its view runs (the form, and so its token, cannot be read).
SELF_REFUSING_UPLOADS = frozenset({"pages.create_job", "compare.create", "pages.change_background"})


def _guard() -> Response | None:
    """Runs before every view; returns the refusal, or None to let the request through."""
    config = current_app.config
    unsafe = request.method not in SAFE_METHODS
    if unsafe:  # the rate limit (Flask-Limiter) has counted the request already
        try:
            problem = _shape_problem()
        except RequestEntityTooLarge:
            if request.endpoint in SELF_REFUSING_UPLOADS:
                return None  # the view refuses it too, showing its own form with the size message
            raise
        if problem:
            return _refuse(problem.status, problem.message, problem.field)
    if request.path.startswith("/api/"):
        # The API is for scripts, which hold no session: the key authenticates them (a CSRF token, which
        # any visitor can fetch from a page, is not a key). With no key configured the API is open.
        if config["API_KEY"] and not owners.holds_api_key():
            return _refuse(401 if owners.sent_api_key() is None else 403,
                           "This API needs a key: send it in the X-API-Key header or as Authorization: Bearer.",
                           None, {"WWW-Authenticate": "Bearer"})
        return None
    if unsafe:
        try:
            csrf.protect()
        except CSRFError:
            return _refuse(403, "This form has expired or did not come from this site; reload the page and "
                                "send it again.", CSRF_FIELD)
    return None


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint == "pages.job_file":
        response.headers["Content-Security-Policy"] = FILE_SECURITY_POLICY
        # People's photos: the browser may keep them a while, shared proxies and CDNs may not.
        response.cache_control.public = False
        response.cache_control.private = True
    return response


def init_app(app: Flask) -> None:
    """Check the settings (webapp/config.py), then install the checks, the headers and the template helpers."""
    config = app.config
    if config["MAX_FILES"] < 1 or config["FORM_PARTS_LIMIT"] < 2 or config["RATE_LIMIT_PER_MINUTE"] < 0 \
            or config["RATE_LIMIT_KEY_PER_MINUTE"] < 1:
        raise ValueError("BACKDROP_MAX_FILES, BACKDROP_MAX_FORM_PARTS and BACKDROP_RATE_LIMIT* must be positive")
    config.update(MAX_FORM_PARTS=config["FORM_PARTS_LIMIT"], SESSION_COOKIE_SECURE=config["COOKIE_SECURE"],
                  SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_NAME="backdrop_session",
                  # Checked in _guard, after the rate limit and the request's shape, and never on the API.
                  WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,
                  RATELIMIT_ENABLED=config["RATE_LIMIT_PER_MINUTE"] > 0,
                  RATELIMIT_STORAGE_URI=config["REDIS_URL"] or "memory://",
                  # Redis unreachable: count in memory meanwhile rather than refuse or fail requests.
                  RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True, RATELIMIT_SWALLOW_ERRORS=True)
    app.secret_key = _secret_key(app)
    _make_limiter(app)  # before _guard: a client over its limit is refused before its body is read
    csrf.init_app(app)
    app.before_request(_guard)
    app.after_request(_add_headers)
    app.jinja_env.globals.update(csrf_field=csrf_field, api_key_required=api_key_required)
