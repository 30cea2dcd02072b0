"""Register the bot's application commands: a deploy step, never done at start-up.

    python -m infra.register_commands               # global commands; shows the diff, asks before writing
    python -m infra.register_commands --guild ID    # one server's commands (instant; good for testing)
    python -m infra.register_commands --yes         # no question (CI/CD)
    python -m infra.register_commands --dry-run     # the diff only

It bulk-overwrites (PUT) the whole set from the declarations in functions/interactions/commands, so commands
that are declared but not built yet (``ready=False``) and commands no longer declared disappear. Needs
DISCORD_APPLICATION_ID and the bot token (DISCORD_BOT_TOKEN, or DISCORD_BOT_TOKEN_SECRET naming a Secrets
Manager secret or an ``ssm:/`` parameter). Rate limits (429 Retry-After) are honoured by the REST client.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from functions.interactions.commands import build_registry
from shared.config import Settings
from shared.discord.rest import DiscordRest
from shared.errors import BotError, ConfigError

# Fields Discord fills in or adds that the declarations do not set.
_OPTION_DEFAULTS = {"required": False, "autocomplete": False}


def _normalise_option(option: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in option.items() if v is not None and not k.endswith("_localizations")
            and not k.endswith("_localized")}
    for key, default in _OPTION_DEFAULTS.items():
        if keep.get(key, default) == default:
            keep.pop(key, None)
    if "options" in keep:
        keep["options"] = [_normalise_option(o) for o in keep["options"]]
    return keep


def normalise(command: dict[str, Any]) -> dict[str, Any]:
    """The parts of a command that the declarations control, in one comparable shape."""
    return {
        "name": command["name"],
        "type": command.get("type", 1),
        "description": command.get("description", ""),
        "options": [_normalise_option(o) for o in command.get("options") or []],
        "default_member_permissions": command.get("default_member_permissions"),
        "contexts": sorted(command.get("contexts") or []),
        "integration_types": sorted(command.get("integration_types") or [0]),
        "nsfw": bool(command.get("nsfw", False)),
    }


def diff(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[str]:
    """Lines like '+ /hi', '- /old', '~ /train' (a changed command); empty when nothing changes."""
    def key(command: dict[str, Any]) -> tuple[str, int]:
        return command["name"], int(command.get("type", 1))

    def label(command: dict[str, Any]) -> str:
        return ("/" if int(command.get("type", 1)) == 1 else "menu: ") + command["name"]

    have = {key(c): normalise(c) for c in current}
    want = {key(c): normalise(c) for c in wanted}
    lines = [f"+ {label(want[k])}" for k in sorted(want.keys() - have.keys())]
    lines += [f"- {label(have[k])}" for k in sorted(have.keys() - want.keys())]
    for k in sorted(want.keys() & have.keys()):
        if want[k] != have[k]:
            changed = sorted(f for f in want[k] if want[k][f] != have[k].get(f))
            lines.append(f"~ {label(want[k])} ({', '.join(changed)})")
    return lines


def register(rest: DiscordRest, application_id: str, *, guild_id: str | None, confirm: Callable[[], bool],
             dry_run: bool = False, out: Callable[[str], None] = print) -> int:
    path = f"/applications/{application_id}" + (f"/guilds/{guild_id}" if guild_id else "") + "/commands"
    wanted = build_registry().payload()
    current = rest.request("GET", path) or []
    changes = diff(current, wanted)
    scope = f"server {guild_id}" if guild_id else "global"
    if not changes:
        out(f"{scope} commands are up to date ({len(wanted)} commands).")
        return 0
    out(f"Changes to the {scope} commands:")
    for line in changes:
        out("  " + line)
    if dry_run:
        return 0
    if not confirm():
        out("Nothing written.")
        return 1
    result = rest.request("PUT", path, json=wanted)
    out(f"Registered {len(result or [])} {scope} commands.")
    return 0


def main(argv: list[str] | None = None, *, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.register_commands", description=__doc__.splitlines()[0],
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guild", help="register for one server (id) instead of globally")
    parser.add_argument("--yes", action="store_true", help="write without asking")
    parser.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    args = parser.parse_args(argv)
    settings = settings or Settings.from_env()
    if not settings.discord_application_id:
        print("error: set DISCORD_APPLICATION_ID (the application's id).", file=sys.stderr)
        return 2
    if not (settings.discord_bot_token or settings.discord_bot_token_secret):
        print("error: set DISCORD_BOT_TOKEN (or DISCORD_BOT_TOKEN_SECRET) to register commands.", file=sys.stderr)
        return 2

    def confirm() -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            print("Review the changes above, then run again with --yes to write them.", file=sys.stderr)
            return False
        return input("Write these changes? [y/N] ").strip().lower() in ("y", "yes")

    try:
        return register(DiscordRest(settings), settings.discord_application_id, guild_id=args.guild,
                        confirm=confirm, dry_run=args.dry_run)
    except (BotError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["diff", "main", "normalise", "register"]
