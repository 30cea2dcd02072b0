"""`make run`: the whole bot on this machine, no AWS account and no Discord application needed.

An embedded AWS (moto in server mode) gets every table, bucket and queue that template.yaml declares; the same
Flask app as in Lambda serves http://127.0.0.1:3000/interactions. Without DISCORD_PUBLIC_KEY a dev key pair is
created under .cache/local-stack/ (git-ignored) and `python -m infra.client` signs with it. With a real
application's key and id in the environment and a tunnel to port 3000, the same stack answers real Discord.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.signing import DEV_KEY_DIR, DevApplication
from infra.template import Provisioned, function_environment, provision
from shared.aws import AwsClients
from shared.config import ENV, Settings
from shared.logs import quiet_wire_loggers

log = logging.getLogger("local_stack")
STATE_FILE = DEV_KEY_DIR / "stack.json"
WATCH_INTERVAL_SECONDS = 5.0
SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass
class LocalStack:
    settings: Settings
    provisioned: Provisioned
    aws_endpoint: str
    dev_application: DevApplication | None
    # What every function's environment shares: the user's settings, the endpoint, the region.
    base_environment: dict[str, str]

    def environment(self, logical_id: str) -> dict[str, str]:
        """The environment the template gives ``logical_id``, resolved against the local resources."""
        merged = dict(self.base_environment)
        # Empty values are parameters left at their default (no secret ARN, ...): the local setting stays.
        merged.update({k: v for k, v in function_environment(self.provisioned, logical_id).items() if v})
        merged.setdefault("IDEMPOTENCY_TABLE", self.provisioned.refs["IdempotencyTable"])
        return merged

    def settings_for(self, logical_id: str) -> Settings:
        return Settings.from_env(self.environment(logical_id))


def _start_moto(host: str, port: int) -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    from infra import moto_transactions

    # moto copies whole tables for every action of a transaction; this process's moto keeps an undo log instead.
    moto_transactions.apply()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    actual_port = server._server.server_port  # type: ignore[union-attr]  # port 0 picks a free one
    return server, f"http://{host}:{actual_port}"


def build_stack(environ: Mapping[str, str], aws_endpoint: str) -> LocalStack:
    """Provision the template on ``aws_endpoint`` and build the settings the functions would see."""
    public_key = environ.get("DISCORD_PUBLIC_KEY", "").strip()
    dev_application = None
    if public_key:
        application_id = environ.get("DISCORD_APPLICATION_ID", "").strip()
        if not application_id:
            raise SystemExit("DISCORD_PUBLIC_KEY is set, so set DISCORD_APPLICATION_ID too.")
    else:
        dev_application = DevApplication.load_or_create()
        public_key = dev_application.signer.public_key_hex
        application_id = dev_application.application_id
    region = environ.get("AWS_DEFAULT_REGION", "us-east-1")
    clients = AwsClients(Settings(aws_endpoint_url=aws_endpoint, aws_region=region))
    provisioned = provision(
        clients,
        # The local stack runs the voice worker itself (python -m voice_worker): the template's voice wiring is on.
        parameters={"DiscordPublicKey": public_key, "DiscordApplicationId": application_id, "VoiceImageUri": "local",
                    **({"FineTuneProvider": environ["FINETUNE_PROVIDER"]} if environ.get("FINETUNE_PROVIDER") else {}),
                    **({"BaseModel": environ["BASE_MODEL"]} if environ.get("BASE_MODEL") else {})},
    )
    # The user's settings (DISCORD_API_BASE, ATTACHMENT_HOSTS, OPENAI_*, ...) first, then what the template wires.
    base = {name: environ[name] for name in ENV.values() if environ.get(name)}
    base.update(AWS_ENDPOINT_URL=aws_endpoint, AWS_DEFAULT_REGION=region, DISCORD_PUBLIC_KEY=public_key,
                DISCORD_APPLICATION_ID=application_id)
    stack = LocalStack(Settings(), provisioned, aws_endpoint, dev_application, base)
    stack.settings = stack.settings_for("InteractionsFunction")
    return stack


# -- fakes: one starts only for a service the environment left unset; a setting given is never replaced --


def needs_fake_discord(environ: Mapping[str, str]) -> bool:
    """No Discord API base and no bot token given: replies go to a local fake of Discord."""
    return not any(environ.get(name) for name in
                   ("DISCORD_API_BASE", "DISCORD_BOT_TOKEN", "DISCORD_BOT_TOKEN_SECRET"))


def needs_local_gateway(environ: Mapping[str, str]) -> bool:
    """The local fake of Discord and no gateway given: the voice worker connects to a local gateway."""
    return needs_fake_discord(environ) and not environ.get("DISCORD_GATEWAY_URL")


def needs_fake_openai(environ: Mapping[str, str]) -> bool:
    """No OpenAI base URL and no key given: a local fake of OpenAI (fine-tuning when FINETUNE_PROVIDER=openai,
    and the transcription of /ask recordings)."""
    return not any(environ.get(name) for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_API_KEY_SECRET"))


def _fill_unset(stack: LocalStack, values: Mapping[str, str]) -> None:
    for name, value in values.items():
        stack.base_environment.setdefault(name, value)
    stack.settings = stack.settings_for("InteractionsFunction")


def start_fake_discord(stack: LocalStack) -> Any:
    """Replies go to a local fake of Discord's API, and attachments come from its CDN (unless given)."""
    from infra.fakes.discord_server import FakeDiscord

    fake = FakeDiscord(application_id=stack.settings.discord_application_id)
    fake.start()
    hosts = [*stack.settings.attachment_hosts, fake.cdn_host]
    _fill_unset(stack, {"DISCORD_API_BASE": fake.api_base, "ATTACHMENT_HOSTS": ",".join(hosts),
                        "DISCORD_BOT_TOKEN": fake.bot_token})
    return fake


LOCAL_BEDROCK_ROLE_ARN = "arn:aws:iam::123456789012:role/local-bedrock-customization"
BEDROCK_ENDPOINTS = ("AWS_ENDPOINT_URL_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")


def start_fake_bedrock(stack: LocalStack, environ: Mapping[str, str]) -> Any:
    """Without AWS_ENDPOINT_URL_BEDROCK / AWS_ENDPOINT_URL_BEDROCK_RUNTIME, Bedrock is a local fake on the
    embedded S3 (replies say the provider is simulated); a variable that is set is used as it is. Without
    BEDROCK_ROLE_ARN, a local role ARN stands in (the fake checks its form; nothing assumes it)."""
    missing = [name for name in BEDROCK_ENDPOINTS if not environ.get(name)]
    if not environ.get("BEDROCK_ROLE_ARN"):
        stack.base_environment["BEDROCK_ROLE_ARN"] = LOCAL_BEDROCK_ROLE_ARN
    fake = None
    if missing:
        import boto3

        from infra.fakes.bedrock_server import FakeBedrock

        region = stack.base_environment.get("AWS_DEFAULT_REGION", "us-east-1")
        fake = FakeBedrock(s3_factory=lambda: boto3.client("s3", endpoint_url=stack.aws_endpoint,
                                                           region_name=region)).start()
        stack.base_environment.update({name: fake.url for name in missing})
    stack.settings = stack.settings_for("InteractionsFunction")
    return fake


def start_fake_openai(stack: LocalStack, webhook_port: int) -> Any:
    """OpenAI (fine-tuning when FINETUNE_PROVIDER=openai, and the transcription of /ask recordings) is a local
    fake (replies say so); the settings given are kept."""
    from infra.fakes.openai_server import FakeOpenAI, new_webhook_secret

    # Standard Webhooks secrets are whsec_ + standard base64: a URL-safe token cannot be decoded to sign with.
    webhook_secret = stack.base_environment.get("OPENAI_WEBHOOK_SECRET") or new_webhook_secret()
    fake = FakeOpenAI(webhook_url=f"http://127.0.0.1:{webhook_port}/openai/webhook", webhook_secret=webhook_secret)
    fake.start()
    _fill_unset(stack, {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-local-fake",
                        "OPENAI_WEBHOOK_SECRET": webhook_secret})
    return fake


def start_watcher(stack: LocalStack, host: str, webhook_port: int, stop: threading.Event) -> Any:
    """The fine-tune watcher: its schedule as a loop, and its OpenAI webhook endpoint on ``webhook_port``."""
    from werkzeug.serving import make_server

    from functions.watcher.watch import build_watcher
    from functions.watcher.webhook import create_app as create_webhook_app
    from shared.aws import AwsClients as Clients

    settings = stack.settings_for("WatcherFunction")
    watcher = build_watcher(settings)

    def schedule() -> None:
        while not stop.wait(WATCH_INTERVAL_SECONDS):
            try:
                watcher.tick()
            except Exception:  # the next tick tries again, as the scheduled Lambda would
                log.exception("watcher tick failed")

    threading.Thread(target=schedule, name="watcher", daemon=True).start()
    if not settings.openai_webhook_secret:
        return None
    app = create_webhook_app(settings, watcher, dynamodb_client=Clients(settings).dynamodb)
    server = make_server(host, webhook_port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="openai-webhook", daemon=True).start()
    return server


def start_worker(stack: LocalStack) -> Any:
    """The worker function, fed from the local jobs queue by the same runner semantics as Lambda's SQS source."""
    from functions.worker.handler import build_worker
    from functions.worker.local_runner import LocalRunner
    from infra.template import function_timeout
    from shared.aws import AwsClients as Clients

    settings = stack.settings_for("WorkerFunction")
    processor = build_worker(settings)
    # Retries follow the template's numbers: the queue's visibility timeout and the worker's own delays.
    runner = LocalRunner(processor.handle_batch, Clients(settings).sqs, settings.jobs_queue_url, wait_seconds=1,
                         invocation_timeout=function_timeout("WorkerFunction"))
    threading.Thread(target=runner.run, name="worker", daemon=True).start()
    return runner


def start_local_gateway(stack: LocalStack, fake_discord: Any, *, dave: bool) -> Any:
    """Without a bot token, the voice worker connects to a local gateway and voice server (TLS with a CA made
    now, DAVE unless --no-dave), and speaks with espeak-ng, which needs no network."""
    from infra.fakes.discord_gateway import LocalDiscordGateway

    gateway = LocalDiscordGateway(bot_token=fake_discord.bot_token, bot_user_id=fake_discord.application_id,
                                  dave=dave, tls_dir=DEV_KEY_DIR / "gateway-tls").start()
    _fill_unset(stack, {"DISCORD_GATEWAY_URL": gateway.url, "DISCORD_CA_FILE": str(gateway.ca_file)})
    stack.base_environment.setdefault("VOICE_TTS_ENGINE", "espeak")
    stack.base_environment.setdefault("VOICE_HEALTH_PORT", "0")
    stack.settings = stack.settings_for("InteractionsFunction")
    return gateway


def start_voice_worker(stack: LocalStack) -> subprocess.Popen[bytes]:
    environment = {**os.environ, **stack.environment("InteractionsFunction")}
    return subprocess.Popen([sys.executable, "-m", "voice_worker"], env=environment)


def watch_voice_worker(process: subprocess.Popen[bytes], stopping: threading.Event, stack: LocalStack, *,
                       state_file: Path = STATE_FILE) -> threading.Thread:
    """Say so when the voice worker exits on its own (it has logged why), and make sure voice commands then
    answer that voice is off (the worker records its reason itself unless it died without a chance to)."""
    from shared.storage.stores import Stores

    def watch() -> None:
        code = process.wait()
        if stopping.is_set():
            return
        settings = stack.settings_for("InteractionsFunction")
        presence = Stores(settings).voice_presence
        try:
            if presence.status(0).running:
                presence.stopped(0, f"the voice worker exited (code {code})")
        except Exception:
            log.warning("could not record that the voice worker stopped", exc_info=True)
        print(f"Voice worker:          stopped (exit code {code}); voice commands now answer that voice is off. "
              "Its last log line says why.", flush=True)
        update_state(state_file, voice_worker={"running": False, "exit_code": code})

    thread = threading.Thread(target=watch, name="voice-worker-watch", daemon=True)
    thread.start()
    return thread


def update_state(state_file: Path, **changes: Any) -> None:
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
    state.update(changes)
    state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")


def write_state(stack: LocalStack, url: str, *, fake_discord_url: str | None = None,
                local_gateway_url: str | None = None, voice_running: bool = False) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps({
        "interactions_url": url,
        "aws_endpoint": stack.aws_endpoint,
        "application_id": stack.settings.discord_application_id,
        "public_key": stack.settings.discord_public_key,
        "dev_key": stack.dev_application is not None,
        "discord_api_base": stack.settings.discord_api_base,
        "fake_discord_url": fake_discord_url,
        "local_gateway_url": local_gateway_url,
        "voice_worker": {"running": voice_running},
        "resources": stack.provisioned.refs,
    }, indent=2), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "5000")))
    parser.add_argument("--aws-host", default="127.0.0.1",
                        help="where the embedded AWS listens (0.0.0.0 lets `sam local` containers reach it)")
    parser.add_argument("--no-dave", action="store_true",
                        help="the local voice server offers transport encryption only (DAVE protocol version 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request of moto and Flask is noise
    quiet_wire_loggers()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")  # moto accepts any credentials; never a real account's
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    moto_server, aws_endpoint = _start_moto(args.aws_host, args.aws_port)
    stack = build_stack(os.environ, aws_endpoint)
    fake_discord = start_fake_discord(stack) if needs_fake_discord(os.environ) else None
    gateway = (start_local_gateway(stack, fake_discord, dave=not args.no_dave)
               if fake_discord and needs_local_gateway(os.environ) else None)
    webhook_port = args.port + 1
    fake_openai = start_fake_openai(stack, webhook_port) if needs_fake_openai(os.environ) else None
    fake_bedrock = start_fake_bedrock(stack, os.environ)
    from shared.finetune.catalog import load_catalog
    from shared.finetune.readiness import startup_report

    for problem in startup_report(stack.settings, load_catalog(stack.settings)):
        log.warning("fine-tuning: %s", problem)
    stop = threading.Event()
    runner = start_worker(stack)
    webhook_server = start_watcher(stack, args.host, webhook_port, stop)
    voice = start_voice_worker(stack)

    from werkzeug.serving import make_server

    from functions.interactions.app import create_app

    server = make_server(args.host, args.port, create_app(stack.settings), threaded=True)
    url = f"http://{args.host}:{server.server_port}/interactions"
    write_state(stack, url, fake_discord_url=fake_discord.url if fake_discord else None,
                local_gateway_url=gateway.control_url if gateway else None, voice_running=True)
    watch_voice_worker(voice, stop, stack)

    def _shutdown(*_: object) -> None:
        if stop.is_set():  # a second Ctrl-C or SIGTERM: do not wait any longer
            os._exit(1)
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()
        # A job the worker is running is left to SQS's redelivery, as Lambda would on a timeout. If anything still
        # holds the process after the grace period, SIGALRM's default action ends it: the kernel does that, so no
        # busy thread holding the GIL can delay it.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(SHUTDOWN_GRACE_SECONDS))

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    key_note = ("dev key in .cache/local-stack/ (python -m infra.client signs with it)"
                if stack.dev_application else "DISCORD_PUBLIC_KEY from the environment")
    discord_note = (f"local fake at {fake_discord.api_base} (no DISCORD_BOT_TOKEN)" if fake_discord
                    else stack.settings.discord_api_base)
    voice_note = (f"starting (python -m voice_worker) against the local gateway {gateway.url} "
                  f"({'DAVE on' if gateway.dave else 'DAVE off'}, espeak-ng); a stop is reported here" if gateway
                  else f"starting (python -m voice_worker) against {stack.settings.discord_gateway_url}")
    provider = stack.settings.finetune_provider
    if provider == "bedrock" and fake_bedrock:
        where = f"local fake of Bedrock at {fake_bedrock.url} (replies say the provider is simulated)"
    elif provider == "openai" and fake_openai:
        where = f"local fake of OpenAI at {fake_openai.url} (no OPENAI_API_KEY; replies say the provider is simulated)"
    else:
        where = "the real service"
    openai_note = f"{provider} ({stack.settings.base_model}): {where}"
    print(f"Interactions endpoint: {url}\n"
          f"Embedded AWS (moto):   {aws_endpoint}\n"
          f"Signing key:           {key_note}\n"
          f"Discord API:           {discord_note}\n"
          f"Worker:                consuming {stack.provisioned.refs['JobsQueue']}\n"
          f"Fine-tuning:           {openai_note}\n"
          f"Watcher:               every {WATCH_INTERVAL_SECONDS:.0f} s"
          + (f"; OpenAI webhook at http://{args.host}:{webhook_port}/openai/webhook\n" if webhook_server else "\n") +
          f"Voice worker:          {voice_note}\n"
          f"Try:  .venv/bin/python -m infra.client hi"
          + ("   (voice: join, say hello, voice --save DIR)" if gateway else ""), flush=True)
    try:
        server.serve_forever()
    finally:
        stop.set()
        runner.stop()
        if webhook_server:
            webhook_server.shutdown()
        if fake_openai:
            fake_openai.stop()
        if fake_bedrock:
            fake_bedrock.stop()
        if voice:
            voice.terminate()
            try:
                voice.wait(timeout=SHUTDOWN_GRACE_SECONDS / 2)
            except subprocess.TimeoutExpired:
                voice.kill()
        if gateway:
            gateway.stop()
        if fake_discord:
            fake_discord.stop()
        moto_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
