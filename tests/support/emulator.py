"""Run the `sam build` artifact of a function under the AWS Lambda Runtime Interface Emulator.

The emulator binary ships inside the aws-sam-cli wheel. The function runs in a Python started with ``-S`` (no
site-packages): only the artifact and awslambdaric (installed into a folder of its own) are importable, so a
dependency missing from the artifact fails here as it would in Lambda.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
AWSLAMBDARIC = "awslambdaric==4.2.2"


def emulator_binary() -> Path:
    import samcli

    return Path(samcli.__file__).parent / "local" / "rapid" / "aws-lambda-rie-x86_64"


def _sam() -> str:
    return str(Path(sys.executable).parent / "sam")


def sam_build(function: str | None, build_dir: Path, *, architecture: str = "x86_64") -> Path:
    """`sam build [FUNCTION]` as `make build ARCH=...` runs it (samconfig.toml included); returns the artifact
    folder (the build folder without a function). The emulator here is x86_64, so that is the default."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "LAMBDA_ARCHITECTURE": architecture}
    subprocess.run([_sam(), "build", *([function] if function else []), "--template", "template.yaml",
                    "--parameter-overrides", f"Architecture={architecture}", "--build-dir", str(build_dir),
                    "--cache-dir", str(build_dir.parent / "sam-cache")],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=1200)
    return build_dir / function if function else build_dir


def generated_http_api_event() -> dict[str, Any]:
    """An HTTP API (payload 2.0) event as `sam local generate-event` writes it."""
    out = subprocess.run([_sam(), "local", "generate-event", "apigateway", "http-api-proxy"], check=True,
                         capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, timeout=120)
    return json.loads(out.stdout)


def install_runtime_client(target: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(target), AWSLAMBDARIC], check=True, capture_output=True, timeout=600)
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmulatedFunction:
    artifact: Path
    runtime_client: Path
    handler: str
    environment: dict[str, str]
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> EmulatedFunction:
        self.log_path = self.artifact.parent / f"rie-{self.port}.log"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": f"{self.artifact}:{self.runtime_client}",
            "LAMBDA_TASK_ROOT": str(self.artifact),
            "AWS_LAMBDA_FUNCTION_NAME": "InteractionsFunction",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": "5",
            **self.environment,
        }
        command = [str(emulator_binary()), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
                   sys.executable, "-S", "-m", "awslambdaric", self.handler]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.artifact, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the emulator did not start:\n" + self.logs())

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"
        response = requests.post(url, json=event, timeout=30)
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def init_durations_ms(self) -> list[float]:
        """The init phase (importing the handler), from the emulator's INIT REPORT line."""
        return [float(m) for m in re.findall(r"INIT REPORT\(durationMs: ([0-9.]+)\)", self.logs())]

    def report_init_durations_ms(self) -> list[float]:
        """The "Init Duration" field of REPORT lines (the emulator measures less there than Lambda does)."""
        return [float(m) for m in re.findall(r"Init Duration: ([0-9.]+) ms", self.logs())]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
