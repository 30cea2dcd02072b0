"""Ed25519 verification of Discord interaction requests.

Discord signs ``timestamp + raw body`` with the application's key. Every failure, whatever its cause, is the same
:class:`InvalidSignature` so that the endpoint answers 401 without telling the caller what was wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from shared.errors import ConfigError

MAX_CLOCK_SKEW_SECONDS = 300
_SIGNATURE_HEX_LENGTH = 128
# Unix seconds have 10 digits until the year 2286; a longer header is not a timestamp (and int() of thousands
# of digits raises instead of answering).
_TIMESTAMP_MAX_DIGITS = 12


class InvalidSignature(Exception):
    """The request is not from Discord (or is too old to trust)."""


class InteractionVerifier:
    def __init__(self, public_key_hex: str, *, clock: Callable[[], float] = time.time) -> None:
        try:
            key_bytes = bytes.fromhex(public_key_hex)
            self._key = VerifyKey(key_bytes)
        except (ValueError, TypeError, CryptoError) as exc:
            # Fail closed at start-up: an endpoint that cannot verify must not run.
            raise ConfigError("DISCORD_PUBLIC_KEY must be the application's 64-character hex public key") from exc
        self._clock = clock

    def verify(self, signature: str | None, timestamp: str | None, body: bytes) -> None:
        if not signature or not timestamp:
            raise InvalidSignature
        if len(signature) != _SIGNATURE_HEX_LENGTH or len(timestamp) > _TIMESTAMP_MAX_DIGITS:
            raise InvalidSignature
        if not timestamp.isascii() or not timestamp.isdigit():
            raise InvalidSignature
        if abs(self._clock() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
            raise InvalidSignature
        try:
            self._key.verify(timestamp.encode("ascii") + body, bytes.fromhex(signature))
        except (ValueError, BadSignatureError) as exc:
            raise InvalidSignature from exc
