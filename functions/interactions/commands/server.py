"""/trainer_role: which role, besides Manage Server, may use the trainer commands in this server.

Called with no option it only shows the setting; ``role`` sets it and ``clear`` removes it, so looking never
changes anything.
"""

from __future__ import annotations

from typing import Any

from shared.discord.permissions import is_trainer
from shared.errors import Forbidden, InvalidInput

from .. import responses
from ..context import InteractionContext
from ..registry import GUILD_ONLY, Command, Option, OptionType

# The commands carry default_member_permissions = Manage Server, so Discord hides them from everyone else until
# a server admin allows the role in the server's integration settings.
SHOW_COMMANDS_TO_ROLE = (
    "Discord shows the trainer commands only to members with Manage Server until an admin allows the role: "
    "**Server Settings → Integrations → {bot} → Manage**, then for each trainer command (/train, "
    "/select_dataset, /archive, /getfile, /trainer_role) **Add Roles or Members** → {role}."
)


def _how_to_show(role: str) -> str:
    return SHOW_COMMANDS_TO_ROLE.format(bot="this bot", role=f"<@&{role}>")


def trainer_role(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_guild()
    # Only Manage Server decides who trains: holders of the trainer role cannot hand it on.
    if not is_trainer(ctx.member):
        raise Forbidden("Only members with the Manage Server permission choose the trainer role.")
    options = ctx.options()
    role, clear = options.get("role"), bool(options.get("clear"))
    datasets = ctx.stores.datasets
    if role and clear:
        raise InvalidInput("Give a role to set it, or `clear: True` to remove it, not both.")
    if clear:
        datasets.set_trainer_role(guild_id, None)
        return responses.reply("Trainer role removed: only members with Manage Server use the trainer commands.",
                               ephemeral=True)
    if role:
        datasets.set_trainer_role(guild_id, str(role))
        return responses.reply(f"Members with <@&{role}> can now use the trainer commands (as can anyone with "
                               f"Manage Server).\n{_how_to_show(str(role))}", ephemeral=True)
    current = datasets.guild_settings(guild_id).trainer_role_id
    if not current:
        return responses.reply("No trainer role: only members with Manage Server use the trainer commands. "
                               "Choose one with `/trainer_role role:`.", ephemeral=True)
    return responses.reply(f"The trainer role is <@&{current}> (and anyone with Manage Server trains too). Change "
                           "it with `/trainer_role role:`, remove it with `/trainer_role clear: True`.\n"
                           f"{_how_to_show(current)}", ephemeral=True)


DECLARATIONS = (
    Command("trainer_role", "Show or choose the role that may train the bot here (besides Manage Server).",
            trainer_role, options=(Option("role", "The new trainer role", OptionType.ROLE),
                                   Option("clear", "Remove the trainer role (Manage Server only)",
                                          OptionType.BOOLEAN)),
            trainer=True, contexts=GUILD_ONLY),
)
