//! [`EmulatorState`]: the directory, the signing key, the settings and the
//! mutable store (codes, refresh tokens, sessions, counters, faults) shared
//! by every route. Cheap to clone.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use url::Url;

use crate::certs::RegisteredCert;
use crate::config::EmulatorConfig;
use crate::directory::Directory;
use crate::error::{EmulatorError, Result};
use crate::faults::{Endpoint, Fault, RequestRecord};
use crate::keys::SigningKey;

/// Shared state of one emulator. Build it with [`EmulatorState::new`] to
/// drive [`crate::router`] without a socket, or get it from a running
/// [`crate::EmulatorHandle`].
#[derive(Clone)]
pub struct EmulatorState(pub(crate) Arc<Inner>);

impl std::fmt::Debug for EmulatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorState")
            .field("base_url", &self.0.base_url.as_str())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) dir: Directory,
    pub(crate) key: SigningKey,
    pub(crate) config: EmulatorConfig,
    pub(crate) base_url: Url,
    /// `http` or `https`.
    pub(crate) scheme: String,
    /// Host names (with port) of this emulator: the primary one first, then
    /// `localhost:<port>`, then configured extra hosts.
    pub(crate) hosts: Vec<String>,
    pub(crate) issuer_host: String,
    clock_offset: AtomicI64,
    store: Mutex<Store>,
    /// The mutual-TLS listener's origin (`https://127.0.0.1:<port>`), once started.
    pub(crate) mtls_origin: std::sync::OnceLock<String>,
}

/// Mutable data. Never held across an `.await`.
#[derive(Default)]
pub(crate) struct Store {
    pub(crate) counters: BTreeMap<Endpoint, u64>,
    pub(crate) requests: VecDeque<RequestRecord>,
    /// Queued faults per endpoint, each with how many requests it still
    /// answers (a count, not copies: `times` may be `u32::MAX`).
    faults: HashMap<Endpoint, VecDeque<(Fault, u32)>>,
    pub(crate) auth_codes: HashMap<String, AuthCode>,
    pub(crate) device_codes: Vec<DeviceCodeRecord>,
    pub(crate) refresh_tokens: HashMap<String, RefreshRecord>,
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) flows: HashMap<String, SignInFlow>,
    /// (username, client id) → api app id → scopes the user consented to.
    pub(crate) consents: HashMap<(String, String), BTreeMap<String, BTreeSet<String>>>,
    pub(crate) interaction_rules: Vec<InteractionRule>,
    pub(crate) extra_certs: HashMap<String, Vec<RegisteredCert>>,
    /// Azure Arc challenge key files on disk (removed when dropped).
    pub(crate) arc_keys: crate::managed_identity::ArcKeys,
    /// The App Service / Service Fabric endpoints' token cache and log.
    pub(crate) host_cache: crate::managed_identity::HostCache,
    /// Tokens issued by the mutual-TLS endpoint.
    pub(crate) mtls_token_requests: u64,
    /// IMDS's `location`: unset, the default; `Some(None)`, none (404).
    pub(crate) imds_location: Option<Option<String>>,
    next_request_id: u64,
}

/// How far `Admin::advance_clock` may move the emulator's clock in total,
/// either way: 100 years. Token lifetimes are at most 10 years, so every
/// time the emulator computes stays far from `u64` limits.
pub(crate) const MAX_CLOCK_OFFSET_SECS: i64 = 100 * 365 * 24 * 3600;

/// Records kept for the admin `requests` list.
const MAX_REQUEST_RECORDS: usize = 10_000;

impl Store {
    pub(crate) fn next_request_id(&mut self) -> u64 {
        self.next_request_id = self.next_request_id.saturating_add(1);
        self.next_request_id
    }

    pub(crate) fn record(&mut self, r: RequestRecord) {
        if self.requests.len() >= MAX_REQUEST_RECORDS {
            self.requests.pop_front();
        }
        self.requests.push_back(r);
    }

    /// Queues `fault` for the next `times` requests to `endpoint`.
    pub(crate) fn push_fault(&mut self, endpoint: Endpoint, fault: Fault, times: u32) {
        if times > 0 {
            self.faults
                .entry(endpoint)
                .or_default()
                .push_back((fault, times));
        }
    }

    /// Takes the next fault for a request to `endpoint`. Managed-identity
    /// requests fall back on faults queued under `Other`, where they were
    /// counted before they had an endpoint of their own.
    pub(crate) fn take_fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let own = self.faults.get(&endpoint).is_some_and(|q| !q.is_empty());
        let from = if !own && endpoint == Endpoint::ManagedIdentity {
            Endpoint::Other
        } else {
            endpoint
        };
        let q = self.faults.get_mut(&from)?;
        let (fault, left) = q.front_mut()?;
        let fault = fault.clone();
        *left = left.saturating_sub(1);
        if *left == 0 {
            q.pop_front();
        }
        Some(fault)
    }

    /// Requests still to be answered by faults queued for `endpoint`.
    pub(crate) fn pending_faults(&self, endpoint: Endpoint) -> usize {
        self.faults.get(&endpoint).map_or(0, |q| {
            q.iter()
                .map(|(_, n)| usize::try_from(*n).unwrap_or(usize::MAX))
                .fold(0, usize::saturating_add)
        })
    }

    /// Drops every queued fault.
    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn finish_record(&mut self, id: u64, status: u16, faulted: bool) {
        if let Some(r) = self.requests.iter_mut().rev().find(|r| r.id == id) {
            r.status = status;
            r.faulted = faulted;
        }
    }
}

/// An issued authorization code.
#[derive(Clone, Debug)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) username: String,
    pub(crate) tenant_id: String,
    pub(crate) scope: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
    pub(crate) issued_at: u64,
    pub(crate) redeemed: bool,
}

/// Where a device code stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeviceCodeStatus {
    Pending,
    Approved { username: String, tenant_id: String },
    Denied,
    Redeemed,
}

/// An issued device code.
#[derive(Clone, Debug)]
pub(crate) struct DeviceCodeRecord {
    pub(crate) device_code: String,
    pub(crate) user_code: String,
    pub(crate) client_id: String,
    /// The authority's tenant path segment (`common`, a GUID, a domain).
    pub(crate) tenant_segment: String,
    pub(crate) scope: String,
    pub(crate) expires_at: u64,
    pub(crate) last_poll: Option<u64>,
    pub(crate) status: DeviceCodeStatus,
}

/// An issued refresh token.
#[derive(Clone, Debug)]
pub(crate) struct RefreshRecord {
    pub(crate) username: String,
    pub(crate) client_id: String,
    pub(crate) family_id: Option<String>,
    pub(crate) expires_at: u64,
    pub(crate) revoked: bool,
    pub(crate) redeemed: bool,
}

/// A browser session (SSO cookie).
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) username: String,
}

/// An interactive sign-in in progress (authorize or device login).
#[derive(Clone, Debug)]
pub(crate) struct SignInFlow {
    pub(crate) kind: FlowKind,
    pub(crate) tenant_segment: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) username: Option<String>,
    pub(crate) created: u64,
}

/// What a sign-in flow completes.
#[derive(Clone, Debug)]
pub(crate) enum FlowKind {
    Authorize(Box<crate::routes::authorize::AuthorizeRequest>),
    Device { user_code: String },
}

/// A forced `interaction_required` (see `Admin::require_interaction`).
#[derive(Clone, Debug)]
pub(crate) struct InteractionRule {
    pub(crate) username: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) code: u32,
    pub(crate) suberror: Option<String>,
    pub(crate) claims: Option<String>,
    /// Users who signed in interactively since the rule was set: it no
    /// longer applies to them.
    pub(crate) satisfied: Vec<String>,
}

/// A random URL-safe string from `bytes` random bytes.
pub(crate) fn random_string(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl EmulatorState {
    /// State for `config`, answering as if served at `base_url` (scheme,
    /// host and port; the path is ignored). A fresh signing key is made.
    ///
    /// # Errors
    /// [`EmulatorError::InvalidConfig`] for an inconsistent configuration,
    /// [`EmulatorError::Crypto`] if the key cannot be generated.
    pub fn new(config: EmulatorConfig, base_url: &Url) -> Result<Self> {
        config.validate()?;
        let dir = Directory::build(&config)?;
        let key = SigningKey::generate()?;
        let host = base_url
            .host_str()
            .ok_or_else(|| EmulatorError::InvalidConfig(format!("{base_url} has no host")))?;
        let with_port = |h: &str| match base_url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        };
        let primary = with_port(host);
        let mut hosts = vec![primary.clone()];
        for alias in ["localhost", "127.0.0.1"] {
            let h = with_port(alias);
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        for extra in &config.server.extra_hosts {
            let h = extra.to_ascii_lowercase();
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        let issuer_host = config
            .server
            .issuer_host
            .clone()
            .unwrap_or_else(|| primary.clone());
        let mut base = base_url.clone();
        base.set_path("");
        base.set_query(None);
        Ok(Self(Arc::new(Inner {
            dir,
            key,
            scheme: base_url.scheme().to_string(),
            base_url: base,
            hosts,
            issuer_host,
            config,
            clock_offset: AtomicI64::new(0),
            store: Mutex::new(Store::default()),
            mtls_origin: std::sync::OnceLock::new(),
        })))
    }

    /// The base URL given at construction (no trailing slash in
    /// [`crate::EmulatorHandle::base_url`]).
    pub fn base_url(&self) -> &Url {
        &self.0.base_url
    }

    /// The in-process admin API.
    pub fn admin(&self) -> crate::Admin {
        crate::Admin(self.clone())
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters more than serving on; keep going.
        self.0.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Emulator time in Unix seconds: the system clock plus the offset set
    /// by `Admin::advance_clock`.
    pub(crate) fn now(&self) -> u64 {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let t = sys.saturating_add(self.0.clock_offset.load(Ordering::SeqCst));
        u64::try_from(t).unwrap_or(0)
    }

    /// Adds `secs` to the clock offset. When the total would pass
    /// [`MAX_CLOCK_OFFSET_SECS`] either way, `saturate` pins it at the limit
    /// (`Ok(true)`); otherwise the offset is left alone and `Err` carries the
    /// offset the call would have reached (saturated to `i64`).
    pub(crate) fn advance_clock(&self, secs: i64, saturate: bool) -> Result<bool, i64> {
        let mut wanted = 0;
        self.0
            .clock_offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
                wanted = cur.saturating_add(secs);
                if wanted.unsigned_abs() <= MAX_CLOCK_OFFSET_SECS.unsigned_abs() {
                    Some(wanted)
                } else if saturate {
                    Some(wanted.clamp(-MAX_CLOCK_OFFSET_SECS, MAX_CLOCK_OFFSET_SECS))
                } else {
                    None
                }
            })
            .map(|_| wanted.unsigned_abs() > MAX_CLOCK_OFFSET_SECS.unsigned_abs())
            .map_err(|_| wanted)
    }

    /// The `iss` of tokens for `tenant_id`.
    pub(crate) fn issuer(&self, tenant_id: &str) -> String {
        format!(
            "{}://{}/{}/v2.0",
            self.0.scheme, self.0.issuer_host, tenant_id
        )
    }

    /// True when `host` (with port) is one of this emulator's names.
    pub(crate) fn is_own_host(&self, host: &str) -> bool {
        let h = host.to_ascii_lowercase();
        self.0.hosts.contains(&h)
    }
}
