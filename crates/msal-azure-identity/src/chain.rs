//! [`DefaultCredential`]: the sources a program may find itself with, tried
//! in order, as people know it from `DefaultAzureCredential`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use msal::clock::Clock;
use msal::http::HttpClient;
use msal::managed_identity::{Environment, ManagedIdentity, UserAssignedId, detect_source};
use msal_cache_file::FileCache;
use tokio::sync::OnceCell;

use crate::app::{AppOptions, EnvironmentCredential, WorkloadIdentityCredential, WorkloadSettings};
use crate::azure_cli::AzureCliCacheCredential;
use crate::env;
use crate::error::{ChainAttempt, ChainError, Failure};
use crate::managed::{
    DEFAULT_IMDS_PROBE_TIMEOUT, ManagedIdentityCredential, announced, imds_base, probe_client,
    probe_imds,
};
use crate::user::SignedInUserCredential;

const NAME: &str = "DefaultCredential";

/// One source of a [`DefaultCredential`], in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChainStep {
    /// A service principal from `AZURE_*` variables ([`EnvironmentCredential`]).
    Environment,
    /// Workload identity federation ([`WorkloadIdentityCredential`]).
    WorkloadIdentity,
    /// The host's managed identity ([`ManagedIdentityCredential`]), only
    /// where the host's variables announce one or IMDS answers a short probe.
    ManagedIdentity,
    /// The user signed in with `msal login` ([`SignedInUserCredential`]).
    MsalCli,
    /// The user signed in with `az login`, from the Azure CLI's files
    /// ([`AzureCliCacheCredential`]).
    AzureCli,
}

impl ChainStep {
    /// Every step, in the chain's order.
    pub const ALL: [ChainStep; 5] = [
        ChainStep::Environment,
        ChainStep::WorkloadIdentity,
        ChainStep::ManagedIdentity,
        ChainStep::MsalCli,
        ChainStep::AzureCli,
    ];

    /// A short name for logs and output: `environment`,
    /// `workload_identity`, `managed_identity`, `msal_cli`, `azure_cli`.
    pub fn name(self) -> &'static str {
        match self {
            ChainStep::Environment => "environment",
            ChainStep::WorkloadIdentity => "workload_identity",
            ChainStep::ManagedIdentity => "managed_identity",
            ChainStep::MsalCli => "msal_cli",
            ChainStep::AzureCli => "azure_cli",
        }
    }
}

impl std::fmt::Display for ChainStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The credential of each step, or why there is none.
enum Source {
    Environment(EnvironmentCredential),
    Workload(WorkloadIdentityCredential),
    Managed {
        credential: ManagedIdentityCredential,
        /// `None` when the host's variables announced the endpoint.
        probe: Option<Probe>,
    },
    MsalCli(Arc<SignedInUserCredential>),
    AzureCli(Arc<AzureCliCacheCredential>),
    /// Not usable here: absent (`failed == false`) or misconfigured.
    Broken {
        failed: bool,
        message: String,
    },
}

/// The IMDS probe, made once.
struct Probe {
    http: Option<Arc<dyn HttpClient>>,
    base: String,
    timeout: Duration,
    answer: OnceCell<Result<(), String>>,
}

impl Probe {
    async fn check(&self) -> Result<(), String> {
        self.answer
            .get_or_init(|| async {
                let http = match &self.http {
                    Some(h) => h.clone(),
                    None => probe_client(self.timeout)?,
                };
                probe_imds(http.as_ref(), &self.base, self.timeout).await
            })
            .await
            .clone()
    }
}

struct Step {
    step: ChainStep,
    source: Source,
}

impl Step {
    async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        match &self.source {
            Source::Environment(c) => c.token(scopes).await,
            Source::Workload(c) => c.token(scopes).await,
            Source::Managed { credential, probe } => {
                if let Some(p) = probe {
                    p.check().await.map_err(Failure::Unavailable)?;
                }
                match credential.token(scopes).await {
                    // IMDS answered but this VM has no such identity.
                    Err(Failure::Failed {
                        message,
                        source: Some(msal::Error::Service(s)),
                    }) if probe.is_some() && s.status == Some(400) => Err(Failure::unavailable(
                        format!("IMDS has no identity for this host: {message}"),
                    )),
                    other => other,
                }
            }
            // Developer tools: whatever goes wrong, they are just not there.
            Source::MsalCli(c) => c.token(scopes).await.map_err(Failure::into_unavailable),
            Source::AzureCli(c) => c.token(scopes).await.map_err(Failure::into_unavailable),
            Source::Broken {
                failed: false,
                message,
            } => Err(Failure::unavailable(message.clone())),
            Source::Broken {
                failed: true,
                message,
            } => Err(Failure::failed(message.clone())),
        }
    }

    fn describe(&self) -> &'static str {
        match &self.source {
            Source::Broken { failed: false, .. } => "absent",
            Source::Broken { failed: true, .. } => "misconfigured",
            Source::Managed { probe: Some(_), .. } => "IMDS, if the probe answers",
            _ => "configured",
        }
    }
}

/// The usual sources of a token, tried in order until one answers:
///
/// 1. [`environment`](ChainStep::Environment): a service principal from
///    `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` or
///    `AZURE_CLIENT_CERTIFICATE_PATH`;
/// 2. [`workload_identity`](ChainStep::WorkloadIdentity): `AZURE_FEDERATED_TOKEN_FILE`
///    with `AZURE_CLIENT_ID` and `AZURE_TENANT_ID`;
/// 3. [`managed_identity`](ChainStep::ManagedIdentity): where the host's
///    variables name an identity endpoint, or a VM's IMDS answers a probe
///    within [`DEFAULT_IMDS_PROBE_TIMEOUT`] (user-assigned when
///    `AZURE_CLIENT_ID` is set);
/// 4. [`msal_cli`](ChainStep::MsalCli): the user signed in with `msal login`,
///    with the CLI's own settings where set (`MSAL_AUTHORITY`,
///    `MSAL_CLIENT_ID`, `MSAL_CACHE`, `MSAL_PLAINTEXT`, ...);
/// 5. [`azure_cli`](ChainStep::AzureCli): the user signed in with `az login`,
///    read from the Azure CLI's files.
///
/// `AZURE_AUTHORITY_HOST` moves every step's authority to another cloud
/// (an explicit `MSAL_AUTHORITY` is kept as written); `AZURE_USERNAME`
/// chooses the account when several users are signed in.
///
/// A source that is absent here (not configured, nobody signed in, no
/// endpoint) passes to the next. A source that is configured but fails (a
/// wrong secret, an endpoint that refuses) ends the chain with its error:
/// falling through to another identity would silently change who the
/// program acts as. The developer tools (steps 4 and 5) count as absent
/// whatever goes wrong with them. When no source answers, the error lists
/// what each said ([`ChainError`]).
///
/// The first source that gives a token is remembered: later calls go to it
/// alone ([`source`](Self::source) tells which), and its errors are
/// returned as they are.
///
/// ```no_run
/// # async fn run() -> azure_core::Result<()> {
/// use std::sync::Arc;
/// use azure_core::credentials::TokenCredential;
/// use msal_azure_identity::DefaultCredential;
///
/// let chain = DefaultCredential::new()?;
/// let credential: Arc<dyn TokenCredential> = chain.clone();
/// // ... give `credential` to any Azure SDK client ...
/// let token = credential.get_token(&["https://vault.azure.net/.default"], None).await?;
/// println!("from {:?}", chain.source());
/// # let _ = token; Ok(()) }
/// ```
pub struct DefaultCredential {
    steps: Vec<Step>,
    chosen: OnceLock<usize>,
}

impl std::fmt::Debug for DefaultCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps: Vec<(ChainStep, &str)> =
            self.steps.iter().map(|s| (s.step, s.describe())).collect();
        f.debug_struct(NAME)
            .field("steps", &steps)
            .field("source", &self.source())
            .finish()
    }
}

/// Configures a [`DefaultCredential`].
#[must_use]
pub struct DefaultCredentialBuilder {
    env: Option<Environment>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    imds_probe_timeout: Duration,
    excluded: Vec<ChainStep>,
    app_cache: Option<FileCache>,
    username: Option<String>,
    managed_identity: Option<ManagedIdentity>,
}

impl std::fmt::Debug for DefaultCredentialBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultCredentialBuilder")
            .field("env", &self.env)
            .field("imds_probe_timeout", &self.imds_probe_timeout)
            .field("excluded", &self.excluded)
            .field("app_cache", &self.app_cache)
            .field("username", &self.username)
            .field("managed_identity", &self.managed_identity)
            .finish_non_exhaustive()
    }
}

impl DefaultCredential {
    /// The chain with every step, configured from the process environment.
    ///
    /// # Errors
    /// None today (absent sources are recorded, not refused); kept for
    /// settings that may be checked in the future.
    pub fn new() -> azure_core::Result<Arc<Self>> {
        Self::builder().build()
    }

    /// Starts configuring a chain.
    pub fn builder() -> DefaultCredentialBuilder {
        DefaultCredentialBuilder {
            env: None,
            http: None,
            clock: None,
            imds_probe_timeout: DEFAULT_IMDS_PROBE_TIMEOUT,
            excluded: Vec::new(),
            app_cache: None,
            username: None,
            managed_identity: None,
        }
    }

    /// The source that gave the first token, which every later call uses;
    /// `None` before one did.
    pub fn source(&self) -> Option<ChainStep> {
        self.chosen.get().map(|&i| self.steps[i].step)
    }

    async fn token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        if let Some(&i) = self.chosen.get() {
            let step = &self.steps[i];
            return step
                .token(scopes)
                .await
                .map_err(|f| f.into_azure(&format!("{NAME} ({})", step.step)));
        }
        let mut attempts = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            match step.token(scopes).await {
                Ok(token) => {
                    if self.chosen.set(i).is_ok() {
                        tracing::info!(target: "msal_azure_identity", source = %step.step, "DefaultCredential: using this source from now on");
                    }
                    return Ok(token);
                }
                Err(f) => {
                    let failed = matches!(f, Failure::Failed { .. });
                    tracing::debug!(target: "msal_azure_identity", source = %step.step, failed, reason = f.message(), "DefaultCredential: source gave no token");
                    attempts.push(ChainAttempt {
                        step: step.step,
                        failed,
                        message: f.message().to_owned(),
                    });
                    if failed {
                        return Err(chain_error(attempts, Some(step.step)));
                    }
                }
            }
        }
        Err(chain_error(attempts, None))
    }
}

fn chain_error(attempts: Vec<ChainAttempt>, stopped_at: Option<ChainStep>) -> azure_core::Error {
    let e = ChainError {
        attempts,
        stopped_at,
    };
    let message = format!("{NAME}: {e}");
    azure_core::Error::with_error(ErrorKind::Credential, e, message)
}

#[async_trait::async_trait]
impl TokenCredential for DefaultCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes).await
    }
}

impl DefaultCredentialBuilder {
    /// Where every step reads its variables (default: the process
    /// environment). The `msal` CLI's default cache location still follows
    /// the process's home directory.
    pub fn environment(mut self, env: Environment) -> Self {
        self.env = Some(env);
        self
    }

    /// One HTTP client for every step (default: msal's own, and for managed
    /// identity one that never uses a proxy).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock deciding token expiry in every step (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long IMDS has to answer the probe (default
    /// [`DEFAULT_IMDS_PROBE_TIMEOUT`]).
    pub fn imds_probe_timeout(mut self, timeout: Duration) -> Self {
        self.imds_probe_timeout = timeout;
        self
    }

    /// Leaves a step out.
    pub fn exclude(mut self, step: ChainStep) -> Self {
        self.excluded.push(step);
        self
    }

    /// Keeps the app tokens of the environment, workload identity and
    /// managed identity steps in this file (each step gets its own handle),
    /// so the next run of the program is served from it. Default: memory.
    pub fn app_token_cache(mut self, cache: FileCache) -> Self {
        self.app_cache = Some(cache);
        self
    }

    /// The account the user steps use when several are signed in (default:
    /// `AZURE_USERNAME`, else the only one).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The managed identity to use (default: user-assigned with
    /// `AZURE_CLIENT_ID` when it is set, else system-assigned).
    pub fn managed_identity(mut self, identity: ManagedIdentity) -> Self {
        self.managed_identity = Some(identity);
        self
    }

    fn app_options(&self) -> AppOptions {
        AppOptions {
            http: self.http.clone(),
            clock: self.clock.clone(),
            cache: self
                .app_cache
                .as_ref()
                .map(|c| Arc::new(c.clone()) as Arc<dyn msal::storage::CacheAccess>),
            capabilities: Vec::new(),
        }
    }

    /// Reads the variables and builds every step; nothing is sent yet.
    ///
    /// # Errors
    /// None today: a step that cannot be built is recorded with its reason
    /// and reported by `get_token`.
    pub fn build(self) -> azure_core::Result<Arc<DefaultCredential>> {
        let env = self.env.clone().unwrap_or_else(Environment::process);
        let steps = ChainStep::ALL
            .into_iter()
            .filter(|s| !self.excluded.contains(s))
            .map(|step| Step {
                step,
                source: self.source(step, &env),
            })
            .collect();
        Ok(Arc::new(DefaultCredential {
            steps,
            chosen: OnceLock::new(),
        }))
    }

    fn source(&self, step: ChainStep, env: &Environment) -> Source {
        let broken = |f: Failure| Source::Broken {
            failed: matches!(f, Failure::Failed { .. }),
            message: f.message().to_owned(),
        };
        match step {
            ChainStep::Environment => EnvironmentCredential::open(env, self.app_options())
                .map_or_else(broken, Source::Environment),
            ChainStep::WorkloadIdentity => WorkloadIdentityCredential::open(
                env,
                WorkloadSettings::default(),
                self.app_options(),
            )
            .map_or_else(broken, Source::Workload),
            ChainStep::ManagedIdentity => self.managed(env),
            ChainStep::MsalCli => {
                let mut b = SignedInUserCredential::builder().environment(env);
                if let Some(http) = &self.http {
                    b = b.http_client(http.clone());
                }
                if let Some(clock) = &self.clock {
                    b = b.clock(clock.clone());
                }
                if let Some(u) = &self.username {
                    b = b.username(u.clone());
                }
                b.build().map_or_else(
                    |e| Source::Broken {
                        failed: false,
                        message: e.to_string(),
                    },
                    Source::MsalCli,
                )
            }
            ChainStep::AzureCli => {
                let mut b = AzureCliCacheCredential::builder().environment(env);
                if let Some(http) = &self.http {
                    b = b.http_client(http.clone());
                }
                if let Some(clock) = &self.clock {
                    b = b.clock(clock.clone());
                }
                if let Some(u) = &self.username {
                    b = b.username(u.clone());
                }
                b.build().map_or_else(
                    |e| Source::Broken {
                        failed: false,
                        message: e.to_string(),
                    },
                    Source::AzureCli,
                )
            }
        }
    }

    fn managed(&self, env: &Environment) -> Source {
        let identity =
            self.managed_identity
                .clone()
                .unwrap_or_else(|| match env.var(env::AZURE_CLIENT_ID) {
                    Some(id) => ManagedIdentity::UserAssigned(UserAssignedId::ClientId(
                        id.trim().to_owned(),
                    )),
                    None => ManagedIdentity::SystemAssigned,
                });
        let source = detect_source(env);
        let mut b = ManagedIdentityCredential::builder()
            .identity(identity)
            .environment(env.clone());
        if let Some(http) = &self.http {
            b = b.http_client(http.clone());
        }
        if let Some(clock) = &self.clock {
            b = b.clock(clock.clone());
        }
        if let Some(cache) = &self.app_cache {
            b = b.cache_access(Arc::new(cache.clone()));
        }
        match b.build_inner() {
            Ok(credential) => Source::Managed {
                credential,
                probe: (!announced(source)).then(|| Probe {
                    http: self.http.clone(),
                    base: imds_base(env),
                    timeout: self.imds_probe_timeout,
                    answer: OnceCell::new(),
                }),
            },
            Err(e) => Source::Broken {
                failed: announced(source),
                message: e.to_string(),
            },
        }
    }
}
