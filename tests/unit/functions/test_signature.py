import time

import pytest
from discord_interactions import verify_key

from functions.interactions.signature import InteractionVerifier, InvalidSignature
from infra.signing import InteractionSigner
from shared.errors import ConfigError

BODY = b'{"type":1}'


@pytest.fixture
def verifier(signer: InteractionSigner) -> InteractionVerifier:
    return InteractionVerifier(signer.public_key_hex)


def test_valid_signature_passes(verifier, signer):
    headers = signer.headers(BODY)
    verifier.verify(headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"], BODY)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s, t, b: (s, t, b + b" "), id="altered-body"),
        pytest.param(lambda s, t, b: (("0" if s[0] != "0" else "1") + s[1:], t, b), id="altered-signature"),
        pytest.param(lambda s, t, b: (s, str(int(t) + 1), b), id="altered-timestamp"),
        pytest.param(lambda s, t, b: (None, t, b), id="missing-signature"),
        pytest.param(lambda s, t, b: (s, None, b), id="missing-timestamp"),
        pytest.param(lambda s, t, b: ("zz" * 64, t, b), id="signature-not-hex"),
        pytest.param(lambda s, t, b: (s[:-2], t, b), id="signature-short"),
        pytest.param(lambda s, t, b: (s, "12a", b), id="timestamp-not-digits"),
        pytest.param(lambda s, t, b: (s, "１２３", b), id="timestamp-unicode-digits"),
    ],
)
def test_tampered_requests_fail(verifier, signer, mutate):
    headers = signer.headers(BODY)
    signature, timestamp, body = mutate(headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"], BODY)
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, timestamp, body)


def test_wrong_key_fails(verifier):
    other = InteractionSigner.generate()
    headers = other.headers(BODY)
    with pytest.raises(InvalidSignature):
        verifier.verify(headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"], BODY)


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_stale_or_future_timestamp_fails_even_when_signed(verifier, signer, skew):
    headers = signer.headers(BODY, timestamp=int(time.time()) + skew)
    with pytest.raises(InvalidSignature):
        verifier.verify(headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"], BODY)


def test_timestamp_within_five_minutes_passes(signer):
    now = 1_800_000_000
    verifier = InteractionVerifier(signer.public_key_hex, clock=lambda: now)
    headers = signer.headers(BODY, timestamp=now - 299)
    verifier.verify(headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"], BODY)


@pytest.mark.parametrize("key", ["", "abc", "zz" * 32, "ab" * 31])
def test_missing_or_malformed_public_key_fails_closed(key):
    with pytest.raises(ConfigError):
        InteractionVerifier(key)


@pytest.mark.parametrize("tamper", [False, True])
def test_agrees_with_discord_interactions_reference(verifier, signer, tamper):
    headers = signer.headers(BODY)
    body = BODY + (b"x" if tamper else b"")
    reference = verify_key(body, headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"],
                           signer.public_key_hex)
    try:
        verifier.verify(headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"], body)
        ours = True
    except InvalidSignature:
        ours = False
    assert ours is reference is (not tamper)
