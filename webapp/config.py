"""Settings read from environment variables, so one build runs anywhere (dev, gunicorn, tests).

Every setting has a ``BACKDROP_`` variable; ``create_app(config)`` lets tests override any key.
"""
from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from ml.library import DEFAULT_MODEL, MATTING_ON_BY_DEFAULT, TTA_ON_BY_DEFAULT

REPO_ROOT = Path(__file__).resolve().parent.parent
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_AGE_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_age(text: str) -> timedelta:
    """'90m', '24h', '7d' -> timedelta; ValueError with the accepted forms."""
    match = _AGE_RE.fullmatch(str(text).strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not an age; write e.g. 30m, 24h or 7d")
    return timedelta(**{_AGE_UNITS[match.group(2)]: float(match.group(1))})


def _retention(text: str) -> str:
    """The retention age, checked at start-up so a typo stops the server, not the nightly purge."""
    if parse_age(text) <= timedelta(0):
        raise ValueError("the retention must be longer than zero")
    return text.strip().lower()


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError("use 1/0, true/false, yes/no or on/off")
    return value in ("1", "true", "yes", "on")


# Flask key -> (environment variable, default, parser)
_ENV_SETTINGS: dict[str, tuple[str, Any, Any]] = {
    "DATA_DIR": ("BACKDROP_DATA_DIR", REPO_ROOT / "data", Path),
    # Job metadata: SQLite in DATA_DIR when unset; a PostgreSQL URL (postgresql+psycopg://...) lets
    # several hosts share one service (with one shared DATA_DIR for the files).
    "DATABASE_URL": ("BACKDROP_DATABASE_URL", None, str),
    "WEIGHTS_DIR": ("BACKDROP_WEIGHTS_DIR", REPO_ROOT / "weights", Path),
    "MAX_UPLOAD_MB": ("BACKDROP_MAX_UPLOAD_MB", 20.0, float),
    "MAX_PIXELS": ("BACKDROP_MAX_PIXELS", 40_000_000, int),
    "DEFAULT_MODEL": ("BACKDROP_DEFAULT_MODEL", DEFAULT_MODEL, str),
    # How many images are segmented at once; more threads than CPU cores only adds memory.
    "WORKER_THREADS": ("BACKDROP_WORKER_THREADS", 2, int),
    "JOBS_PER_PAGE": ("BACKDROP_JOBS_PER_PAGE", 12, int),
    # Average the model over the photo and its mirror image (ml/library.py says why it is on by default).
    "TTA": ("BACKDROP_TTA", TTA_ON_BY_DEFAULT, _flag),
    # Whether a request that does not say gets the matting stage (ml/matting.py; README, halo benchmark).
    "MATTING": ("BACKDROP_MATTING", MATTING_ON_BY_DEFAULT, _flag),
    # Privacy: the purge command deletes jobs (originals and results) older than this.
    "RETENTION": ("BACKDROP_RETENTION", "24h", _retention),
    # Security (webapp/security.py, docs/reliability.md). No API key: the API is open.
    "API_KEY": ("BACKDROP_API_KEY", "", str),
    # History lists every job, not only the caller's own: for a one-person install.
    "SHARED_HISTORY": ("BACKDROP_SHARED_HISTORY", False, _flag),
    # Signs the session cookie (CSRF token); unset: a key file in DATA_DIR that every worker shares.
    "SECRET_KEY": ("BACKDROP_SECRET_KEY", None, str),
    # Requests that do work or change state, per client per minute, and how many at once; 0 = no limit.
    "RATE_LIMIT_PER_MINUTE": ("BACKDROP_RATE_LIMIT", 60.0, float),
    "RATE_LIMIT_BURST": ("BACKDROP_RATE_BURST", 20, int),  # at most this many in any 10 s
    # Clients sending the API key (batch scripts) have a limit of their own, per minute.
    "RATE_LIMIT_KEY_PER_MINUTE": ("BACKDROP_RATE_LIMIT_KEY", 600.0, float),
    # Rate-limit counts in Redis (redis://host:6379/0), shared by every worker and host; unset: in memory.
    "REDIS_URL": ("BACKDROP_REDIS_URL", None, str),
    # Multipart parts (fields + files) and files per request; the forms need at most 2 files, ~12 fields.
    "FORM_PARTS_LIMIT": ("BACKDROP_MAX_FORM_PARTS", 64, int),
    "MAX_FILES": ("BACKDROP_MAX_FILES", 4, int),
    # Behind HTTPS: the session cookie is only ever sent over TLS.
    "COOKIE_SECURE": ("BACKDROP_COOKIE_SECURE", False, _flag),
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config keys from ``BACKDROP_*`` variables, falling back to the documented defaults."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for key, (variable, default, parse) in _ENV_SETTINGS.items():
        raw = environ.get(variable)
        try:
            settings[key] = default if raw in (None, "") else parse(raw)
        except ValueError as exc:
            raise ValueError(f"{variable}={raw!r} is not a valid value: {exc}") from exc
    return settings


def finalize(config: dict[str, Any]) -> None:
    """Derive Flask's own keys from ours (upload limit in bytes) and check the values make sense."""
    config["DATA_DIR"] = Path(config["DATA_DIR"])
    config["WEIGHTS_DIR"] = Path(config["WEIGHTS_DIR"])
    if config["MAX_UPLOAD_MB"] <= 0 or config["MAX_PIXELS"] <= 0 or config["WORKER_THREADS"] <= 0:
        raise ValueError("upload size, pixel limit and worker threads must be positive")
    config["RETENTION"] = _retention(config["RETENTION"])
    # Werkzeug answers 413 itself once a request body passes this many bytes.
    config["MAX_CONTENT_LENGTH"] = int(config["MAX_UPLOAD_MB"] * 1024 * 1024)
