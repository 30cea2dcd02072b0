"""The registration CLI against the fake Discord API through the real REST client."""


from functions.interactions.commands import build_registry
from infra.register_commands import diff, main, register
from shared.config import Settings
from shared.discord.rest import DiscordRest
from tests.conftest import APPLICATION_ID as APP


def test_registers_every_command_then_is_up_to_date(fake_discord, settings, capsys):
    assert main(["--yes"], settings=settings) == 0
    registered = {c["name"] for c in fake_discord.commands()}
    assert registered == {c["name"] for c in build_registry().payload()}
    assert main(["--yes"], settings=settings) == 0
    assert "up to date" in capsys.readouterr().out


def test_guild_registration_goes_to_the_guild(fake_discord, settings):
    assert main(["--yes", "--guild", "200000000000000001"], settings=settings) == 0
    assert fake_discord.commands("200000000000000001")
    assert fake_discord.commands() == []


def test_diff_shows_additions_removals_and_changes(fake_discord, settings):
    wanted = build_registry().payload()
    current = [dict(c) for c in wanted if c["name"] != "hi"]
    current.append({"name": "old", "type": 1, "description": "gone"})
    current[0] = {**current[0], "description": "an older text"}
    lines = diff(current, wanted)
    assert "+ /hi" in lines
    assert "- /old" in lines
    assert any(line.startswith("~ ") and "description" in line for line in lines)


def test_dry_run_and_refusal_write_nothing(fake_discord, settings):
    rest = DiscordRest(settings)
    out: list[str] = []
    assert register(rest, APP, guild_id=None, confirm=lambda: True, dry_run=True, out=out.append) == 0
    assert register(rest, APP, guild_id=None, confirm=lambda: False, out=out.append) == 1
    assert fake_discord.commands() == []
    assert any(line.strip().startswith("+ /hi") for line in out)


def test_rate_limited_put_is_retried_after_retry_after(fake_discord, settings):
    fake_discord.fail_next(429, method="PUT", retry_after=2.0)
    slept: list[float] = []
    rest = DiscordRest(settings, sleep=slept.append)
    assert register(rest, APP, guild_id=None, confirm=lambda: True, out=lambda _l: None) == 0
    assert fake_discord.commands()
    # The sleep is injected (recorded, not slept); it waits out Retry-After, less time already spent.
    assert slept and 1.9 < slept[0] <= 2.0


def test_missing_configuration_is_a_clear_error(capsys):
    assert main(["--yes"], settings=Settings(discord_application_id=APP)) == 2
    assert "DISCORD_BOT_TOKEN" in capsys.readouterr().err
    assert main(["--yes"], settings=Settings(discord_bot_token="x")) == 2


def test_unauthorised_token_is_reported_without_a_trace(fake_discord, settings, capsys):
    bad = Settings(discord_api_base=fake_discord.api_base, discord_bot_token="wrong", discord_application_id=APP)
    assert main(["--yes"], settings=bad) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and "wrong" not in err
