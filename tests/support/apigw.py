"""API Gateway proxy events as Lambda receives them, built with keyword arguments."""

from __future__ import annotations

import base64
from typing import Any


def _body(body: bytes, encode: bool) -> tuple[str, bool]:
    if encode:
        return base64.b64encode(body).decode("ascii"), True
    return body.decode("utf-8"), False


def make_v1_event(body: bytes, headers: dict[str, str], *, base64_body: bool = False,
                  path: str = "/interactions", method: str = "POST") -> dict[str, Any]:
    """REST API (payload format 1.0): header names as the client sent them."""
    text, encoded = _body(body, base64_body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "path": "/Prod" + path,
                           "stage": "Prod", "requestId": "req-1", "identity": {"sourceIp": "203.0.113.7"}},
        "body": text,
        "isBase64Encoded": encoded,
    }


def make_v2_event(body: bytes, headers: dict[str, str], *, base64_body: bool = False,
                  path: str = "/interactions", method: str = "POST") -> dict[str, Any]:
    """HTTP API (payload format 2.0): header names arrive lower-cased."""
    text, encoded = _body(body, base64_body)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.7", "userAgent": "Discord-Interactions/1.0"},
                           "requestId": "req-2", "routeKey": f"{method} {path}", "stage": "$default"},
        "body": text,
        "isBase64Encoded": encoded,
    }
