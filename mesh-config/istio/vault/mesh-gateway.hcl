# Vault policy for the proxies that run credential-injector (role mesh-gateway).
# Exactly the calls the plugin makes (policies/src/vault): read the configured
# secrets, keep its own token alive, renew the leases of dynamic secrets.

# vault.secrets[].kind.kv2 {mount: secret, path: payments} -> GET secret/data/payments
path "secret/data/payments" {
  capabilities = ["read"]
}

# vault.secrets[].kind.dynamic {path: database/creds/app} (uncomment when used)
# path "database/creds/app" {
#   capabilities = ["read"]
# }
# path "sys/leases/renew" {
#   capabilities = ["update"]
# }
# # revoke replaced leases: only this engine's (the lease id is in the path)
# path "sys/leases/revoke/database/creds/app/*" {
#   capabilities = ["update"]
# }

# Token upkeep (renewed before expiry; lookup after start-up). Also in the built-in
# `default` policy; listed for roles created with token_no_default_policy=true.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
