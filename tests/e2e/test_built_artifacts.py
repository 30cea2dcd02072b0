"""Every function's `sam build` artifact: under Lambda's size limit, and importable with only what it ships."""

import os
import subprocess
import sys

import pytest

from infra.signing import InteractionSigner
from tests.support.emulator import REPO

pytestmark = pytest.mark.e2e
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024

# What each function's runtime imports on its first invocation (handler module, then what it composes).
IMPORTS = {
    "InteractionsFunction": "import functions.interactions.handler",
    "WorkerFunction": "import functions.worker.handler; import shared.discord.attachments",
    "WatcherFunction": ("import functions.watcher.handler, functions.watcher.watch, functions.watcher.webhook; "
                        "import shared.finetune.charts as c; from PIL import Image"),
    "OpenAIWebhookFunction": "import functions.watcher.handler, functions.watcher.webhook, apig_wsgi, flask",
}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sam-all")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "sam"), "build", "--template", "template.yaml",
                    "--build-dir", str(root / "build"), "--cache-dir", str(root / "cache")],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=1200)
    return root / "build"


def _size(path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.mark.parametrize("function", sorted(IMPORTS))
def test_artifact_fits_and_imports_with_only_what_it_ships(build_dir, function):
    artifact = build_dir / function
    assert _size(artifact) < LAMBDA_UNZIPPED_LIMIT
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(artifact), "AWS_DEFAULT_REGION": "us-east-1",
           "DISCORD_PUBLIC_KEY": InteractionSigner.generate().public_key_hex}
    # -S: no site-packages, so a dependency missing from the artifact fails here as it would in Lambda.
    result = subprocess.run([sys.executable, "-S", "-c", IMPORTS[function]], cwd=artifact, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
