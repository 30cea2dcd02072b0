"""The delivery-service half of DAVE (Discord's audio/video end-to-end encryption) that a voice server plays.

In DAVE the voice server is the MLS group's *external sender*: it announces its signing key (opcode 25) and
proposes adding each member's key package (opcode 27); members commit and welcome each other. davey implements
the member side; the few MLS structures the server itself signs (RFC 9420: ExternalSender, an external Add
proposal in a PublicMessage) are encoded here, signed with ECDSA P-256 (ciphersuite 2, the one DAVE uses).
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MLS_VERSION_10 = 1
WIRE_FORMAT_PUBLIC_MESSAGE = 1
SENDER_EXTERNAL = 2
CONTENT_TYPE_PROPOSAL = 2
PROPOSAL_ADD = 1
CREDENTIAL_BASIC = 1


def varint(n: int) -> bytes:
    """RFC 9420 §2.1.2 variable-length integer (the length prefix of every ``<V>`` vector)."""
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return struct.pack(">H", n | 0x4000)
    if n < 1 << 30:
        return struct.pack(">I", n | 0x80000000)
    raise ValueError("vector too long for MLS")


def opaque(data: bytes) -> bytes:
    return varint(len(data)) + data


def group_id(channel_id: int) -> bytes:
    """DAVE's MLS group id: the channel id as a big-endian 64-bit integer."""
    return struct.pack(">Q", channel_id)


class ExternalSender:
    def __init__(self, identity: bytes = b"local-voice-server") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = self._key.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
        # struct { SignaturePublicKey signature_key; Credential credential; } ExternalSender
        self.package = opaque(public) + struct.pack(">H", CREDENTIAL_BASIC) + opaque(identity)

    def _sign_with_label(self, label: bytes, content: bytes) -> bytes:
        sign_content = opaque(b"MLS 1.0 " + label) + opaque(content)
        return self._key.sign(sign_content, ec.ECDSA(hashes.SHA256()))  # DER, as MLS wants for ECDSA

    def add_proposal(self, channel_id: int, epoch: int, key_package: bytes) -> bytes:
        """An MLSMessage (PublicMessage) proposing to add ``key_package``, from external sender 0."""
        content = (opaque(group_id(channel_id)) + struct.pack(">Q", epoch)
                   + bytes([SENDER_EXTERNAL]) + struct.pack(">I", 0)
                   + opaque(b"")  # authenticated_data
                   + bytes([CONTENT_TYPE_PROPOSAL]) + struct.pack(">H", PROPOSAL_ADD) + key_package)
        header = struct.pack(">HH", MLS_VERSION_10, WIRE_FORMAT_PUBLIC_MESSAGE)
        # An external sender's FramedContentTBS carries no GroupContext; a proposal has no confirmation tag,
        # and no membership tag (that is for members).
        signature = self._sign_with_label(b"FramedContentTBS", header + content)
        return header + content + opaque(signature)

    def proposals_append(self, channel_id: int, epoch: int, key_packages: list[bytes]) -> bytes:
        """Opcode 27's payload (after the opcode): operation ``append`` and the proposal messages."""
        messages = b"".join(self.add_proposal(channel_id, epoch, kp) for kp in key_packages)
        return bytes([0]) + opaque(messages)
