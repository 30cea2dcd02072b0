"""The voice worker against the local Discord gateway and voice server: ``python -m tests.bench.bench_local_voice``.

1. /join to connected (voice websocket over TLS, UDP discovery, session description), and to the DAVE group
   ready (key package, welcome, transition executed), per DAVE mode.
2. A /say (espeak-ng, ten words) to the first packet the listening member hears, decrypted and decoded
   (espeak-ng and ffmpeg included; bench_voice has the worker's own share against its 300 ms target).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from infra.fakes.discord_gateway import LocalDiscordGateway  # noqa: E402
from infra.fakes.discord_server import FakeDiscord  # noqa: E402
from infra.interactions import DEFAULT_GUILD  # noqa: E402
from shared.config import Settings  # noqa: E402
from tests.functional.voice_worker.test_local_voice import running_bot, voice_request  # noqa: E402

TEN_WORDS = "Please remember to label every example before training the model."
RUNS = 5


def _aws() -> tuple[object, Settings]:
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="data", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="voice.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    return sqs, Settings(data_table="data", voice_queue_url=url, voice_tts_engine="espeak")


async def one_mode(rest: FakeDiscord, sqs: object, base: Settings, dave: bool) -> None:
    with LocalDiscordGateway(bot_token=rest.bot_token, bot_user_id=rest.application_id, dave=dave) as gw:
        settings = Settings(**{**base.__dict__, "discord_api_base": rest.api_base, "discord_gateway_url": gw.url,
                               "discord_ca_file": str(gw.ca_file), "discord_bot_token": rest.bot_token})
        async with running_bot(settings, (sqs, settings.voice_queue_url)) as bot:
            joins, readies, firsts = [], [], []
            for _ in range(RUNS):
                started = time.monotonic()
                await bot.service.handle(voice_request("join"))
                joins.append((time.monotonic() - started) * 1000)
                if dave:
                    await gw.until(lambda g: g.dave_ready())
                    readies.append((time.monotonic() - started) * 1000)
                count = len(gw.utterances)
                started = time.monotonic()
                await bot.service.handle(voice_request("say", text=TEN_WORDS))
                said = await gw.until(lambda g, c=count: len(g.utterances) > c and g.utterances[c].first_frame_at
                                      and g.utterances[c])
                firsts.append((said.first_frame_at - started) * 1000)
                await gw.until(lambda g, c=count: g.utterances[c].complete)
                await bot.service.handle(voice_request("leave"))
                await gw.until(lambda g: g.bot_channel() is None and not g.voice_connected())
                while bot.gateway.bot_channel(int(DEFAULT_GUILD)) is not None:
                    await asyncio.sleep(0.01)
            mode = "DAVE on " if dave else "DAVE off"
            print(f"{mode}: /join → connected  median {statistics.median(joins):6.0f} ms  max {max(joins):6.0f} ms")
            if readies:
                print(f"{mode}: /join → DAVE ready median {statistics.median(readies):6.0f} ms  "
                      f"max {max(readies):6.0f} ms")
            print(f"{mode}: /say → first frame heard median {statistics.median(firsts):6.0f} ms  "
                  f"max {max(firsts):6.0f} ms")


async def run() -> None:
    with mock_aws():
        sqs, base = _aws()
        with FakeDiscord() as rest:
            for dave in (True, False):
                await one_mode(rest, sqs, base, dave)


def main() -> None:
    import os

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    asyncio.run(run())


if __name__ == "__main__":
    main()
