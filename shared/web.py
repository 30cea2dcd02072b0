"""What the bot's Flask endpoints answer to a request they cannot route or read: one short JSON line, never
Flask's HTML error page (API Gateway passes it through to whoever called)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, jsonify

_ERRORS = {404: "not found", 405: "method not allowed", 413: "body too large"}


def _json_error(code: int, message: str) -> Callable[[Exception], tuple[Response, int]]:
    def handler(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": message}), code

    return handler


def json_errors(app: Flask) -> Flask:
    for code, message in _ERRORS.items():
        app.register_error_handler(code, _json_error(code, message))
    return app
