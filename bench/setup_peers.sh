#!/usr/bin/env bash
# Installs the two peer gateways bench/peers.py measures, under .tools/ (gitignored), pinned;
# never as project dependencies. Idempotent: a peer already installed at its pinned version is
# skipped. Needs node/npm (the npm registry) and a pyenv Python (PyPI).
#
#   bash bench/setup_peers.sh && .venv/bin/python bench/peers.py
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PORTKEY_VERSION="1.15.2"
# The newest litellm whose [proxy] extra resolves on PyPI as reachable here (pip's resolver on
# "litellm[proxy]>=1.100,<1.108.13"): later releases pin companion packages the index does not
# have (litellm-proxy, litellm-proxy-extras 0.4.110.post1, litellm-enterprise 0.1.79.post2).
LITELLM_VERSION="1.108.7"
PYTHON_CANDIDATES=(
  /root/.pyenv/versions/3.13.0/bin/python3.13
  /root/.pyenv/versions/3.12.1/bin/python3.12
  /root/.pyenv/versions/3.11.7/bin/python3.11
)
mkdir -p "$TOOLS"

# Portkey's open-source gateway (Node): .tools/portkey/node_modules/@portkey-ai/gateway
PORTKEY_DIR="$TOOLS/portkey"
PORTKEY_PKG="$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json"
if [[ -f "$PORTKEY_PKG" ]] && grep -q "\"version\": \"$PORTKEY_VERSION\"" "$PORTKEY_PKG"; then
  echo "portkey gateway $PORTKEY_VERSION: already installed"
else
  echo "portkey gateway $PORTKEY_VERSION: installing"
  mkdir -p "$PORTKEY_DIR"
  [[ -f "$PORTKEY_DIR/package.json" ]] || echo '{"name": "aether-bench-peers", "private": true}' >"$PORTKEY_DIR/package.json"
  started=$SECONDS
  npm install --prefix "$PORTKEY_DIR" --save-exact --no-audit --no-fund --omit=dev \
    "@portkey-ai/gateway@$PORTKEY_VERSION"
  echo "portkey gateway: installed in $((SECONDS - started)) s, $(du -sh "$PORTKEY_DIR" | cut -f1)"
fi

# LiteLLM proxy (Python) in its own venv: .tools/litellm-venv
LITELLM_VENV="$TOOLS/litellm-venv"
installed_litellm() {
  "$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true
}
if [[ -x "$LITELLM_VENV/bin/litellm" && "$(installed_litellm)" == "$LITELLM_VERSION" ]]; then
  echo "litellm $LITELLM_VERSION: already installed"
else
  started=$SECONDS
  done_ok=0
  for python in "${PYTHON_CANDIDATES[@]}"; do
    [[ -x "$python" ]] || continue
    echo "litellm $LITELLM_VERSION: installing with $python"
    rm -rf "$LITELLM_VENV"
    "$python" -m venv "$LITELLM_VENV"
    "$LITELLM_VENV/bin/python" -m pip install --quiet --upgrade pip
    if "$LITELLM_VENV/bin/python" -m pip install --quiet "litellm[proxy]==$LITELLM_VERSION"; then
      done_ok=1
      break
    fi
    echo "litellm: install failed with $python, trying the next Python"
  done
  if [[ $done_ok -ne 1 ]]; then
    echo "litellm: could not be installed" >&2
    exit 1
  fi
  echo "litellm: installed in $((SECONDS - started)) s, $(du -sh "$LITELLM_VENV" | cut -f1)"
fi
