"""Speech to text: allowed hosts only, capped, no redirects; decode with pydub/ffmpeg; offline recognition."""

from __future__ import annotations

import http.server
import subprocess
import threading
from types import SimpleNamespace

import pytest

from shared.config import Settings
from shared.discord.attachment_rules import (
    MAX_AUDIO_BYTES,
    AttachmentRedirected,
    AttachmentTooLarge,
    check_attachment_url,
)
from shared.discord.attachments import fetch_attachment_bytes
from shared.errors import BotError, InvalidInput
from tests.support.voice import ALICE, GUILD_ID, TEXT_ID, VOICE_ID, FakeGateway, make_service
from voice_worker.answers import ModelAnswer
from voice_worker.cogs.transcription import Transcription
from voice_worker.stt import Transcriber, is_audio_attachment, to_wav_16k
from voice_worker.tts import EspeakEngine

SPOKEN = "hello world, the weather today is sunny and the computer is working"


@pytest.fixture(scope="module")
def voice_message(tmp_path_factory) -> bytes:
    """A Discord-style voice message: Opus in Ogg, 48 kHz, made from espeak-ng speech."""
    folder = tmp_path_factory.mktemp("vm")
    wav = EspeakEngine(words_per_minute=140).synthesize(SPOKEN, "en-US", folder)
    ogg = folder / "voice-message.ogg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "32k",
                    "-ar", "48000", "-ac", "1", str(ogg)], check=True)
    return ogg.read_bytes()


@pytest.fixture
def cdn(voice_message):
    """A local stand-in for Discord's CDN on loopback."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/redirect.ogg":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:1/elsewhere.ogg")
                self.end_headers()
                return
            body = voice_message if self.path == "/voice-message.ogg" else b"x" * 5000
            self.send_response(200)
            self.send_header("Content-Type", "audio/ogg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_only_allowed_hosts_and_schemes():
    hosts = Settings(attachment_hosts=("cdn.discordapp.com", "127.0.0.1"))
    assert check_attachment_url("https://cdn.discordapp.com/a/b.ogg", hosts)
    assert check_attachment_url("http://127.0.0.1:9000/a.ogg", hosts)
    for url in ("http://cdn.discordapp.com/a.ogg", "https://evil.example/a.ogg", "file:///etc/passwd",
                "https://cdn.discordapp.com.evil.example/a.ogg", "ftp://127.0.0.1/a.ogg",
                "https://user:pw@cdn.discordapp.com/a.ogg"):
        with pytest.raises(InvalidInput):
            check_attachment_url(url, hosts)


def test_audio_attachments_are_recognised():
    assert is_audio_attachment("audio/ogg", "voice-message.ogg", True)
    assert is_audio_attachment("audio/mpeg", "song", False)
    assert is_audio_attachment(None, "memo.M4A", False)
    assert not is_audio_attachment("image/png", "cat.png", False)


def test_download_is_capped_and_refuses_redirects(cdn):
    settings = Settings(attachment_hosts=("127.0.0.1",))
    assert len(fetch_attachment_bytes(f"{cdn}/big.bin", settings=settings, max_bytes=MAX_AUDIO_BYTES)) == 5000
    with pytest.raises(AttachmentTooLarge, match="larger than 1000 bytes"):
        fetch_attachment_bytes(f"{cdn}/big.bin", settings=settings, max_bytes=1000)
    with pytest.raises(AttachmentRedirected):
        fetch_attachment_bytes(f"{cdn}/redirect.ogg", settings=settings, max_bytes=MAX_AUDIO_BYTES)
    with pytest.raises(InvalidInput):  # loopback is not in the default hosts
        fetch_attachment_bytes(f"{cdn}/big.bin", settings=Settings(), max_bytes=MAX_AUDIO_BYTES)


def test_decode_to_16k_mono_wav(voice_message):
    wav = to_wav_16k(voice_message)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    channels, rate = int.from_bytes(wav[22:24], "little"), int.from_bytes(wav[24:28], "little")
    assert (channels, rate) == (1, 16000)
    with pytest.raises(InvalidInput):
        to_wav_16k(b"definitely not audio")


async def test_round_trip_voice_message_to_transcript_offline(cdn):
    settings = Settings(attachment_hosts=("127.0.0.1",), voice_stt_engine="sphinx")
    data = fetch_attachment_bytes(f"{cdn}/voice-message.ogg", settings=settings, max_bytes=MAX_AUDIO_BYTES)
    text = await Transcriber(settings).transcribe(data, "en-US")
    words = set(text.lower().split())
    assert {"hello", "world", "weather", "today"} <= words, text


async def test_the_cog_replies_with_the_transcript_and_speaks_the_answer(cdn, tmp_path):
    settings = Settings(attachment_hosts=("127.0.0.1",), voice_stt_engine="sphinx")
    gateway = FakeGateway(members={ALICE: VOICE_ID}, bot_in=VOICE_ID)
    service, _ = make_service(gateway, tmp_path=tmp_path)
    asked = []

    async def answerer(guild_id, user_id, transcript):
        asked.append((guild_id, user_id, transcript))
        return ModelAnswer("It is sunny.", "ft:weather")

    exchanges = []
    bot = SimpleNamespace(settings=settings, transcriber=Transcriber(settings), answerer=answerer,
                          service=service, exchanges=SimpleNamespace(add=exchanges.append))
    replies_sent = []
    views = []

    async def reply(content, **kwargs):
        assert kwargs["allowed_mentions"].everyone is False
        replies_sent.append(content)
        views.append(kwargs.get("view"))
        return SimpleNamespace(id=1300000000000000000 + len(replies_sent))

    message = SimpleNamespace(guild=SimpleNamespace(id=GUILD_ID), author=SimpleNamespace(id=ALICE), reply=reply,
                              channel=SimpleNamespace(id=TEXT_ID))
    await Transcription(bot).transcribe(message, f"{cdn}/voice-message.ogg", "en-US")
    assert replies_sent[0].startswith("Transcript: hello world")
    assert replies_sent[1] == "It is sunny."
    assert asked and asked[0][:2] == (GUILD_ID, ALICE)
    # The answer carries /ask's 👍 / 👎 / Correct and is recorded as an exchange under its message id.
    assert [item.custom_id for item in views[1].children] == ["vote:up", "vote:down", "fix"]
    [exchange] = exchanges
    assert (exchange.message_id, exchange.channel_id, exchange.user_id, exchange.answer, exchange.model) == \
        ("1300000000000000002", str(TEXT_ID), str(ALICE), "It is sunny.", "ft:weather")
    assert exchange.prompt == asked[0][2]
    await service._guilds[GUILD_ID].queue.join()
    assert len(gateway.played) == 1  # the answer was spoken in the author's voice channel

    replies_sent.clear()
    await Transcription(bot).transcribe(message, "https://evil.example/x.ogg", "en-US")
    assert replies_sent == ["Attachments must come from Discord's CDN."]


async def test_the_cog_says_when_it_heard_no_words(cdn):
    settings = Settings(attachment_hosts=("127.0.0.1",))

    class HearsNothing:
        async def transcribe(self, data, language):
            assert data  # the download reached the transcriber
            return ""

    bot = SimpleNamespace(settings=settings, transcriber=HearsNothing(), answerer=None, service=None)
    sent = []

    async def reply(content, **kwargs):
        sent.append(content)

    message = SimpleNamespace(guild=SimpleNamespace(id=GUILD_ID), author=SimpleNamespace(id=ALICE), reply=reply)
    await Transcription(bot).transcribe(message, f"{cdn}/voice-message.ogg", "en-US")
    assert sent == ["I could not make out any words in that audio"]


def test_openai_transcription_uses_the_key_secret_and_the_model_setting(aws, fake_openai, voice_message):
    aws.clients.client("secretsmanager").create_secret(Name="openai-key", SecretString="sk-from-secret")
    wav = to_wav_16k(voice_message)
    settings = Settings(openai_api_key_secret="openai-key", openai_base_url=fake_openai.url,
                        openai_transcription_model="whisper-test", voice_stt_engine="openai")
    text = Transcriber(settings).transcribe_wav(wav, "en-US")
    assert text == "hello from the fake transcriber"
    assert [fields["model"] for fields in fake_openai.transcriptions] == ["whisper-test"]


def test_openai_transcription_without_a_key_is_a_clear_error(voice_message):
    wav = to_wav_16k(voice_message)
    transcriber = Transcriber(Settings(voice_stt_engine="openai", openai_base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(BotError) as caught:
        transcriber.transcribe_wav(wav, "en-US")
    assert caught.value.user_message == "I could not transcribe that audio."
