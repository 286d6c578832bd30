"""Every error a user can cause, mapped to one HTTP status and one message, in one place.

Views raise :class:`FieldError` (or let ``ml.errors`` and Werkzeug errors through); API requests get a
JSON body, page requests get the page. Nothing here ever shows a stack trace: unexpected exceptions
are logged and answered with a plain 500.
"""
from __future__ import annotations

import errno
import logging
from dataclasses import dataclass

from flask import Flask, Response, current_app, jsonify, render_template, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ml.errors import BackdropError, BackgroundError, ImageError, ImageTooLarge, ModelError

from webapp.jobstore import JobDamaged, JobNotFound

log = logging.getLogger(__name__)


# The data directory refusing writes is the server's problem, not the user's, and it is temporary: say
# so, with a status a client can act on (retry later), rather than a bare 500. Nothing is lost: every
# write is atomic, so what was stored before stays as it was.
STORAGE_ERRORS = {
    errno.ENOSPC: (507, "The server's storage is full, so nothing was saved; please try again later."),
    errno.EDQUOT: (507, "The server's storage quota is used up, so nothing was saved; please try again later."),
    errno.EROFS: (503, "The server's storage is read-only at the moment, so nothing can be saved or deleted; "
                       "please try again later."),
    errno.EACCES: (503, "The server may not write to its storage at the moment, so nothing was saved; "
                        "please try again later."),
}


# gunicorn raises these while the app reads a request body that breaks HTTP's rules (a chunk size that
# is not hex, a chunk without its CRLF) or ends early: the client's fault, and nothing was read yet.
MALFORMED_BODY = (ParseException, NoMoreData)


class FieldError(BackdropError):
    """A request field is missing or invalid; ``field`` names it so the form can point at it."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class NotAnImage(FieldError):
    """The upload is not a picture at all (as opposed to a picture that is damaged)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, 415)


@dataclass(frozen=True)
class ErrorInfo:
    """An error as answered: ``message`` names the field first ("model: unknown model ..."), as API
    clients have always read it; ``text`` is the same message for people, without the field name."""

    status: int
    message: str
    field: str | None = None

    @property
    def text(self) -> str:
        """The message without its leading field name, starting with a capital letter (pages)."""
        message = self.message
        if self.field and message.startswith(f"{self.field}: "):
            message = message[len(self.field) + 2:]
        return message[:1].upper() + message[1:]

    def as_json(self, for_people: bool = False) -> dict:
        message = self.text if for_people else self.message
        return {"error": {"status": self.status, "message": message, "field": self.field}}


def describe(exc: BaseException) -> ErrorInfo:
    """The status and user-facing message for any exception (500 and a generic text if unknown)."""
    if isinstance(exc, FieldError):
        return ErrorInfo(exc.status, str(exc), exc.field)
    if isinstance(exc, RequestEntityTooLarge):
        limit = current_app.config["MAX_UPLOAD_MB"]
        if request.content_length is not None and request.content_length <= current_app.config["MAX_CONTENT_LENGTH"]:
            # Within the byte limit, so werkzeug refused the form's shape: too many parts or a long field.
            return ErrorInfo(413, "The form has too many fields or files, or a field value is too long.")
        return ErrorInfo(413, f"image: the upload is larger than the {limit:g} MB limit.", "image")
    if isinstance(exc, MALFORMED_BODY):
        return ErrorInfo(400, f"The request body is malformed ({type(exc).__name__}: {exc}); nothing was stored.")
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRORS:
        return ErrorInfo(*STORAGE_ERRORS[exc.errno])
    if isinstance(exc, ImageTooLarge):
        return ErrorInfo(413, str(exc), "image")
    if isinstance(exc, ImageError):
        return ErrorInfo(422, str(exc), "image")
    if isinstance(exc, BackgroundError):
        return ErrorInfo(422, f"background: {exc}", "background")
    if isinstance(exc, ModelError):
        return ErrorInfo(422, str(exc), "model")
    if isinstance(exc, JobDamaged):
        return ErrorInfo(410, f"This job can no longer be shown: {exc}. Other jobs are not affected; "
                              f"delete it, or it is purged with the old ones.")
    if isinstance(exc, JobNotFound):
        return ErrorInfo(404, "No such job: it may have been deleted or purged.")
    if isinstance(exc, HTTPException):
        return ErrorInfo(exc.code or 500, exc.description or exc.name)
    return ErrorInfo(500, "Something went wrong on our side; the error has been logged.")


def wants_json() -> bool:
    """API paths always get JSON; pages get JSON only when the script asks for it (uploads)."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(info: ErrorInfo) -> tuple[Response | str, int]:
    """JSON for the API and the pages' scripts (they show it to people, so without field names), else the
    error page."""
    if wants_json():
        return jsonify(info.as_json(for_people=not request.path.startswith("/api/"))), info.status
    return render_template("error.html", error=info), info.status


def register_error_handlers(app: Flask) -> None:
    def handle(exc: Exception):
        if isinstance(exc, HTTPException) and exc.response is not None:
            return exc.response  # answered already (a rate limit's 429 with its Retry-After)
        info = describe(exc)
        if info.status >= 500:
            log.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return error_response(info)

    for kind in (BackdropError, JobNotFound, HTTPException, Exception):
        app.register_error_handler(kind, handle)
