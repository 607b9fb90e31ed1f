#!/usr/bin/env bash
# Kubernetes auth for the mesh proxies that run credential-injector.
# Run with a Vault admin token: VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=... ./setup.sh
# Works with HashiCorp Vault (`vault`) and OpenBao (`bao`): VAULT=bao ./setup.sh
set -euo pipefail
VAULT=${VAULT:-vault}
HERE=$(cd "$(dirname "$0")" && pwd)
ROLE=${ROLE:-mesh-gateway}
SA_NAME=${SA_NAME:-mesh-gateway-vault}      # serviceaccount.yaml
SA_NAMESPACE=${SA_NAMESPACE:-istio-ingress}
K8S_HOST=${K8S_HOST:-https://kubernetes.default.svc:443}

# 1. The auth method (skip if it exists).
$VAULT auth list -format=json | grep -q '"kubernetes/"' || $VAULT auth enable kubernetes

# 2. How Vault checks a service-account JWT: the TokenReview API of this cluster.
#    Vault inside the cluster: its own pod token and CA are used.
#    Vault outside: also pass token_reviewer_jwt (a token of a service account bound to
#    system:auth-delegator, see serviceaccount.yaml) and kubernetes_ca_cert, and set
#    disable_local_ca_jwt=true.
if [ -n "${K8S_CA_CERT:-}" ]; then
  $VAULT write auth/kubernetes/config kubernetes_host="$K8S_HOST" \
    kubernetes_ca_cert=@"$K8S_CA_CERT" token_reviewer_jwt="${TOKEN_REVIEWER_JWT:?}" disable_local_ca_jwt=true
else
  $VAULT write auth/kubernetes/config kubernetes_host="$K8S_HOST"
fi

# 3. What the proxies may read.
$VAULT policy write "$ROLE" "$HERE/mesh-gateway.hcl"

# 4. Who may log in as that role: only this service account in this namespace.
#    Short tokens; the plugin renews them (renew-self) and logs in again on 403.
$VAULT write "auth/kubernetes/role/$ROLE" \
  bound_service_account_names="$SA_NAME" \
  bound_service_account_namespaces="$SA_NAMESPACE" \
  token_policies="$ROLE" token_ttl=1h token_max_ttl=24h

echo "role $ROLE: service account $SA_NAMESPACE/$SA_NAME, policy $HERE/mesh-gateway.hcl"
