"""The fake's ``/applications/@me``: read and edit the current application, as ``make deploy`` does.

Setting ``interactions_endpoint_url`` behaves as Discord does: before it accepts the URL, Discord POSTs a PING
signed with the application's key and wants a 200 ``{"type": 1}``, and it also sends a PING with a bad signature
and wants that refused (401). A URL that fails either check is not saved and the PATCH answers 400 with Discord's
``APPLICATION_INTERACTIONS_ENDPOINT_URL_INVALID`` form error. The key pair is the fake's own: the endpoint under
test must be given :attr:`FakeApplication.public_key_hex` as its ``DISCORD_PUBLIC_KEY``.

Framework-free: :meth:`FakeApplication.handle` takes the method and body and returns the status and JSON, so the
HTTP layer around it is a few lines whatever serves it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

from infra.signing import InteractionSigner

INVALID_URL_CODE = "APPLICATION_INTERACTIONS_ENDPOINT_URL_INVALID"
# Fields of PATCH /applications/@me that the fake stores; Discord accepts more.
EDITABLE = frozenset({"interactions_endpoint_url", "description", "install_params", "tags"})


@dataclass
class FakeApplication:
    application_id: str
    name: str = "Bot Trainer (fake)"
    signer: InteractionSigner = field(default_factory=InteractionSigner.generate)
    interactions_endpoint_url: str | None = None
    # The servers the bot is in, as Discord reports them; GET /gateway/bot recommends shards from it.
    approximate_guild_count: int = 1
    # Every validation PING's outcome: (url, status of the signed PING, status of the badly signed one).
    validations: list[tuple[str, int, int]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def public_key_hex(self) -> str:
        return self.signer.public_key_hex

    def as_json(self) -> dict[str, Any]:
        return {"id": self.application_id, "name": self.name, "verify_key": self.public_key_hex,
                "flags": 0, "bot_public": True, "interactions_endpoint_url": self.interactions_endpoint_url,
                "approximate_guild_count": self.approximate_guild_count,
                **self.extra}

    def handle(self, method: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "GET":
            return 200, self.as_json()
        if method != "PATCH":
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("body is not an object")
        unknown = set(data) - EDITABLE
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        if "interactions_endpoint_url" in data:
            url = data["interactions_endpoint_url"]
            if url and not self._validate(str(url)):
                return 400, {"message": "Invalid Form Body", "code": 50035, "errors": {
                    "interactions_endpoint_url": {"_errors": [{
                        "code": INVALID_URL_CODE,
                        "message": "The specified interactions endpoint url could not be verified."}]}}}
            self.interactions_endpoint_url = url or None
        with self._lock:
            self.extra.update({k: v for k, v in data.items() if k != "interactions_endpoint_url"})
        return 200, self.as_json()

    def _validate(self, url: str) -> bool:
        body = json.dumps({"id": "1", "application_id": self.application_id, "type": 1, "version": 1,
                           "token": "validation-ping"}).encode()
        good = self._post(url, body, self.signer.headers(body))
        forged = self._post(url, body, InteractionSigner.generate().headers(body))
        self.validations.append((url, good[0], forged[0]))
        pong = good[0] == 200 and isinstance(good[1], dict) and good[1].get("type") == 1
        return pong and forged[0] == 401

    @staticmethod
    def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        try:
            response = requests.post(url, data=body, headers=headers, timeout=5)
        except requests.RequestException:
            return 0, None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None
