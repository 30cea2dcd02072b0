"""Benchmarks of the data side (plain script: ``python -m tests.bench.bench_datasets``).

(a) A 200 MB attachment from a local HTTP server (bytes generated on the fly) into S3 on a moto server, in a
    child process whose peak RSS growth is measured (sampling /proc/self/status VmRSS every 5 ms; ru_maxrss).
(b) Checking a generated chat-format JSONL (100 MB, about 200k examples, and 25 MB): the streaming checker
    against a straightforward load-everything-then-check baseline of the same checks, each in a child process,
    in the same run; throughput and peak RSS growth for both sizes.

Targets (issue 3): (a) RSS growth ≤ 64 MB; (b) checker ≥ 3× the baseline's throughput, checker peak RSS
independent of file size.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

MB = 1024 * 1024


# --- memory measurement (runs inside the child) -----------------------------------------------------------


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _vm_rss() -> int:
    return _status("VmRSS:")


class PeakRss:
    """Samples VmRSS on a thread; VmHWM (this process's own high-water mark) catches what sampling misses.

    ru_maxrss is not used: Linux carries it over from the parent across fork+exec, so a child of a large
    parent (the moto server holding 200 MB) would report the parent's peak.
    """

    def __init__(self) -> None:
        self.start = _vm_rss()
        self.start_hwm = _status("VmHWM:")
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _vm_rss())
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm = _status("VmHWM:")
        # A new high-water mark was set during the measurement: that is the exact peak.
        self.peak = max(self.peak, _vm_rss(), hwm if hwm > self.start_hwm else 0)

    @property
    def growth(self) -> int:
        return self.peak - self.start


# --- (a) download -----------------------------------------------------------------------------------------


def _serve_generated(size: int) -> http.server.ThreadingHTTPServer:
    block = os.urandom(MB)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            sent = 0
            while sent < size:
                n = min(MB, size - sent)
                self.wfile.write(block[:n])
                sent += n

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def child_download(url: str, endpoint: str, size: int) -> dict[str, Any]:
    import boto3

    from shared.config import Settings
    from shared.discord.attachments import fetch_attachment_to_s3

    settings = Settings(attachment_hosts=("127.0.0.1",), bucket_name="bench", aws_endpoint_url=endpoint)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    s3.head_bucket(Bucket="bench")  # warm the client (connection pool, endpoint resolution) before measuring
    with PeakRss() as rss:
        t0 = time.perf_counter()
        stored = fetch_attachment_to_s3(
            url,
            settings=settings,
            s3_client=s3,
            bucket="bench",
            key="guilds/1/uploads/big.bin",
            max_bytes=size,
        )
        elapsed = time.perf_counter() - t0
    return {"size": stored.size, "seconds": elapsed, "rss_growth": rss.growth, "rss_start": rss.start}


def bench_download(size_mb: int) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request log lines
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    size = size_mb * MB
    server = _serve_generated(size)
    try:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        url = f"http://127.0.0.1:{server.server_address[1]}/attachments/1/2/big.bin"
        result = _run_child(["download", url, endpoint, str(size)])
        head = s3.head_object(Bucket="bench", Key="guilds/1/uploads/big.bin")
        assert head["ContentLength"] == size, head
        print(
            f"(a) download {size_mb} MB → S3 (moto server, multipart): {result['seconds']:.2f} s, "
            f"{size_mb / result['seconds']:.0f} MB/s, peak RSS growth {result['rss_growth'] / MB:.1f} MB "
            f"(target ≤ 64 MB; child RSS at start {result['rss_start'] / MB:.0f} MB); "
            f"S3 object {head['ContentLength']} bytes"
        )
    finally:
        server.shutdown()
        moto.stop()


# --- (b) checking -----------------------------------------------------------------------------------------

_WORDS = (
    "the a model train data example user answer question how what why discord bot server channel role "
    "message voice python fine tune dataset archive correction feedback positive negative please thanks"
).split()


def generate_jsonl(path: Path, target_bytes: int, seed: int = 7) -> int:
    rng = random.Random(seed)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(n))

    count = written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target_bytes:
            messages = []
            if rng.random() < 0.5:
                messages.append({"role": "system", "content": sentence(12)})
            for _ in range(rng.choice((1, 1, 2))):
                messages.append({"role": "user", "content": sentence(rng.randint(6, 30))})
                messages.append({"role": "assistant", "content": sentence(rng.randint(8, 36))})
            line = json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
            f.write(line)
            written += len(line.encode())
            count += 1
    return count


def checker(path: str) -> tuple[int, int]:
    from shared.datasets import DatasetLimits, Rejection, parse_upload

    limits = DatasetLimits(max_file_bytes=1024 * MB, max_examples=10**7)
    ok = bad = 0
    with open(path, "rb") as f:
        for item in parse_upload(
            f, "bench.jsonl", limits=limits, added_by="bench", added_at="2026-01-01T00:00:00Z"
        ):
            if isinstance(item, Rejection):
                bad += 1
            else:
                ok += 1
    return ok, bad


def baseline(path: str) -> tuple[int, int]:
    """Load everything, then check: the OpenAI cookbook's shape, with the same checks and the same output."""
    from shared.domain.examples import ChatMessage, Example

    max_line = 256 * 1024

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a valid JSON number")

    with open(path, "rb") as f:
        raw = f.read()
    dataset = []
    errors: dict[str, int] = defaultdict(int)
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        if len(line) > max_line:
            errors["line_too_long"] += 1
            continue
        try:
            dataset.append(
                (
                    number,
                    json.loads(line.decode("utf-8"), object_pairs_hook=unique, parse_constant=no_constants),
                )
            )
        except (ValueError, RecursionError):
            errors["invalid_json"] += 1
    examples = []
    for number, ex in dataset:
        if not isinstance(ex, dict):
            errors["data_type"] += 1
            continue
        if set(ex) != {"messages"}:
            errors["unrecognized_key"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages or not isinstance(messages, list):
            errors["missing_messages_list"] += 1
            continue
        bad = False
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
                bad = True
                break
            if any(k not in ("role", "content") for k in message):
                errors["message_unrecognized_key"] += 1
                bad = True
                break
            if message.get("role") not in ("system", "user", "assistant"):
                errors["unrecognized_role"] += 1
                bad = True
                break
            content = message.get("content", None)
            if not content or not isinstance(content, str) or not content.strip():
                errors["missing_content"] += 1
                bad = True
                break
            if message["role"] == "system" and i != 0:
                errors["misplaced_system"] += 1
                bad = True
                break
        if bad:
            continue
        if not any(m["role"] == "user" for m in messages):
            errors["missing_user"] += 1
            continue
        if not any(m["role"] == "assistant" for m in messages):
            errors["example_missing_assistant_message"] += 1
            continue
        if messages[-1]["role"] != "assistant":
            errors["last_not_assistant"] += 1
            continue
        examples.append(
            Example(
                messages=tuple(ChatMessage(m["role"], m["content"]) for m in messages),
                positive=True,
                source="file",
                added_by="bench",
                added_at="2026-01-01T00:00:00Z",
                origin=f"bench.jsonl:{number}",
            )
        )
    return len(examples), sum(errors.values())


def child_check(mode: str, path: str) -> dict[str, Any]:
    # Import cost stays outside the measurement.
    import shared.datasets
    import shared.domain.examples  # noqa: F401

    fn = checker if mode == "checker" else baseline
    with PeakRss() as rss:
        t0 = time.perf_counter()
        ok, bad = fn(path)
        elapsed = time.perf_counter() - t0
    return {"ok": ok, "bad": bad, "seconds": elapsed, "rss_growth": rss.growth}


def bench_check(sizes_mb: list[int], repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for size_mb in sizes_mb:
            path = Path(tmp) / f"chat-{size_mb}mb.jsonl"
            count = generate_jsonl(path, size_mb * MB)
            actual_mb = path.stat().st_size / MB
            best: dict[str, dict[str, Any]] = {}
            for _ in range(repeats):
                for mode in ("checker", "baseline"):
                    r = _run_child(["check", mode, str(path)])
                    if mode not in best or r["seconds"] < best[mode]["seconds"]:
                        best[mode] = r
            c, b = best["checker"], best["baseline"]
            assert c["ok"] == b["ok"] == count and c["bad"] == b["bad"] == 0, (c, b, count)
            print(
                f"(b) {actual_mb:.0f} MB, {count} examples: checker {actual_mb / c['seconds']:.1f} MB/s "
                f"({c['seconds']:.2f} s, peak RSS growth {c['rss_growth'] / MB:.1f} MB) | baseline "
                f"{actual_mb / b['seconds']:.1f} MB/s ({b['seconds']:.2f} s, peak RSS growth "
                f"{b['rss_growth'] / MB:.0f} MB) | speed-up {b['seconds'] / c['seconds']:.2f}× (target ≥ 3×)"
            )


def _run_child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_datasets", "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--download-mb", type=int, default=200)
    parser.add_argument("--check-mb", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--repeats", type=int, default=2, help="best of N per mode")
    parser.add_argument("--only", choices=("download", "check"))
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "download":
            print(json.dumps(child_download(rest[0], rest[1], int(rest[2]))))
        else:
            print(json.dumps(child_check(rest[0], rest[1])))
        return
    if args.only in (None, "download"):
        bench_download(args.download_mb)
    if args.only in (None, "check"):
        bench_check(args.check_mb, args.repeats)


if __name__ == "__main__":
    main()
