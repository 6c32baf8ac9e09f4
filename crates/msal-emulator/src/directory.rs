//! The resolved directory: tenants, users, apps and APIs from the
//! configuration, checked once at start-up and looked up by the routes.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::certs::RegisteredCert;
use crate::config::{AppKind, EmulatorConfig};
use crate::error::{EmulatorError, Result};

/// A tenant.
#[derive(Clone, Debug)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) domains: Vec<String>,
    pub(crate) consumers: bool,
}

/// A user.
#[derive(Clone)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) display_name: String,
    pub(crate) home_tenant: String,
    pub(crate) object_id: String,
    pub(crate) guest_tenants: Vec<String>,
    pub(crate) email: Option<String>,
}

impl User {
    /// True when the user can sign in to `tenant_id` (home or guest).
    pub(crate) fn member_of(&self, tenant_id: &str) -> bool {
        self.home_tenant == tenant_id || self.guest_tenants.iter().any(|t| t == tenant_id)
    }

    /// The user's object id in a tenant: the configured one at home, a
    /// stable derived one where the user is a guest (Entra gives a guest a
    /// different object in each tenant).
    pub(crate) fn object_id_in(&self, tenant_id: &str) -> String {
        if tenant_id == self.home_tenant {
            self.object_id.clone()
        } else {
            derived_guid(&format!("guest:{}:{}", self.object_id, tenant_id))
        }
    }
}

/// A client application.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) kind: AppKind,
    pub(crate) secrets: Vec<String>,
    pub(crate) certificates: Vec<RegisteredCert>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) family_id: Option<String>,
    pub(crate) allow_public_client_flows: bool,
    /// api app id → scope names (canonical case).
    pub(crate) delegated: BTreeMap<String, Vec<String>>,
    /// api app id → role names.
    pub(crate) application: BTreeMap<String, Vec<String>>,
}

impl App {
    pub(crate) fn is_public(&self) -> bool {
        self.kind == AppKind::Public
    }
}

/// A resource.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    pub(crate) app_id: String,
    pub(crate) name: String,
    pub(crate) identifier_uris: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) app_roles: Vec<String>,
    pub(crate) default_resource: bool,
}

impl Api {
    /// The scope's canonical spelling, when the API defines it.
    pub(crate) fn scope(&self, name: &str) -> Option<&str> {
        self.scopes
            .iter()
            .find(|s| s.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    /// The identifier used to qualify scopes in responses.
    pub(crate) fn primary_uri(&self) -> &str {
        self.identifier_uris
            .first()
            .map(String::as_str)
            .unwrap_or(&self.app_id)
    }
}

/// Everything configured, indexed.
pub(crate) struct Directory {
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) users: Vec<User>,
    pub(crate) apps: HashMap<String, App>,
    pub(crate) apis: Vec<Api>,
}

/// A GUID derived from a string, stable across runs.
pub(crate) fn derived_guid(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

impl Directory {
    /// Checks and indexes a configuration.
    pub(crate) fn build(config: &EmulatorConfig) -> Result<Self> {
        let bad = |m: String| Err(EmulatorError::InvalidConfig(m));
        let mut tenants: Vec<Tenant> = Vec::new();
        for t in &config.tenants {
            if !is_guid(&t.id) {
                return bad(format!("tenant id {:?} is not a GUID", t.id));
            }
            let id = t.id.to_ascii_lowercase();
            if tenants.iter().any(|x| x.id == id) {
                return bad(format!("tenant {id} is listed twice"));
            }
            tenants.push(Tenant {
                id,
                domains: t.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
                consumers: t.consumers,
            });
        }
        let mut dir = Directory {
            tenants,
            users: Vec::new(),
            apps: HashMap::new(),
            apis: Vec::new(),
        };
        let resolve_tenant = |dir: &Directory, name: &str| -> Result<String> {
            dir.tenant_by_name(name)
                .map(|t| t.id.clone())
                .ok_or_else(|| EmulatorError::InvalidConfig(format!("unknown tenant {name:?}")))
        };
        for u in &config.users {
            let home = resolve_tenant(&dir, &u.tenant)?;
            let username = u.username.to_ascii_lowercase();
            if dir.users.iter().any(|x| x.username == username) {
                return bad(format!("user {username} is listed twice"));
            }
            let object_id = match &u.object_id {
                Some(o) if is_guid(o) => o.to_ascii_lowercase(),
                Some(o) => return bad(format!("object id {o:?} of {username} is not a GUID")),
                None => derived_guid(&format!("user:{username}")),
            };
            let mut guests = Vec::new();
            for g in &u.guest_tenants {
                guests.push(resolve_tenant(&dir, g)?);
            }
            dir.users.push(User {
                username,
                password: u.password.clone(),
                display_name: if u.display_name.is_empty() {
                    u.username.clone()
                } else {
                    u.display_name.clone()
                },
                home_tenant: home,
                object_id,
                guest_tenants: guests,
                email: u.email.clone(),
            });
        }
        for a in &config.apis {
            if !is_guid(&a.app_id) {
                return bad(format!("api app id {:?} is not a GUID", a.app_id));
            }
            dir.apis.push(Api {
                app_id: a.app_id.to_ascii_lowercase(),
                name: a.name.clone(),
                identifier_uris: a.identifier_uris.clone(),
                scopes: a.scopes.clone(),
                app_roles: a.app_roles.clone(),
                default_resource: a.default_resource,
            });
        }
        for a in &config.apps {
            if !is_guid(&a.client_id) {
                return bad(format!("client id {:?} is not a GUID", a.client_id));
            }
            let client_id = a.client_id.to_ascii_lowercase();
            if dir.apps.contains_key(&client_id) {
                return bad(format!("app {client_id} is listed twice"));
            }
            let mut certificates = Vec::new();
            for pem in &a.certificates {
                certificates.push(RegisteredCert::from_pem(pem).map_err(|e| {
                    EmulatorError::InvalidConfig(format!("certificate of app {client_id}: {e}"))
                })?);
            }
            let mut delegated = BTreeMap::new();
            for (resource, scopes) in &a.delegated_permissions {
                let api = dir.api_by_resource(resource).ok_or_else(|| {
                    EmulatorError::InvalidConfig(format!(
                        "app {client_id}: unknown resource {resource:?}"
                    ))
                })?;
                let mut names = Vec::new();
                for s in scopes {
                    match api.scope(s) {
                        Some(n) => names.push(n.to_string()),
                        None => {
                            return bad(format!("app {client_id}: {resource} has no scope {s:?}"));
                        }
                    }
                }
                delegated.insert(api.app_id.clone(), names);
            }
            let mut application = BTreeMap::new();
            for (resource, roles) in &a.application_permissions {
                let api = dir.api_by_resource(resource).ok_or_else(|| {
                    EmulatorError::InvalidConfig(format!(
                        "app {client_id}: unknown resource {resource:?}"
                    ))
                })?;
                for r in roles {
                    if !api.app_roles.iter().any(|x| x == r) {
                        return bad(format!("app {client_id}: {resource} has no app role {r:?}"));
                    }
                }
                application.insert(api.app_id.clone(), roles.clone());
            }
            let public = a.kind == AppKind::Public;
            dir.apps.insert(
                client_id.clone(),
                App {
                    client_id,
                    name: if a.name.is_empty() {
                        a.client_id.clone()
                    } else {
                        a.name.clone()
                    },
                    kind: a.kind,
                    secrets: a.secrets.clone(),
                    certificates,
                    redirect_uris: a.redirect_uris.clone(),
                    family_id: a.family_id.clone().filter(|f| !f.is_empty()),
                    allow_public_client_flows: a.allow_public_client_flows.unwrap_or(public),
                    delegated,
                    application,
                },
            );
        }
        Ok(dir)
    }

    /// A tenant by id or domain (case-insensitive).
    pub(crate) fn tenant_by_name(&self, name: &str) -> Option<&Tenant> {
        let name = name.to_ascii_lowercase();
        self.tenants
            .iter()
            .find(|t| t.id == name || t.domains.contains(&name))
    }

    /// A tenant by id.
    pub(crate) fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// A user by sign-in name (case-insensitive).
    pub(crate) fn user(&self, username: &str) -> Option<&User> {
        let username = username.trim().to_ascii_lowercase();
        self.users.iter().find(|u| u.username == username)
    }

    /// An app by client id (case-insensitive).
    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.get(&client_id.trim().to_ascii_lowercase())
    }

    /// An API by app id or identifier URI (case-insensitive, trailing slash
    /// ignored).
    pub(crate) fn api_by_resource(&self, resource: &str) -> Option<&Api> {
        let r = resource.trim_end_matches('/');
        self.apis.iter().find(|a| {
            a.app_id.eq_ignore_ascii_case(r)
                || a.identifier_uris
                    .iter()
                    .any(|u| u.trim_end_matches('/').eq_ignore_ascii_case(r))
        })
    }

    /// An API by app id.
    pub(crate) fn api(&self, app_id: &str) -> Option<&Api> {
        self.apis.iter().find(|a| a.app_id == app_id)
    }

    /// The API unqualified scopes name (Graph in the default directory).
    pub(crate) fn default_api(&self) -> Option<&Api> {
        self.apis.iter().find(|a| a.default_resource)
    }

    /// Apps in the same family as `client_id` (including itself).
    #[cfg(test)]
    pub(crate) fn same_family(&self, a: &str, b: &str) -> bool {
        match (self.app(a), self.app(b)) {
            (Some(x), Some(y)) => x.family_id.is_some() && x.family_id == y.family_id,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_directory_builds_and_resolves_names() {
        let dir = Directory::build(&EmulatorConfig::default()).unwrap();
        let t = dir
            .tenant_by_name(crate::defaults::TENANT_DOMAIN.to_uppercase().as_str())
            .unwrap();
        assert_eq!(t.id, crate::defaults::TENANT_ID);
        let ada = dir.user("ADA@contoso.onmicrosoft.com").unwrap();
        assert_eq!(ada.object_id, crate::defaults::USER_OBJECT_ID);
        assert_ne!(
            ada.object_id_in(crate::defaults::SECOND_TENANT_ID),
            ada.object_id
        );
        assert!(ada.member_of(crate::defaults::SECOND_TENANT_ID));
        assert!(dir.same_family(crate::defaults::CLI_APP_ID, crate::defaults::FAMILY_APP_ID));
        assert!(!dir.same_family(crate::defaults::CLI_APP_ID, crate::defaults::DESKTOP_APP_ID));
        assert_eq!(
            dir.api_by_resource("https://graph.microsoft.com/")
                .unwrap()
                .app_id,
            crate::defaults::GRAPH_APP_ID
        );
    }

    #[test]
    fn bad_configs_are_rejected_with_a_reason() {
        let mut c = EmulatorConfig::default();
        c.users[0].tenant = "nowhere.example".into();
        let e = Directory::build(&c).err().unwrap().to_string();
        assert!(e.contains("unknown tenant"), "{e}");
        let mut c = EmulatorConfig::default();
        c.apps[0].client_id = "not-a-guid".into();
        assert!(Directory::build(&c).is_err());
        let mut c = EmulatorConfig::default();
        c.apps[0]
            .delegated_permissions
            .insert(crate::defaults::GRAPH_URI.into(), vec!["Nope.Read".into()]);
        assert!(Directory::build(&c).is_err());
    }
}
