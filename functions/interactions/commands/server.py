"""/trainer_role: which role, besides Manage Server, may use the trainer commands in this server."""

from __future__ import annotations

from typing import Any

from shared.discord.permissions import is_trainer
from shared.errors import Forbidden

from .. import responses
from ..context import InteractionContext
from ..registry import GUILD_ONLY, Command, Option, OptionType


def trainer_role(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_guild()
    # Only Manage Server decides who trains: holders of the trainer role cannot hand it on.
    if not is_trainer(ctx.member):
        raise Forbidden("Only members with the Manage Server permission choose the trainer role.")
    role = ctx.options().get("role")
    ctx.stores.datasets.set_trainer_role(guild_id, str(role) if role else None)
    if role:
        return responses.reply(f"Members with <@&{role}> can now use the trainer commands "
                               "(as can anyone with Manage Server).", ephemeral=True)
    return responses.reply("No trainer role: only members with Manage Server use the trainer commands.",
                           ephemeral=True)


DECLARATIONS = (
    Command("trainer_role", "Choose the role that may train the bot here (empty: Manage Server only).",
            trainer_role, options=(Option("role", "The trainer role", OptionType.ROLE),),
            trainer=True, contexts=GUILD_ONLY),
)
