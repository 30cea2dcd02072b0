"""Commands whose capability is not built yet: declared (so names and limits are checked and reserved) but not
registered, so users never see a command that does nothing. Each moves to its own module when it is built."""

from __future__ import annotations

from ..registry import GUILD_ONLY, Command, Option, OptionType

DECLARATIONS = (
    Command(
        "train", "Add examples to the selected dataset, and optionally start fine-tuning.", None,
        options=(
            Option("text", "One example: 'Q: question A: answer', or a JSON line", OptionType.STRING),
            Option("file", "JSONL (chat or preference format), CSV (prompt,completion) or .zip",
                   OptionType.ATTACHMENT),
            Option("dataset", "Dataset to add to (default: the selected one)", OptionType.STRING),
            Option("positive", "Examples to imitate (true) or to avoid (false)", OptionType.BOOLEAN),
            Option("start", "Start a fine-tune job afterwards", OptionType.BOOLEAN),
        ),
        trainer=True, contexts=GUILD_ONLY, ready=False,
    ),
    Command(
        "select_dataset", "Pick the dataset that /train and training use.", None,
        options=(
            Option("dataset", "Dataset name", OptionType.STRING, required=True),
            Option("positive", "Default for new examples: imitate (true) or avoid (false)", OptionType.BOOLEAN),
        ),
        trainer=True, contexts=GUILD_ONLY, ready=False,
    ),
    Command(
        "archive", "Snapshot a dataset into a versioned archive.", None,
        options=(Option("dataset", "Dataset (default: the selected one)", OptionType.STRING),),
        trainer=True, contexts=GUILD_ONLY, ready=False,
    ),
    Command(
        "getfile", "Get a file the bot keeps: an archive, an export, the corrections log.", None,
        options=(Option("name", "File name", OptionType.STRING, required=True),),
        trainer=True, contexts=GUILD_ONLY, ready=False,
    ),
    Command(
        "join", "Join your voice channel (or the one you name).", None,
        options=(Option("channel", "Voice channel", OptionType.CHANNEL, channel_types=(2, 13)),),
        contexts=GUILD_ONLY, ready=False,
    ),
    Command("leave", "Leave the voice channel.", None, contexts=GUILD_ONLY, ready=False),
    Command(
        "say", "Say something aloud in the voice channel.", None,
        options=(Option("text", "What to say", OptionType.STRING, required=True, max_length=1000),),
        contexts=GUILD_ONLY, ready=False,
    ),
)
