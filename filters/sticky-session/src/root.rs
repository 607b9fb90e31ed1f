//! Root context: compile the configuration once, define the counters once,
//! hand every HTTP context an `Rc` of both.

use crate::counters::Counters;
use crate::http::StickyHttp;
use mesh_host::plugin::{log_config_error, log_start, PluginInfo};
use policies::sticky::StickyPolicy;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::rc::Rc;

const INFO: PluginInfo = mesh_host::plugin_info!();

#[derive(Default)]
pub struct StickyRoot {
    policy: Option<Rc<StickyPolicy>>,
    counters: Rc<Counters>,
}

impl Context for StickyRoot {}

impl RootContext for StickyRoot {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        log_start(&INFO);
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        // Keys come from `vm_config.environment_variables` (Istio `vmConfig.env`).
        match policies::sticky::load(&raw, &|name| std::env::var(name).ok()) {
            Ok(policy) => {
                log::info!(
                    "{}: configuration accepted (mode {:?}, pin header {}, cookie {}, key {}, {} route(s) with own settings, hash headers [{}])",
                    INFO.name,
                    policy.mode(),
                    policy.pin_header(),
                    policy.cookie_name(),
                    policy.current_key_id(),
                    policy.route_overrides(),
                    policy.hash_headers().join(", ")
                );
                self.policy = Some(Rc::new(policy));
                self.counters = Rc::new(Counters::define());
                true
            }
            Err(e) => {
                log_config_error(&INFO, &e);
                false
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        mesh_host::plugin::sync_log_level();
        Some(Box::new(StickyHttp::new(
            context_id,
            self.policy.clone(),
            Rc::clone(&self.counters),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
