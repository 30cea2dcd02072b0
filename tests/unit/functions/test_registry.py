import pytest

from functions.interactions.commands import build_registry
from functions.interactions.registry import (
    Command,
    CommandDeclarationError,
    CommandRegistry,
    CommandType,
    Option,
    OptionType,
    Route,
)


def noop(_ctx):
    return {}


def test_every_design_command_is_declared():
    registry = build_registry()
    slash = {name for (name, kind) in registry.commands if kind == CommandType.CHAT_INPUT}
    assert slash == {"hi", "instruction", "ask", "test", "train", "select_dataset", "archive", "getfile",
                     "correct", "feedback", "jobs", "model", "join", "leave", "say", "skip", "clear",
                     "set_instruction", "trainer_role", "voice_settings", "review", "datasets", "dataset_show",
                     "dataset_remove", "dataset_rename", "dataset_delete"}
    assert registry.command("Correct this answer", CommandType.MESSAGE) is not None


def test_every_declared_command_is_registered():
    registry = build_registry()
    assert len(registry.payload()) == len(registry.commands)


def test_trainer_commands_carry_manage_server_and_guild_only():
    registry = build_registry()
    payloads = {c["name"]: c for c in registry.payload()}
    for name in ("train", "select_dataset", "archive", "getfile", "review"):
        assert payloads[name]["default_member_permissions"] == str(1 << 5)
        assert payloads[name]["contexts"] == [0]
    assert "default_member_permissions" not in payloads["hi"]


def test_attachment_option_declared():
    train = build_registry().command("train", 1)
    file_option = next(o for o in train.options if o.name == "file")
    assert file_option.payload()["type"] == 11


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Command("Hi", "x", noop), id="upper-case-name"),
        pytest.param(lambda: Command("a" * 33, "x", noop), id="long-name"),
        pytest.param(lambda: Command("bad name", "x", noop), id="space-in-name"),
        pytest.param(lambda: Command("ok", "", noop), id="empty-description"),
        pytest.param(lambda: Command("ok", "d" * 101, noop), id="long-description"),
        pytest.param(lambda: Command("ok", "d", None), id="without-handler"),
        pytest.param(
            lambda: Command("ok", "d", noop, options=(Option("a", "a", OptionType.STRING),
                                                      Option("b", "b", OptionType.STRING, required=True))),
            id="required-after-optional",
        ),
        pytest.param(
            lambda: Command("ok", "d", noop, options=tuple(Option(f"o{i}", "d", OptionType.STRING)
                                                          for i in range(26))),
            id="too-many-options",
        ),
        pytest.param(lambda: Command("ok", "d", noop, options=(Option("a", "a", OptionType.STRING,
                                                                       autocomplete=True),)),
                     id="autocomplete-without-handler"),
        pytest.param(lambda: Option("a", "a", OptionType.BOOLEAN, autocomplete=True), id="autocomplete-bool"),
        pytest.param(lambda: Option("a", "a", OptionType.STRING, max_length=7000), id="max-length"),
        pytest.param(lambda: Command("menu", "", noop, type=CommandType.MESSAGE,
                                     options=(Option("a", "a", OptionType.STRING),)), id="menu-with-options"),
        pytest.param(lambda: Route("a:b", noop), id="route-with-colon"),
    ],
)
def test_declarations_breaking_discord_limits_fail(make):
    with pytest.raises(CommandDeclarationError):
        make()


def test_duplicate_declarations_fail():
    registry = CommandRegistry()
    registry.add(Command("a", "d", noop))
    with pytest.raises(CommandDeclarationError):
        registry.add(Command("a", "d", noop))


def test_total_character_limit():
    from functions.interactions.registry import Choice

    # Two such options stay under Discord's 4000 characters; three go over.
    Command("ok", "d", noop, options=tuple(
        Option(f"o{i}", "d" * 100, OptionType.STRING, choices=tuple(Choice("c" * 50, f"v{j}") for j in range(25)))
        for i in range(2)
    ))
    options = tuple(
        Option(f"o{i}", "d" * 100, OptionType.STRING, choices=tuple(Choice("c" * 50, f"v{j}") for j in range(25)))
        for i in range(3)
    )
    with pytest.raises(CommandDeclarationError):
        Command("ok", "d", noop, options=options)


def test_trainer_commands_are_ready_and_autocomplete_their_names():
    registry = build_registry()
    registered = {c["name"]: c for c in registry.payload()}
    for name, option in (("train", "dataset"), ("select_dataset", "dataset"), ("archive", "dataset"),
                         ("getfile", "name")):
        command = registry.command(name, CommandType.CHAT_INPUT)
        assert command.trainer and command.autocomplete is not None
        options = {o["name"]: o for o in registered[name]["options"]}
        assert options[option]["autocomplete"] is True
