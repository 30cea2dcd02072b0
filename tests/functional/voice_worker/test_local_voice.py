"""The real VoiceBot and discord.py's real VoiceClient against the local Discord gateway and voice server:
TLS, UDP IP discovery, transport encryption and (by default) DAVE end to end, with what the bot says decrypted,
decoded and compared with espeak-ng's rendering of the same text."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types

import boto3
import discord
import discord.gateway
import discord.http
import pytest

from infra.fakes.discord_gateway import OTHER_USER, VOICE_CHANNEL, LocalDiscordGateway
from infra.fakes.discord_server import FakeDiscord
from infra.fakes.tls import make_loopback_certificate
from infra.interactions import DEFAULT_GUILD, DEFAULT_USER
from infra.template import provision
from shared.aws import AwsClients
from shared.config import Settings
from shared.contracts.messages import InteractionRef, VoiceRequest
from shared.storage.table import DataTable
from shared.storage.voice_presence import VoicePresence, VoiceWorkerStatus
from tests.support.audio_match import correlation, envelope_pcm, envelope_wav
from tests.support.moto_server import moto_server
from tests.support.voice import RecordingReplier
from voice_worker import replies
from voice_worker.bot import VoiceBot
from voice_worker.guild_settings import VoiceSettingsStore
from voice_worker.ledger import RequestLedger
from voice_worker.tts import EspeakEngine, Synthesizer

SPOKEN = "Hello from the local voice server."
OTHER_TEXT = "Seven quick brown foxes jumped over a lazy dog."


@pytest.fixture(autouse=True)
def _restore_discord_endpoints(monkeypatch):
    # VoiceBot points discord.py's class-level endpoints at the fakes; put Discord's back afterwards.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


def start_gateway(fake_discord: FakeDiscord, **options) -> LocalDiscordGateway:
    return LocalDiscordGateway(bot_token=fake_discord.bot_token, bot_user_id=fake_discord.application_id,
                               **options).start()


@pytest.fixture(params=[True, False], ids=["dave", "transport-only"])
def gateway(request, fake_discord):
    gw = start_gateway(fake_discord, dave=request.param)
    yield gw
    gw.stop()


@pytest.fixture
def dave_gateway(fake_discord):
    gw = start_gateway(fake_discord)
    yield gw
    gw.stop()


def live_settings(settings, fake_discord, gateway):
    return dataclasses.replace(settings, discord_api_base=fake_discord.api_base, discord_gateway_url=gateway.url,
                                   discord_ca_file=str(gateway.ca_file), discord_bot_token=fake_discord.bot_token)


def voice_request(kind: str, user_id: str = DEFAULT_USER, **args) -> VoiceRequest:
    ref = InteractionRef(id=str(int(time.time_ns())), application_id="100000000000000001", token="t",
                         guild_id=DEFAULT_GUILD, channel_id="300000000000000001", user_id=user_id,
                         member_permissions=0)
    return VoiceRequest(kind=kind, interaction=ref, args=args)


@contextlib.asynccontextmanager
async def running_bot(settings, voice_queue):
    sqs, _ = voice_queue
    bot = VoiceBot(settings, synthesizer=Synthesizer({"espeak": EspeakEngine()}, "espeak"),
                   settings_store=VoiceSettingsStore(settings), replier=RecordingReplier(),
                   ledger=RequestLedger(settings), aws=AwsClients(settings, sqs=sqs), shutdown_grace_seconds=0.2)
    runner = asyncio.create_task(bot.start(settings.discord_bot_token))
    ready = asyncio.create_task(bot.wait_until_ready())
    await asyncio.wait({runner, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        runner.result() if runner.done() else pytest.fail("the bot did not get ready")
    try:
        yield bot
    finally:
        await bot.shutdown()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, 10)


async def bot_side(condition, timeout: float = 15.0) -> None:
    """Until the bot's own state (its gateway caches) satisfies ``condition``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not reach the expected state")
        await asyncio.sleep(0.02)


def leaves(gw: LocalDiscordGateway) -> list[dict]:
    return [r for r in gw.voice_requests if r.get("channel_id") is None]


async def join(bot, gw: LocalDiscordGateway) -> None:
    assert await bot.service.handle(voice_request("join")) == replies.joined("General")
    assert gw.bot_channel() == VOICE_CHANNEL
    if gw.dave:
        await gw.until(lambda g: g.dave_ready())


async def test_join_say_refuse_leave(settings, voice_queue, fake_discord, gateway, tmp_path):
    async with running_bot(live_settings(settings, fake_discord, gateway), voice_queue) as bot:
        identify = gateway.identifies[-1]
        assert identify["token_ok"]
        assert identify["intents"] == discord.Intents.guilds.flag | discord.Intents.voice_states.flag

        await join(bot, gateway)
        assert gateway.voice_identifies[-1]["max_dave_protocol_version"] == 1  # the worker offers DAVE

        assert await bot.service.handle(voice_request("say", text=SPOKEN)) == replies.saying("General")
        [said] = await gateway.until(lambda g: g.completed_utterances())
        assert said.frames > 50 and said.undecodable == 0, said.summary()
        assert said.speaking[0] != 0 and said.speaking[-1] == 0
        if gateway.dave:
            assert said.e2ee_frames == said.frames - said.silence > 0, said.summary()
            assert {25, 26, 23}.issubset(said.opcodes) or {26, 23}.issubset(said.opcodes)
        else:
            assert said.e2ee_frames == 0 and 26 not in said.opcodes
        engine = EspeakEngine()
        heard = envelope_pcm(bytes(said.pcm), 48000, 2)
        same = correlation(heard, envelope_wav(engine.synthesize(SPOKEN, "en", tmp_path)))
        other = correlation(heard, envelope_wav(engine.synthesize(OTHER_TEXT, "en", tmp_path)))
        assert same > 0.7 and same > other + 0.3, (same, other)

        # A member who is not in the bot's channel can neither make it speak nor call it to theirs.
        assert await bot.service.handle(voice_request("say", OTHER_USER, text="hi")) == \
            replies.say_forbidden("General")
        assert await bot.service.handle(voice_request("join", OTHER_USER)) == replies.NOT_IN_VOICE

        assert await bot.service.handle(voice_request("leave")) == replies.left("General")
        await gateway.until(lambda g: g.bot_channel() is None and not g.voice_connected())
        assert len(leaves(gateway)) == 1


async def test_last_human_leaving_makes_the_bot_leave_once(settings, voice_queue, fake_discord, dave_gateway):
    gw = dave_gateway
    async with running_bot(live_settings(settings, fake_discord, gw), voice_queue) as bot:
        await join(bot, gw)
        voice = VoicePresence(DataTable(settings.data_table, boto3.client("dynamodb", region_name="us-east-1")))
        await bot_side(lambda: voice.status(0).running)  # the worker reports itself once ready
        gw.move_member(DEFAULT_USER, None)
        await gw.until(lambda g: g.bot_channel() is None and not g.voice_connected())
        # Back in the channel, /join works; the auto-leave asked Discord to leave exactly once (reacting to its
        # own voice-state update while leaving used to send a second leave).
        gw.move_member(DEFAULT_USER, VOICE_CHANNEL)
        await bot_side(lambda: bot.gateway.member_channel(int(DEFAULT_GUILD), int(DEFAULT_USER)) is not None)
        await join(bot, gw)
        assert len(leaves(gw)) == 1, gw.voice_requests
    assert voice.status(0) == VoiceWorkerStatus(False, "the voice worker was stopped")


@pytest.mark.parametrize("code", [4014, 4021])
async def test_voice_close_codes_then_join_again(settings, voice_queue, fake_discord, dave_gateway, code):
    gw = dave_gateway
    async with running_bot(live_settings(settings, fake_discord, gw), voice_queue) as bot:
        await join(bot, gw)
        gw.close_voice(code)
        await gw.until(lambda g: g.bot_channel() is None and not g.voice_connected())
        await bot_side(lambda: bot.gateway.bot_channel(int(DEFAULT_GUILD)) is None)
        await join(bot, gw)
        assert gw.voice_sessions == 2
        assert await bot.service.handle(voice_request("say", text="Back again.")) == replies.saying("General")
        [said] = await gw.until(lambda g: g.completed_utterances())
        assert said.frames > 10 and said.undecodable == 0 and said.e2ee_frames == said.frames - said.silence


async def test_untrusted_voice_certificate_is_a_clear_refusal(settings, voice_queue, fake_discord, dave_gateway,
                                                              tmp_path):
    # The worker trusts another CA than the one that signed the voice server's certificate.
    other_ca = make_loopback_certificate(tmp_path).ca_file
    live = dataclasses.replace(live_settings(settings, fake_discord, dave_gateway), discord_ca_file=str(other_ca))
    async with running_bot(live, voice_queue) as bot:
        assert await bot.service.handle(voice_request("join")) == replies.connect_refused(
            "General", "the voice server's TLS certificate is not trusted.")
        assert dave_gateway.voice_sessions == 0


@pytest.fixture
def moto_endpoint(template):
    """An AWS on loopback for the worker process, provisioned from template.yaml: its voice presence record goes
    to the data table. Yields the endpoint and the worker's environment for it."""
    with moto_server() as endpoint:
        refs = provision(AwsClients(Settings(aws_endpoint_url=endpoint)), template=template).refs
        yield endpoint, {"DATA_TABLE": refs["DataTable"], "VOICE_QUEUE_URL": refs["VoiceQueue"]}


def presence_at(moto: tuple[str, dict[str, str]]) -> VoicePresence:
    endpoint, environment = moto
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    return VoicePresence(DataTable(environment["DATA_TABLE"], client))


def run_worker(environment: dict[str, str], moto: tuple[str, dict[str, str]]) -> subprocess.CompletedProcess[str]:
    endpoint, resources = moto
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "VOICE_", "AWS_"))}
    env.update({**resources, "VOICE_HEALTH_PORT": "0", "VOICE_TTS_ENGINE": "espeak", "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                **environment})
    return subprocess.run([sys.executable, "-m", "voice_worker"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_exits_with_one_line_when_discord_refuses_or_is_unreachable(fake_discord, moto_endpoint):
    strict = LocalDiscordGateway(bot_token=fake_discord.bot_token, bot_user_id=fake_discord.application_id,
                                 allowed_intents=0)
    with strict:
        base = {"DISCORD_API_BASE": fake_discord.api_base, "DISCORD_GATEWAY_URL": strict.url,
                "DISCORD_CA_FILE": str(strict.ca_file), "DISCORD_BOT_TOKEN": fake_discord.bot_token}
        cases = {
            "refused the bot token": {"DISCORD_BOT_TOKEN": "wrong-token"},
            "refused the privileged intents": {"VOICE_TRANSCRIBE_MESSAGES": "1"},
            "cannot reach Discord": {"DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{unused_port()}/"},
        }
        for expected, changes in cases.items():
            result = run_worker({**base, **changes}, moto_endpoint)
            assert result.returncode == 1, (expected, result.stderr[-2000:])
            errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
            assert len(errors) == 1 and expected in errors[0], (expected, result.stderr[-2000:])
            assert "Traceback" not in result.stderr, result.stderr[-2000:]
            # Voice commands will answer at once that voice is off, and why.
            status = presence_at(moto_endpoint).status(0)
            assert not status.running and expected in status.reason
    unreachable = run_worker({"DISCORD_API_BASE": f"http://127.0.0.1:{unused_port()}/api/v10",
                              "DISCORD_BOT_TOKEN": "t"}, moto_endpoint)
    assert unreachable.returncode == 1 and "cannot reach Discord" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


@pytest.mark.parametrize("worker_said_why", [False, True])
def test_make_run_reports_a_voice_worker_that_stopped(settings, tmp_path, capsys, worker_said_why):
    from infra.local_stack import watch_voice_worker

    voice = VoicePresence(DataTable(settings.data_table, boto3.client("dynamodb", region_name="us-east-1")))
    voice.beat(0)
    if worker_said_why:
        voice.stopped(0, "Discord refused the bot token (DISCORD_BOT_TOKEN) at http://x")
    stack = types.SimpleNamespace(settings_for=lambda _: settings)
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    state = tmp_path / "stack.json"
    watch_voice_worker(process, threading.Event(), stack, state_file=state).join(30)
    assert "Voice worker:          stopped (exit code 3)" in capsys.readouterr().out
    assert json.loads(state.read_text())["voice_worker"] == {"running": False, "exit_code": 3}
    reason = voice.status(0).reason
    # The worker's own reason is kept; a worker that died without one is recorded by its exit code.
    assert reason == ("Discord refused the bot token (DISCORD_BOT_TOKEN) at http://x" if worker_said_why
                      else "the voice worker exited (code 3)")
