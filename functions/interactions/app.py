"""The Flask app: a view of a few lines over :class:`InteractionEndpoint`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from shared.config import Settings
from shared.storage.stores import Stores
from shared.web import json_errors

from . import responses
from .commands import build_registry
from .dispatch import InteractionEndpoint
from .signature import InteractionVerifier

MAX_BODY_BYTES = 1024 * 1024


class _InteractionsApp(Flask):
    """Flask, with each view's sync wrapper worked out once: ``inspect``'s coroutine check on every request costs
    a fortieth of a warm PING, and the views never change after start-up."""

    def __init__(self, import_name: str) -> None:
        super().__init__(import_name)
        self._synced: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        synced = self._synced.get(func)
        if synced is None:
            synced = self._synced[func] = super().ensure_sync(func)
        return synced


def create_app(settings: Settings, *, stores: Stores | None = None) -> Flask:
    """Build the app. Raises ConfigError when the public key is missing or malformed (fail closed)."""
    endpoint = InteractionEndpoint(
        verifier=InteractionVerifier(settings.discord_public_key),
        registry=build_registry(),
        stores=stores or Stores(settings),
        settings=settings,
    )
    app = _InteractionsApp(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    json_errors(app)

    @app.post("/interactions")
    def interactions() -> Response | tuple[Response | str, int]:
        # The exact bytes Discord signed: read once, never re-serialised.
        body = request.get_data(cache=False)
        # The two headers straight from the WSGI environ (werkzeug's Headers view re-derives the key each time).
        environ = request.environ
        status, payload = endpoint.on_interaction(
            body, environ.get("HTTP_X_SIGNATURE_ED25519"), environ.get("HTTP_X_SIGNATURE_TIMESTAMP"))
        if payload is None:
            return "", status
        return Response(responses.to_json(payload), status, mimetype="application/json")

    return app
