"""What the interactions function puts on the queues, and what the workers take off them.

Both queues carry JSON. The interaction token can post as the bot for 15 minutes: it travels in the message
body (the worker needs it to edit the deferred reply) but is kept out of ``repr`` and must never be logged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Self


@dataclass(frozen=True)
class InteractionRef:
    """Enough of an interaction to answer it later and to check who asked."""

    id: str
    application_id: str
    token: str = field(repr=False)
    guild_id: str | None = None
    channel_id: str | None = None
    user_id: str = ""
    member_permissions: int = 0
    member_roles: tuple[str, ...] = ()
    locale: str = "en-US"
    # The most bytes of files this interaction's responses and follow-ups may carry (the server's boost level
    # raises it); Discord sends it with every interaction. None: not given, the configured default applies.
    attachment_size_limit: int | None = None

    @classmethod
    def from_interaction(cls, interaction: dict[str, Any]) -> InteractionRef:
        member = interaction.get("member") or {}
        user = member.get("user") or interaction.get("user") or {}
        channel = interaction.get("channel") or {}
        return cls(
            id=str(interaction["id"]),
            application_id=str(interaction["application_id"]),
            token=str(interaction["token"]),
            guild_id=interaction.get("guild_id"),
            channel_id=interaction.get("channel_id") or channel.get("id"),
            user_id=str(user.get("id", "")),
            member_permissions=int(member.get("permissions") or 0),
            member_roles=tuple(member.get("roles") or ()),
            locale=interaction.get("locale") or "en-US",
            attachment_size_limit=_positive_int(interaction.get("attachment_size_limit")),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InteractionRef:
        data = dict(data)
        data["member_roles"] = tuple(data.get("member_roles") or ())
        return cls(**data)


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@dataclass(frozen=True)
class QueuedRequest:
    kind: str
    interaction: InteractionRef
    args: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "interaction": asdict(self.interaction), "args": self.args})

    @classmethod
    def from_json(cls, body: str) -> Self:
        data = json.loads(body)
        return cls(kind=data["kind"], interaction=InteractionRef.from_dict(data["interaction"]),
                   args=data.get("args") or {})


@dataclass(frozen=True)
class JobRequest(QueuedRequest):
    """A slow command for the worker function (JobsQueue). ``kind`` names the job, e.g. ``train``."""


VOICE_KINDS = ("join", "leave", "say", "speak_answer", "skip", "clear")


@dataclass(frozen=True)
class VoiceRequest(QueuedRequest):
    """A voice action for the voice worker (VoiceQueue, FIFO: group = guild, deduplication = interaction id).

    ``args["channel_id"]`` is the voice channel named in ``/join channel``; ``args["text"]`` is what to say.
    """
