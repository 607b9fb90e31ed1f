//! Each provider's key set in this VM, kept in step with the copy all VMs
//! share (proxy shared data), and the fetch steps that refresh it.

use mesh_host::shared;
use policies::config::ConfigError;
use policies::env::{Now, Random};
use policies::json::{read_untrusted, FromJson, Node};
use policies::jwt::KeySet;
use policies::oidc::decide::{KeyLookup, KeyState};
use policies::oidc::discovery::UrlParts;
use policies::oidc::fetch_plan::{self, FetchAnswer, FetchNext, FetchStep};
use policies::oidc::policy::{OidcPolicy, Provider};
use policies::refresh::{Current, Refresher, Schedule, Unavailable};
use serde::Serialize;

/// What is stored in shared data per provider.
#[derive(Serialize, Default)]
struct SharedKeys {
    schedule: Schedule,
    jwks_url: Option<String>,
    /// The raw JWKS text; every VM compiles it once per change.
    document: Option<String>,
}

impl FromJson for SharedKeys {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        let object = node.object_ignoring_unknown()?;
        Ok(Self {
            schedule: object.required("schedule")?,
            jwks_url: object.optional("jwks_url")?,
            document: object.optional("document")?,
        })
    }
}

pub struct ProviderKeys {
    /// `None` for providers with inline keys only.
    refresher: Option<Refresher<KeySet>>,
    inline: Option<KeySet>,
    jwks_url: Option<UrlParts>,
    shared_key: String,
    lease_key: String,
    /// CAS of the shared entry last adopted, to compile each document once.
    seen_cas: u32,
}

impl ProviderKeys {
    pub fn new(provider: &Provider) -> Self {
        let inline = fetch_plan::inline_keys(provider).cloned();
        Self {
            refresher: inline.is_none().then(|| Refresher::new(provider.refresh)),
            inline,
            jwks_url: None,
            shared_key: format!("oidc-auth:keys:{}", provider.issuer),
            lease_key: format!("oidc-auth:lease:{}", provider.issuer),
            seen_cas: 0,
        }
    }

    pub fn is_remote(&self) -> bool {
        self.refresher.is_some()
    }

    pub fn lease_key(&self) -> &str {
        &self.lease_key
    }

    pub fn jwks_url(&self) -> Option<&UrlParts> {
        self.jwks_url.as_ref()
    }

    /// Takes what another VM stored, if it changed since we last looked;
    /// true when something was adopted.
    pub fn sync_from_shared(&mut self, provider: &Provider) -> bool {
        let Some(refresher) = self.refresher.as_mut() else {
            return false;
        };
        let Some((bytes, cas)) = shared::read(&self.shared_key)
            .ok()
            .and_then(|e| e.bytes.map(|b| (b, e.cas)))
        else {
            return false;
        };
        if cas == self.seen_cas {
            return false;
        }
        self.seen_cas = cas;
        let Ok(stored) = read_untrusted::<SharedKeys>(&bytes) else {
            return false;
        };
        let keys = stored
            .document
            .as_deref()
            .and_then(|doc| fetch_plan::keys_from_document(provider, doc.as_bytes()).ok())
            .map(|(k, _)| k);
        // None once a VM's fetch from the learned URL failed: every VM then
        // starts its next fetch with discovery again.
        self.jwks_url = stored.jwks_url.as_deref().and_then(UrlParts::parse);
        refresher.adopt(stored.schedule, keys);
        true
    }

    /// Writes our schedule (and, after a fetch, the document) for all VMs.
    /// The learned JWKS URL is kept as another VM stored it unless
    /// `forget_url` (the URL failed: all VMs rediscover).
    fn publish(&mut self, document: Option<&[u8]>, forget_url: bool) {
        let Some(refresher) = self.refresher.as_ref() else {
            return;
        };
        let previous: SharedKeys = shared::read(&self.shared_key)
            .ok()
            .and_then(|e| e.bytes)
            .and_then(|b| read_untrusted(&b).ok())
            .unwrap_or_default();
        let stored = SharedKeys {
            schedule: refresher.schedule().clone(),
            jwks_url: if forget_url {
                None
            } else {
                self.jwks_url.as_ref().map(url_text).or(previous.jwks_url)
            },
            document: document
                .map(|d| String::from_utf8_lossy(d).into_owned())
                .or(previous.document),
        };
        if let Ok(bytes) = serde_json::to_vec(&stored) {
            // `seen_cas` is left as it was: this VM adopts its own write on its
            // next sync (one recompile of the keys). Learning the new CAS from
            // a read-back could pick up another VM's write landing in between,
            // which this VM would then never adopt (rotated keys missed until
            // its own next fetch).
            let _ = shared::write(&self.shared_key, &bytes);
        }
    }

    /// True when a scheduled refresh is due (checked in every VM's tick).
    pub fn due(&self, now: Now) -> bool {
        self.refresher.as_ref().is_some_and(|r| r.due(now))
    }

    pub fn start_fetch(&mut self, now: Now) {
        if let Some(r) = self.refresher.as_mut() {
            r.start_fetch(now);
        }
        self.publish(None, false);
    }

    /// Grants an unknown-`kid` / not-loaded refetch at most once per
    /// `unknown_kid_refetch_interval`, across all VMs (the grant is written
    /// back with CAS; a lost race counts as refused).
    pub fn grant_forced_refetch(&mut self, now: Now) -> bool {
        let Some(refresher) = self.refresher.as_mut() else {
            return false;
        };
        let Ok(entry) = shared::read(&self.shared_key) else {
            return false;
        };
        if !refresher.request_forced_refetch(now) {
            return false;
        }
        refresher.start_fetch(now);
        let mut stored: SharedKeys = entry
            .bytes
            .as_deref()
            .and_then(|b| read_untrusted(b).ok())
            .unwrap_or_default();
        stored.schedule = refresher.schedule().clone();
        let Ok(bytes) = serde_json::to_vec(&stored) else {
            return false;
        };
        let written = if entry.bytes.is_none() {
            shared::write(&self.shared_key, &bytes)
        } else {
            shared::write_if_unchanged(&self.shared_key, &bytes, entry.cas)
        };
        written.is_ok()
    }

    /// Feeds one fetch step's answer; on completion updates this VM and shared data.
    pub fn on_fetch_response(
        &mut self,
        provider: &Provider,
        step: &FetchStep,
        answer: FetchAnswer<'_>,
        now: Now,
        rng: &mut dyn Random,
    ) -> FetchNext {
        let next = fetch_plan::on_response(provider, step, answer);
        match &next {
            FetchNext::Call(..) => {}
            FetchNext::Done {
                keys,
                document,
                jwks_url,
                ..
            } => {
                self.jwks_url = Some(jwks_url.clone());
                if let Some(r) = self.refresher.as_mut() {
                    r.record_success(keys.clone(), now);
                }
                self.publish(Some(document), false);
            }
            FetchNext::Failed(_) => {
                // A learned JWKS URL may have moved: every VM rediscovers next time.
                let moved =
                    matches!(step, FetchStep::Jwks { .. }) && self.jwks_url.take().is_some();
                self.record_failure(now, rng, moved);
            }
        }
        next
    }

    pub fn fail(&mut self, now: Now, rng: &mut dyn Random) {
        self.record_failure(now, rng, false);
    }

    fn record_failure(&mut self, now: Now, rng: &mut dyn Random, forget_url: bool) {
        if let Some(r) = self.refresher.as_mut() {
            r.record_failure(now, rng);
        }
        self.publish(None, forget_url);
    }

    /// True when this VM has keys it may still serve (fresh or stale).
    pub fn has_keys(&self, now: Now) -> bool {
        matches!(self.state(now).0, KeyState::Usable(_))
    }

    fn state(&self, now: Now) -> (KeyState<'_>, bool) {
        if let Some(set) = &self.inline {
            return (KeyState::Usable(set), false);
        }
        match self.refresher.as_ref().map(|r| r.current(now)) {
            Some(Current::Usable(set)) => (KeyState::Usable(set), false),
            Some(Current::Stale(set)) => (KeyState::Usable(set), true),
            Some(Current::Unavailable(Unavailable::TooStale)) => {
                (KeyState::Unavailable("keys_too_stale"), false)
            }
            _ => (KeyState::Unavailable("keys_not_loaded"), false),
        }
    }
}

fn url_text(u: &UrlParts) -> String {
    format!("{}://{}{}", u.scheme, u.authority, u.path)
}

/// All providers' keys at one instant, as the decision reads them.
pub struct KeysAt<'a> {
    pub keys: &'a [ProviderKeys],
    pub now: Now,
    /// Set when a stale (but still allowed) key set was used.
    pub stale_used: std::cell::Cell<bool>,
}

impl KeyLookup for KeysAt<'_> {
    fn keys(&self, provider: usize) -> KeyState<'_> {
        match self.keys.get(provider) {
            Some(k) => {
                let (state, stale) = k.state(self.now);
                if stale {
                    self.stale_used.set(true);
                }
                state
            }
            None => KeyState::Unavailable("keys_not_loaded"),
        }
    }
}

pub fn all_for(policy: &OidcPolicy) -> Vec<ProviderKeys> {
    policy.providers.iter().map(ProviderKeys::new).collect()
}
