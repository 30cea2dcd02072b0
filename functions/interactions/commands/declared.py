"""Commands whose capability is not built yet: declared (so names and limits are checked and reserved) but not
registered, so users never see a command that does nothing. Each moves to its own module when it is built."""

from __future__ import annotations

from ..registry import GUILD_ONLY, Command, Option, OptionType

DECLARATIONS = (
    Command(
        "ask", "Ask this server's model.", None,
        options=(
            Option("prompt", "Your question", OptionType.STRING, required=True, max_length=4000),
            Option("audio", "A voice recording to transcribe and ask", OptionType.ATTACHMENT),
        ),
        contexts=GUILD_ONLY, ready=False,
    ),
    Command(
        "test", "Run JSON test inputs through the model and report predictions and errors.", None,
        options=(Option("data", "One JSON object or a list of them", OptionType.STRING, required=True),),
        trainer=True, contexts=GUILD_ONLY, ready=False,
    ),
    Command("jobs", "List recent fine-tune jobs, and cancel one.", None,
            trainer=True, contexts=GUILD_ONLY, ready=False),
    Command("model", "Show or choose this server's active model.", None,
            trainer=True, contexts=GUILD_ONLY, ready=False),
)
