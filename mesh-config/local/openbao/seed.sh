#!/usr/bin/env bash
# Seeds a dev OpenBao for the local stack. Idempotent. Uses the bao CLI with BAO_ADDR and BAO_TOKEN.
#
#   BAO_ADDR=http://127.0.0.1:8200 BAO_TOKEN=root IDP_ISSUER=http://127.0.0.1:9000 mesh-config/local/openbao/seed.sh
#
# Creates:
#   KV v2  secret/backend            {api_key}            (dev mode mounts KV v2 at secret/)
#   policy backend-read              read secret/data/backend
#   AppRole auth/approle/role/mesh-proxy   role_id=mesh-proxy, secret_id=$APPROLE_SECRET_ID (dev values!)
#   JWT auth  auth/jwt (jwks_url = IdP /jwks), role mesh: aud $IDP_AUDIENCE, user_claim sub -> backend-read
set -euo pipefail
BAO=${BAO:-$(cd "$(dirname "$0")/../../.." && pwd)/.venv/bin/bao}
: "${BAO_ADDR:=http://127.0.0.1:8200}" "${BAO_TOKEN:=root}"
: "${IDP_ISSUER:=http://127.0.0.1:9000}" "${IDP_AUDIENCE:=https://api.mesh.local}"
: "${BACKEND_API_KEY:=dev-api-key-$(date +%s)}" "${APPROLE_SECRET_ID:=mesh-proxy-dev-secret}"
export BAO_ADDR BAO_TOKEN
# No token helper file in $HOME: BAO_TOKEN is enough.
export HOME=${SEED_HOME:-$(mktemp -d)}

"$BAO" kv put -mount=secret backend api_key="$BACKEND_API_KEY" >/dev/null

"$BAO" policy write backend-read - >/dev/null <<'HCL'
path "secret/data/backend"     { capabilities = ["read"] }
path "secret/metadata/backend" { capabilities = ["read"] }
HCL

enabled=$("$BAO" auth list -format=json)
grep -q '"approle/"' <<<"$enabled" || "$BAO" auth enable approle >/dev/null
"$BAO" write auth/approle/role/mesh-proxy token_policies=backend-read token_ttl=10m token_max_ttl=1h >/dev/null
"$BAO" write auth/approle/role/mesh-proxy/role-id role_id=mesh-proxy >/dev/null
# A fixed secret_id keeps the local stack's plugin config stable. Never do this outside dev.
"$BAO" write auth/approle/role/mesh-proxy/custom-secret-id secret_id="$APPROLE_SECRET_ID" >/dev/null 2>&1 || true

grep -q '"jwt/"' <<<"$enabled" || "$BAO" auth enable jwt >/dev/null
"$BAO" write auth/jwt/config jwks_url="$IDP_ISSUER/jwks" bound_issuer="$IDP_ISSUER" \
  jwt_supported_algs=RS256,ES256,EdDSA default_role=mesh >/dev/null
"$BAO" write auth/jwt/role/mesh role_type=jwt user_claim=sub bound_audiences="$IDP_AUDIENCE" \
  token_policies=backend-read token_ttl=10m >/dev/null

echo "seeded $BAO_ADDR: secret/backend, policy backend-read, approle mesh-proxy, jwt role mesh (issuer $IDP_ISSUER)"
