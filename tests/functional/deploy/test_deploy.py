"""`make deploy`'s steps (infra/deploy.py) against the fake Discord, moto (CloudFormation, Secrets Manager) and the
real interactions app on loopback standing in for the deployed endpoint. sam itself is not run here: its commands
are recorded (tests/e2e runs the real `sam build`)."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from werkzeug.serving import make_server

from functions.interactions.app import create_app
from functions.interactions.commands import build_registry
from infra.deploy import BOT_PERMISSIONS, Deployment, invite_url, parameter_overrides
from infra.fakes.discord_server import FakeDiscord
from shared.config import Settings
from tests.support.moto_server import moto_server

APP = "100000000000000042"
STACK = "bot-under-test"
# The stack's outputs and parameters, as CloudFormation reports them (moto creates the stack from this).
STACK_TEMPLATE = """
Parameters:
  DiscordPublicKey: {Type: String}
  DiscordApplicationId: {Type: String}
  BotTokenSecretArn: {Type: String}
  Endpoint: {Type: String}
Resources:
  Queue: {Type: "AWS::SQS::Queue"}
Outputs:
  InteractionsUrl: {Value: !Ref Endpoint}
"""


@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def discord():
    with FakeDiscord(application_id=APP) as fake:
        yield fake


def _serve(app) -> tuple[str, callable]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/interactions", server.shutdown


@pytest.fixture
def endpoint(discord):
    """The interactions app, holding the application's public key, as the deployed stack would."""
    url, stop = _serve(create_app(Settings(discord_public_key=discord.application.public_key_hex,
                                           discord_application_id=APP)))
    yield url
    stop()


class Sam:
    """Records the sam commands; succeeds like a real run that had nothing to report."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.envs: list[dict[str, str]] = []

    def __call__(self, command, **kwargs):
        self.commands.append(list(command))
        self.envs.append(kwargs.get("env") or {})
        return subprocess.CompletedProcess(command, 0)


@pytest.fixture
def stack(moto_endpoint, monkeypatch, discord, endpoint, request):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"bot-token-{request.node.name}"[:60]
    arn = secrets.create_secret(Name=name, SecretString=discord.bot_token)["ARN"]
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name="us-east-1")
    public_key = getattr(request, "param", None) or discord.application.public_key_hex
    cloudformation.create_stack(StackName=STACK, TemplateBody=STACK_TEMPLATE, Parameters=[
        {"ParameterKey": "DiscordPublicKey", "ParameterValue": public_key},
        {"ParameterKey": "DiscordApplicationId", "ParameterValue": APP},
        {"ParameterKey": "BotTokenSecretArn", "ParameterValue": arn},
        {"ParameterKey": "Endpoint", "ParameterValue": endpoint},
    ])
    yield endpoint
    cloudformation.delete_stack(StackName=STACK)


def _samconfig(tmp_path: Path, *, deployed: bool = True) -> Path:
    path = tmp_path / "samconfig.toml"
    lines = ["version = 0.1", "[default.deploy.parameters]", f'stack_name = "{STACK}"', 'region = "us-east-1"']
    if deployed:
        lines.append('parameter_overrides = "DiscordPublicKey=\\"abc\\" DiscordApplicationId=\\"42\\" '
                     'Architecture=\\"x86_64\\""')
    path.write_text("\n".join(lines) + "\n")
    return path


def _deployment(moto_endpoint, discord, samconfig, sam, lines, **kwargs) -> Deployment:
    settings = Settings(aws_endpoint_url=moto_endpoint, aws_region="us-east-1", discord_api_base=discord.api_base)
    return Deployment(settings, samconfig_path=samconfig, run=sam, out=lines.append, ask=lambda _q: "y", **kwargs)


def test_deploy_walks_every_step_and_a_second_run_changes_nothing(moto_endpoint, discord, stack, tmp_path):
    sam, lines = Sam(), []
    deployment = _deployment(moto_endpoint, discord, _samconfig(tmp_path), sam, lines)
    assert deployment() == 0, "\n".join(lines)

    build, deploy = sam.commands
    assert build[1:] == ["build", "--parameter-overrides", "Architecture=arm64"]
    assert sam.envs[0]["LAMBDA_ARCHITECTURE"] == "arm64"
    assert deploy[1:3] == ["deploy", "--no-fail-on-empty-changeset"] and "--guided" not in deploy
    # The saved answers go along with the architecture, which replaces the saved one.
    assert deploy[deploy.index("--parameter-overrides") + 1:] == [
        "DiscordPublicKey=abc", "DiscordApplicationId=42", "Architecture=arm64"]

    registered = discord.commands()
    assert sorted(c["name"] for c in registered) == sorted(c["name"] for c in build_registry().payload())
    assert "Changes to the global commands:" in "\n".join(lines)  # the diff, shown before the write
    assert discord.application.interactions_endpoint_url == stack
    # Discord's check before it accepted the URL: PONG to the signed PING, 401 to a forged one.
    assert discord.application.validations == [(stack, 200, 401)]
    text = "\n".join(lines)
    assert invite_url(APP) in text
    query = parse_qs(urlsplit(invite_url(APP)).query)
    assert query["scope"] == ["bot applications.commands"]
    assert int(query["permissions"][0]) == sum(BOT_PERMISSIONS.values())
    assert f"{stack} refuses unsigned requests (401)" in text
    assert "done: no voice worker in this stack" in text
    assert text.count("    done: ") == 8

    writes_before = [r for r in discord.request_log() if r["method"] in ("PUT", "PATCH", "POST")]
    lines.clear()
    assert _deployment(moto_endpoint, discord, _samconfig(tmp_path), Sam(), lines)() == 0, "\n".join(lines)
    writes_after = [r for r in discord.request_log() if r["method"] in ("PUT", "PATCH", "POST")]
    assert writes_after == writes_before
    text = "\n".join(lines)
    assert "commands are up to date" in text and f"already {stack}" in text
    assert len(discord.application.validations) == 1


def test_the_first_deploy_is_guided_and_a_voice_image_is_passed(moto_endpoint, discord, stack, tmp_path):
    sam, lines = Sam(), []
    deployment = _deployment(moto_endpoint, discord, _samconfig(tmp_path, deployed=False), sam, lines,
                             architecture="x86_64", voice_image="1.dkr.ecr.us-east-1.amazonaws.com/voice:abc",
                             voice_shards="2")
    assert deployment() == 0, "\n".join(lines)
    build, deploy = sam.commands
    assert "Architecture=x86_64" in build and sam.envs[0]["LAMBDA_ARCHITECTURE"] == "x86_64"
    assert "--guided" in deploy
    assert deploy[deploy.index("--parameter-overrides") + 1:] == [
        "Architecture=x86_64", "VoiceImageUri=1.dkr.ecr.us-east-1.amazonaws.com/voice:abc", "VoiceShardCount=2"]


@pytest.mark.parametrize("stack", ["ab" * 32], indirect=True)
def test_a_wrong_public_key_stops_before_discord_is_asked(moto_endpoint, discord, stack, tmp_path):
    lines = []
    assert _deployment(moto_endpoint, discord, _samconfig(tmp_path), Sam(), lines)() == 1
    text = "\n".join(lines)
    assert "FAILED: the stack's DiscordPublicKey is not this application's public key" in text
    assert "what to do:" in text
    assert discord.application.interactions_endpoint_url is None
    assert "[6/8]" not in text


def test_an_endpoint_that_fails_discords_ping_is_not_set(moto_endpoint, discord, stack, tmp_path, monkeypatch):
    # The deployed function holds another key: Discord's signed PING gets 401, so Discord refuses the URL.
    other = create_app(Settings(discord_public_key="cd" * 32, discord_application_id=APP))
    url, stop = _serve(other)
    try:
        lines = []
        deployment = _deployment(moto_endpoint, discord, _samconfig(tmp_path), Sam(), lines)
        monkeypatch.setattr(Deployment, "_output", lambda self, key: url)
        assert deployment() == 1
    finally:
        stop()
    text = "\n".join(lines)
    assert f"FAILED: Discord did not accept {url}" in text
    assert "sam logs -n InteractionsFunction" in text
    assert discord.application.interactions_endpoint_url is None
    assert discord.application.validations == [(url, 401, 401)]


def test_an_endpoint_that_answers_unsigned_requests_fails_the_check(moto_endpoint, discord, stack, tmp_path):
    from flask import Flask

    open_app = Flask("open")
    open_app.post("/interactions")(lambda: {"type": 1})
    url, stop = _serve(open_app)
    try:
        lines = []
        deployment = _deployment(moto_endpoint, discord, _samconfig(tmp_path), Sam(), lines)
        deployment.stack = {"Outputs": [{"OutputKey": "InteractionsUrl", "OutputValue": url}]}
        with pytest.raises(Exception, match="got 200, not 401"):
            deployment.check_endpoint()
    finally:
        stop()


@pytest.mark.parametrize(("servers", "shards", "outcome"), [
    (400, "1", "done: 1 voice shard for about 400 servers"),
    # Past Discord's recommendation (about one per 1,000) but within its limit: a note, not a failure.
    (2400, "1", "done: 1 voice shard for about 2400 servers; Discord recommends 3 (make deploy VOICE_SHARDS=3 "
                "before it reaches 2,500)"),
    (2600, "1", "FAILED: 1 voice shard for about 2600 servers, more than 1 can hold (2,500 each): Discord closes "
                "the voice worker's gateway session (4011, sharding required).\n"
                "    what to do: make deploy VOICE_SHARDS=3"),
    (7600, "3", "FAILED: 3 voice shards for about 7600 servers, more than 3 can hold (2,500 each): Discord "
                "closes the voice worker's gateway session (4011, sharding required).\n"
                "    what to do: make deploy VOICE_SHARDS=4"),
    (9000, "4", "done: 4 voice shards for about 9000 servers; Discord recommends 9"),
    (12000, "4", "FAILED: the bot is in about 12000 servers: more than the 4 voice shards this template runs"),
])
def test_the_voice_shards_are_checked_against_the_servers_the_bot_is_in(discord, tmp_path, servers, shards,
                                                                        outcome):
    discord.application.approximate_guild_count = servers
    lines = []
    deployment = _deployment("http://127.0.0.1:9", discord, _samconfig(tmp_path), Sam(), lines)
    deployment.settings = dataclasses.replace(deployment.settings, discord_bot_token=discord.bot_token)
    deployment.stack = {"Parameters": [{"ParameterKey": "VoiceImageUri", "ParameterValue": "1.dkr.ecr/voice:1"},
                                       {"ParameterKey": "VoiceShardCount", "ParameterValue": shards}]}
    only_this_step = [("voice shards", deployment.voice_shards_check)]
    deployment.steps = lambda: only_this_step  # type: ignore[method-assign]
    assert deployment() == (1 if outcome.startswith("FAILED") else 0)
    assert outcome in "\n".join(lines)
    if outcome.startswith("FAILED"):
        assert "what to do: " in "\n".join(lines)


def test_the_fakes_gateway_answer_is_discords(discord):
    import requests

    from tests.support.discord_spec import spec_errors

    discord.application.approximate_guild_count = 2600
    response = requests.get(f"{discord.api_base}/gateway/bot", headers={"Authorization": f"Bot {discord.bot_token}"},
                            timeout=5)
    assert response.status_code == 200 and not spec_errors("GatewayBotResponse", response.json())
    assert response.json()["shards"] == 3


def test_a_shard_count_the_template_does_not_allow_is_refused_before_anything_runs(monkeypatch, capsys):
    from infra.deploy import main

    monkeypatch.setenv("VOICE_SHARDS", "9")
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "VOICE_SHARDS must be one of 1, 2, 3, 4, not '9'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--voice-shards", "0"])
    assert "invalid choice: '0'" in capsys.readouterr().err


def test_the_voice_shard_counts_are_the_templates():
    from infra.deploy import VOICE_SHARD_COUNTS
    from infra.template import load_template

    assert list(VOICE_SHARD_COUNTS) == load_template()["Parameters"]["VoiceShardCount"]["AllowedValues"]


def test_parameter_overrides_keep_the_saved_answers():
    saved = 'DiscordPublicKey="a b" BotTokenSecretArn="" Architecture="arm64"'
    assert parameter_overrides(saved, Architecture="x86_64", VoiceImageUri=None) == [
        "DiscordPublicKey=a b", "BotTokenSecretArn=", "Architecture=x86_64"]


def test_voice_image_builds_for_the_architecture_and_pushes_to_the_stacks_repository(moto_endpoint, monkeypatch,
                                                                                     tmp_path):
    from infra.deploy import voice_image

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    ecr = boto3.client("ecr", endpoint_url=moto_endpoint, region_name="us-east-1")
    repository = ecr.create_repository(repositoryName="voice-under-test")["repository"]["repositoryUri"]
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name="us-east-1")
    cloudformation.create_stack(StackName=STACK, TemplateBody="""
Parameters:
  Repo: {Type: String}
Resources:
  Queue: {Type: "AWS::SQS::Queue"}
Outputs:
  VoiceRepositoryUri: {Value: !Ref Repo}
""", Parameters=[{"ParameterKey": "Repo", "ParameterValue": repository}])
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs.get("input")))
        return subprocess.CompletedProcess(command, 0, stdout="abc1234\n")

    lines = []
    settings = Settings(aws_endpoint_url=moto_endpoint, aws_region="us-east-1")
    try:
        assert voice_image(settings, "arm64", run=run, out=lines.append, samconfig_path=_samconfig(tmp_path)) == 0
    finally:
        cloudformation.delete_stack(StackName=STACK)
    docker = [c for c in calls if c[0][0] == "docker"]
    login, build_, push = docker
    assert login[0][:2] == ["docker", "login"] and login[0][-1] == repository.split("/")[0]
    assert login[1]  # the registry password goes through stdin, never the command line
    assert build_[0][:4] == ["docker", "build", "--platform", "linux/arm64"]
    assert "infra/voice_worker.Dockerfile" in build_[0] and f"{repository}:abc1234" in build_[0]
    assert push[0] == ["docker", "push", f"{repository}:abc1234"]
    assert f"make deploy VOICE_IMAGE={repository}:abc1234" in "\n".join(lines)


# -- voice-message transcription (VOICE_TRANSCRIBE, template parameter VoiceTranscribeMessages) -------------------

MESSAGE_CONTENT_LIMITED, MESSAGE_CONTENT = 1 << 19, 1 << 18
IMAGE = "1.dkr.ecr.us-east-1.amazonaws.com/voice:abc"


def _writes(discord) -> list[dict]:
    return [r for r in discord.request_log() if r["method"] in ("PUT", "PATCH", "POST")]


def test_transcription_with_the_intent_on_is_deployed_and_a_second_run_changes_nothing(moto_endpoint, discord, stack,
                                                                                      tmp_path):
    discord.application.flags = MESSAGE_CONTENT_LIMITED
    sam, lines = Sam(), []
    deployment = _deployment(moto_endpoint, discord, _samconfig(tmp_path), sam, lines, voice_image=IMAGE,
                             voice_transcribe="true")
    assert deployment() == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert "[2/8] message content intent\n    done: the Message Content intent is on " \
           "(GATEWAY_MESSAGE_CONTENT_LIMITED: enough below 100 servers; the bot is in about 1); each server picks " \
           "its channels with /voice_settings transcribe_add" in text
    _build, deploy = sam.commands
    assert deploy[deploy.index("--parameter-overrides") + 1:][-2:] == [f"VoiceImageUri={IMAGE}",
                                                                      "VoiceTranscribeMessages=true"]
    # The check only reads: the application is left as it was.
    assert discord.application.flags == MESSAGE_CONTENT_LIMITED

    writes_before = _writes(discord)
    lines.clear()
    again = _deployment(moto_endpoint, discord, _samconfig(tmp_path), Sam(), lines, voice_image=IMAGE,
                        voice_transcribe="true")
    assert again() == 0, "\n".join(lines)
    assert _writes(discord) == writes_before
    assert "done: the Message Content intent is on" in "\n".join(lines)


def test_transcription_without_the_intent_stops_before_anything_is_deployed(moto_endpoint, discord, stack, tmp_path):
    assert discord.application.flags == 0  # a new application: no privileged intent switched on
    sam, lines = Sam(), []
    deployment = _deployment(moto_endpoint, discord, _samconfig(tmp_path), sam, lines, voice_image=IMAGE,
                             voice_transcribe="true")
    assert deployment() == 1
    text = "\n".join(lines)
    assert "FAILED: voice-message transcription needs Discord's privileged Message Content intent, and this " \
           "application does not have it: Discord would refuse the voice worker's gateway connection (4014)" in text
    assert (f"what to do: Open https://discord.com/developers/applications/{APP}/bot, turn on Message Content "
            "Intent under Privileged Gateway Intents and press Save Changes, then run make deploy "
            "VOICE_TRANSCRIBE=true again. Or deploy with VOICE_TRANSCRIBE=false.") in text
    assert [c[1] for c in sam.commands] == ["build"]  # sam deploy never ran
    assert "[3/8]" not in text and not _writes(discord)
    # Switched on in the portal, the same command goes through.
    discord.application.flags = MESSAGE_CONTENT_LIMITED
    lines.clear()
    assert _deployment(moto_endpoint, discord, _samconfig(tmp_path), Sam(), lines, voice_image=IMAGE,
                       voice_transcribe="true")() == 0, "\n".join(lines)


@pytest.mark.parametrize(("flags", "servers", "outcome"), [
    (MESSAGE_CONTENT, 3000, "done: the Message Content intent is approved for this application "
                            "(GATEWAY_MESSAGE_CONTENT)"),
    (MESSAGE_CONTENT_LIMITED, 150, "FAILED: the bot is in about 150 servers, and from 100 on Discord gives the "
                                   "Message Content intent only to a verified application that it approved for it"),
    (0, 150, "(the bot is in 100 or more servers: Discord must verify the app and approve the intent first)"),
    # Other flags (here GATEWAY_GUILD_MEMBERS_LIMITED) are not the one transcription needs.
    (1 << 15, 5, "FAILED: voice-message transcription needs Discord's privileged Message Content intent"),
])
def test_the_intent_is_read_from_the_applications_flags(discord, tmp_path, flags, servers, outcome):
    discord.application.flags, discord.application.approximate_guild_count = flags, servers
    lines = []
    deployment = _deployment("http://127.0.0.1:9", discord, _samconfig(tmp_path), Sam(), lines,
                             voice_image=IMAGE, voice_transcribe="true")
    deployment.settings = dataclasses.replace(deployment.settings, discord_bot_token=discord.bot_token)
    deployment.previous_stack = {}
    deployment.steps = lambda: [("message content intent", deployment.message_content_check)]  # type: ignore
    assert deployment() == (1 if "done:" not in outcome else 0)
    assert outcome in "\n".join(lines)


def test_transcription_is_checked_only_when_it_will_be_on(discord, tmp_path):
    lines = []
    path = tmp_path / "samconfig.toml"
    path.write_text("\n".join([
        "version = 0.1", "[default.deploy.parameters]", f'stack_name = "{STACK}"', 'region = "us-east-1"',
        f'parameter_overrides = "VoiceImageUri=\\"{IMAGE}\\" VoiceTranscribeMessages=\\"true\\""']) + "\n")
    deployment = _deployment("http://127.0.0.1:9", discord, path, Sam(), lines)
    deployment.settings = dataclasses.replace(deployment.settings, discord_bot_token=discord.bot_token)
    deployment.previous_stack = {}
    # Saved by a guided deploy: checked even when this run does not say.
    with pytest.raises(Exception, match="Message Content intent"):
        deployment.message_content_check()
    deployment.voice_transcribe = "false"
    assert deployment.message_content_check().startswith("not needed: voice-message transcription is off")
    # On, without a voice worker to run it: refused before sam deploy (the template's rule would refuse it too).
    deployment.voice_transcribe, deployment.voice_image = "true", ""
    with pytest.raises(Exception, match="needs the voice worker"):
        deployment.message_content_check()
    # The stack's current value when neither this run nor samconfig says (sam keeps a parameter it is not given).
    path.write_text(path.read_text().replace(f'VoiceImageUri=\\"{IMAGE}\\" VoiceTranscribeMessages=\\"true\\"',
                                             'Architecture=\\"arm64\\"'))
    deployment.voice_transcribe, deployment.voice_image = None, None
    deployment.previous_stack = {"Parameters": [{"ParameterKey": "VoiceTranscribeMessages", "ParameterValue": "true"},
                                                {"ParameterKey": "VoiceImageUri", "ParameterValue": IMAGE}]}
    with pytest.raises(Exception, match="Message Content intent"):
        deployment.message_content_check()
    assert not _writes(discord)


def test_the_fakes_application_is_discords(discord):
    import requests

    from tests.support.discord_spec import spec_errors

    discord.application.flags = MESSAGE_CONTENT_LIMITED
    response = requests.get(f"{discord.api_base}/applications/@me",
                            headers={"Authorization": f"Bot {discord.bot_token}"}, timeout=5)
    assert response.status_code == 200 and not spec_errors("PrivateApplicationResponse", response.json())
    assert response.json()["flags"] == MESSAGE_CONTENT_LIMITED


def test_a_transcription_value_other_than_true_or_false_is_refused(monkeypatch, capsys):
    from infra.deploy import VOICE_TRANSCRIBE_VALUES, main
    from infra.template import load_template

    assert list(VOICE_TRANSCRIBE_VALUES) == load_template()["Parameters"]["VoiceTranscribeMessages"]["AllowedValues"]
    monkeypatch.setenv("VOICE_TRANSCRIBE", "yes")
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "VOICE_TRANSCRIBE must be true or false, not 'yes'" in capsys.readouterr().err
