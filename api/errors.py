"""Errors of the ``swarmseek.api`` package; ``HttpError`` subclasses carry their status."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator


class ApiError(Exception):
    """Base class of every error raised by ``swarmseek.api``."""


class CliError(ApiError):
    """A command cannot do what it was asked; the message is shown to the user."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class HttpError(ApiError):
    """An error the JSON API reports with ``status`` and a stable ``code``."""

    status = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HttpError):
    status = 400
    code = "bad_request"


class Unauthorized(HttpError):
    status = 401
    code = "unauthorized"


class Forbidden(HttpError):
    status = 403
    code = "forbidden"


class NotFound(HttpError):
    status = 404
    code = "not_found"


class Conflict(HttpError):
    status = 409
    code = "conflict"


class PayloadTooLarge(HttpError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(HttpError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(HttpError):
    status = 429
    code = "rate_limited"


class Unavailable(HttpError):
    status = 503
    code = "unavailable"


@contextlib.contextmanager
def listening(what: str, where: str, option: str) -> Iterator[None]:
    """A bind that failed says what could not listen where, and which option moves
    it (an OSError still, one line: ``[Errno 98] Address already in use`` named
    neither the port nor the part of the node)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        raise OSError(
            f"{what} cannot listen on {where}: {os.strerror(exc.errno)}"
            f" (another node or client using it? {option} 0 picks a free port)"
        ) from None
