"""What a listener in the voice channel hears: RTP packets decrypted (transport, then DAVE), Opus decoded, and
kept per utterance (from SPEAKING on to SPEAKING off) as PCM that can be saved as WAV."""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.secret

SAMPLE_RATE = 48000
CHANNELS = 2
RTP_HEADER = 12
NONCE_SUFFIX = 4
DAVE_MAGIC = b"\xfa\xfa"
OPUS_SILENCE = b"\xf8\xff\xfe"


@dataclass
class Utterance:
    index: int
    ssrc: int
    dave: bool
    frames: int = 0
    e2ee_frames: int = 0  # frames that arrived end-to-end encrypted (DAVE) and were opened as the listener
    silence: int = 0  # Opus silence frames (sent in the clear after each clip, as discord.py does)
    undecodable: int = 0
    errors: list[str] = field(default_factory=list)
    speaking: list[int] = field(default_factory=list)  # the SPEAKING flags seen, in order
    opcodes: list[int] = field(default_factory=list)  # voice gateway opcodes the client sent, in order
    complete: bool = False
    first_frame_at: float | None = None  # time.monotonic() of the first audio packet
    pcm: bytearray = field(default_factory=bytearray, repr=False)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (SAMPLE_RATE * CHANNELS * 2)

    def wav_bytes(self) -> bytes:
        import io

        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(CHANNELS)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(bytes(self.pcm))
        return buffer.getvalue()

    def save(self, path: Path) -> Path:
        path.write_bytes(self.wav_bytes())
        return path

    def summary(self) -> dict[str, Any]:
        return {"index": self.index, "seconds": round(self.seconds, 2), "frames": self.frames,
                "e2ee_frames": self.e2ee_frames, "silence": self.silence, "undecodable": self.undecodable,
                "dave": self.dave,
                "speaking": self.speaking, "opcodes": self.opcodes, "complete": self.complete,
                "errors": self.errors[:5]}


class PacketOpener:
    """Undo what the sender did to one packet: aead_xchacha20_poly1305_rtpsize, then DAVE when it is on."""

    def __init__(self, secret_key: bytes, *, dave_session: Any | None = None, sender_id: int = 0) -> None:
        self._box = nacl.secret.Aead(secret_key)
        self.dave_session = dave_session
        self.sender_id = sender_id

    def open(self, packet: bytes) -> tuple[int, bytes, bool]:
        """Return (ssrc, opus payload, whether it was end-to-end encrypted)."""
        if len(packet) < RTP_HEADER + NONCE_SUFFIX + 16 or packet[0] & 0xC0 != 0x80:
            raise ValueError("not an RTP packet")
        header_len = RTP_HEADER + 4 * (packet[0] & 0x0F)  # CSRCs
        extension = bool(packet[0] & 0x10)
        if extension:
            header_len += 4  # rtpsize: only the extension's 4-byte header is unencrypted
        ssrc = struct.unpack_from(">I", packet, 8)[0]
        header = packet[:header_len]
        nonce = packet[-NONCE_SUFFIX:] + bytes(20)
        plain = self._box.decrypt(packet[header_len:-NONCE_SUFFIX], header, nonce)
        if extension:
            words = struct.unpack_from(">H", packet, header_len - 2)[0]
            plain = plain[4 * words:]
        if self.dave_session is None or plain == OPUS_SILENCE or plain[-2:] != DAVE_MAGIC:
            return ssrc, plain, False
        import davey

        return ssrc, self.dave_session.decrypt(self.sender_id, davey.MediaType.audio, plain), True
