#!/usr/bin/env bash
# keep_callbacks.sh IN.wasm OUT.wasm CALLBACK...
#
# Removes every proxy-wasm callback export of IN.wasm except the ones named (and the exports every
# module needs), then drops the code only they reached (binaryen's wasm-metadce).
#
# Why: the Rust SDK exports all ~25 `proxy_on_*` callbacks, and Envoy (proxy-wasm-cpp-host) enters
# the VM for every exported one on every request, even when the plugin only inherits the SDK's
# default. Without `proxy_on_log`, `proxy_on_done` or `proxy_on_response_headers`, Envoy skips that
# VM entry (documented in ARCHITECTURE.md, measured in bench/profile-note.md).
set -euo pipefail
in=$1 out=$2
shift 2
# Needed by every module: the memory, WASI start-up, the ABI marker, host allocations into the VM,
# and the context life cycle (the SDK frees a context in proxy_on_delete).
keep=(memory _initialize proxy_abi_version_0_2_1 proxy_on_memory_allocate
      proxy_on_context_create proxy_on_delete proxy_on_vm_start proxy_on_configure "$@")
graph=$(mktemp)
trap 'rm -f "$graph"' EXIT
{
  echo '['
  for i in "${!keep[@]}"; do
    sep=$([ "$i" -lt $((${#keep[@]} - 1)) ] && echo , || true)
    printf '  {"name": "keep%d", "root": true, "export": "%s"}%s\n' "$i" "${keep[$i]}" "$sep"
  done
  echo ']'
} > "$graph"
# Refuse a name the module does not export (a typo would silently keep nothing).
exports=$(wasm-dis "$in" | sed -n 's/^ (export "\([^"]*\)".*/\1/p')
for name in "${keep[@]}"; do
  grep -qx "$name" <<<"$exports" || { echo "keep_callbacks: $in exports no $name" >&2; exit 1; }
done
# KEEP_NAMES=1 keeps the name section (`make size` names the functions it measures).
wasm-metadce --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  ${KEEP_NAMES:+-g} -f "$graph" "$in" -o "$out" > /dev/null
