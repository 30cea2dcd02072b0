"""The service's behaviour and every reply text, against an in-memory gateway and real espeak-ng audio."""

from __future__ import annotations

import asyncio

import pytest

from shared.discord.permissions import MANAGE_GUILD
from shared.storage.voice_settings import VoiceSettings
from tests.functional.voice_worker.test_consumer import make_consumer, poll_once, queue_depth, send
from tests.support.voice import (
    ALICE,
    BOB,
    GUILD_ID,
    OTHER_BOT,
    OTHER_VOICE_ID,
    VOICE_ID,
    FakeClock,
    FakeGateway,
    RecordedSleeps,
    make_service,
    request,
)
from voice_worker import replies
from voice_worker import service as voice_service
from voice_worker.errors import PlaybackFailed, VoiceConnectRefused, VoiceConnectTimeout
from voice_worker.tts import EspeakEngine, Synthesizer


@pytest.fixture
def gateway():
    return FakeGateway(members={ALICE: VOICE_ID})


async def test_join_the_callers_channel(gateway, tmp_path):
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("join")) == "Joined #General"
    assert gateway.bot_in == VOICE_ID


async def test_join_a_named_channel_and_unknown_channel(gateway, tmp_path):
    gateway.members[BOB] = OTHER_VOICE_ID
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("join", args={"channel_id": str(OTHER_VOICE_ID)})) == "Joined #Music"
    assert await service.handle(request("join", args={"channel_id": "1"})) == "I cannot find that voice channel"


async def test_join_refuses_an_empty_channel_rather_than_leave_it_at_once(gateway, tmp_path):
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("join", args={"channel_id": str(OTHER_VOICE_ID)})) == (
        "No one is in #Music. Join it first, then ask me again")
    assert gateway.connect_calls == 0 and gateway.bot_in is None


async def test_join_when_caller_not_in_voice(gateway, tmp_path):
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("join", user_id=BOB)) == "You are not in a voice channel"


async def test_join_where_already(gateway, tmp_path):
    gateway.bot_in = VOICE_ID
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("join")) == "I am already in #General"


async def test_join_does_not_steal_the_bot_from_listeners(gateway, tmp_path):
    gateway.bot_in, gateway.members[BOB] = VOICE_ID, OTHER_VOICE_ID
    service, _ = make_service(gateway, tmp_path=tmp_path)
    expected = "I am busy in #General; someone there (or with Manage Server) can /leave first"
    assert await service.handle(request("join", user_id=BOB)) == expected
    assert await service.handle(request("join", user_id=BOB, permissions=MANAGE_GUILD)) == "Joined #Music"


async def test_connect_attempts_are_capped(gateway, tmp_path):
    gateway.connect_outcomes = [VoiceConnectTimeout()] * 5
    sleeps = RecordedSleeps()
    service, _ = make_service(gateway, tmp_path=tmp_path, sleeps=sleeps)
    expected = "I could not connect to #General after 3 attempts. Please try again in a minute"
    assert await service.handle(request("join")) == expected
    assert gateway.connect_calls == 3
    assert sleeps == [2.0, 4.0]  # the production delays, growing, and none after the last attempt


async def test_connect_retries_after_a_timeout(gateway, tmp_path):
    gateway.connect_outcomes = [VoiceConnectTimeout(), None]
    sleeps = RecordedSleeps()
    service, _ = make_service(gateway, tmp_path=tmp_path, sleeps=sleeps)
    assert await service.handle(request("join")) == "Joined #General"
    assert gateway.connect_calls == 2 and sleeps == [2.0]


async def test_refused_connection_is_final_and_clear(gateway, tmp_path):
    gateway.connect_outcomes = [VoiceConnectRefused("I need the Connect and Speak permissions there.")]
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("join")) == (
        "Discord refused to let me into #General: I need the Connect and Speak permissions there.")
    assert gateway.connect_calls == 1


async def test_leave_rules(gateway, tmp_path):
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("leave")) == "I am not in a voice channel here"
    gateway.bot_in, gateway.members[BOB] = VOICE_ID, OTHER_VOICE_ID
    assert await service.handle(request("leave", user_id=BOB)) == (
        "Only members in my voice channel, or with Manage Server, can make me leave")
    assert gateway.bot_in == VOICE_ID
    assert await service.handle(request("leave", user_id=BOB, permissions=MANAGE_GUILD)) == "Left #General"
    gateway.bot_in = VOICE_ID
    assert await service.handle(request("leave")) == "Left #General"
    assert gateway.bot_in is None


async def test_say_rules_and_texts(gateway, tmp_path):
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("say", args={"text": "hi"})) == "I am not in a voice channel here"
    gateway.bot_in, gateway.members[BOB] = VOICE_ID, OTHER_VOICE_ID
    assert await service.handle(request("say", user_id=BOB, args={"text": "hi"})) == (
        "Join my voice channel #General to use /say")
    assert await service.handle(request("say", args={"text": "** **"})) == "There is nothing to say in that text"
    gateway.play_delay = 5
    assert await service.handle(request("say", args={"text": "hello there"})) == "Saying it in #General"
    await wait_until(lambda: len(gateway.played) == 1)  # playing (espeak may take a while on a busy machine)
    assert await service.handle(request("say", args={"text": "second"})) == "Queued in #General (1 ahead)"
    assert await service.handle(request("say", args={"text": "third"})) == "Queued in #General (2 ahead)"
    await service.shutdown()


class RecordingSynthesizer(Synthesizer):
    """Real espeak-ng clips, noting the text of each in the order it was synthesized."""

    def __init__(self) -> None:
        super().__init__({"espeak": EspeakEngine()}, default_engine="espeak")
        self.texts: list[str] = []

    async def synthesize(self, text, language, out_dir, engine=None):
        self.texts.append(text)
        return await super().synthesize(text, language, out_dir, engine)


async def test_clips_play_in_order_with_real_espeak_audio(gateway, tmp_path):
    gateway.bot_in = VOICE_ID
    synth = RecordingSynthesizer()
    service, replier = make_service(gateway, tmp_path=tmp_path, synthesizer=synth)
    for n, text in enumerate(["first clip.", "second clip.", "third clip."]):
        await service.handle(request("say", interaction_id=str(n), args={"text": text}))
    gv = service._guilds[GUILD_ID]
    await asyncio.wait_for(gv.queue.join(), 10)
    assert synth.texts == ["first clip.", "second clip.", "third clip."]
    assert len(gateway.played) == 3
    assert [p.suffix for p in gateway.played] == [".wav"] * 3
    assert not any(p.exists() for p in gateway.played)  # clips are removed after playing
    assert replier.edits == []


async def test_bounded_queue_refuses_when_full(gateway, tmp_path):
    gateway.bot_in, gateway.play_delay = VOICE_ID, 5
    service, _ = make_service(gateway, queue_limit=2, tmp_path=tmp_path)
    await service.handle(request("say", args={"text": "one"}))
    await wait_until(lambda: len(gateway.played) == 1)  # the first is now playing, off the queue
    await service.handle(request("say", args={"text": "two"}))
    await service.handle(request("say", args={"text": "three"}))
    assert await service.handle(request("say", args={"text": "four"})) == (
        "My queue here is full (2 clips). Try again when it has played")
    await service.shutdown()


async def test_skip_and_clear(gateway, tmp_path):
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("skip")) == "I am not in a voice channel here"
    gateway.bot_in, gateway.members[BOB] = VOICE_ID, OTHER_VOICE_ID
    assert await service.handle(request("skip")) == "Nothing is playing"
    assert await service.handle(request("clear", user_id=BOB)) == (
        "Only members in #General, or with Manage Server, can skip or clear")
    gateway.play_delay = 5
    for text in ("one", "two", "three"):
        await service.handle(request("say", args={"text": text}))
    await wait_until(lambda: len(gateway.played) == 1)  # the first is playing
    assert await service.handle(request("clear")) == "Cleared 2 queued clips"
    assert await service.handle(request("skip")) == "Skipped the current clip"
    await asyncio.wait_for(service._guilds[GUILD_ID].queue.join(), 5)
    assert gateway.stopped == 1 and len(gateway.played) == 1
    assert await service.handle(request("clear")) == "Cleared 0 queued clips"
    assert replies.cleared(1) == "Cleared 1 queued clip"


async def test_playback_failure_is_reported(gateway, tmp_path):
    gateway.bot_in = VOICE_ID
    gateway.play_error = PlaybackFailed("the audio could not be decoded.")
    service, replier = make_service(gateway, tmp_path=tmp_path)
    await service.handle(request("say", interaction_id="42", args={"text": "hello"}))
    await asyncio.wait_for(service._guilds[GUILD_ID].queue.join(), 5)
    assert replier.edits == [("42", "I could not play that clip: the audio could not be decoded.")]


async def test_unexpected_failure_is_reported_generically(gateway, tmp_path):
    gateway.bot_in = VOICE_ID
    gateway.play_error = RuntimeError("boom")
    service, replier = make_service(gateway, tmp_path=tmp_path)
    await service.handle(request("say", interaction_id="43", args={"text": "hello"}))
    await asyncio.wait_for(service._guilds[GUILD_ID].queue.join(), 5)
    assert replier.texts == ["Something went wrong with that voice request. Please try again"]


async def test_speak_answer_never_overwrites_the_answer(settings, voice_queue, gateway, tmp_path):
    """speak_answer's interaction is the /ask reply holding the model's answer: whatever happens to the spoken
    form (played, refused, unknown guild, a failing handler, shutdown), that reply is never edited."""
    sqs, url = voice_queue
    gateway.bot_in = VOICE_ID
    service, _ = make_service(gateway, tmp_path=tmp_path)
    consumer, replier = make_consumer(settings, voice_queue, service.handle)

    async def explode(req):
        raise RuntimeError("bug")

    failing, failing_replier = make_consumer(settings, voice_queue, explode)

    def speak(interaction_id, **kwargs):
        send(sqs, url, request("speak_answer", interaction_id, args={"text": "The answer is four."}, **kwargs))

    speak("601")
    assert await poll_once(consumer) == 1
    await asyncio.wait_for(service._guilds[GUILD_ID].queue.join(), 5)
    assert len(gateway.played) == 1  # spoken
    speak("602", user_id=BOB)  # not in the bot's channel
    speak("603", guild_id=GUILD_ID + 1)  # a guild this worker does not have
    while await poll_once(consumer):
        pass
    speak("604")
    assert await poll_once(failing) == 1
    await service.shutdown()
    speak("605")
    assert await poll_once(consumer) == 1
    assert len(gateway.played) == 1
    assert replier.edits == [] and failing_replier.edits == []
    assert queue_depth(sqs, url) == 0


async def test_other_texts(gateway, tmp_path):
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.handle(request("join", guild_id=None)) == "Voice commands work only in a server"
    assert await service.handle(request("join", guild_id=123)) == (
        "I am not in this server, or it is unavailable right now")
    await service.shutdown()
    assert await service.handle(request("join")) == "The voice worker is restarting. Please try again in a minute"


async def test_auto_leave_when_no_human_is_left(gateway, tmp_path):
    gateway.bot_in = VOICE_ID
    gateway.members[OTHER_BOT], gateway.bots = VOICE_ID, {OTHER_BOT}
    service, _ = make_service(gateway, tmp_path=tmp_path)
    await service.on_voice_state_change(GUILD_ID)
    assert gateway.bot_in == VOICE_ID  # Alice is still there
    del gateway.members[ALICE]
    await service.on_voice_state_change(GUILD_ID)
    assert gateway.bot_in is None  # only another bot remains


async def test_idle_timeout_with_a_fake_clock(gateway, tmp_path):
    clock = FakeClock()
    service, _ = make_service(gateway, clock=clock, tmp_path=tmp_path,
                              voice={"idle_timeout_seconds": 120})
    assert await service.handle(request("join")) == "Joined #General"
    clock.advance(119)
    assert await service.sweep_idle() == []
    await service.handle(request("say", args={"text": "still here"}))
    await asyncio.wait_for(service._guilds[GUILD_ID].queue.join(), 5)
    clock.advance(119)
    assert await service.sweep_idle() == []  # speaking reset the idle timer
    clock.advance(1)
    assert await service.sweep_idle() == [GUILD_ID]
    assert gateway.bot_in is None


async def test_sweep_leaves_an_empty_channel(gateway, tmp_path):
    gateway.bot_in, gateway.members = VOICE_ID, {}
    service, _ = make_service(gateway, tmp_path=tmp_path)
    assert await service.sweep_idle() == [GUILD_ID]


async def test_shutdown_drops_the_queue_and_leaves(gateway, tmp_path):
    gateway.bot_in, gateway.play_delay = VOICE_ID, 30
    service, _ = make_service(gateway, tmp_path=tmp_path)
    for text in ("one", "two"):
        await service.handle(request("say", args={"text": text}))
    await wait_until(lambda: len(gateway.played) == 1)  # the first is playing
    await asyncio.wait_for(service.shutdown(finish_current=0.1), 5)
    assert gateway.bot_in is None and gateway.stopped >= 1 and len(gateway.played) == 1


def test_guild_settings_validation():
    with pytest.raises(Exception, match="Idle timeout"):
        VoiceSettings(idle_timeout_seconds=5).validated()
    with pytest.raises(Exception, match="Speech engine"):
        VoiceSettings(engine="sam").validated()


class TwoGuildGateway(FakeGateway):
    """Two guilds, the bot and Alice in the same channel in each, and a clip that plays until stopped."""

    def has_guild(self, guild_id):
        return guild_id in (GUILD_ID, GUILD_ID + 1)

    def connected_guilds(self):
        return [GUILD_ID, GUILD_ID + 1] if self.bot_in else []

    async def play(self, guild_id, path, max_seconds):
        self.played.append(path)
        await asyncio.sleep(30)
        return 1


class DeadlineSpy:
    """The service module's ``asyncio``, recording each deadline it waits under."""

    def __init__(self) -> None:
        self.deadlines: list[float] = []

    def __getattr__(self, name):
        return getattr(asyncio, name)

    def wait_for(self, awaitable, timeout):
        self.deadlines.append(timeout)
        return asyncio.wait_for(awaitable, timeout)


async def test_shutdown_waits_for_all_guilds_under_one_deadline(tmp_path, monkeypatch):
    gateway = TwoGuildGateway(members={ALICE: VOICE_ID}, bot_in=VOICE_ID)
    service, _ = make_service(gateway, tmp_path=tmp_path)
    for guild_id in (GUILD_ID, GUILD_ID + 1):
        await service.handle(request("say", guild_id=guild_id, args={"text": "a long clip"}))
    await wait_until(lambda: len(gateway.played) == 2)
    spy = DeadlineSpy()
    monkeypatch.setattr(voice_service, "asyncio", spy)
    await service.shutdown(finish_current=0.5)
    # One deadline for both clips: one per guild in turn would wait 2 x 0.5 s before dropping them.
    assert spy.deadlines == [0.5]
    assert gateway.stopped == 2  # both clips dropped at the deadline


async def wait_until(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_the_clip_directory_it_made_is_removed_at_shutdown(gateway):
    gateway.bot_in = VOICE_ID
    service, _ = make_service(gateway)  # no work_dir given: the service makes its own
    await service.handle(request("say", args={"text": "hello"}))
    await asyncio.wait_for(service._guilds[GUILD_ID].queue.join(), 10)
    work_dir = service._work_dir
    assert work_dir.is_dir()
    await service.shutdown()
    assert not work_dir.exists()
