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
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from functions.interactions.app import create_app
from functions.interactions.commands import build_registry
from infra.deploy import BOT_PERMISSIONS, Deployment, invite_url, parameter_overrides
from infra.fakes.discord_server import FakeDiscord
from shared.config import Settings

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
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


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
    assert text.count("    done: ") == 7

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
    assert "[5/7]" not in text


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
