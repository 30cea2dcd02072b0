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
