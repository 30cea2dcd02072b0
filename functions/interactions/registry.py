"""Commands declared once: the same declarations drive dispatch and the registration payload.

Declarations are checked against Discord's limits when they are made, so a bad name or an over-long
description fails the tests and the deploy step, not a user's click.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from shared.discord.permissions import MANAGE_GUILD

if TYPE_CHECKING:
    from .context import InteractionContext

Handler = Callable[["InteractionContext"], dict[str, Any]]
Autocompleter = Callable[["InteractionContext", str, str], list[tuple[str, str]]]


# Discord's limits (docs: Application Commands).
_NAME = re.compile(r"^[-_\w]{1,32}$", re.UNICODE)
_MAX_DESCRIPTION = 100
_MAX_OPTIONS = 25
_MAX_CHOICES = 25
_MAX_TOTAL_CHARACTERS = 4000
_MAX_STRING_LENGTH = 6000
_MAX_COMMANDS = {1: 100, 2: 15, 3: 15}


class CommandDeclarationError(ValueError):
    """A declaration breaks one of Discord's limits."""


class CommandType(IntEnum):
    CHAT_INPUT = 1
    USER = 2
    MESSAGE = 3


class OptionType(IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


class InteractionContextType(IntEnum):
    GUILD = 0
    BOT_DM = 1
    PRIVATE_CHANNEL = 2


EVERYWHERE = (InteractionContextType.GUILD, InteractionContextType.BOT_DM, InteractionContextType.PRIVATE_CHANNEL)
GUILD_ONLY = (InteractionContextType.GUILD,)


def _check_name(kind: str, name: str, *, lowercase: bool = True) -> None:
    if not _NAME.match(name) or (lowercase and name != name.lower()):
        raise CommandDeclarationError(f"{kind} name {name!r}: 1-32 lower-case letters, digits, '-' or '_'")


def _check_description(kind: str, name: str, description: str) -> None:
    if not 1 <= len(description) <= _MAX_DESCRIPTION:
        raise CommandDeclarationError(f"{kind} {name!r}: description must be 1-{_MAX_DESCRIPTION} characters")


@dataclass(frozen=True)
class Choice:
    name: str
    value: str | int | float

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True)
class Option:
    name: str
    description: str
    type: OptionType
    required: bool = False
    autocomplete: bool = False
    choices: tuple[Choice, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    min_value: int | float | None = None
    max_value: int | float | None = None
    channel_types: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_name("option", self.name)
        _check_description("option", self.name, self.description)
        if self.autocomplete and self.choices:
            raise CommandDeclarationError(f"option {self.name!r}: autocomplete and choices exclude each other")
        if len(self.choices) > _MAX_CHOICES:
            raise CommandDeclarationError(f"option {self.name!r}: at most {_MAX_CHOICES} choices")
        if self.autocomplete and self.type not in (OptionType.STRING, OptionType.INTEGER, OptionType.NUMBER):
            raise CommandDeclarationError(f"option {self.name!r}: only text and number options autocomplete")
        for bound in (self.min_length, self.max_length):
            if bound is not None and not 0 <= bound <= _MAX_STRING_LENGTH:
                raise CommandDeclarationError(f"option {self.name!r}: length bounds are 0-{_MAX_STRING_LENGTH}")

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": int(self.type),
            "name": self.name,
            "description": self.description,
            "required": self.required,
        }
        if self.autocomplete:
            data["autocomplete"] = True
        if self.choices:
            data["choices"] = [c.payload() for c in self.choices]
        for key in ("min_length", "max_length", "min_value", "max_value"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.channel_types:
            data["channel_types"] = list(self.channel_types)
        return data

    def characters(self) -> int:
        return len(self.name) + len(self.description) + sum(len(c.name) + len(str(c.value)) for c in self.choices)


@dataclass(frozen=True)
class Command:
    """One application command: its registration payload and the handler that answers it."""

    name: str
    description: str
    handler: Handler
    type: CommandType = CommandType.CHAT_INPUT
    options: tuple[Option, ...] = ()
    autocomplete: Autocompleter | None = None
    trainer: bool = False
    contexts: tuple[InteractionContextType, ...] = EVERYWHERE

    def __post_init__(self) -> None:
        if self.type is CommandType.CHAT_INPUT:
            _check_name("command", self.name)
            _check_description("command", self.name, self.description)
        elif not 1 <= len(self.name) <= 32:
            raise CommandDeclarationError(f"menu command {self.name!r}: name must be 1-32 characters")
        elif self.options:
            raise CommandDeclarationError(f"menu command {self.name!r}: takes no options")
        if len(self.options) > _MAX_OPTIONS:
            raise CommandDeclarationError(f"command {self.name!r}: at most {_MAX_OPTIONS} options")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise CommandDeclarationError(f"command {self.name!r}: option names must be unique")
        seen_optional = False
        for option in self.options:
            if option.required and seen_optional:
                raise CommandDeclarationError(f"command {self.name!r}: required options come first")
            seen_optional = seen_optional or not option.required
        if any(o.autocomplete for o in self.options) and self.autocomplete is None:
            raise CommandDeclarationError(f"command {self.name!r}: an option autocompletes but no handler does")
        if not callable(self.handler):
            raise CommandDeclarationError(f"command {self.name!r}: needs a handler")
        total = len(self.name) + len(self.description) + sum(o.characters() for o in self.options)
        if total > _MAX_TOTAL_CHARACTERS:
            raise CommandDeclarationError(f"command {self.name!r}: over {_MAX_TOTAL_CHARACTERS} characters")

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, int(self.type))

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": int(self.type),
            "description": self.description if self.type is CommandType.CHAT_INPUT else "",
            "contexts": [int(c) for c in self.contexts],
            "integration_types": [0],
        }
        if self.options:
            data["options"] = [o.payload() for o in self.options]
        if self.trainer:
            # A string in the API (docs); Discord's preview OpenAPI spec says integer, the docs win.
            data["default_member_permissions"] = str(MANAGE_GUILD)
        return data


@dataclass(frozen=True)
class Route:
    """Components (buttons) and modal submits route by the first ``:``-separated part of their custom_id."""

    prefix: str
    handler: Handler
    modal: bool = False

    def __post_init__(self) -> None:
        if not self.prefix or ":" in self.prefix or len(self.prefix) > 20:
            raise CommandDeclarationError(f"route prefix {self.prefix!r}: 1-20 characters, no ':'")


@dataclass
class CommandRegistry:
    commands: dict[tuple[str, int], Command] = field(default_factory=dict)
    routes: dict[tuple[str, bool], Route] = field(default_factory=dict)

    def add(self, *items: Command | Route) -> None:
        for item in items:
            if isinstance(item, Command):
                if item.key in self.commands:
                    raise CommandDeclarationError(f"command {item.name!r} declared twice")
                self.commands[item.key] = item
            else:
                key = (item.prefix, item.modal)
                if key in self.routes:
                    raise CommandDeclarationError(f"route {item.prefix!r} declared twice")
                self.routes[key] = item
        for command_type, limit in _MAX_COMMANDS.items():
            if sum(1 for c in self.commands.values() if c.type == command_type) > limit:
                raise CommandDeclarationError(f"more than {limit} commands of type {command_type}")

    def extend(self, items: Iterable[Command | Route]) -> None:
        self.add(*items)

    def command(self, name: str, command_type: int) -> Command | None:
        return self.commands.get((name, int(command_type)))

    def route(self, custom_id_value: str, *, modal: bool) -> Route | None:
        return self.routes.get((custom_id_value.split(":", 1)[0], modal))

    def payload(self) -> list[dict[str, Any]]:
        """The bulk-overwrite body: every command, sorted for a stable diff."""
        chosen = list(self.commands.values())
        return [c.payload() for c in sorted(chosen, key=lambda c: (int(c.type), c.name))]
