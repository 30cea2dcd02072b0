#!/usr/bin/env bash
# Print the path of a working python3.13: on PATH, or installed by pyenv (even when pyenv's shim would refuse it
# because another version is selected). Without one, say how to get it and exit 1.
# Usage: infra/find_python.sh [VERSION]   (default 3.13, the Lambda runtime's version)
set -u
version="${1:-3.13}"
works() { "$1" -c "import sys, venv; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" \
  >/dev/null 2>&1; }

candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
command -v "python$version" >/dev/null 2>&1 && candidates+=("$(command -v "python$version")")
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root 2>/dev/null)")
roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
for root in "${roots[@]}"; do
  # Newest patch release first.
  for dir in $(ls -d "$root"/versions/"$version"* 2>/dev/null | sort -V -r); do
    candidates+=("$dir/bin/python$version")
  done
done
candidates+=("/usr/local/bin/python$version" "/usr/bin/python$version")

for candidate in "${candidates[@]}"; do
  if [ -x "$candidate" ] && works "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done

cat >&2 <<MSG
Python $version is required (AWS Lambda's python$version runtime, Amazon Linux 2023) and none was found
on PATH or under pyenv. Get it with one of:
  pyenv install $version            (then run make again: pyenv's versions are found without 'pyenv global')
  sudo apt-get install python$version python$version-venv   (Debian 13, Ubuntu 25.04 and later)
  uv python install $version        (then: make PYTHON=\$(uv python find $version) ...)
or point make at one: make test PYTHON=/path/to/python$version
MSG
exit 1
