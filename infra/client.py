"""Send signed interactions to the local stack (or any endpoint that trusts the dev key) and show the replies.

    python -m infra.client hi
    python -m infra.client feedback "Answers are too long"
    python -m infra.client vote up --content "Paris is the capital of France."
    python -m infra.client correct-menu --content "The capital of France is Lyon." --correction "It is Paris."
    python -m infra.client correct 123456789012345678 "It is Paris."
    python -m infra.client --manager train --text "Q: What is 2+2? A: 4"
    python -m infra.client --manager train --file examples.jsonl --dataset faq
    python -m infra.client --manager select-dataset faq
    python -m infra.client --manager archive
    python -m infra.client --manager getfile corrections-log --save ./out
    python -m infra.client --manager train --text "Q: Capital of France? A: Paris." --start
    python -m infra.client --manager press ft:go:default:<digest>   # the Start button under the estimate
    python -m infra.client channel                  # what the bot posted in the channel (job completions)
    python -m infra.client --manager press ft:use:<request id>      # the Make active button
    python -m infra.client ask "What is the capital of France?"
    python -m infra.client --manager jobs
    python -m infra.client --manager review --dataset faq             # corrections waiting for review
    python -m infra.client --manager press review:a:c:<message>:<user>:faq   # Approve (ids as listed)
    python -m infra.client --manager press review:e:c:<message>:<user>:faq   # Edit: opens a form
    python -m infra.client --manager submit reviewedit:c:<message>:<user>:faq --field correction="Paris."
    python -m infra.client press fix --message-id <answer id>        # Correct under an /ask answer
    python -m infra.client --manager datasets
    python -m infra.client --manager dataset-show faq --page 2
    python -m infra.client --manager dataset-remove faq <example id>
    python -m infra.client --manager dataset-rename faq support
    python -m infra.client --manager dataset-delete support            # then press dsdel:support
    python -m infra.client join && python -m infra.client say "hello"
    python -m infra.client voice --save ./voice-out  # what the bot said in the local voice channel, as WAV
    python -m infra.client send '{"type": 2, "data": {"name": "hi", "type": 1}}'

Deferred commands (type 5) are followed: the client shows the reply as the worker edits it, and follow-ups.
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

import requests

from functions.worker.progress import PROGRESS_MARK
from infra import interactions as build
from infra.local_stack import STATE_FILE
from infra.signing import DevApplication

FLAG_EPHEMERAL = 64


class ClientError(Exception):
    pass


def _state() -> dict[str, Any]:
    return json.loads(STATE_FILE.read_text(encoding="utf-8")) if STATE_FILE.exists() else {}


def _load_target(url: str | None) -> tuple[str, DevApplication]:
    if not STATE_FILE.exists() and url is None:
        raise ClientError("No local stack found. Start it with `make run` (or pass --url).")
    state = _state()
    if state and not state.get("dev_key"):
        raise ClientError("The local stack uses DISCORD_PUBLIC_KEY from your environment, so only Discord can sign "
                          "for it. Unset DISCORD_PUBLIC_KEY and restart `make run` to use the dev key.")
    return url or state["interactions_url"], DevApplication.load_or_create()


def _fake_discord() -> str:
    fake = _state().get("fake_discord_url")
    if not fake:
        raise ClientError("Replies go to real Discord (DISCORD_BOT_TOKEN is set): look there.")
    return str(fake)


FOLLOW_TIMEOUT_SECONDS = 900.0  # the worker's own limit for one job, and then some
PROGRESS_EVERY_SECONDS = 15.0


def follow(token: str, *, timeout: float = FOLLOW_TIMEOUT_SECONDS, settle: float = 2.0,
           progress: Any = None) -> list[dict[str, Any]]:
    """The deferred reply as the worker edits it, and follow-ups, read back from the local fake Discord.

    A slow reply is normal (a large upload, a long job): ``progress`` (stderr by default) hears "still working"
    every so often until the reply comes or ``timeout`` passes.
    """
    fake = _fake_discord()
    progress = progress or sys.stderr
    started = time.monotonic()
    deadline = started + timeout
    next_note = started + PROGRESS_EVERY_SECONDS
    seen: list[dict[str, Any]] = []
    settled_at = None
    while time.monotonic() < deadline:
        messages = requests.get(f"{fake}/_fake/messages", params={"token": token}, timeout=5).json()["messages"]
        working = bool(messages) and str(messages[0].get("content") or "").startswith(PROGRESS_MARK)
        if messages != seen:
            seen, settled_at = messages, time.monotonic()
            if working:  # a long task says how far it is: show it, and wait for its final reply
                print(f"({messages[0]['content']})", file=progress, flush=True)
        elif seen and not working and settled_at is not None and time.monotonic() - settled_at >= settle:
            return seen
        if not seen and time.monotonic() >= next_note:
            print(f"(still working… {time.monotonic() - started:.0f} s so far)", file=progress, flush=True)
            next_note += PROGRESS_EVERY_SECONDS
        time.sleep(0.25)
    if not seen:
        raise ClientError(f"Still no reply after {timeout:.0f} s: the bot may still be working on it. "
                          "The reply will replace the thinking message in Discord; locally, "
                          "`make run`'s log shows the worker's progress.")
    return seen


def upload_to_fake_cdn(path: Path) -> dict[str, Any]:
    """Put a local file on the fake CDN, as Discord does with an attachment, and describe it as Discord would."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ClientError(f"Cannot read {path}: {exc.strerror}") from exc
    attachment_id = build.snowflake()
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    cdn_path = f"/attachments/{build.DEFAULT_CHANNEL}/{attachment_id}/{path.name}"
    response = requests.post(f"{_fake_discord()}/_fake/cdn", timeout=30, json={
        "path": cdn_path, "data_b64": base64.b64encode(data).decode(), "content_type": content_type})
    response.raise_for_status()
    return {"id": attachment_id, "filename": path.name, "size": len(data), "url": response.json()["url"],
            "proxy_url": response.json()["url"], "content_type": content_type}


def render_message(message: dict[str, Any]) -> str:
    lines = [str(message.get("content") or "")]
    for embed in message.get("embeds") or []:
        lines.append(f"  [embed] {embed.get('title', '')} {embed.get('description', '')}".rstrip())
    for attachment in message.get("attachments") or []:
        lines.append(f"  [file] {attachment.get('filename')} ({attachment.get('size')} bytes) {attachment.get('url')}")
    if message.get("components"):
        lines.append("  buttons: " + describe_buttons(message["components"]))
    lines.append(f"  (message id {message.get('id')})")
    return "\n".join(lines)


def describe_buttons(rows: list[dict[str, Any]]) -> str:
    """Each button's label and the custom id to `press` it with."""
    return " | ".join(
        f"{c.get('label') or (c.get('emoji') or {}).get('name')} [{c.get('custom_id')}]"
        for row in rows for c in row.get("components", [])
    )


def render(reply: dict[str, Any]) -> str:
    kind = reply.get("type")
    data = reply.get("data") or {}
    if kind == 1:
        return "PONG"
    if kind == 5:
        return "(thinking… the reply will be edited when the work is done)"
    if kind == 8:
        return "choices: " + ", ".join(c["name"] for c in data.get("choices", [])) if data.get("choices") else \
            "choices: (none)"
    if kind == 9:
        labels = [c for c in data.get("components", []) if c.get("type") == 18]
        lines = [f"[modal {data.get('custom_id')}] {data.get('title')}"]
        lines += [f"  field {c['component']['custom_id']!r}: {c.get('label')} "
                  f"(prefilled: {c['component'].get('value', '')!r})" for c in labels]
        return "\n".join(lines)
    if kind == 7:
        return "(the message was updated)\n" + render({"type": 4, "data": data})
    prefix = "[only you can see this] " if (data.get("flags", 0) & FLAG_EPHEMERAL) else ""
    text = prefix + str(data.get("content", ""))
    if data.get("components"):
        text += "\n  buttons: " + describe_buttons(data["components"])
    return text


def send(url: str, app: DevApplication, interaction: dict[str, Any]) -> dict[str, Any]:
    """POST the signed interaction; the reply carries the interaction's token under ``_token`` for following."""
    body = build.encode(interaction)
    try:
        response = requests.post(url, data=body, headers=app.signer.headers(body), timeout=15)
    except requests.ConnectionError as exc:
        raise ClientError(f"Cannot reach {url}. Is `make run` running?") from exc
    if response.status_code != 200:
        raise ClientError(f"The endpoint answered HTTP {response.status_code}: {response.text[:200]}")
    return {**response.json(), "_token": interaction["token"]}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.client", description="Send signed interactions.",
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="interactions endpoint (default: the running local stack)")
    parser.add_argument("--guild", default=build.DEFAULT_GUILD)
    parser.add_argument("--user", default=build.DEFAULT_USER)
    parser.add_argument("--dm", action="store_true", help="send as a direct message (no server)")
    parser.add_argument("--manager", action="store_true", help="act as a member with Manage Server")
    parser.add_argument("--json", action="store_true", help="print the raw JSON reply")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ping")
    commands.add_parser("hi")
    commands.add_parser("instruction")
    feedback = commands.add_parser("feedback")
    feedback.add_argument("text")
    feedback.add_argument("--message", help="link or id of the bot message")
    correct = commands.add_parser("correct")
    correct.add_argument("message", help="link or id of the bot's answer")
    correct.add_argument("correction")
    vote = commands.add_parser("vote", help="press 👍 or 👎 under a bot answer")
    vote.add_argument("rating", choices=["up", "down"])
    vote.add_argument("--content", default="An answer from the bot.")
    train = commands.add_parser("train", help="add examples (text or a file) to a dataset")
    train.add_argument("--text")
    train.add_argument("--file", type=Path)
    train.add_argument("--dataset")
    train.add_argument("--negative", action="store_true", help="examples of what to avoid")
    train.add_argument("--start", action="store_true", help="start a fine-tune job afterwards")
    select = commands.add_parser("select-dataset")
    select.add_argument("dataset")
    select.add_argument("--negative", action="store_true")
    archive = commands.add_parser("archive")
    archive.add_argument("--dataset")
    getfile = commands.add_parser("getfile")
    getfile.add_argument("name")
    getfile.add_argument("--save", type=Path, help="folder to save the file into")
    commands.add_parser("channel", help="show what the bot posted in the channel")
    ask = commands.add_parser("ask", help="ask the server's active model")
    ask.add_argument("prompt")
    ask.add_argument("--audio", type=Path, help="a voice recording to transcribe first")
    test = commands.add_parser("test", help="run JSON test inputs through the model")
    test.add_argument("data")
    commands.add_parser("jobs", help="recent fine-tune jobs")
    review = commands.add_parser("review", help="corrections and 👎 votes waiting for a trainer")
    review.add_argument("--dataset", help="dataset approved items go into (default: the selected one)")
    review.add_argument("--page", type=int)
    commands.add_parser("datasets", help="the server's datasets with their counts")
    show = commands.add_parser("dataset-show", help="a dataset's examples, a page at a time")
    show.add_argument("dataset")
    show.add_argument("--page", type=int)
    remove = commands.add_parser("dataset-remove", help="remove one example (its id from dataset-show)")
    remove.add_argument("dataset")
    remove.add_argument("example")
    rename = commands.add_parser("dataset-rename", help="rename a dataset")
    rename.add_argument("dataset")
    rename.add_argument("new_name")
    delete = commands.add_parser("dataset-delete", help="delete a dataset (asks first; archives are kept)")
    delete.add_argument("dataset")
    model = commands.add_parser("model", help="show, or set, the active model")
    model.add_argument("name", nargs="?")
    press = commands.add_parser("press", help="press a button the bot showed (its custom id)")
    press.add_argument("custom_id")
    press.add_argument("--content", default="", help="the text of the message the button is on")
    press.add_argument("--message-id", help="the id of the message the button is on (e.g. an /ask answer)")
    submit = commands.add_parser("submit", help="submit a form (modal) the bot opened")
    submit.add_argument("custom_id")
    submit.add_argument("--field", action="append", default=[], metavar="NAME=TEXT",
                        help="a field's value, e.g. correction='It is Paris.'")
    menu = commands.add_parser("correct-menu", help="use 'Correct this answer' on a bot message, then submit")
    menu.add_argument("--content", required=True, help="the bot answer being corrected")
    menu.add_argument("--correction", help="submit the modal with this text")
    join = commands.add_parser("join", help="ask the bot to join your voice channel (or --channel)")
    join.add_argument("--channel", help="id of a voice channel")
    commands.add_parser("leave", help="ask the bot to leave voice")
    say = commands.add_parser("say", help="have the bot say something in voice")
    say.add_argument("text")
    commands.add_parser("skip", help="skip what the bot is saying")
    commands.add_parser("clear", help="drop what the bot was going to say")
    voice_settings = commands.add_parser("voice-settings", help="show or change the server's voice settings")
    voice_settings.add_argument("--engine", choices=("default", "espeak", "gtts", "polly"))
    voice_settings.add_argument("--language")
    voice_settings.add_argument("--idle-minutes", type=int)
    voice_settings.add_argument("--transcribe-add", metavar="CHANNEL_ID")
    voice_settings.add_argument("--transcribe-remove", metavar="CHANNEL_ID")
    voice = commands.add_parser("voice", help="what the bot said in the local voice channel (and its audio)")
    voice.add_argument("--save", type=Path, help="save each utterance as a WAV file in this folder")
    voice.add_argument("--move", metavar="CHANNEL_ID|none",
                       help="move you (--user) to a voice channel of the local guild, or out of voice")
    raw = commands.add_parser("send", help="send any interaction JSON (id, token, application_id filled in)")
    raw.add_argument("interaction")
    return parser


def _base(args: argparse.Namespace, app: DevApplication) -> dict[str, Any]:
    return {"application_id": app.application_id, "guild_id": None if args.dm else args.guild,
            "user_id": args.user, "permissions": build.MANAGE_GUILD if args.manager else 0}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    url, app = _load_target(args.url)
    base = _base(args, app)
    options: dict[str, Any]
    if args.command == "ping":
        return [send(url, app, build.ping(application_id=app.application_id))]
    if args.command in ("hi", "instruction"):
        return [send(url, app, build.slash(args.command, **base))]
    if args.command == "feedback":
        options = {"text": args.text, **({"message": args.message} if args.message else {})}
        return [send(url, app, build.slash("feedback", options=options, **base))]
    if args.command == "correct":
        options = {"message": args.message, "correction": args.correction}
        return [send(url, app, build.slash("correct", options=options, **base))]
    if args.command == "vote":
        message = build.bot_message(application_id=app.application_id, content=args.content)
        return [send(url, app, build.component(f"vote:{args.rating}", message=message, **base))]
    if args.command == "train":
        options = {}
        if args.text:
            options["text"] = args.text
        if args.dataset:
            options["dataset"] = args.dataset
        if args.negative:
            options["positive"] = False
        if args.start:
            options["start"] = True
        attachments = {"file": upload_to_fake_cdn(args.file)} if args.file else None
        return [send(url, app, build.slash("train", options=options, attachments=attachments, **base))]
    if args.command == "select-dataset":
        options = {"dataset": args.dataset, **({"positive": False} if args.negative else {})}
        return [send(url, app, build.slash("select_dataset", options=options, **base))]
    if args.command == "archive":
        options = {"dataset": args.dataset} if args.dataset else {}
        return [send(url, app, build.slash("archive", options=options, **base))]
    if args.command == "getfile":
        return [send(url, app, build.slash("getfile", options={"name": args.name}, **base))]
    if args.command == "ask":
        attachments = {"audio": upload_to_fake_cdn(args.audio)} if args.audio else None
        return [send(url, app, build.slash("ask", options={"prompt": args.prompt}, attachments=attachments,
                                           **base))]
    if args.command == "test":
        return [send(url, app, build.slash("test", options={"data": args.data}, **base))]
    if args.command == "jobs":
        return [send(url, app, build.slash("jobs", **base))]
    if args.command == "review":
        options = {k: v for k, v in (("dataset", args.dataset), ("page", args.page)) if v}
        return [send(url, app, build.slash("review", options=options, **base))]
    if args.command == "datasets":
        return [send(url, app, build.slash("datasets", **base))]
    if args.command == "dataset-show":
        options = {"dataset": args.dataset, **({"page": args.page} if args.page else {})}
        return [send(url, app, build.slash("dataset_show", options=options, **base))]
    if args.command == "dataset-remove":
        options = {"dataset": args.dataset, "example": args.example}
        return [send(url, app, build.slash("dataset_remove", options=options, **base))]
    if args.command == "dataset-rename":
        options = {"dataset": args.dataset, "new_name": args.new_name}
        return [send(url, app, build.slash("dataset_rename", options=options, **base))]
    if args.command == "dataset-delete":
        return [send(url, app, build.slash("dataset_delete", options={"dataset": args.dataset}, **base))]
    if args.command == "model":
        return [send(url, app, build.slash("model", options={"name": args.name} if args.name else {}, **base))]
    if args.command == "join":
        return [send(url, app, build.slash("join", options={"channel": args.channel} if args.channel else {},
                                           **base))]
    if args.command == "say":
        return [send(url, app, build.slash("say", options={"text": args.text}, **base))]
    if args.command == "voice-settings":
        chosen = {"engine": args.engine, "language": args.language, "idle_minutes": args.idle_minutes,
                  "transcribe_add": args.transcribe_add, "transcribe_remove": args.transcribe_remove}
        return [send(url, app, build.slash("voice_settings", options={k: v for k, v in chosen.items()
                                                                       if v is not None}, **base))]
    if args.command in ("leave", "skip", "clear"):
        return [send(url, app, build.slash(args.command, **base))]
    if args.command == "press":
        message = build.bot_message(application_id=app.application_id, content=args.content,
                                    message_id=args.message_id)
        return [send(url, app, build.component(args.custom_id, message=message, **base))]
    if args.command == "submit":
        values = {}
        for field in args.field:
            name, sep, value = field.partition("=")
            if not sep:
                raise ClientError(f"--field takes NAME=TEXT, not {field!r}")
            values[name] = value
        return [send(url, app, build.modal_submit(args.custom_id, values=values, **base))]
    if args.command == "correct-menu":
        message = build.bot_message(application_id=app.application_id, content=args.content)
        replies = [send(url, app, build.message_command("Correct this answer", target=message, **base))]
        if args.correction is not None and replies[0].get("type") == 9:
            custom = replies[0]["data"]["custom_id"]
            replies.append(send(url, app, build.modal_submit(custom, values={"correction": args.correction},
                                                             **base)))
        return replies
    try:
        given = json.loads(args.interaction)
    except json.JSONDecodeError as exc:
        raise ClientError(f"That is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(given, dict):
        raise ClientError("The interaction must be a JSON object.")
    interaction = {**build.slash("hi", **base), "data": {}, **given}
    return [send(url, app, interaction)]


def save_attachments(messages: list[dict[str, Any]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for message in messages:
        for attachment in message.get("attachments") or []:
            target = folder / Path(str(attachment["filename"])).name
            target.write_bytes(requests.get(attachment["url"], timeout=60).content)
            print(f"saved {target}")


def _local_gateway() -> str:
    state = _state()
    gateway = state.get("local_gateway_url")
    if not gateway:
        raise ClientError("The local stack is not running its own voice gateway (a bot token is set, or `make run` "
                          "is not running): listen in Discord instead.")
    return str(gateway)


def show_voice(args: argparse.Namespace, *, wait_seconds: float = 30.0) -> None:
    """Print what the bot said (utterances as the local voice server heard them) and save the audio."""
    gateway = _local_gateway()
    if args.move:
        channel = None if args.move.lower() == "none" else args.move
        answer = requests.post(f"{gateway}/move", json={"user_id": args.user, "channel_id": channel}, timeout=5)
        if answer.status_code != 200:
            raise ClientError(answer.json().get("message", "the move was refused"))
    deadline = time.monotonic() + wait_seconds
    while True:  # an utterance still playing is waited for, briefly
        status = requests.get(gateway, timeout=5).json()
        if all(u["complete"] for u in status["utterances"]) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    names = status["channels"]
    where = names.get(status["bot_channel"] or "", "not in voice")
    dave = ("DAVE on" + (", group ready" if status["dave_ready"] else "")) if status["dave"] else "DAVE off"
    print(f"Bot: {where} ({dave})")
    for member_id, member in status["members"].items():
        if member["channel_id"]:
            print(f"  in #{names.get(member['channel_id'], member['channel_id'])}: {member['name']} ({member_id})")
    if not status["utterances"]:
        print("(the bot has not said anything yet)")
    for u in status["utterances"]:
        e2ee = f", {u['e2ee_frames']} end-to-end encrypted" if u["dave"] else ""
        print(f"#{u['index']}: {u['seconds']:.1f} s, {u['frames']} frames{e2ee}, {u['undecodable']} undecodable"
              + ("" if u["complete"] else " (still speaking)"))
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            target = args.save / f"utterance-{u['index']}.wav"
            target.write_bytes(requests.get(f"{gateway}/{u['index']}.wav", timeout=10).content)
            print(f"  saved {target}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "voice":
            show_voice(args)
            return 0
        if args.command == "channel":
            fake = _fake_discord()
            found = requests.get(f"{fake}/_fake/messages", params={"channel_id": build.DEFAULT_CHANNEL},
                                 timeout=5).json()["messages"]
            for message in found:
                print(render_message(message))
            if not found:
                print("(nothing posted in the channel yet)")
            return 0
        replies = run(args)
        for reply in replies:
            token = reply.pop("_token")
            print(json.dumps(reply, indent=2, ensure_ascii=False) if args.json else render(reply))
            if reply.get("type") == 5:
                messages = follow(token)
                for message in messages:
                    print(json.dumps(message, indent=2, ensure_ascii=False) if args.json else render_message(message))
                if getattr(args, "save", None):
                    save_attachments(messages, args.save)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"error: the local stack did not answer ({type(exc).__name__}). Is `make run` running?",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
