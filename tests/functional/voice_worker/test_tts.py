"""Speech engines: espeak-ng for real, gTTS against its HTTP endpoint mocked with responses, Polly on moto."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.parse

import boto3
import pytest
import requests
import responses

from shared.aws import AwsClients
from shared.config import Settings
from voice_worker.errors import RateLimited, SpeechFailed
from voice_worker.speech_text import prepare
from voice_worker.tts import EspeakEngine, GttsEngine, PollyEngine, Synthesizer

GTTS_URL = "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def mp3_speech(tmp_path_factory) -> bytes:
    """Real MP3 speech, as Google would return it (made offline from espeak-ng)."""
    folder = tmp_path_factory.mktemp("mp3")
    wav = EspeakEngine().synthesize("hello from google", "en", folder)
    mp3 = folder / "speech.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "libmp3lame", str(mp3)], check=True)
    return mp3.read_bytes()


def gtts_body(audio: bytes) -> str:
    payload = base64.b64encode(audio).decode()
    return ")]}'\n\n" + f'[["wrb.fr","jQ1olc","[\\"{payload}\\"]",null,null,null,"generic"]]' + "\n"


def test_espeak_writes_real_speech(tmp_path):
    path = EspeakEngine().synthesize("-v this text starts with a dash and must be spoken", "en-US", tmp_path)
    info = probe(path)
    assert info["streams"][0]["codec_name"] == "pcm_s16le"
    assert float(info["format"]["duration"]) > 1.5


def test_espeak_picks_a_voice_for_the_language():
    engine = EspeakEngine()
    assert engine.voice_for("ru-RU") == "ru"
    assert engine.voice_for("en-US") == "en-us"
    assert engine.voice_for("xx-YY") == "en"


@responses.activate
def test_gtts_success(tmp_path, mp3_speech):
    responses.post(GTTS_URL, body=gtts_body(mp3_speech))
    path = GttsEngine().synthesize("Hello there", "ru-RU", tmp_path)
    assert path.read_bytes() == mp3_speech
    assert probe(path)["streams"][0]["codec_name"] == "mp3"
    sent = urllib.parse.parse_qs(responses.calls[0].request.body)["f.req"][0]
    assert "Hello there" in sent and '\\"ru\\"' in sent


@responses.activate
def test_gtts_long_text_is_split_into_requests(tmp_path, mp3_speech):
    responses.post(GTTS_URL, body=gtts_body(mp3_speech))
    text = prepare("This is a sentence about training data. " * 12, max_chars=600).chunks
    assert len(text) >= 3 and all(len(chunk) <= 200 for chunk in text)
    for chunk in text:
        GttsEngine().synthesize(chunk, "en", tmp_path)
    # gTTS itself also cuts each chunk below its 100-character limit: at least one request per chunk.
    assert len(responses.calls) >= len(text) * 2
    assert all("sentence" in urllib.parse.unquote(c.request.body) for c in responses.calls)


@responses.activate
def test_gtts_429_raises_rate_limited(tmp_path):
    responses.post(GTTS_URL, status=429, body="Too Many Requests")
    with pytest.raises(RateLimited):
        GttsEngine().synthesize("hello", "en", tmp_path)


@responses.activate
async def test_gtts_429_falls_back_to_espeak(tmp_path):
    responses.post(GTTS_URL, status=429, body="Too Many Requests")
    synth = Synthesizer({"gtts": GttsEngine(), "espeak": EspeakEngine()}, "gtts")
    clip = await synth.synthesize("fallback please", "en", tmp_path)
    assert clip.engine == "espeak" and clip.path.suffix == ".wav"
    assert len(responses.calls) == 1
    assert list(tmp_path.iterdir()) == [clip.path]  # the failed gTTS request left no empty .mp3


def test_synthesizer_refuses_a_default_engine_it_does_not_have():
    with pytest.raises(ValueError, match="polly"):
        Synthesizer({"espeak": EspeakEngine()}, "polly")


@responses.activate
async def test_gtts_network_failure_falls_back_to_espeak(tmp_path):
    responses.post(GTTS_URL, body=requests.exceptions.ConnectionError("no route"))
    synth = Synthesizer({"gtts": GttsEngine(), "espeak": EspeakEngine()}, "gtts")
    assert (await synth.synthesize("offline", "en", tmp_path)).engine == "espeak"


async def test_espeak_failure_is_not_hidden(tmp_path):
    synth = Synthesizer({"espeak": EspeakEngine(executable="/nonexistent/espeak-ng")}, "espeak")
    with pytest.raises(SpeechFailed):
        await synth.synthesize("x", "en", tmp_path)


def test_polly_request_and_throttling(aws, tmp_path):
    client = boto3.client("polly", region_name="us-east-1")
    engine = PollyEngine(AwsClients(Settings()), client=client)
    path = engine.synthesize("Привет", "ru-RU", tmp_path)
    assert path.suffix == ".mp3" and path.stat().st_size > 0

    class Throttled:
        def synthesize_speech(self, **kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                              "SynthesizeSpeech")

    with pytest.raises(RateLimited):
        PollyEngine(AwsClients(Settings()), client=Throttled()).synthesize("hi", "en", tmp_path)
