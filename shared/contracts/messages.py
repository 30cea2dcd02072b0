"""What the interactions function puts on the queues, and what the workers take off them.

Each queue has an enum of kinds and one dataclass of arguments per kind; a request is written and read back by
the same types, so a misspelt kind or argument fails where it is made, and a body that does not fit is refused
as a whole (``ValueError``/``TypeError``) by the reader. Both queues carry JSON.

The interaction token can post as the bot for 15 minutes: it travels in the message body (the worker needs it
to edit the deferred reply) but is kept out of ``repr`` and must never be logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

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
    # The most bytes of files this interaction's responses and follow-ups may carry (the server's boost level
    # raises it); Discord sends it with every interaction. None: not given, the configured default applies.
    attachment_size_limit: int | None = None

    @classmethod
    def from_interaction(cls, interaction: dict[str, Any]) -> InteractionRef:
        """The one reading of an interaction payload's who and where. Signed payloads are trusted for their
        meaning, not their shape: a field of the wrong type reads as absent."""

        def obj(value: Any) -> dict[str, Any]:
            return value if isinstance(value, dict) else {}

        member = obj(interaction.get("member"))
        user = obj(member.get("user")) or obj(interaction.get("user"))
        try:
            permissions = int(member.get("permissions") or 0)
        except (TypeError, ValueError):
            permissions = 0
        roles = member.get("roles")
        guild_id = interaction.get("guild_id")
        channel_id = interaction.get("channel_id") or obj(interaction.get("channel")).get("id")
        return cls(
            id=str(interaction.get("id", "")),
            application_id=str(interaction.get("application_id", "")),
            token=str(interaction.get("token", "")),
            guild_id=str(guild_id) if guild_id else None,
            channel_id=str(channel_id) if channel_id else None,
            user_id=str(user.get("id", "")),
            member_permissions=permissions,
            member_roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
            locale=str(interaction.get("locale") or "en-US"),
            token_expires_at=token_expiry(str(interaction.get("id", ""))),
            attachment_size_limit=_positive_int(interaction.get("attachment_size_limit")),
        )

    def token_expired(self, now: float, margin: float = 0.0) -> bool:
        """Whether the interaction token is (about to be) dead; unknown expiry counts as alive."""
        return self.token_expires_at is not None and now + margin >= self.token_expires_at

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


# --- the jobs queue: slow commands for the worker function ---------------------------------------------------


class TaskKind(StrEnum):
    TRAIN = "train"
    ARCHIVE = "archive"
    GETFILE = "getfile"
    START_FINETUNE = "start_finetune"
    CANCEL_FINETUNE = "cancel_finetune"
    ASK = "ask"
    TEST = "test"
    DATASET_RENAME = "dataset_rename"
    DATASET_DELETE = "dataset_delete"
    ACTIVATE_MODEL = "activate_model"
    RETRY_STAGE2 = "retry_stage2"


@dataclass(frozen=True)
class TrainArgs:
    text: str = ""
    # The attachment as the interaction resolved it: id, url, filename, content_type, size.
    attachment: dict[str, Any] | None = None
    dataset: str = ""
    # None: the guild's default (``/select_dataset positive``).
    positive: bool | None = None
    # Show the fine-tune estimate once the examples are stored.
    start: bool = False


@dataclass(frozen=True)
class DatasetArgs:
    """``/archive [dataset]`` and the fine-tune estimate: empty means the guild's selected dataset."""

    dataset: str = ""


@dataclass(frozen=True)
class DatasetRenameArgs:
    dataset: str = ""
    new_name: str = ""


@dataclass(frozen=True)
class StartFinetuneArgs:
    dataset: str = ""
    # The estimate's key: set when the trainer pressed Start, empty for the estimate itself.
    confirm: str = ""


@dataclass(frozen=True)
class GetfileArgs:
    name: str = ""


@dataclass(frozen=True)
class CancelFinetuneArgs:
    request_id: str = ""


@dataclass(frozen=True)
class AskArgs:
    prompt: str = ""
    attachment: dict[str, Any] | None = None


@dataclass(frozen=True)
class TestArgs:
    data: str = ""


@dataclass(frozen=True)
class RetryStage2Args:
    """Start a failed preference stage again on stage 1's model (stage 1 is not trained again)."""

    request_id: str = ""


@dataclass(frozen=True)
class ActivateModelArgs:
    """Make active: the job whose model it is (the button), or a model by name (``/model name:``)."""

    request_id: str = ""
    model: str = ""


TASK_ARGS: dict[TaskKind, type] = {
    TaskKind.TRAIN: TrainArgs,
    TaskKind.ARCHIVE: DatasetArgs,
    TaskKind.GETFILE: GetfileArgs,
    TaskKind.START_FINETUNE: StartFinetuneArgs,
    TaskKind.CANCEL_FINETUNE: CancelFinetuneArgs,
    TaskKind.ASK: AskArgs,
    TaskKind.TEST: TestArgs,
    TaskKind.DATASET_RENAME: DatasetRenameArgs,
    TaskKind.DATASET_DELETE: DatasetArgs,
    TaskKind.ACTIVATE_MODEL: ActivateModelArgs,
    TaskKind.RETRY_STAGE2: RetryStage2Args,
}


# --- the voice queue: actions for the voice worker -------------------------------------------------------------


class VoiceKind(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    SAY = "say"
    # The spoken form of an /ask answer, sent by the worker; its reply is never edited.
    SPEAK_ANSWER = "speak_answer"
    SKIP = "skip"
    CLEAR = "clear"


@dataclass(frozen=True)
class NoArgs:
    pass


@dataclass(frozen=True)
class JoinArgs:
    # The voice channel named in ``/join channel``; empty: the caller's.
    channel_id: str = ""


@dataclass(frozen=True)
class SpeechArgs:
    text: str = ""
    # Empty: the guild's voice settings.
    language: str = ""


VOICE_ARGS: dict[VoiceKind, type] = {
    VoiceKind.JOIN: JoinArgs,
    VoiceKind.LEAVE: NoArgs,
    VoiceKind.SAY: SpeechArgs,
    VoiceKind.SPEAK_ANSWER: SpeechArgs,
    VoiceKind.SKIP: NoArgs,
    VoiceKind.CLEAR: NoArgs,
}


class UnknownKind(ValueError):
    """A kind this reader does not know: the interactions function is newer than the worker. ``interaction``
    lets the reader tell the user."""

    def __init__(self, kind: object, interaction: InteractionRef) -> None:
        super().__init__(f"unknown kind {kind!r}")
        self.interaction = interaction


def _args_from(args_type: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise TypeError("args must be an object")
    known = {f.name for f in fields(args_type)}
    unknown = set(data) - known
    if unknown:
        raise TypeError(f"unknown argument(s) {sorted(unknown)} for {args_type.__name__}")
    return args_type(**data)


@dataclass(frozen=True)
class _QueuedRequest:
    """What both queues carry: a kind, the interaction, and the kind's arguments (its dataclass; a dict is
    read into it, unknown names refused)."""

    kind: Any
    interaction: InteractionRef
    args: Any = None

    KINDS: ClassVar[type[StrEnum]]
    ARGS: ClassVar[Mapping[Any, type]]

    def __post_init__(self) -> None:
        kind = self.KINDS(self.kind)
        object.__setattr__(self, "kind", kind)
        expected = self.ARGS[kind]
        if self.args is None or isinstance(self.args, dict):
            object.__setattr__(self, "args", _args_from(expected, self.args or {}))
        elif not isinstance(self.args, expected):
            raise TypeError(f"{kind} takes {expected.__name__}, not {type(self.args).__name__}")

    def _body(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "interaction": asdict(self.interaction), "args": asdict(self.args)}

    def to_json(self) -> str:
        return json.dumps(self._body())

    @classmethod
    def _read(cls, body: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The parsed body and the constructor's arguments; :class:`UnknownKind` for a kind this reader lacks."""
        data = json.loads(body)
        interaction = InteractionRef.from_dict(data["interaction"])
        try:
            kind = cls.KINDS(data["kind"])
        except ValueError:
            raise UnknownKind(data["kind"], interaction) from None
        return data, {"kind": kind, "interaction": interaction,
                      "args": _args_from(cls.ARGS[kind], data.get("args") or {})}


@dataclass(frozen=True)
class TaskRequest(_QueuedRequest):
    """A slow command for the worker function (JobsQueue)."""

    # A task chained from another on the same interaction (``/train start:true``) answers in a follow-up,
    # leaving the first task's reply in place.
    reply_as_followup: bool = False

    KINDS: ClassVar[type[StrEnum]] = TaskKind
    ARGS: ClassVar[Mapping[Any, type]] = TASK_ARGS

    def _body(self) -> dict[str, Any]:
        return {**super()._body(), "reply_as_followup": self.reply_as_followup}

    @classmethod
    def from_json(cls, body: str) -> TaskRequest:
        data, fields_ = cls._read(body)
        return cls(**fields_, reply_as_followup=data.get("reply_as_followup") is True)


@dataclass(frozen=True)
class VoiceRequest(_QueuedRequest):
    """A voice action for the voice worker (VoiceQueue, FIFO: group = guild, deduplication = interaction id)."""

    KINDS: ClassVar[type[StrEnum]] = VoiceKind
    ARGS: ClassVar[Mapping[Any, type]] = VOICE_ARGS

    @classmethod
    def from_json(cls, body: str) -> VoiceRequest:
        return cls(**cls._read(body)[1])
