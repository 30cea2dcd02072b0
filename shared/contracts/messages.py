"""What the interactions function puts on the queues, and what the workers take off them.

Both queues carry JSON. The interaction token can post as the bot for 15 minutes: it travels in the message
body (the worker needs it to edit the deferred reply) but is kept out of ``repr`` and must never be logged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Self

DISCORD_EPOCH_MS = 1_420_070_400_000
INTERACTION_TOKEN_LIFETIME_SECONDS = 15 * 60


def token_expiry(interaction_id: str) -> float | None:
    """The epoch second an interaction's token expires, from the creation time in its snowflake id."""
    try:
        created_ms = (int(interaction_id) >> 22) + DISCORD_EPOCH_MS
    except ValueError:
        return None
    return created_ms / 1000 + INTERACTION_TOKEN_LIFETIME_SECONDS


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
    # When the token stops working (epoch seconds): Discord keeps it 15 minutes from the interaction's creation.
    token_expires_at: float | None = None

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
            token_expires_at=token_expiry(str(interaction["id"])),
        )

    def token_expired(self, now: float, margin: float = 0.0) -> bool:
        """Whether the interaction token is (about to be) dead; unknown expiry counts as alive."""
        return self.token_expires_at is not None and now + margin >= self.token_expires_at

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InteractionRef:
        data = dict(data)
        data["member_roles"] = tuple(data.get("member_roles") or ())
        return cls(**data)


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
