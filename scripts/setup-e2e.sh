#!/usr/bin/env bash
# Installs what the end-to-end suite needs and the project does not ship: Debian's Chromium (driven by playwright-core)
# and code-server 4.100.3 (VS Code 1.100.3 in a browser) in .e2e/, outside the extension's own dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION=4.100.3
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
[ -e /usr/include/gssapi/gssapi.h ] || [ -e /usr/include/gssapi.h ] || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need_apt[@]}"
fi

# code-server writes a config under $HOME on any call, even --version: give it a throwaway one.
version_of() { HOME="$(mktemp -d)" XDG_CONFIG_HOME="" XDG_DATA_HOME="" .e2e/node_modules/.bin/code-server --version 2>/dev/null; }
if [ -x .e2e/node_modules/.bin/code-server ] && version_of | grep -q "^$CODE_SERVER_VERSION"; then
  echo "code-server $CODE_SERVER_VERSION is already in .e2e/"
  exit 0
fi

# @vscode/ripgrep's postinstall downloads rg from GitHub; it takes a cached archive instead, built from Debian's rg.
tmp="${TMPDIR:-/tmp}"
cache="$tmp/vscode-ripgrep-cache-1.15.11"
mkdir -p "$cache"
archive="$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -s "$archive" ]; then
  staging="$(mktemp -d)"
  cp "$(command -v rg)" "$staging/rg"
  tar -C "$staging" -czf "$archive" rg
  rm -rf "$staging"
fi

mkdir -p .e2e
[ -f .e2e/package.json ] || echo '{ "name": "cwm-debug-e2e-tools", "private": true }' > .e2e/package.json
echo "Installing code-server $CODE_SERVER_VERSION into .e2e/ (about 280 MB)"
(cd .e2e && npm_config_unsafe_perm=true npm_config_yes=true npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION")
version_of
