"""One exception tree for ``swarmseek.discovery``."""

from __future__ import annotations


class DhtError(Exception):
    """Base class of every error raised by ``swarmseek.discovery``."""


class KrpcError(DhtError, ValueError):
    """A KRPC message is malformed or breaks a limit (the remote side's fault)."""


class ItemError(DhtError, ValueError):
    """A BEP 44 item is invalid: too large, bad signature, bad key or salt."""


class LookupFailed(DhtError):
    """A get could not tell whether the item exists: no node, or too few of the k
    closest, answered (every query timed out: overload, loss, a departed region).

    Distinct from "absent" (``None``), which a get returns only when enough of the
    closest nodes answered without the item. ``answered``/``failed``: of the k closest
    nodes the lookup asked, how many answered (our own store counted when it is one of
    them) and how many did not.
    """

    def __init__(self, message: str, target: bytes = b"", answered: int = 0, failed: int = 0):
        super().__init__(message)
        self.target = target
        self.answered = answered
        self.failed = failed


class PutError(DhtError):
    """A BEP 44 put was refused or reached no node."""


class CasConflict(PutError):
    """BEP 44 error 301: the stored item's seq differs from the ``cas`` we sent.

    ``landed``: how many replicas took our item anyway (each decides cas alone), so the
    replicas may now disagree until someone writes again (see ``update_mutable``).
    """

    def __init__(
        self,
        message: str = "compare-and-swap conflict",
        current_seq: int | None = None,
        landed: int = 0,
    ):
        super().__init__(message)
        self.current_seq = current_seq
        self.landed = landed


class SeqTooLow(PutError):
    """BEP 44 error 302: the stored item already has a higher (or equal) seq."""

    def __init__(
        self, message: str = "sequence number less than current", current_seq: int | None = None
    ):
        super().__init__(message)
        self.current_seq = current_seq
