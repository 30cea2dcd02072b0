"""Builders for interaction payloads as Discord sends them (the local client and the tests use these)."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

from shared.contracts.messages import DISCORD_EPOCH_MS

_ids = itertools.count(1)
MANAGE_GUILD = 1 << 5
DEFAULT_GUILD = "200000000000000001"
DEFAULT_CHANNEL = "300000000000000001"
DEFAULT_USER = "400000000000000001"


def snowflake() -> str:
    # A real snowflake of now (the worker reads the token's age from it), unique per process.
    millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((millis << 22) | (secrets.randbelow(1 << 10) << 12) | (next(_ids) % 4096))


def _base(
    kind: int,
    *,
    application_id: str,
    guild_id: str | None = DEFAULT_GUILD,
    channel_id: str = DEFAULT_CHANNEL,
    user_id: str = DEFAULT_USER,
    permissions: int = 0,
    roles: tuple[str, ...] = (),
    interaction_id: str | None = None,
    attachment_size_limit: int | None = 10 * 1024 * 1024,
) -> dict[str, Any]:
    user = {"id": user_id, "username": f"user{user_id[-4:]}", "discriminator": "0", "global_name": "Tester"}
    interaction: dict[str, Any] = {
        "id": interaction_id or snowflake(),
        "application_id": application_id,
        "type": kind,
        "token": "itok_" + secrets.token_urlsafe(48),
        "version": 1,
        "channel_id": channel_id,
        "channel": {"id": channel_id, "type": 0},
        "locale": "en-US",
        "app_permissions": "2248473465835073",
        "authorizing_integration_owners": {"0": guild_id or user_id},
        "context": 0 if guild_id else 1,
    }
    # Discord sends the upload limit of the interaction's responses (10 MiB, more in boosted servers).
    if attachment_size_limit is not None:
        interaction["attachment_size_limit"] = attachment_size_limit
    if guild_id:
        interaction["guild_id"] = guild_id
        interaction["guild_locale"] = "en-US"
        interaction["member"] = {"user": user, "roles": list(roles), "permissions": str(permissions),
                                 "joined_at": "2025-01-01T00:00:00+00:00", "deaf": False, "mute": False}
    else:
        interaction["user"] = user
    return interaction


def ping(*, application_id: str) -> dict[str, Any]:
    return {"id": snowflake(), "application_id": application_id, "type": 1, "token": "itok_ping", "version": 1}


def _option(name: str, value: Any) -> dict[str, Any]:
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3
    return {"name": name, "type": kind, "value": value}


def slash(name: str, *, application_id: str, options: dict[str, Any] | None = None,
          attachments: dict[str, dict[str, Any]] | None = None, **base: Any) -> dict[str, Any]:
    """A chat-input command. ``attachments`` maps an option name to an attachment object (id, url, ...)."""
    interaction = _base(2, application_id=application_id, **base)
    data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1,
                            "options": [_option(k, v) for k, v in (options or {}).items()]}
    if attachments:
        resolved: dict[str, Any] = {}
        for option_name, attachment in attachments.items():
            data["options"].append({"name": option_name, "type": 11, "value": attachment["id"]})
            resolved[attachment["id"]] = attachment
        data["resolved"] = {"attachments": resolved}
    interaction["data"] = data
    return interaction


def autocomplete(name: str, *, application_id: str, focused: str, value: str,
                 options: dict[str, Any] | None = None, **base: Any) -> dict[str, Any]:
    interaction = _base(4, application_id=application_id, **base)
    opts = [_option(k, v) for k, v in (options or {}).items()]
    opts.append({"name": focused, "type": 3, "value": value, "focused": True})
    interaction["data"] = {"id": snowflake(), "name": name, "type": 1, "options": opts}
    return interaction


def bot_message(*, application_id: str, content: str, message_id: str | None = None,
                channel_id: str = DEFAULT_CHANNEL) -> dict[str, Any]:
    return {"id": message_id or snowflake(), "channel_id": channel_id, "content": content, "type": 0,
            "author": {"id": application_id, "username": "Trainer", "bot": True, "discriminator": "0"},
            "timestamp": "2026-01-01T00:00:00+00:00", "components": []}


def message_command(name: str, *, application_id: str, target: dict[str, Any], **base: Any) -> dict[str, Any]:
    interaction = _base(2, application_id=application_id, **base)
    interaction["data"] = {"id": snowflake(), "name": name, "type": 3, "target_id": target["id"],
                           "resolved": {"messages": {target["id"]: target}}}
    return interaction


def component(custom_id: str, *, application_id: str, message: dict[str, Any], **base: Any) -> dict[str, Any]:
    interaction = _base(3, application_id=application_id, **base)
    interaction["message"] = message
    interaction["data"] = {"custom_id": custom_id, "component_type": 2}
    return interaction


def modal_submit(custom_id: str, *, application_id: str, values: dict[str, str], **base: Any) -> dict[str, Any]:
    interaction = _base(5, application_id=application_id, **base)
    # As Discord sends a submitted modal of Label components: each Label holds its one input, ids numbered in order.
    interaction["data"] = {
        "custom_id": custom_id,
        "components": [{"type": 18, "id": 2 * i + 1, "component": {"type": 4, "id": 2 * i + 2, "custom_id": k,
                                                                    "value": v}}
                       for i, (k, v) in enumerate(values.items())],
    }
    return interaction


def encode(interaction: dict[str, Any]) -> bytes:
    return json.dumps(interaction, separators=(",", ":")).encode("utf-8")
