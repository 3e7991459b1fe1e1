"""MSE/PE encryption policy: what we provide, select and accept on each side.

Pure decisions with no state, used by the handshake machines in ``mse.py`` and by the
adapter that accepts connections (``classify_incoming``) or opens them
(``outgoing_uses_mse``).
"""

from __future__ import annotations

import enum

from .errors import MseRefused
from .mse_crypto import CryptoMethod

BT_HEADER = b"\x13BitTorrent protocol"  # BEP 3: pstrlen + pstr opens a plaintext handshake


class EncryptionPolicy(enum.Enum):
    """What a node accepts, on both sides of a connection.

    ========  ===========================  ====================================
    policy    outgoing                     incoming
    ========  ===========================  ====================================
    prefer    MSE, provide RC4+plaintext;  plaintext BitTorrent handshake or MSE;
              retry plaintext if MSE       select RC4 when offered, else plaintext
              fails before the peer
              proved it speaks MSE
    require   MSE, provide RC4 only;       MSE only, select RC4 only; a plaintext
              never plaintext              handshake is refused
    disable   plaintext handshake          plaintext only; MSE is refused
    ========  ===========================  ====================================
    """

    PREFER = "prefer"
    REQUIRE = "require"
    DISABLE = "disable"


# What each policy lets through after an MSE handshake (crypto_provide / allowed select).
_ALLOWED_METHODS = {
    EncryptionPolicy.PREFER: CryptoMethod.RC4 | CryptoMethod.PLAINTEXT,
    EncryptionPolicy.REQUIRE: CryptoMethod.RC4,
    EncryptionPolicy.DISABLE: CryptoMethod(0),
}


def allowed_methods(policy: EncryptionPolicy) -> CryptoMethod:
    """The methods ``policy`` provides (outgoing) and may select (incoming)."""
    return _ALLOWED_METHODS[policy]


def select_method(policy: EncryptionPolicy, provided: int) -> CryptoMethod:
    """B's ``crypto_select`` for a peer's ``crypto_provide``: RC4 first, then plaintext.

    Unknown bits are ignored (spec); raises ``MseRefused`` when nothing is common.
    """
    common = CryptoMethod(provided & allowed_methods(policy))
    for method in (CryptoMethod.RC4, CryptoMethod.PLAINTEXT):
        if method & common:
            return method
    raise MseRefused(
        f"no common crypto method: peer provides {provided:#x},"
        f" policy {policy.value} allows {int(allowed_methods(policy)):#x}"
    )


class Incoming(enum.Enum):
    """What the first bytes of an incoming connection are."""

    NEED_MORE = "need more bytes"
    PLAINTEXT = "plaintext BitTorrent handshake"
    ENCRYPTED = "MSE/PE handshake"


def classify_incoming(data: bytes, policy: EncryptionPolicy) -> Incoming:
    """Tell a plaintext BitTorrent handshake from an MSE one by its first bytes.

    A plaintext handshake opens with ``\\x13BitTorrent protocol``; MSE opens with a
    random DH key that may share a prefix with it, so while ``data`` is a proper
    prefix of those 20 bytes the answer is ``NEED_MORE`` (never more than 20 bytes
    are needed). Raises ``MseRefused`` when ``policy`` forbids what arrived.
    """
    head = bytes(data[: len(BT_HEADER)])
    if head == BT_HEADER:
        if policy is EncryptionPolicy.REQUIRE:
            raise MseRefused("plaintext handshake refused: policy requires encryption")
        return Incoming.PLAINTEXT
    if BT_HEADER.startswith(head):
        return Incoming.NEED_MORE
    if policy is EncryptionPolicy.DISABLE:
        raise MseRefused("encrypted handshake refused: policy disables encryption")
    return Incoming.ENCRYPTED


def outgoing_uses_mse(policy: EncryptionPolicy) -> bool:
    """Whether a first outgoing attempt starts with MSE (else a plaintext handshake)."""
    return policy is not EncryptionPolicy.DISABLE
