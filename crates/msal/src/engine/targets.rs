//! Where a confidential client's app tokens of each tenant are requested and
//! cached: resolved once per tenant, so a cache hit parses no URL and takes
//! no process-wide lock.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::client::Engine;
use crate::authority::{Authority, AuthorityKind, AuthorityResolver};
use crate::error::{Error, Result};

/// More tenants than this in the map: it starts over (a bound, not a cache policy).
const MAX_TARGETS: usize = 100_000;

/// One tenant's app-token target.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) resolver: AuthorityResolver,
    pub(crate) realm: String,
    pub(crate) partition_key: String,
    /// The configured host first, then its aliases.
    pub(crate) environments: Vec<String>,
}

/// The resolved targets of one app, by lower-cased tenant (`""` = the
/// configured authority's).
#[derive(Debug)]
pub(crate) struct Targets {
    map: RwLock<HashMap<String, Arc<Target>, foldhash::fast::RandomState>>,
    instance_discovery: bool,
}

impl Targets {
    pub(crate) fn new(instance_discovery: bool) -> Self {
        Self {
            map: RwLock::default(),
            instance_discovery,
        }
    }
}

impl Engine {
    /// The app-token target of `tenant` (the configured one when `None`).
    /// Kept once the authority's metadata is known (so discovery, when it
    /// applies, has run and the environment list is final).
    ///
    /// # Errors
    /// A bad tenant; metadata errors when the realm needs a request.
    pub(crate) async fn target(&self, tenant: Option<&str>) -> Result<Arc<Target>> {
        let key = tenant.map(str::trim).unwrap_or("");
        let lower;
        let key = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = key.to_ascii_lowercase();
            lower.as_str()
        } else {
            key
        };
        if let Some(t) = self
            .targets
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            return Ok(t.clone());
        }
        let resolver = self.resolver_for(tenant)?;
        let realm = match resolver.known_realm() {
            Some(r) => r,
            None => resolver.realm().await?,
        };
        let target = Arc::new(Target {
            partition_key: super::app_partition_key(&self.client_id, &realm),
            environments: resolver.known_environments(),
            realm,
            resolver,
        });
        if target.resolver.cached_metadata().is_some() {
            let mut map = self.targets.map.write().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_TARGETS {
                map.clear();
            }
            map.insert(key.to_owned(), target.clone());
        }
        Ok(target)
    }

    /// The resolver for `tenant` (the configured authority when `None`).
    pub(crate) fn resolver_for(&self, tenant: Option<&str>) -> Result<AuthorityResolver> {
        let configured = self.authority();
        let Some(t) = tenant.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(self.resolver.clone());
        };
        if t.eq_ignore_ascii_case(configured.tenant()) {
            return Ok(self.resolver.clone());
        }
        if !matches!(
            configured.kind(),
            AuthorityKind::Entra | AuthorityKind::Ciam
        ) {
            return Err(Error::config(
                "a per-request tenant needs an Entra ID authority (not B2C, ADFS or a generic OIDC issuer)",
            ));
        }
        if t.contains(['/', '?', '#', '\\']) || t.chars().any(char::is_whitespace) {
            return Err(Error::config(format!("{t:?} is not a tenant id or domain")));
        }
        let authority = Authority::parse(&format!("{}/{t}", configured.origin()))?;
        Ok(AuthorityResolver::new(
            authority,
            self.targets.instance_discovery,
            self.transport.clone(),
        ))
    }
}
