"""Lambda entry point: API Gateway (REST v1 or HTTP API v2 payloads) → the Flask app.

This module is the composition root: it reads the environment once, when Lambda initialises the function. A
missing or malformed ``DISCORD_PUBLIC_KEY`` fails the initialisation, so the endpoint never runs unverified.
"""

from __future__ import annotations

from .collector import FirstRequestResumesCollector, paused_until_first_request

# Everything below builds what the process keeps; the collector would walk it again and again (see collector.py).
with paused_until_first_request():
    from apig_wsgi import make_lambda_handler

    from shared.config import Settings
    from shared.logs import quiet_wire_loggers
    from shared.storage.stores import Stores

    from .app import create_app
    from .snapstart import register_hooks

    # Logs are plain `logging`: the function's LoggingConfig (LogFormat JSON) makes the runtime emit each record,
    # with its `extra` fields, as one JSON line.
    _settings = Settings.from_env()
    quiet_wire_loggers()
    _stores = Stores(_settings)
    # binary_support: API Gateway may base64-encode bodies; apig-wsgi decodes them back to the signed bytes.
    lambda_handler = FirstRequestResumesCollector(
        make_lambda_handler(create_app(_settings, stores=_stores), binary_support=True))
    # With SnapStart, the snapshot already holds the AWS clients and a warm app (its warm-up request is the first
    # request); without it, PING stays boto3-free.
    register_hooks(_stores, lambda_handler)
