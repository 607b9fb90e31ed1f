#!/usr/bin/env bash
# The local stack on 127.0.0.1: OIDC provider, OpenBao (dev), 3 echo upstreams, Envoy with the plugins.
#
#   scripts/stack.sh up [--wait]   start everything (after bootstrap + make build), then walk through examples;
#                                  --wait stays in the foreground until Ctrl-C and then stops everything
#   scripts/stack.sh down          stop everything started by `up` (by pid file)
#   scripts/stack.sh status        what runs where
#   scripts/stack.sh logs [NAME]   tail the logs (.run/NAME.log)
#
# State lives in .run/ (gitignored): one NAME.pid and NAME.log per process.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/.run
VENV=$ROOT/.venv

IDP_PORT=9000
BAO_PORT=8200
ENVOY_PORT=10000
ADMIN_PORT=9901
UPSTREAMS=(a:8081 b:8082 c:8083)
IDP=http://127.0.0.1:$IDP_PORT
BAO_ADDR=http://127.0.0.1:$BAO_PORT
ENVOY=http://127.0.0.1:$ENVOY_PORT
GATE_PORT=10001
GATE=http://127.0.0.1:$GATE_PORT
ENVOY_CONFIG=${ENVOY_CONFIG:-mesh-config/local/envoy.yaml}
# Start order; `down` stops in reverse.
SPA_PORT=5173
SPA_GATE_PORT=10002
COMPONENTS=(idp openbao upstream-a upstream-b upstream-c envoy spa-gate spa)

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
log() { printf '\033[1m[stack]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[stack] %s\033[0m\n' "$*" >&2; exit 1; }

pid_of() { [ -f "$RUN/$1.pid" ] && cat "$RUN/$1.pid" || true; }
# A pid that runs and is not a zombie (in containers, pid 1 may never reap our orphans).
# The state follows the last ')' of /proc/PID/stat: the command name before it may contain spaces.
running() { kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && running "$p"; }

# Detached (own session, so it survives the calling shell and Ctrl-C goes to us, not to it).
start() {
  local name=$1; shift
  ( exec setsid "$@" </dev/null >"$RUN/$name.log" 2>&1 & echo $! >"$RUN/$name.pid" )
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds; fail early if NAME died.
wait_for() {
  local name=$1 what=$2 secs=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then tail -n 30 "$RUN/$name.log" >&2 || true; die "$name exited before $what (log: .run/$name.log)"; fi
    if ((SECONDS >= deadline)); then tail -n 30 "$RUN/$name.log" >&2 || true; die "$name not $what after ${secs}s (log: .run/$name.log)"; fi
    sleep 0.2
  done
}

backends_healthy() { [ "$(curl -fsS "http://127.0.0.1:$ADMIN_PORT/clusters" | grep -c '^backend::.*health_flags::healthy$')" -ge 3 ]; }
# The browser gate's credential-injector has read its key from OpenBao (its first tick logs in and reads).
gate_key_loaded() { curl -fsS "http://127.0.0.1:$ADMIN_PORT/stats?filter=^wasmcustom\.credential_injector\.vault\.fetches$" | grep -Eq ': [1-9]'; }
envoy_live() { [ "$(curl -fsS "http://127.0.0.1:$ADMIN_PORT/ready")" = LIVE ] && port_busy "$ENVOY_PORT"; }

stop_one() {
  local name=$1 p
  p=$(pid_of "$name")
  [ -n "$p" ] || return 0
  if running "$p"; then
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do running "$p" || break; sleep 0.1; done
    if running "$p"; then
      kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
      # kill(2) returns before the target is gone; its sockets close only when it has exited.
      for _ in $(seq 50); do running "$p" || break; sleep 0.1; done
    fi
    log "stopped $name (pid $p)"
  fi
  rm -f "$RUN/$name.pid"
}

down() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_one "${COMPONENTS[i]}"; done
}

status() {
  local name p state
  printf '%-12s %-8s %-9s %s\n' COMPONENT PID STATE ADDRESS
  for name in "${COMPONENTS[@]}"; do
    p=$(pid_of "$name"); state=stopped
    alive "$name" && state=running
    printf '%-12s %-8s %-9s %s\n' "$name" "${p:--}" "$state" "$(address_of "$name")"
  done
}

address_of() {
  case $1 in
    idp) echo "$IDP (issuer, /.well-known/openid-configuration, /jwks)" ;;
    openbao) echo "$BAO_ADDR (root token: root)" ;;
    upstream-*) local u; for u in "${UPSTREAMS[@]}"; do [ "upstream-${u%%:*}" = "$1" ] && echo "http://127.0.0.1:${u#*:}"; done ;;
    envoy) echo "$ENVOY api, $GATE browser gate (admin http://127.0.0.1:$ADMIN_PORT)" ;;
    spa-gate) echo "http://127.0.0.1:$SPA_GATE_PORT the SPA's API gate (mesh-config/envoy/browser-gate.yaml, admin :9903)" ;;
    spa) echo "http://127.0.0.1:$SPA_PORT the example single-page app (open it in a browser)" ;;
  esac
}

up() {
  local wait_fg=$1
  bash scripts/bootstrap.sh
  # Under `make run` the plugins are already built (MAKELEVEL is set by make).
  if [ -f Makefile ] && [ -z "${MAKELEVEL:-}" ] && [ "${STACK_SKIP_BUILD:-0}" != 1 ]; then make build; fi
  compgen -G "dist/*.wasm" >/dev/null || log "note: no dist/*.wasm yet (run \`make build\`); $ENVOY_CONFIG must not reference them"

  mkdir -p "$RUN"
  down >/dev/null
  local p
  for p in $IDP_PORT $BAO_PORT $((BAO_PORT + 1)) $ENVOY_PORT $GATE_PORT $ADMIN_PORT $SPA_PORT $SPA_GATE_PORT 9903 "${UPSTREAMS[@]#*:}"; do
    port_busy "$p" && die "127.0.0.1:$p is already in use (another stack? \`scripts/stack.sh down\`, or: ss -ltnp | grep :$p)"
  done

  local idp_env=(IDP_PORT=$IDP_PORT IDP_ISSUER=$IDP)
  # STACK_KEEP_KEYS=1: same IdP keys across restarts (tokens stay valid); default: a restart rotates keys.
  [ "${STACK_KEEP_KEYS:-0}" = 1 ] && idp_env+=(IDP_KEYS_FILE=$RUN/idp-keys.json)
  start idp env "${idp_env[@]}" node mesh-config/local/idp/server.mjs
  start openbao env HOME="$RUN" "$VENV/bin/bao" server -dev -dev-no-store-token \
    -dev-listen-address=127.0.0.1:$BAO_PORT -dev-root-token-id=root
  local u
  for u in "${UPSTREAMS[@]}"; do
    start "upstream-${u%%:*}" node mesh-config/local/upstream/echo.mjs --port "${u#*:}" --id "${u%%:*}"
  done

  wait_for idp "serving discovery" 30 curl -fsS "$IDP/.well-known/openid-configuration"
  wait_for openbao "unsealed" 30 curl -fsS "$BAO_ADDR/v1/sys/health"
  for u in "${UPSTREAMS[@]}"; do
    wait_for "upstream-${u%%:*}" healthy 15 curl -fsS "http://127.0.0.1:${u#*:}/healthz"
  done
  BAO="$VENV/bin/bao" BAO_ADDR=$BAO_ADDR BAO_TOKEN=root IDP_ISSUER=$IDP SEED_HOME=$RUN \
    bash mesh-config/local/openbao/seed.sh

  # Envoy runs from the repo root: `dist/x.wasm` in the config resolves.
  # The plugins' secrets reach Envoy only through its environment (host_env_keys), never the config.
  export STICKY_KEY=${STICKY_KEY:-$(head -c 32 /dev/urandom | base64)}
  export VAULT_ROLE_ID=${VAULT_ROLE_ID:-mesh-proxy} VAULT_SECRET_ID=${VAULT_SECRET_ID:-mesh-proxy-dev-secret}
  start envoy "$VENV/bin/envoy" -c "$ENVOY_CONFIG" --base-id 10 --concurrency 2 \
    --file-flush-interval-msec 100 --log-level info --component-log-level wasm:debug
  wait_for envoy "ready (admin /ready LIVE and listener accepting)" 60 envoy_live
  # stateful_session honours a pin only for a host that passed its health check.
  wait_for envoy "backends healthy" 20 backends_healthy
  wait_for envoy "holding the browser gate's key from OpenBao" 20 gate_key_loaded
  # The example SPA and its own gate (oidc-auth + credential-injector, CORS for the SPA's origin).
  start spa-gate "$VENV/bin/envoy" -c mesh-config/envoy/browser-gate.yaml --base-id 11 --concurrency 1 \
    --file-flush-interval-msec 100 --log-level info --component-log-level wasm:debug
  start spa node mesh-config/local/spa/serve.mjs --port "$SPA_PORT" --idp "$IDP" --api "http://127.0.0.1:$SPA_GATE_PORT"
  wait_for spa-gate "accepting" 60 port_busy "$SPA_GATE_PORT"
  wait_for spa "serving" 15 curl -fsS "http://127.0.0.1:$SPA_PORT/"

  echo; bold "Local stack is up (logs and pids in .run/):"; status; echo
  walkthrough

  if [ "$wait_fg" = 1 ]; then
    trap 'echo; down; exit 0' INT TERM
    bold "Running. Ctrl-C stops everything."
    while true; do sleep 1; done
  else
    bold "Stop with: scripts/stack.sh down   (or make stop)"
  fi
}

# Example requests against the running stack; prints what each step shows.
walkthrough() {
  bold "1) A request through Envoy ($ENVOY) reaches the upstreams (round robin):"
  local i
  for i in 1 2 3; do
    printf '   GET %s/hello -> ' "$ENVOY"
    curl -sS -D - -o /dev/null "$ENVOY/hello" | tr -d '\r' | awk '/^HTTP/{s=$2} /^x-upstream-id/{id=$2} END{print "status " s ", served by upstream " id}'
  done

  bold "2) Tokens from the IdP ($IDP):"
  local cc
  cc=$(curl -sS -u backend-client:backend-secret -d grant_type=client_credentials -d scope=api:read "$IDP/token")
  echo "   client_credentials (backend-client): $(jq -c '{token_type, expires_in, scope}' <<<"$cc")"
  local minted token
  minted=$(curl -sS -X POST "$IDP/test/token" -H 'content-type: application/json' \
    -d '{"alg":"ES256","sub":"alice","scope":"openid api:read","claims":{"groups":["dev"]}}')
  token=$(jq -r .access_token <<<"$minted")
  echo "   TEST-ONLY POST /test/token (ES256, sub alice):"
  echo "     header: $(cut -d. -f1 <<<"$token" | b64url_json)"
  echo "     claims: $(cut -d. -f2 <<<"$token" | b64url_json)"
  echo "   export TOKEN=\$(curl -s -XPOST $IDP/test/token -d '{\"sub\":\"alice\"}' | jq -r .access_token)"

  bold "3) Secrets from OpenBao ($BAO_ADDR):"
  local login vtoken
  login=$(curl -sS -X POST "$BAO_ADDR/v1/auth/approle/login" -d '{"role_id":"mesh-proxy","secret_id":"mesh-proxy-dev-secret"}')
  vtoken=$(jq -r .auth.client_token <<<"$login")
  echo "   AppRole login (mesh-proxy): policies $(jq -c .auth.policies <<<"$login"), ttl $(jq .auth.lease_duration <<<"$login")s"
  echo "   GET secret/data/backend with that token: $(curl -sS -H "X-Vault-Token: $vtoken" "$BAO_ADDR/v1/secret/data/backend" | jq -c '.data.data | map_values("[\(length) chars]")')"
  login=$(curl -sS -X POST "$BAO_ADDR/v1/auth/jwt/login" -d "{\"role\":\"mesh\",\"jwt\":\"$token\"}")
  echo "   JWT login with the minted token: policies $(jq -c .auth.policies <<<"$login"), metadata $(jq -c .auth.metadata <<<"$login")"

  local reader writer expired
  reader=$(mint '{"alg":"ES256","sub":"alice","scope":"openid api:read"}')
  writer=$(mint '{"alg":"EdDSA","sub":"bob","scope":"openid api:read api:write"}')
  expired=$(mint '{"alg":"RS256","sub":"alice","scope":"api:read","ttl":-120}')
  bold "4) oidc-auth on $ENVOY (tokens verified in the proxy, authorized by route and claims):"
  show "GET /api/items, no token" "$ENVOY/api/items"
  show "GET /api/items, alice (api:read)" "$ENVOY/api/items" -H "authorization: Bearer $reader"
  echo "     the upstream saw: $(curl -sS -H "authorization: Bearer $reader" -H 'x-user-sub: mallory' "$ENVOY/api/items" | jq -c '{"x-user-sub": .headers["x-user-sub"], "x-user-scope": .headers["x-user-scope"]}')  (a client-sent x-user-sub is replaced)"
  show "POST /api/orders, alice (no api:write)" "$ENVOY/api/orders" -X POST -H "authorization: Bearer $reader"
  show "POST /api/orders, bob (api:write)" "$ENVOY/api/orders" -X POST -H "authorization: Bearer $writer"
  show "GET /api/items, expired token" "$ENVOY/api/items" -H "authorization: Bearer $expired"

  bold "5) sticky-session on $ENVOY/sticky (encrypted cookie pins alice to one upstream):"
  # curl keeps Secure cookies from plain-http jars, so the cookie is carried by hand here.
  local cookie seen=() id
  cookie=$(curl -sS -D - -o /dev/null -H "authorization: Bearer $reader" "$ENVOY/sticky/cart" | tr -d '\r' | sed -n 's/^set-cookie: \([^;]*\).*/\1/ip' | head -1)
  for i in 1 2 3 4 5; do
    id=$(curl -sS -H "cookie: $cookie" -H "authorization: Bearer $reader" "$ENVOY/sticky/cart" | jq -r .id)
    seen+=("$id")
  done
  echo "   5 requests with the cookie were served by: ${seen[*]}"
  seen=()
  for i in 1 2 3; do seen+=("$(curl -sS -H "cookie: $cookie" -H "authorization: Bearer $writer" "$ENVOY/sticky/cart" | jq -r .id)"); done
  echo "   the same cookie sent with bob's token is not honoured (bound to alice): ${seen[*]}"
  echo "   cookie: $(cut -c1-40 <<<"$cookie")... (ChaCha20-Poly1305 sealed endpoint + expiry + subject hash)"

  bold "6) credential-injector on $GATE (browser gate: the API key lives only in OpenBao):"
  show "GET /api/items as alice" "$GATE/api/items" -H "authorization: Bearer $reader" -H 'origin: http://127.0.0.1:3000'
  echo "     the upstream saw x-api-key of $(curl -sS -H "authorization: Bearer $reader" "$GATE/api/items" | jq -r '.headers["x-api-key"] | length') chars (from OpenBao secret/backend) and no authorization: $(curl -sS -H "authorization: Bearer $reader" "$GATE/api/items" | jq -c '.headers.authorization')"
  show "DELETE /api/items as bob (not allowlisted)" "$GATE/api/items" -X DELETE -H "authorization: Bearer $writer"
  show "preflight from http://127.0.0.1:3000" "$GATE/api/items" -X OPTIONS -H 'origin: http://127.0.0.1:3000' -H 'access-control-request-method: GET'
  echo
  echo "   Plugin metrics: curl -s http://127.0.0.1:$ADMIN_PORT/stats/prometheus | grep -E 'oidc_auth|sticky|credential|vault'"
  bold "7) The example single-page app: open http://127.0.0.1:$SPA_PORT in a browser"
  echo "   log in (code + PKCE, any user name), call the backend through http://127.0.0.1:$SPA_GATE_PORT:"
  echo "   the backend gets the API key from OpenBao; the page only ever sees its hash."
  echo
}

mint() { curl -sS -X POST "$IDP/test/token" -H 'content-type: application/json' -d "$1" | jq -r .access_token; }

# show LABEL URL [curl args...]: prints the status and, for local replies, the reason code.
show() {
  local label=$1 url=$2; shift 2
  local out status body
  out=$(curl -sS -o "$RUN/body" -w '%{http_code}' "$@" "$url")
  body=$(jq -r 'if .error then "reason " + .error elif .id then "served by upstream " + .id else "" end' "$RUN/body" 2>/dev/null)
  printf '   %-42s -> %s %s\n' "$label" "$out" "$body"
}

b64url_json() {
  local s; s=$(tr '_-' '/+'); while (( ${#s} % 4 )); do s+='='; done
  base64 -d <<<"$s" 2>/dev/null | jq -c . || echo '?'
}

case ${1:-} in
  up) wait_fg=0; for a in "${@:2}"; do [ "$a" = --wait ] && wait_fg=1; done; up "$wait_fg" ;;
  down) down ;;
  status) status ;;
  logs) if [ -n "${2:-}" ]; then tail -n 100 -f "$RUN/$2.log"; else tail -n 20 -f "$RUN"/*.log; fi ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
