"""Large uploads through `make run` (plain script: ``python -m tests.bench.bench_ingest``).

Starts the local stack (``infra.local_stack.main``: moto server, fake Discord, the worker, the Flask app) in a
child process on free ports, with its state file in a temporary folder so a running `make run` is not disturbed.
Then, as a trainer would with the client: signed ``/train file:`` interactions with generated JSONL files
(short chat examples, about 130 bytes a line, as in a community FAQ) put on the fake CDN, and the time until the
worker's reply says the examples were added. The stack's RSS is sampled from /proc every 50 ms and its VmHWM is
read at the end: the whole stack's peak.

Figures, each against its target (issue 9):
- 10,000 examples into a new dataset: reply within 90 s;
- 10,000 more onto the same dataset: no slower;
- the stack's peak RSS: under 1.5 GB;
- renaming the dataset of both uploads (every example copied, then deleted): reported, no target;
- 100,000 examples into another dataset: a few minutes;
- SIGTERM while the worker is busy with an upload: the stack's exit time (item 7: promptly).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import infra.local_stack as stack
    import infra.moto_transactions as transactions
    stack.STATE_FILE = Path(sys.argv[1])
    if sys.argv[4] == "upstream":  # the comparison run: moto's own transactions
        transactions.apply = lambda: False
    sys.exit(stack.main(["--port", sys.argv[2], "--aws-port", sys.argv[3]]))
    """
)

_WORDS = ("what how when why bot server role channel train model answer question help admin rules ban "
          "voice music event ticket invite emoji python discord moderation link image file prefix").split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generate(count: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        question = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 9)))
        answer = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 12)))
        lines.append(json.dumps({"messages": [{"role": "user", "content": f"{question} #{seed}-{i}?"},
                                              {"role": "assistant", "content": answer + "."}]}))
    return ("\n".join(lines) + "\n").encode()


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


class StackRss:
    """The child stack's peak RSS: sampled on a thread; VmHWM read whenever asked."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _status_kb(self.pid, "VmRSS:"))

    def high_water(self) -> int:
        self.peak = max(self.peak, _status_kb(self.pid, "VmHWM:"))
        return self.peak

    def stop(self) -> None:
        self._stop.set()


class Stack:
    def __init__(self, folder: Path, *, upstream: bool = False) -> None:
        self.state_file = folder / "stack.json"
        self.log_file = folder / "stack.log"
        env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONDONTWRITEBYTECODE": "1"}
        for name in ("DISCORD_PUBLIC_KEY", "DISCORD_BOT_TOKEN", "OPENAI_API_KEY", "AWS_ENDPOINT_URL"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(self.state_file), str(_free_port()), str(_free_port()),
             "upstream" if upstream else "patched"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "stack.log", "wb"),
        )
        deadline = time.monotonic() + 120
        while not self.state_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the local stack did not start; see {folder / 'stack.log'}")
            time.sleep(0.2)
        self.state = json.loads(self.state_file.read_text())
        self.rss = StackRss(self.process.pid)
        from infra.signing import DevApplication

        self.app = DevApplication.load_or_create()

    def train_file(self, data: bytes, name: str, dataset: str) -> str:
        """Send ``/train file:`` and return the interaction token to follow."""
        from infra import interactions as build
        from infra.client import send

        fake = self.state["fake_discord_url"]
        attachment_id = build.snowflake()
        path = f"/attachments/{build.DEFAULT_CHANNEL}/{attachment_id}/{name}"
        response = requests.post(f"{fake}/_fake/cdn", timeout=60, json={
            "path": path, "data_b64": base64.b64encode(data).decode(), "content_type": "application/jsonl"})
        response.raise_for_status()
        url = response.json()["url"]
        attachment = {"id": attachment_id, "filename": name, "size": len(data), "url": url, "proxy_url": url,
                      "content_type": "application/jsonl"}
        interaction = build.slash("train", options={"dataset": dataset}, attachments={"file": attachment},
                                  application_id=self.app.application_id, guild_id=build.DEFAULT_GUILD,
                                  user_id=build.DEFAULT_USER, permissions=build.MANAGE_GUILD)
        reply = send(self.state["interactions_url"], self.app, interaction)
        assert reply["type"] == 5, reply
        return str(reply["_token"])

    def wait_reply(self, token: str, timeout: float, final: str = "The dataset now holds") -> str:
        fake = self.state["fake_discord_url"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-3000:]
                raise SystemExit(f"the local stack exited ({self.process.returncode}) while working:\n{tail}")
            messages = requests.get(f"{fake}/_fake/messages", params={"token": token}, timeout=10).json()["messages"]
            for message in messages:
                if final in str(message.get("content")):
                    return str(message["content"])
            time.sleep(0.2)
        raise TimeoutError(f"no reply within {timeout:.0f} s")

    def upload(self, count: int, seed: int, dataset: str, timeout: float) -> tuple[float, str]:
        data = generate(count, seed)
        start = time.monotonic()
        token = self.train_file(data, f"community-{seed}.jsonl", dataset)
        content = self.wait_reply(token, timeout)
        return time.monotonic() - start, content

    def rename(self, old: str, new: str, timeout: float) -> tuple[float, str]:
        """``/dataset_rename``, and the seconds until its final reply (past the progress edits)."""
        from infra import interactions as build
        from infra.client import send

        interaction = build.slash("dataset_rename", options={"dataset": old, "new_name": new},
                                  application_id=self.app.application_id, guild_id=build.DEFAULT_GUILD,
                                  user_id=build.DEFAULT_USER, permissions=build.MANAGE_GUILD)
        start = time.monotonic()
        reply = send(self.state["interactions_url"], self.app, interaction)
        assert reply["type"] == 5, reply
        content = self.wait_reply(str(reply["_token"]), timeout, final="Renamed **")
        return time.monotonic() - start, content

    def terminate_busy(self, count: int, seed: int) -> float:
        """SIGTERM while the worker is adding ``count`` examples; seconds until the stack has exited."""
        self.train_file(generate(count, seed), f"community-{seed}.jsonl", "busy")
        time.sleep(3.0)  # the worker has fetched the file and is writing examples
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return float("inf")
        return time.monotonic() - start

    def close(self) -> None:
        self.rss.stop()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _added(content: str) -> str:
    return content.splitlines()[0]


def _holds(content: str) -> str:
    return next((line for line in content.splitlines() if "now holds" in line), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000, help="0 skips the large upload")
    parser.add_argument("--upstream", action="store_true",
                        help="for comparison: moto's own TransactWriteItems (use with --examples 1000 --large 0)")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), upstream=args.upstream)
        try:
            idle = _status_kb(stack.process.pid, "VmRSS:")
            first, content = stack.upload(args.examples, 1, "community", timeout=900)
            print(f"(a) {args.examples:,} examples, new dataset: reply after {first:.1f} s (target ≤ 90 s); "
                  f"{_added(content)}", flush=True)
            second, content = stack.upload(args.examples, 2, "community", timeout=900)
            print(f"(b) {args.examples:,} more onto the same dataset: {second:.1f} s "
                  f"({second / first:.2f}× the first; target: no slower); {_holds(content)}", flush=True)
            peak = stack.rss.high_water()
            print(f"(c) stack RSS: idle {idle / MB:.0f} MB, peak {peak / MB:.0f} MB after both uploads "
                  f"(target < 1536 MB)", flush=True)
            renamed, content = stack.rename("community", "community-renamed", timeout=900)
            print(f"(c') renaming that dataset of {2 * args.examples:,} examples: {renamed:.1f} s; "
                  f"{content.splitlines()[0]}", flush=True)
            if args.large:
                large, content = stack.upload(args.large, 3, "community-large", timeout=1800)
                peak = stack.rss.high_water()
                print(f"(d) {args.large:,} examples, new dataset: {large:.1f} s ({args.large / large:.0f} "
                      f"examples/s; target: a few minutes); stack peak RSS {peak / MB:.0f} MB; "
                      f"{_added(content)}", flush=True)
            exit_seconds = stack.terminate_busy(args.examples, 4)
            print(f"(e) SIGTERM while the worker adds {args.examples:,} examples: the stack exited after "
                  f"{exit_seconds:.1f} s (target: promptly)", flush=True)
        finally:
            stack.close()


if __name__ == "__main__":
    main()
