"""Every function's `sam build` artifact, for arm64 and x86_64: python3.13 binaries of that architecture, under
Lambda's size limit, and (x86_64, what this machine runs) importable with only what it ships."""

import os
import subprocess
import sys

import pytest

from infra.signing import InteractionSigner
from tests.support.emulator import sam_build

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


ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64


@pytest.fixture(scope="module", params=["arm64", "x86_64"])
def build(request, tmp_path_factory):
    """Every function built for one architecture, as `make build ARCH=...` does."""
    root = tmp_path_factory.mktemp(f"sam-{request.param}")
    return request.param, sam_build(None, root / "build", architecture=request.param)


def _size(path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _elf_machine(path) -> int:
    with path.open("rb") as handle:
        header = handle.read(20)
    return int.from_bytes(header[18:20], "little")


@pytest.mark.parametrize("function", sorted(IMPORTS))
def test_artifact_fits_and_carries_the_architectures_cpython313_binaries(build, function):
    architecture, build_dir = build
    artifact = build_dir / function
    assert _size(artifact) < LAMBDA_UNZIPPED_LIMIT
    extensions = list(artifact.rglob("*.so"))
    assert extensions, "every function ships a compiled dependency (PyNaCl, pydantic-core, ...)"
    for extension in extensions:
        assert _elf_machine(extension) == ELF_MACHINE[architecture], extension
        if ".cpython-" in extension.name:
            assert ".cpython-313-" in extension.name, extension


@pytest.mark.parametrize("function", sorted(IMPORTS))
def test_x86_64_artifact_imports_with_only_what_it_ships(build, function):
    architecture, build_dir = build
    if architecture != "x86_64":
        pytest.skip("this machine runs x86_64 code only")
    artifact = build_dir / function
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(artifact), "AWS_DEFAULT_REGION": "us-east-1",
           "DISCORD_PUBLIC_KEY": InteractionSigner.generate().public_key_hex}
    # -S: no site-packages, so a dependency missing from the artifact fails here as it would in Lambda.
    result = subprocess.run([sys.executable, "-S", "-c", IMPORTS[function]], cwd=artifact, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
