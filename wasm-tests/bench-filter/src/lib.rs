//! The baseline wasm filters for `make bench`.
//!
//! - No configuration: one root context, one HTTP context per request, no hostcalls in the request
//!   path. Whatever it costs is the price of "a wasm filter" in Envoy, which the real plugins are
//!   measured against.
//! - `"sticky-io <header> <value>"` / `"injector-io <header> <value>"`: the same, plus only the host
//!   I/O the plugin of that name cannot do without in steady state (the request header it sets is
//!   `<header>: <value>`), and no logic at all. Its cost is the floor of any wasm filter doing that
//!   job on this runtime, so it tells whether a goal ratio is reachable at all.
//! - `"price <hostcall> <n>"`: the do-nothing filter plus `n` calls of one hostcall per request
//!   (`log-level`, `clock`, `metric`, `header`, `publish`, `property`). Its cost over the do-nothing
//!   filter, divided by `n`, is the price of one such call: what removing one from a plugin saves.
//!   `compute` is no hostcall but a unit of module work (16 times a small string copied and hashed):
//!   its price next to the one `make bench-vm` measures in V8 under Node tells how much dearer the
//!   module's own code is inside Envoy.

use mesh_host::header_map::HeaderMap;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, MapType, MetricType};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { io: Io::None, header: Rc::new((String::new(), String::new())), price: None })
    });
}}

/// Which plugin's unavoidable host I/O each request makes.
#[derive(Clone, Copy, PartialEq)]
enum Io {
    None,
    /// Read the request headers (the cookie), set the pin header; on the response, read
    /// `upstream.address` (which endpoint served) and remove the pin header `stateful_session`
    /// echoes.
    Sticky,
    /// Read the request headers (route, origin, identity check), set the credential header; on the
    /// response, read the response headers (echoed-credential check).
    Injector,
}

/// One hostcall a plugin makes per request, priced by repeating it.
#[derive(Clone, Copy)]
enum Hostcall {
    /// `proxy_get_log_level` (the plugins' log-level sync).
    LogLevel,
    /// `proxy_get_current_time_nanoseconds` (token expiry, cookie age).
    Clock,
    /// `proxy_increment_metric` on a counter.
    Metric(u32),
    /// `proxy_get_header_map_value` of one request header.
    Header,
    /// `proxy_set_property` of a 100-byte value (oidc-auth publishing the identity).
    Publish,
    /// `proxy_get_property` of a missing filter-state object (the injector looking for the identity).
    Property,
    /// No hostcall: a unit of module work, what plugin code does most (allocate, copy, hash).
    Compute,
}

impl Hostcall {
    fn parse(name: &str) -> Option<Hostcall> {
        Some(match name {
            "log-level" => Hostcall::LogLevel,
            "clock" => Hostcall::Clock,
            "metric" => Hostcall::Metric(
                hostcalls::define_metric(MetricType::Counter, "bench_filter.price").ok()?,
            ),
            "header" => Hostcall::Header,
            "publish" => Hostcall::Publish,
            "property" => Hostcall::Property,
            "compute" => Hostcall::Compute,
            _ => return None,
        })
    }

    fn call(self) {
        match self {
            Hostcall::LogLevel => {
                let _ = hostcalls::get_log_level();
            }
            Hostcall::Clock => {
                let _ = hostcalls::get_current_time();
            }
            Hostcall::Metric(id) => {
                let _ = hostcalls::increment_metric(id, 1);
            }
            Hostcall::Header => {
                let _ = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, ":path");
            }
            Hostcall::Publish => {
                let _ = hostcalls::set_property(vec!["bench_identity"], Some(&[b'x'; 100]));
            }
            Hostcall::Property => {
                let _ = hostcalls::get_property(vec!["filter_state", "wasm.bench_missing"]);
            }
            Hostcall::Compute => {
                use std::hash::{Hash, Hasher};
                // Sixteen times a small string copied and hashed (SipHash with fixed keys: no
                // randomness needed): large enough for 64 of them to stand out of `make bench`'s noise.
                for _ in 0..16 {
                    let text =
                        std::hint::black_box("x-request-id: 6f1c2d3e-0000-4000-8000-000000000001");
                    let copy = text.to_string();
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    copy.hash(&mut hasher);
                    std::hint::black_box(hasher.finish());
                }
            }
        }
    }
}

struct Root {
    io: Io,
    /// The request header to set: `(name, value)`.
    header: Rc<(String, String)>,
    /// `"price"` mode: the hostcall and how many times per request.
    price: Option<(Hostcall, u32)>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        // The configuration is a JSON string: `"sticky-io x-pin value"`.
        let text = String::from_utf8_lossy(&raw);
        let mut words = text.trim_matches('"').split(' ');
        let mode = words.next();
        if mode == Some("price") {
            let call = words.next().and_then(Hostcall::parse);
            let times = words.next().and_then(|n| n.parse().ok());
            self.price = call.zip(times);
            return self.price.is_some();
        }
        self.io = match mode {
            Some("sticky-io") => Io::Sticky,
            Some("injector-io") => Io::Injector,
            _ => Io::None,
        };
        let name = words.next().unwrap_or("x-bench-floor").to_string();
        let value = words.next().unwrap_or("1").to_string();
        self.header = Rc::new((name, value));
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(PassThrough {
            io: self.io,
            header: self.header.clone(),
            price: self.price,
        }))
    }
}

struct PassThrough {
    io: Io,
    header: Rc<(String, String)>,
    price: Option<(Hostcall, u32)>,
}

impl Context for PassThrough {}

impl HttpContext for PassThrough {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        if let Some((call, times)) = self.price {
            for _ in 0..times {
                call.call();
            }
        }
        if self.io != Io::None {
            // Read as the plugins read it (in place), and kept from being optimized away.
            std::hint::black_box(HeaderMap::request().pairs());
            let (name, value) = &*self.header;
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        match self.io {
            Io::None => {}
            Io::Sticky => {
                let _ = hostcalls::get_property(vec!["upstream", "address"]);
                let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, &self.header.0);
            }
            Io::Injector => {
                std::hint::black_box(HeaderMap::response().pairs());
            }
        }
        Action::Continue
    }
}
