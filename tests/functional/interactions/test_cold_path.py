"""What importing the interactions handler pulls in: only what its own requirements file ships, nothing slow."""

import json
import os
import subprocess
import sys
from pathlib import Path

from infra.signing import InteractionSigner

REPO = Path(__file__).resolve().parents[3]
NOT_ON_THE_COLD_PATH = ("openai", "discord", "pydub", "speech_recognition", "gtts", "matplotlib", "requests",
                        "boto3", "botocore", "aws_lambda_powertools", "tiktoken",
                        # Built on first use by the commands that need them: their dataclasses cost a PING ~15 ms.
                        "shared.contracts.messages", "shared.storage.reviews")


def test_handler_import_stays_light():
    env = {**os.environ, "DISCORD_PUBLIC_KEY": InteractionSigner.generate().public_key_hex}
    code = ("import json, sys; import functions.interactions.handler; "
            f"print(json.dumps([m for m in {NOT_ON_THE_COLD_PATH!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_interactions_requirements_cover_its_imports():
    requirements = (REPO / "functions/interactions/requirements.txt").read_text().lower()
    for package in ("flask", "pynacl", "apig-wsgi", "discord-interactions", "boto3"):
        assert f"{package}==" in requirements
