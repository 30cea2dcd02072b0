"""Deploy the bot to AWS and connect it to Discord: what ``make deploy`` runs.

    python -m infra.deploy [--arch arm64|x86_64] [--voice-image URI] [--voice-shards N] [--yes] [--guided]
    python -m infra.deploy voice-image [--arch arm64|x86_64]       # what ``make voice-image`` runs

Steps, each saying what it did, or what failed and what to do about it:

1. ``sam build`` for the chosen architecture (the Makefile fetches that architecture's wheels);
2. ``sam deploy`` (``--guided`` the first time, when samconfig.toml holds no parameters yet; it saves the answers);
3. register the application commands (bulk overwrite; the diff is shown first);
4. set the application's Interactions Endpoint URL (``PATCH /applications/@me``; Discord accepts it only after the
   endpoint answered its signed PING);
5. print the invite link, with the scopes and permissions the bot needs;
6. check the deployed endpoint: an unsigned request must get 401;
7. with the voice worker, check its shards against the servers the bot is in: Discord closes a gateway session that
   would hold more than 2,500 (close code 4011), so past that the worker needs ``--voice-shards`` (VoiceShardCount:
   one task and one voice queue per shard).

Running it again changes nothing that is already right: sam reports no changes, the commands are compared before
they are written, and the endpoint URL is patched only when it differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from shared.config import Settings
from shared.discord.rest import DiscordHTTPError, DiscordRest
from shared.errors import BotError, ConfigError

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURES = ("arm64", "x86_64")

# What the bot does in a server: read and answer in channels (files and embeds for exports and loss charts), and
# join voice channels to speak. Bits from Discord's permissions table.
BOT_PERMISSIONS = {
    "View Channels": 1 << 10,
    "Send Messages": 1 << 11,
    "Embed Links": 1 << 14,
    "Attach Files": 1 << 15,
    "Read Message History": 1 << 16,
    "Connect": 1 << 20,
    "Speak": 1 << 21,
}
INVITE_SCOPES = ("bot", "applications.commands")
# template.yaml's VoiceShardCount, and Discord's most servers per gateway session (its sharding docs).
VOICE_SHARD_COUNTS = ("1", "2", "3", "4")
GUILDS_PER_SHARD = 2500


class StepFailed(Exception):
    """A step could not finish: ``what`` happened, ``todo`` is what the user can do about it."""

    def __init__(self, what: str, todo: str) -> None:
        super().__init__(what)
        self.what = what
        self.todo = todo


def invite_url(application_id: str) -> str:
    permissions = sum(BOT_PERMISSIONS.values())
    query = urlencode({"client_id": application_id, "scope": " ".join(INVITE_SCOPES),
                       "permissions": str(permissions), "integration_type": "0"})
    return f"https://discord.com/oauth2/authorize?{query}"


def read_samconfig(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def deploy_parameters(samconfig: dict[str, Any], env: str = "default") -> dict[str, Any]:
    return dict(samconfig.get(env, {}).get("deploy", {}).get("parameters", {}))


def parameter_overrides(saved: str | list[str] | None, **changes: str) -> list[str]:
    """samconfig's ``parameter_overrides`` with ``changes`` applied, as ``Key=Value`` items for the sam CLI.

    A value given on the command line replaces samconfig's whole list, so the saved answers are carried along.
    """
    items = shlex.split(saved) if isinstance(saved, str) else list(saved or [])
    values: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        values[key] = value
    values.update({k: v for k, v in changes.items() if v is not None})
    return [f"{key}={value}" for key, value in values.items()]


@dataclass
class Deployment:
    settings: Settings
    architecture: str = "arm64"
    voice_image: str | None = None
    voice_shards: str | None = None
    assume_yes: bool = False
    force_guided: bool = False
    samconfig_path: Path = REPO / "samconfig.toml"
    run: Callable[..., subprocess.CompletedProcess[Any]] = subprocess.run
    out: Callable[[str], None] = print
    ask: Callable[[str], str] = input
    sam: str = field(default_factory=lambda: str(Path(sys.executable).parent / "sam"))
    http: requests.Session = field(default_factory=requests.Session)
    stack: dict[str, Any] = field(default_factory=dict)

    # -- steps -------------------------------------------------------------------------------------------------

    def build(self) -> str:
        env = {**os.environ, "LAMBDA_ARCHITECTURE": self.architecture, "SAM_CLI_TELEMETRY": "0"}
        command = [self.sam, "build", "--parameter-overrides", f"Architecture={self.architecture}"]
        if self.run(command, cwd=REPO, env=env).returncode != 0:
            raise StepFailed("sam build failed (its output is above).",
                             "Fix the error sam printed; `make test` builds the same artifacts under "
                             "tests/e2e. A missing python3.13 is named by `bash infra/find_python.sh`.")
        return f"built every function for python3.13 on {self.architecture}"

    def deploy(self) -> str:
        saved = deploy_parameters(read_samconfig(self.samconfig_path))
        guided = self.force_guided or not saved.get("parameter_overrides")
        overrides = parameter_overrides(saved.get("parameter_overrides"), Architecture=self.architecture,
                                        VoiceImageUri=self.voice_image,  # type: ignore[arg-type]
                                        VoiceShardCount=self.voice_shards)  # type: ignore[arg-type]
        command = [self.sam, "deploy", "--no-fail-on-empty-changeset"]
        if guided:
            # The first time: sam asks for the stack name, region and every parameter, and saves the answers.
            command += ["--guided", "--parameter-overrides", *overrides]
        else:
            command += ["--parameter-overrides", *overrides]
            if self.assume_yes:
                command.append("--no-confirm-changeset")
        env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
        if self.run(command, cwd=REPO, env=env).returncode != 0:
            raise StepFailed("sam deploy failed (its output is above).",
                             "Check your AWS credentials and region (aws configure, or AWS_PROFILE), then read "
                             "the failed resource's reason above or in the CloudFormation console's Events tab. "
                             "Run `make deploy ARGS=--guided` to answer the questions again.")
        self.stack = self._describe_stack()
        return f"stack {self.stack['StackName']} is {self.stack['StackStatus']}" + (" (guided)" if guided else "")

    def register(self) -> str:
        from infra.register_commands import register

        rest = self._rest()
        lines: list[str] = []

        def say(line: str) -> None:
            lines.append(line)
            self.out("    " + line)

        code = register(rest, self._application_id(), guild_id=None, confirm=self._confirm("Write these changes?"),
                        out=say)
        if code != 0:
            raise StepFailed("the commands were not written.",
                             "Run `make deploy ARGS=--yes` to write them without the question.")
        return lines[-1] if lines else "commands registered"

    def set_endpoint(self) -> str:
        url = self._output("InteractionsUrl")
        rest = self._rest()
        application = self._discord(rest.request, "GET", "/applications/@me")
        public_key = self._parameter("DiscordPublicKey")
        if public_key and application.get("verify_key") and application["verify_key"].lower() != public_key.lower():
            raise StepFailed("the stack's DiscordPublicKey is not this application's public key, so the endpoint "
                             "would refuse Discord's signed requests.",
                             "Copy the Public Key from the developer portal's General Information page and run "
                             "`make deploy ARGS=--guided` to set DiscordPublicKey.")
        if application.get("interactions_endpoint_url") == url:
            return f"already {url}"
        try:
            rest.request("PATCH", "/applications/@me", json={"interactions_endpoint_url": url})
        except DiscordHTTPError as exc:
            if exc.status == 400:
                raise StepFailed(f"Discord did not accept {url}: it sends a signed PING there first and did not "
                                 "get the answer it needs (PONG to its PING, 401 to a forged one).",
                                 "Check that DiscordPublicKey is the application's key, then look at the function's "
                                 f"logs: sam logs -n InteractionsFunction --stack-name {self._stack_name()}") from None
            raise
        return f"set to {url} (Discord verified it with a signed PING)"

    def invite(self) -> str:
        link = invite_url(self._application_id())
        self.out("    " + link)
        self.out(f"    scopes: {', '.join(INVITE_SCOPES)}; permissions: {', '.join(BOT_PERMISSIONS)}")
        return "open the link above to add the bot to a server"

    def check_endpoint(self) -> str:
        url = self._output("InteractionsUrl")
        try:
            response = self.http.post(url, data=b'{"type": 1}', headers={"Content-Type": "application/json"},
                                      timeout=15)
        except requests.RequestException as exc:
            raise StepFailed(f"could not reach {url}: {type(exc).__name__}.",
                             "Wait a minute (a new API can take a moment) and run `make deploy` again.") from None
        if response.status_code != 401:
            raise StepFailed(f"an unsigned request to {url} got {response.status_code}, not 401.",
                             "The endpoint must refuse what Discord did not sign; see the function's logs: "
                             f"sam logs -n InteractionsFunction --stack-name {self._stack_name()}")
        return f"{url} refuses unsigned requests (401)"

    def voice_shards_check(self) -> str:
        if not self._parameter("VoiceImageUri"):
            return "no voice worker in this stack (make voice-image, then make deploy VOICE_IMAGE=<its uri>)"
        shards = int(self._parameter("VoiceShardCount") or "1")
        rest = self._rest()
        servers = int(self._discord(rest.request, "GET", "/applications/@me").get("approximate_guild_count") or 0)
        recommended = int(rest.request("GET", "/gateway/bot").get("shards") or 1)
        needed = -(-servers // GUILDS_PER_SHARD)
        most = int(VOICE_SHARD_COUNTS[-1])
        held = f"{shards} voice shard{'s' if shards > 1 else ''} for about {servers} servers"
        if needed > shards:
            if needed > most:
                raise StepFailed(f"the bot is in about {servers} servers: more than the {most} voice shards this "
                                 f"template runs can hold ({GUILDS_PER_SHARD:,} each).",
                                 "Run the voice worker outside this stack with more shards (voice_worker/README.md, "
                                 "Sharding), or leave VoiceImageUri empty.")
            raise StepFailed(f"{held}, more than {shards} can hold ({GUILDS_PER_SHARD:,} each): Discord closes the "
                             "voice worker's gateway session (4011, sharding required).",
                             f"make deploy VOICE_SHARDS={min(max(needed, recommended), most)}")
        if recommended > shards:
            return (f"{held}; Discord recommends {recommended} "
                    f"(make deploy VOICE_SHARDS={min(recommended, most)} before it reaches "
                    f"{shards * GUILDS_PER_SHARD:,})")
        return held

    # -- running -----------------------------------------------------------------------------------------------

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [("sam build", self.build), ("sam deploy", self.deploy), ("register commands", self.register),
                ("interactions endpoint URL", self.set_endpoint), ("invite link", self.invite),
                ("check the endpoint", self.check_endpoint), ("voice shards", self.voice_shards_check)]

    def __call__(self) -> int:
        steps = self.steps()
        for number, (title, step) in enumerate(steps, 1):
            self.out(f"[{number}/{len(steps)}] {title}")
            try:
                self.out(f"    done: {step()}")
            except StepFailed as exc:
                self.out(f"    FAILED: {exc.what}\n    what to do: {exc.todo}")
                return 1
            except (BotError, ConfigError) as exc:
                self.out(f"    FAILED: {exc}\n    what to do: check the setting it names, then run make deploy "
                         "again (the steps that are done stay done).")
                return 1
        return 0

    # -- helpers -----------------------------------------------------------------------------------------------

    def _confirm(self, question: str) -> Callable[[], bool]:
        def confirm() -> bool:
            if self.assume_yes:
                return True
            try:
                return self.ask(f"    {question} [y/N] ").strip().lower() in ("y", "yes")
            except EOFError:
                return False
        return confirm

    def _stack_name(self) -> str:
        saved = read_samconfig(self.samconfig_path)
        return str(deploy_parameters(saved).get("stack_name")
                   or saved.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name")
                   or "discord-bot-trainer")

    def _regional_settings(self) -> Settings:
        """The settings with the region the stack was deployed to (sam deploy --guided saves it)."""
        region = deploy_parameters(read_samconfig(self.samconfig_path)).get("region")
        return dataclasses.replace(self.settings, aws_region=region) if region else self.settings

    def _describe_stack(self) -> dict[str, Any]:
        from shared.aws import AwsClients

        cloudformation = AwsClients(self._regional_settings()).client("cloudformation")
        try:
            return dict(cloudformation.describe_stacks(StackName=self._stack_name())["Stacks"][0])
        except Exception as exc:  # botocore's ClientError and connection errors alike
            raise StepFailed(f"could not read the stack {self._stack_name()}: {type(exc).__name__}.",
                             "Check the region in samconfig.toml and your AWS credentials.") from None

    def _output(self, key: str) -> str:
        for output in self.stack.get("Outputs", []):
            if output["OutputKey"] == key:
                return str(output["OutputValue"])
        raise StepFailed(f"the stack has no output {key}.", "Deploy the current template.yaml (make deploy).")

    def _parameter(self, key: str) -> str:
        for parameter in self.stack.get("Parameters", []):
            if parameter["ParameterKey"] == key:
                return str(parameter.get("ParameterValue", ""))
        return ""

    def _application_id(self) -> str:
        application_id = self._parameter("DiscordApplicationId") or self.settings.discord_application_id
        if not application_id:
            raise StepFailed("no application id.", "Deploy with DiscordApplicationId set (make deploy ARGS=--guided).")
        return application_id

    def _rest(self) -> DiscordRest:
        settings = self._regional_settings()
        if not settings.discord_bot_token:
            secret = self._parameter("BotTokenSecretArn") or settings.discord_bot_token_secret
            if not secret:
                raise StepFailed("no bot token to talk to Discord's API with.",
                                 "Store the bot token in Secrets Manager and deploy with BotTokenSecretArn set "
                                 "(make deploy ARGS=--guided), or export DISCORD_BOT_TOKEN for this run.")
            settings = dataclasses.replace(settings, discord_bot_token_secret=secret)
        return DiscordRest(settings)

    def _discord(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except DiscordHTTPError as exc:
            if exc.status == 401:
                raise StepFailed("Discord refused the bot token (401).",
                                 "Reset the token in the developer portal's Bot page and store the new one in the "
                                 "secret that BotTokenSecretArn names.") from None
            raise


def voice_image(settings: Settings, architecture: str, *, run: Callable[..., Any] = subprocess.run,
                out: Callable[[str], None] = print, samconfig_path: Path = REPO / "samconfig.toml") -> int:
    """Build the voice worker's image for ``architecture`` and push it to the stack's ECR repository."""
    import base64

    from shared.aws import AwsClients

    deployment = Deployment(settings, architecture=architecture, samconfig_path=samconfig_path, run=run, out=out)
    try:
        deployment.stack = deployment._describe_stack()
        repository = deployment._output("VoiceRepositoryUri")
    except StepFailed as exc:
        out(f"FAILED: {exc.what}\nwhat to do: {exc.todo} The stack must exist first: run make deploy.")
        return 1
    settings = deployment._regional_settings()
    tag = run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    image = f"{repository}:{tag or 'latest'}"
    registry = repository.split("/", 1)[0]
    token = AwsClients(settings).client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    platform = "linux/arm64" if architecture == "arm64" else "linux/amd64"
    for command, what, stdin in (
        (["docker", "login", "--username", user, "--password-stdin", registry], "docker login", password),
        (["docker", "build", "--platform", platform, "-f", "infra/voice_worker.Dockerfile", "-t", image, "."],
         "docker build", None),
        (["docker", "push", image], "docker push", None),
    ):
        if run(command, cwd=REPO, input=stdin, text=True).returncode != 0:
            out(f"FAILED: {what}.\nwhat to do: docker must be running (and, for another architecture than this "
                "machine's, have buildx with QEMU: docker run --privileged --rm tonistiigi/binfmt --install all).")
            return 1
    out(f"pushed {image}\nnow run: make deploy VOICE_IMAGE={image}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0],
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=("deploy", "voice-image"), default="deploy")
    parser.add_argument("--arch", choices=ARCHITECTURES, default=os.environ.get("ARCH") or "arm64")
    parser.add_argument("--voice-image", default=os.environ.get("VOICE_IMAGE") or None,
                        help="the voice worker's image URI (make voice-image prints it)")
    parser.add_argument("--voice-shards", choices=VOICE_SHARD_COUNTS, default=os.environ.get("VOICE_SHARDS") or None,
                        help="voice worker shards (one task and queue each): needed from 2,500 servers on")
    parser.add_argument("--yes", action="store_true", help="no questions: write the commands, skip confirmations")
    parser.add_argument("--guided", action="store_true", help="ask sam deploy's questions again")
    args = parser.parse_args(argv)
    if args.voice_shards is not None and args.voice_shards not in VOICE_SHARD_COUNTS:  # from VOICE_SHARDS
        parser.error(f"VOICE_SHARDS must be one of {', '.join(VOICE_SHARD_COUNTS)}, not {args.voice_shards!r}")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.what == "voice-image":
        return voice_image(settings, args.arch)
    return Deployment(settings, architecture=args.arch, voice_image=args.voice_image, voice_shards=args.voice_shards,
                      assume_yes=args.yes, force_guided=args.guided)()


if __name__ == "__main__":
    sys.exit(main())
