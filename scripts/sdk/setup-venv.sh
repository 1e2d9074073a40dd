#!/usr/bin/env bash
# Creates (or reuses) the Python venv that runs the official-SDK conformance suite.
#
# Usage: scripts/sdk/setup-venv.sh [VENV_DIR]   (default: target/sdk-venv)
# Prints the venv's python path on the last line of stdout. The venv is reused while the
# SHA-256 of requirements.txt is unchanged (stored in VENV_DIR/.requirements.sha256), so only the
# first run, or a change of pins, reaches PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${1:-$root/target/sdk-venv}"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

# Several tests may ask for the venv at once (cargo runs them in parallel): one builds it, the
# others wait for the lock and then reuse it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

python="${PYTHON:-python3}"
rm -rf "$venv"
"$python" -m venv "$venv" >&2
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req" >&2; then
    echo "error: could not install $req from PyPI (is PyPI reachable? set PIP_INDEX_URL for a mirror)" >&2
    rm -rf "$venv"
    exit 3
fi
echo "$want" > "$stamp"
echo "$venv/bin/python"
