"""Errors of the ``swarmseek.api`` package."""

from __future__ import annotations


class ApiError(Exception):
    """Base class of every error raised by ``swarmseek.api``."""


class CliError(ApiError):
    """A command cannot do what it was asked; the message is shown to the user."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
