"""Ed25519 keys and signatures for sending interactions the way Discord does (the local client and tests)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

DEV_KEY_DIR = Path(__file__).resolve().parent.parent / ".cache" / "local-stack"


@dataclass(frozen=True)
class InteractionSigner:
    signing_key: SigningKey

    @classmethod
    def generate(cls) -> InteractionSigner:
        return cls(SigningKey.generate())

    @classmethod
    def from_hex(cls, private_key_hex: str) -> InteractionSigner:
        return cls(SigningKey(bytes.fromhex(private_key_hex)))

    @property
    def public_key_hex(self) -> str:
        return self.signing_key.verify_key.encode().hex()

    @property
    def private_key_hex(self) -> str:
        return self.signing_key.encode().hex()

    def headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.signing_key.sign(stamp.encode("ascii") + body).signature.hex()
        return {
            "Content-Type": "application/json",
            "X-Signature-Ed25519": signature,
            "X-Signature-Timestamp": stamp,
        }


@dataclass(frozen=True)
class DevApplication:
    """A local stand-in for a Discord application: its key pair and id, kept under .cache/ (git-ignored)."""

    signer: InteractionSigner
    application_id: str

    @classmethod
    def load_or_create(cls, directory: Path = DEV_KEY_DIR) -> DevApplication:
        path = directory / "dev-application.json"
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(InteractionSigner.from_hex(data["private_key"]), data["application_id"])
        directory.mkdir(parents=True, exist_ok=True)
        app = cls(InteractionSigner.generate(), "100000000000000001")
        # Created private: it signs requests that the local stack trusts.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"private_key": app.signer.private_key_hex, "public_key": app.signer.public_key_hex,
                       "application_id": app.application_id}, handle)
        return app
