"""The discord.py bot: intents, never syncing commands, health, graceful shutdown; and the start-up check."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys

import discord
import pytest
import requests
from discord import app_commands
from discord.ext import commands

from shared.aws import AwsClients
from tests.functional.voice_worker.test_consumer import queue_depth
from tests.support.voice import (
    ALICE,
    GUILD_ID,
    VOICE_ID,
    RecordingReplier,
    RecordingVoiceClient,
    install_guild,
    request,
)
from voice_worker.bot import CommandRegistrationForbidden, VoiceBot, intents_for
from voice_worker.guild_settings import VoiceSettingsStore
from voice_worker.health import HealthServer
from voice_worker.ledger import RequestLedger
from voice_worker.preflight import voice_problems
from voice_worker.tts import EspeakEngine, Synthesizer


def make_bot(settings, voice_queue, **kwargs) -> VoiceBot:
    sqs, _ = voice_queue
    return VoiceBot(settings, synthesizer=Synthesizer({"espeak": EspeakEngine()}, "espeak"),
                    settings_store=VoiceSettingsStore(settings), replier=RecordingReplier(),
                    ledger=RequestLedger(settings), aws=AwsClients(settings, sqs=sqs),
                    voice_client_cls=RecordingVoiceClient,
                    shutdown_grace_seconds=0.2, **kwargs)


def test_intents_are_minimal(settings):
    intents = intents_for(settings)
    assert intents.guilds and intents.voice_states
    assert not intents.message_content and not intents.members and not intents.guild_messages
    assert intents.value == (discord.Intents.guilds.flag | discord.Intents.voice_states.flag)
    with_stt = intents_for(dataclasses.replace(settings, voice_transcribe_messages=True))
    assert with_stt.message_content and with_stt.guild_messages and not with_stt.members


async def test_commands_can_never_be_registered_or_synced(settings, voice_queue):
    bot = make_bot(settings, voice_queue)
    with pytest.raises(CommandRegistrationForbidden):
        await bot.tree.sync()
    with pytest.raises(CommandRegistrationForbidden):
        await bot.tree.sync(guild=discord.Object(GUILD_ID))

    @app_commands.command(name="join", description="join")
    async def join(interaction: discord.Interaction) -> None: ...

    with pytest.raises(CommandRegistrationForbidden):
        bot.tree.add_command(join)

    class Sneaky(commands.Cog):
        @app_commands.command(name="leave", description="leave")
        async def leave(self, interaction: discord.Interaction) -> None: ...

    with pytest.raises(CommandRegistrationForbidden):
        await bot.add_cog(Sneaky())
    assert bot.tree.get_commands() == []
    await bot.close()


async def wait_for(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_requests_flow_through_the_bot_then_graceful_shutdown(settings, voice_queue):
    sqs, url = voice_queue
    bot = make_bot(settings, voice_queue)
    bot.consumer._wait_seconds = 0
    guild = await install_guild(bot, voice_states={ALICE: VOICE_ID})
    health = HealthServer(bot.health, port=0, host="127.0.0.1")
    await health.start()
    health_url = f"http://127.0.0.1:{health.bound_port}/healthz"

    def health_status():
        return requests.get(health_url, timeout=5).status_code

    # Shutdown will begin while the consumer is in the middle of this batch, after request 3.
    handle = bot.consumer._handler
    mid_batch = asyncio.Event()

    async def handler(req):
        reply = await handle(req)
        if req.interaction.id == "3":
            mid_batch.set()
            await asyncio.sleep(0.3)
        return reply

    bot.consumer._handler = handler
    late = request("join", "4")
    # Sent before the gateway is ready, so that the first receive takes all four in one batch.
    for req in (request("join", "1"),
                request("say", "2", args={"text": "This is a long sentence that keeps playing for a while. " * 3}),
                request("say", "3", args={"text": "Never to be heard."}), late):
        sqs.send_message(QueueUrl=url, MessageBody=req.to_json(), MessageGroupId=str(GUILD_ID),
                         MessageDeduplicationId=req.interaction.id)
    await bot.setup_hook()
    assert await asyncio.to_thread(health_status) == 503  # gateway not ready yet
    bot._ready.set()  # READY from the gateway
    await wait_for(lambda: not bot.consumer_task.done() and bot.is_ready())
    assert await asyncio.to_thread(health_status) == 200

    await asyncio.wait_for(mid_batch.wait(), 10)
    shutdown = asyncio.create_task(bot.shutdown())
    await wait_for(lambda: guild.voice_client is not None and len(guild.voice_client.recorder.packets) > 10)
    vc = guild.voice_client
    await asyncio.wait_for(shutdown, 10)
    assert bot.replier.edits == [("1", "Joined #General"), ("2", "Saying it in #General"),
                                 ("3", "Queued in #General (1 ahead)")]
    sent = len(vc.recorder.packets)
    await asyncio.sleep(0.3)
    assert len(vc.recorder.packets) == sent  # the current clip was dropped after the grace period
    assert guild.voice_client is None and not vc.is_connected()  # left every channel
    assert bot.is_closed() and bot.consumer_task.done()
    assert bot.health()["healthy"] is False
    # The request behind the shutdown point was neither acted on nor claimed: it returns to the queue (in flight
    # until its visibility timeout) for the next worker.
    assert queue_depth(sqs, url) == 1
    assert RequestLedger(settings).claim("4", "join") is True
    await health.stop()


async def test_sigterm_starts_the_graceful_shutdown(settings, voice_queue):
    from voice_worker.__main__ import install_signal_handlers

    bot = make_bot(settings, voice_queue)
    guild = await install_guild(bot, voice_states={ALICE: VOICE_ID})
    await bot.setup_hook()
    bot._ready.set()
    assert await bot.service.handle(request("join")) == "Joined #General"
    install_signal_handlers(bot)
    os.kill(os.getpid(), signal.SIGTERM)
    await wait_for(bot.is_closed)
    assert guild.voice_client is None and bot.consumer_task.done() and not bot.service.accepting


def test_preflight_names_what_is_missing(settings):
    assert voice_problems(settings) == []
    problems = voice_problems(dataclasses.replace(settings, discord_bot_token="", voice_queue_url=""),
                              which=lambda name: None, find_module=lambda name: None, load_opus=lambda: False)
    text = "\n".join(problems)
    for expected in ("'davey'", "'PyNaCl'", "libopus", "ffmpeg is not on PATH", "espeak-ng is not on PATH",
                     "DISCORD_BOT_TOKEN", "VOICE_QUEUE_URL"):
        assert expected in text


def test_main_refuses_to_start_and_says_why():
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    proc = subprocess.run([sys.executable, "-m", "voice_worker"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=os.getcwd())
    assert proc.returncode == 2
    assert "DISCORD_BOT_TOKEN (or DISCORD_BOT_TOKEN_SECRET) is not set" in proc.stderr
    assert "VOICE_QUEUE_URL is not set" in proc.stderr and "DATA_TABLE is not set" in proc.stderr
