"""Copy a function's code into its `sam build` artifact (called by the Makefile's build-<Function> targets).

    python infra/package_lambda.py ARTIFACTS_DIR PATH [PATH ...]

Paths keep their place relative to the repository root; caches are left out, and the code is compiled to
bytecode here, by the runtime's Python version: Lambda's /var/task is read-only, so without it every cold start
would compile the project's modules again (pip has already compiled the dependencies). Standard library only:
sam build runs it with the python3.13 the Makefile found.
"""

from __future__ import annotations

import compileall
import py_compile
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
        # Unchecked hash-based pycs: valid whatever the files' times in the zip, and never re-read the source.
        mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
        if target.is_dir():
            ok = compileall.compile_dir(target, quiet=1, invalidation_mode=mode)
        else:
            ok = compileall.compile_file(target, quiet=1, invalidation_mode=mode)
        if not ok:
            raise SystemExit(f"could not compile {name}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    package(Path(sys.argv[1]), sys.argv[2:])
