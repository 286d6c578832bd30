"""Errors a user can cause and fix. Their messages are safe to show verbatim in the UI and API.

The web layer maps them to HTTP statuses; the CLIs print them and move on to the next file.
"""


class BackdropError(Exception):
    """Base class: something about the input or set-up, not a bug in Backdrop."""


class ImageError(BackdropError):
    """The file is not an image we can read: empty, corrupt, truncated or of an unsupported type."""


class ImageTooLarge(ImageError):
    """The image has more pixels than the configured limit (refused before decoding)."""


class ModelError(BackdropError):
    """Unknown model name, or its weights file is missing or corrupt."""


class FaceError(BackdropError):
    """ID photos: no face, or more than one face, where exactly one is needed."""


class BackgroundError(BackdropError, ValueError):
    """A background specification that is not understood (bad colour, unknown keyword, bad strength)."""
