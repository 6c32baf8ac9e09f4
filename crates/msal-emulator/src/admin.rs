//! [`Admin`]: controls for tests, in-process (also served over HTTP under
//! `/_admin`, see `docs/dev/emulator-api.md`): request counters and log,
//! fault injection, device code approval, refresh token revocation, forced
//! `interaction_required`, certificate registration and the clock.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::certs::RegisteredCert;
use crate::error::{EmulatorError, Result};
use crate::faults::{Endpoint, Fault, RequestRecord};
use crate::routes::AuthorityTenant;
use crate::state::{DeviceCodeStatus, EmulatorState, InteractionRule, MAX_CLOCK_OFFSET_SECS};

/// The claims challenge [`InteractionRequired::mfa`] sends by default.
pub const DEFAULT_CLAIMS_CHALLENGE: &str = r#"{"access_token":{"capolids":{"essential":true,"values":["c1a1e5f0-0000-4000-8000-00000000ca01"]}}}"#;

/// Admin handle over an emulator's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Admin(pub(crate) EmulatorState);

/// A forced `interaction_required` answer for refresh, password and
/// on-behalf-of grants, until the user signs in interactively (authorize
/// or device code) or it is cleared.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct InteractionRequired {
    /// Only this user (`None`: every user).
    pub username: Option<String>,
    /// Only this client (`None`: every client).
    pub client_id: Option<String>,
    /// AADSTS code: 50076 (MFA, default), 50079 (MFA enrolment), 53003
    /// (blocked by Conditional Access), anything else (generic).
    pub code: u32,
    /// `suberror` (`basic_action`, `additional_action`, `message_only`,
    /// `consent_required`, `user_password_expired`, `bad_token`).
    pub suberror: Option<String>,
    /// `claims` challenge (a JSON text).
    pub claims: Option<String>,
}

impl Default for InteractionRequired {
    fn default() -> Self {
        Self {
            username: None,
            client_id: None,
            code: 50076,
            suberror: Some("basic_action".into()),
            claims: Some(DEFAULT_CLAIMS_CHALLENGE.into()),
        }
    }
}

impl InteractionRequired {
    /// MFA required (AADSTS50076) for `username`, with
    /// [`DEFAULT_CLAIMS_CHALLENGE`].
    pub fn mfa(username: impl Into<String>) -> Self {
        Self {
            username: Some(username.into()),
            ..Self::default()
        }
    }

    /// Replaces the claims challenge.
    #[must_use]
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into());
        self
    }
}

/// A device code as the admin API lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceCodeInfo {
    /// What the user types.
    pub user_code: String,
    /// The requesting app.
    pub client_id: String,
    /// Requested scopes.
    pub scope: String,
    /// `pending`, `approved`, `denied`, `redeemed` or `expired`.
    pub status: String,
    /// Unix seconds (emulator clock).
    pub expires_at: u64,
}

impl Admin {
    /// Requests served by `endpoint` since start or the last reset.
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.0.store().counters.get(&endpoint).copied().unwrap_or(0)
    }

    /// All non-zero counters.
    pub fn counters(&self) -> BTreeMap<Endpoint, u64> {
        self.0.store().counters.clone()
    }

    /// Requests to all endpoints (admin requests excluded).
    pub fn total_requests(&self) -> u64 {
        self.0
            .store()
            .counters
            .values()
            .fold(0, |a, n| a.saturating_add(*n))
    }

    /// Zeroes the counters and clears the request log.
    pub fn reset_counters(&self) {
        let mut s = self.0.store();
        s.counters.clear();
        s.requests.clear();
    }

    /// The request log (newest last, at most 10,000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.0.store().requests.iter().cloned().collect()
    }

    /// Token requests with this `grant_type` in the log.
    pub fn token_requests_with_grant(&self, grant_type: &str) -> usize {
        self.0
            .store()
            .requests
            .iter()
            .filter(|r| {
                r.endpoint == Endpoint::Token && r.grant_type.as_deref() == Some(grant_type)
            })
            .count()
    }

    /// The next `times` requests to `endpoint` get `fault` (queued after
    /// faults already pending there). A [`Fault::Status`] outside 200..=599
    /// is queued anyway and answers 500; use [`Admin::try_inject_fault`] to
    /// have it refused.
    pub fn inject_fault(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        if let Err(reason) = fault.check() {
            tracing::warn!(%reason, "injected fault will answer 500");
        }
        self.0.store().push_fault(endpoint, fault, times);
    }

    /// Like [`Admin::inject_fault`], but refuses a fault that cannot be
    /// served as asked.
    ///
    /// # Errors
    /// [`EmulatorError::InvalidRequest`] for a [`Fault::Status`] outside
    /// 200..=599.
    pub fn try_inject_fault(&self, endpoint: Endpoint, fault: Fault, times: u32) -> Result<()> {
        fault.check().map_err(EmulatorError::InvalidRequest)?;
        self.0.store().push_fault(endpoint, fault, times);
        Ok(())
    }

    /// Requests still to be answered by faults queued for `endpoint`.
    pub fn pending_faults(&self, endpoint: Endpoint) -> usize {
        self.0.store().pending_faults(endpoint)
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.0.store().clear_faults();
    }

    /// Device codes issued so far.
    pub fn device_codes(&self) -> Vec<DeviceCodeInfo> {
        let now = self.0.now();
        self.0
            .store()
            .device_codes
            .iter()
            .map(|d| DeviceCodeInfo {
                user_code: d.user_code.clone(),
                client_id: d.client_id.clone(),
                scope: d.scope.clone(),
                status: match &d.status {
                    DeviceCodeStatus::Pending if d.expires_at <= now => "expired",
                    DeviceCodeStatus::Pending => "pending",
                    DeviceCodeStatus::Approved { .. } => "approved",
                    DeviceCodeStatus::Denied => "denied",
                    DeviceCodeStatus::Redeemed => "redeemed",
                }
                .to_string(),
                expires_at: d.expires_at,
            })
            .collect()
    }

    /// Approves a pending device code as `username`, as if the user had
    /// typed the code, signed in and consented.
    ///
    /// # Errors
    /// [`EmulatorError::NotFound`] for an unknown user or code;
    /// [`EmulatorError::Refused`] when the code is not pending or the user
    /// may not sign in through the code's authority.
    pub fn approve_device_code(&self, user_code: &str, username: &str) -> Result<()> {
        let state = &self.0;
        let user = state
            .0
            .dir
            .user(username)
            .cloned()
            .ok_or_else(|| EmulatorError::NotFound(format!("user {username}")))?;
        let wanted = crate::routes::device::normalise_code(user_code);
        let rec = state
            .store()
            .device_codes
            .iter()
            .find(|d| d.user_code == wanted)
            .cloned()
            .ok_or_else(|| EmulatorError::NotFound(format!("device code {user_code}")))?;
        if rec.status != DeviceCodeStatus::Pending || rec.expires_at <= state.now() {
            return Err(EmulatorError::Refused(format!(
                "device code {user_code} is not pending"
            )));
        }
        let tenant_id = AuthorityTenant::resolve(state, &rec.tenant_segment)
            .ok()
            .and_then(|t| t.tenant_for(state, &user))
            .ok_or_else(|| {
                EmulatorError::Refused(format!(
                    "{username} cannot sign in through /{}",
                    rec.tenant_segment
                ))
            })?;
        if let Some(app) = state.0.dir.app(&rec.client_id).cloned() {
            crate::routes::signin::record_consent(state, &app, &user.username, &rec.scope);
        }
        crate::routes::grants::satisfy_interaction(state, &user.username);
        let mut s = state.store();
        if let Some(d) = s.device_codes.iter_mut().find(|d| d.user_code == wanted) {
            d.status = DeviceCodeStatus::Approved {
                username: user.username.clone(),
                tenant_id,
            };
        }
        Ok(())
    }

    /// Approves the most recently issued pending device code; returns its
    /// user code.
    ///
    /// # Errors
    /// As [`Admin::approve_device_code`]; `NotFound` when none is pending.
    pub fn approve_latest_device_code(&self, username: &str) -> Result<String> {
        let now = self.0.now();
        let code = self
            .0
            .store()
            .device_codes
            .iter()
            .rev()
            .find(|d| d.status == DeviceCodeStatus::Pending && d.expires_at > now)
            .map(|d| d.user_code.clone())
            .ok_or_else(|| EmulatorError::NotFound("no pending device code".into()))?;
        self.approve_device_code(&code, username)?;
        Ok(code)
    }

    /// Declines a pending device code: the next poll gets `access_denied`.
    ///
    /// # Errors
    /// [`EmulatorError::NotFound`] or [`EmulatorError::Refused`].
    pub fn deny_device_code(&self, user_code: &str) -> Result<()> {
        let wanted = crate::routes::device::normalise_code(user_code);
        let mut s = self.0.store();
        let d = s
            .device_codes
            .iter_mut()
            .find(|d| d.user_code == wanted)
            .ok_or_else(|| EmulatorError::NotFound(format!("device code {user_code}")))?;
        if d.status != DeviceCodeStatus::Pending {
            return Err(EmulatorError::Refused(format!(
                "device code {user_code} is not pending"
            )));
        }
        d.status = DeviceCodeStatus::Denied;
        Ok(())
    }

    /// Revokes every refresh token of `username` and ends their browser
    /// sessions (like "revoke sessions" in Entra); returns how many refresh
    /// tokens were revoked.
    ///
    /// # Errors
    /// [`EmulatorError::NotFound`] for an unknown user.
    pub fn revoke_refresh_tokens(&self, username: &str) -> Result<usize> {
        let user = self
            .0
            .0
            .dir
            .user(username)
            .ok_or_else(|| EmulatorError::NotFound(format!("user {username}")))?
            .username
            .clone();
        let mut s = self.0.store();
        let mut n = 0;
        for r in s.refresh_tokens.values_mut() {
            if r.username == user && !r.revoked {
                r.revoked = true;
                n += 1;
            }
        }
        s.sessions.retain(|_, v| v.username != user);
        Ok(n)
    }

    /// Refresh tokens issued and not revoked (any state of expiry).
    pub fn live_refresh_tokens(&self, username: &str) -> usize {
        let u = username.to_ascii_lowercase();
        self.0
            .store()
            .refresh_tokens
            .values()
            .filter(|r| r.username == u && !r.revoked)
            .count()
    }

    /// Forces `interaction_required` (see [`InteractionRequired`]).
    pub fn require_interaction(&self, rule: InteractionRequired) {
        self.0.store().interaction_rules.push(InteractionRule {
            username: rule.username.map(|u| u.to_ascii_lowercase()),
            client_id: rule.client_id,
            code: rule.code,
            suberror: rule.suberror,
            claims: rule.claims,
            satisfied: Vec::new(),
        });
    }

    /// Removes every forced `interaction_required`.
    pub fn clear_interaction_required(&self) {
        self.0.store().interaction_rules.clear();
    }

    /// Registers a certificate (PEM) for an app's client assertions.
    ///
    /// # Errors
    /// [`EmulatorError::NotFound`] for an unknown app,
    /// [`EmulatorError::InvalidConfig`] for a PEM that is not an RSA
    /// certificate.
    pub fn register_certificate(&self, client_id: &str, cert_pem: &str) -> Result<()> {
        let app = self
            .0
            .0
            .dir
            .app(client_id)
            .ok_or_else(|| EmulatorError::NotFound(format!("app {client_id}")))?
            .client_id
            .clone();
        let cert = RegisteredCert::from_pem(cert_pem).map_err(EmulatorError::InvalidConfig)?;
        self.0
            .store()
            .extra_certs
            .entry(app)
            .or_default()
            .push(cert);
        Ok(())
    }

    /// Moves the emulator's clock forward (codes, tokens and assertions
    /// expire without sleeping). The total offset stops at 100 years ahead:
    /// a larger step moves the clock to that limit (see
    /// [`Admin::try_advance_clock`] to be told instead).
    pub fn advance_clock(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        if self.0.advance_clock(secs, true) != Ok(false) {
            tracing::warn!(seconds = by.as_secs(), "clock offset capped at 100 years");
        }
    }

    /// Moves the emulator's clock forward like [`Admin::advance_clock`], but
    /// refuses a step that would take the total offset past 100 years,
    /// leaving the clock as it was. Returns the new time (Unix seconds).
    ///
    /// # Errors
    /// [`EmulatorError::InvalidRequest`] when the offset would pass the limit.
    pub fn try_advance_clock(&self, by: Duration) -> Result<u64> {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.0.advance_clock(secs, false).map_err(|wanted| {
            EmulatorError::InvalidRequest(format!(
                "advancing the clock by {} s would put it {wanted} s ahead of the system clock; the total offset is limited to {MAX_CLOCK_OFFSET_SECS} s (100 years)",
                by.as_secs()
            ))
        })?;
        Ok(self.0.now())
    }

    /// The emulator's time, Unix seconds.
    pub fn now_unix(&self) -> u64 {
        self.0.now()
    }

    /// Forgets every consent users gave (admin consent from the
    /// configuration stays).
    pub fn clear_user_consents(&self) {
        self.0.store().consents.clear();
    }
}
