"""Copy a function's code into its `sam build` artifact (called by the Makefile's build-<Function> targets).

    python infra/package_lambda.py ARTIFACTS_DIR PATH [PATH ...]

Paths keep their place relative to the repository root; caches are left out. Standard library only: sam build
runs it with whatever python3.11 is on PATH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")


def package(artifacts_dir: Path, paths: list[str]) -> None:
    for name in paths:
        source = Path(name)
        target = artifacts_dir / source
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=_IGNORE)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    package(Path(sys.argv[1]), sys.argv[2:])
