"""Who a job belongs to: the browser session or the API key that made it.

A browser gets a random owner id in its signed session cookie the first time it makes a job; API
clients holding ``BACKDROP_API_KEY`` are one owner, ``API_KEY_OWNER``. History lists the caller's
own jobs (all jobs with ``BACKDROP_SHARED_HISTORY=1``, for a one-person install); deleting a job needs
its owner or the key, and so does gathering jobs' results into one zip or the ID page reopening an ID
job (only jobs History lists to the caller). Jobs stored before owners existed have none: anyone may
delete them while no key is set, only the key holder once one is. Viewing a job needs only its
unguessable address, so result links can be shared.
"""
from __future__ import annotations

import hmac
import secrets

from flask import current_app, request, session

from webapp.errors import FieldError

SESSION_KEY = "owner"
API_KEY_OWNER = "api-key"
API_KEY_HEADER = "X-API-Key"
API_KEY_FIELD = "api_key"  # the History page's delete form, for a key holder deleting others' jobs


def sent_api_key(form: bool = True) -> str | None:
    """The key this request carries: ``X-API-Key``, ``Authorization: Bearer``, or (``form``) a form's
    field, which parses the body."""
    key = request.headers.get(API_KEY_HEADER)
    authorization = request.headers.get("Authorization", "")
    if key is None and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    if key is None and form and request.method not in ("GET", "HEAD", "OPTIONS"):
        key = request.form.get(API_KEY_FIELD) or None
    return key


def holds_api_key(form: bool = True) -> bool:
    """True when a key is configured and this request carries it (compared in constant time)."""
    expected, sent = current_app.config["API_KEY"], sent_api_key(form)
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


def caller() -> str:
    """The owner a job made by this request gets: the key's, or this browser session's (made now)."""
    if holds_api_key():
        return API_KEY_OWNER
    owner = session.get(SESSION_KEY)
    if not isinstance(owner, str) or not owner.startswith("session-"):
        owner = session[SESSION_KEY] = f"session-{secrets.token_hex(16)}"
    return owner


def history_owner() -> str | None:
    """Whose jobs History lists: the caller's, or everyone's (None) on a shared install."""
    return None if current_app.config["SHARED_HISTORY"] else caller()


def check_may_delete(owner: str | None) -> None:
    """Refuse (403) a delete by anyone but the job's owner or the key holder."""
    if holds_api_key() or owner == caller() or (owner is None and not current_app.config["API_KEY"]):
        return
    raise FieldError(API_KEY_FIELD, "This job belongs to another browser or client: only its owner, or the "
                                    "holder of the API key, may delete it.", 403)


def check_may_gather(owner: str | None) -> None:
    """Refuse (403) to put a job in a zip of results unless History lists it to the caller: their own
    (or any, on a shared install), or the key holder's."""
    listed = history_owner()
    if listed is None or owner == listed or holds_api_key():
        return
    raise FieldError("job", "job: one of these jobs belongs to another browser or client; only your own "
                            "results can be downloaded together.", 403)


def check_may_reopen(owner: str | None) -> None:
    """Refuse (403) the ID page reopening a job History does not list to the caller (the same rule as
    ``check_may_gather``): another browser's or client's; any job on a shared install or for the key."""
    listed = history_owner()
    if listed is None or owner == listed or holds_api_key():
        return
    raise FieldError("job", "job: this ID photo belongs to another browser or client; it reopens only where it "
                            "was made.", 403)
