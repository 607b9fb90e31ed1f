//! A builder for test Envoy bootstraps: one listener on `{{LISTENER_PORT}}`, admin on `{{ADMIN_PORT}}`,
//! the same hardened HTTP connection manager settings as `mesh-config/local/envoy.yaml`, a router, and
//! slots for wasm filters and clusters. Emits JSON (valid YAML) for [`crate::Envoy::start`].

use serde_json::{json, Value};

/// A test bootstrap under construction.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    filters: Vec<Value>,
    clusters: Vec<Value>,
    routes: Vec<Value>,
    route_cluster: String,
    admin_runtime: bool,
}

const ADMIN: &str = "__PORT__ADMIN_PORT__";
const LISTENER: &str = "__PORT__LISTENER_PORT__";

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap::new()
    }
}

impl Bootstrap {
    /// Routes `/` to cluster `backend` (add it with [`Bootstrap::backend`]).
    pub fn new() -> Bootstrap {
        Bootstrap {
            filters: Vec::new(),
            clusters: Vec::new(),
            routes: Vec::new(),
            route_cluster: "backend".into(),
            admin_runtime: false,
        }
    }

    /// A STATIC round-robin cluster of `127.0.0.1:<port>` endpoints.
    pub fn cluster(mut self, name: &str, ports: &[u16]) -> Bootstrap {
        let endpoints: Vec<Value> = ports
            .iter()
            .map(|p| json!({"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}))
            .collect();
        self.clusters.push(json!({
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "lb_policy": "ROUND_ROBIN",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}
        }));
        self
    }

    /// The `backend` cluster that the default route targets.
    pub fn backend(self, ports: &[u16]) -> Bootstrap {
        self.cluster("backend", ports)
    }

    /// Any cluster JSON (e.g. with health checks or an LB policy).
    pub fn cluster_json(mut self, cluster: Value) -> Bootstrap {
        self.clusters.push(cluster);
        self
    }

    /// A route placed before the default `/` route (Envoy route JSON).
    pub fn route_json(mut self, route: Value) -> Bootstrap {
        self.routes.push(route);
        self
    }

    /// Changes the cluster of the default `/` route.
    pub fn default_cluster(mut self, name: &str) -> Bootstrap {
        self.route_cluster = name.to_string();
        self
    }

    /// Envoy's native `stateful_session` filter reading the pin from header `name` (what
    /// sticky-session writes in `stateful-session` mode); `strict: false` fails over.
    pub fn stateful_session_header(self, name: &str) -> Bootstrap {
        self.http_filter(json!({"name": "envoy.filters.http.stateful_session", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
            "session_state": {"name": "envoy.http.stateful_session.header", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.header.v3.HeaderBasedSessionState",
                "name": name}}, "strict": false}}))
    }

    /// Any HTTP filter, placed before the router, in call order.
    pub fn http_filter(mut self, filter: Value) -> Bootstrap {
        self.filters.push(filter);
        self
    }

    /// All three plugins in the documented order: oidc-auth, then sticky-session (its key from
    /// `STICKY_KEY`), then credential-injector (its secrets from `injector_env_keys`). sticky-session
    /// runs before the injector because the injector strips the browser's cookies, the sticky one
    /// among them.
    pub fn plugin_chain(
        self,
        oidc: &Value,
        sticky: &Value,
        inject: &Value,
        injector_env_keys: &[&str],
    ) -> Bootstrap {
        self.wasm_filter("oidc-auth", "oidc_auth.wasm", oidc, &[])
            .wasm_filter(
                "sticky-session",
                "sticky_session.wasm",
                sticky,
                &["STICKY_KEY"],
            )
            .wasm_filter(
                "credential-injector",
                "credential_injector.wasm",
                inject,
                injector_env_keys,
            )
    }

    /// A proxy-wasm HTTP filter loading `dist/<wasm_file>` with `plugin_config` as its configuration,
    /// `FAIL_RELOAD` on traps (PLATFORM.md), and the given env keys passed from Envoy's environment.
    pub fn wasm_filter(
        self,
        name: &str,
        wasm_file: &str,
        plugin_config: &Value,
        host_env_keys: &[&str],
    ) -> Bootstrap {
        let mut vm_config = json!({
            "vm_id": name,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": format!("{{{{DIST}}}}/{wasm_file}")}}
        });
        if let (false, Some(vm)) = (host_env_keys.is_empty(), vm_config.as_object_mut()) {
            vm.insert(
                "environment_variables".into(),
                json!({"host_env_keys": host_env_keys}),
            );
        }
        self.http_filter(json!({
            "name": name,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": name,
                    "root_id": name,
                    "failure_policy": "FAIL_RELOAD",
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": plugin_config.to_string()
                    },
                    "vm_config": vm_config
                }
            }
        }))
    }

    /// A runtime with an admin layer, so `/runtime_modify` can change runtime keys (e.g. the
    /// fault filter's `fault.http.delay.fixed_delay_percent`) while Envoy runs.
    pub fn admin_runtime(mut self) -> Bootstrap {
        self.admin_runtime = true;
        self
    }

    /// The bootstrap as a JSON value (ports still placeholders).
    pub fn to_value(&self) -> Value {
        let mut routes = self.routes.clone();
        routes.push(json!({"match": {"prefix": "/"}, "route": {"cluster": self.route_cluster, "timeout": "15s"}}));
        let mut filters = self.filters.clone();
        filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
        }));
        let mut bootstrap = json!({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN}}},
            "static_resources": {
                "listeners": [{
                    "name": "main",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": LISTENER}},
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "ingress",
                            "normalize_path": true,
                            "merge_slashes": true,
                            "path_with_escaped_slashes_action": "REJECT_REQUEST",
                            "route_config": {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
                            "http_filters": filters
                        }
                    }]}]
                }],
                "clusters": self.clusters
            }
        });
        if let (true, Some(b)) = (self.admin_runtime, bootstrap.as_object_mut()) {
            b.insert(
                "layered_runtime".into(),
                json!({"layers": [{"name": "admin", "admin_layer": {}}]}),
            );
        }
        bootstrap
    }

    /// The config text for [`crate::Envoy::start`] (JSON with `{{ADMIN_PORT}}`/`{{LISTENER_PORT}}`).
    pub fn build(&self) -> String {
        let text = serde_json::to_string_pretty(&self.to_value()).unwrap_or_default();
        text.replace(&format!("\"{ADMIN}\""), "{{ADMIN_PORT}}")
            .replace(&format!("\"{LISTENER}\""), "{{LISTENER_PORT}}")
    }
}
