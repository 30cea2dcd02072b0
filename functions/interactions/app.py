"""The Flask app: a view of a few lines over :class:`InteractionEndpoint`."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from shared.config import Settings
from shared.storage.stores import Stores

from .commands import build_registry
from .dispatch import InteractionEndpoint
from .signature import InteractionVerifier

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings, *, stores: Stores | None = None) -> Flask:
    """Build the app. Raises ConfigError when the public key is missing or malformed (fail closed)."""
    endpoint = InteractionEndpoint(
        verifier=InteractionVerifier(settings.discord_public_key),
        registry=build_registry(),
        stores=stores or Stores(settings),
        settings=settings,
    )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.post("/interactions")
    def interactions() -> Response | tuple[Response | str, int]:
        # The exact bytes Discord signed: read once, never re-serialised.
        body = request.get_data(cache=False)
        status, payload = endpoint.on_interaction(
            body,
            request.headers.get("X-Signature-Ed25519"),
            request.headers.get("X-Signature-Timestamp"),
        )
        if payload is None:
            return "", status
        return jsonify(payload), status

    @app.errorhandler(413)
    def too_large(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "body too large"}), 413

    @app.errorhandler(404)
    def not_found(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "not found"}), 404

    @app.errorhandler(405)
    def wrong_method(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "method not allowed"}), 405

    return app
