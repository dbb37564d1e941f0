//! Authentication settings (contract section 3.10, as changed in `docs/api.md`), read and
//! checked once at start-up. Every setting is listed in `docs/configuration.md`.

use crate::config::ConfigError;

/// Default of `PLATFORM_ADMIN_PERMISSION`.
pub const DEFAULT_PLATFORM_PERMISSION: &str = "platform:all_tenants";
/// The permission of service tokens that may write (`platform:write`), granted per service.
pub const WRITE_PERMISSION: &str = "platform:write";
/// Default of `ALLOWED_SERVICE_TOKENS` (deprecated shared-secret mode only).
pub const DEFAULT_ALLOWED_SERVICES: &str = "crm,accounting,ops,operations,hr,affiliate_connect,inventory,wrapper";
/// Shortest accepted service-token secret.
pub const MIN_SECRET_LEN: usize = 32;
/// Default of `SERVICE_TOKEN_MAX_LIFETIME_SECONDS`: the longest `exp - iat` accepted.
pub const DEFAULT_MAX_SERVICE_TOKEN_LIFETIME: u64 = 3600;

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the verifiers need.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Expected `iss` of Kinde tokens, without a trailing slash.
    pub kinde_issuer: String,
    /// Required member of `aud` of Kinde tokens (`KINDE_AUDIENCE`, required).
    pub kinde_audience: String,
    /// Permission a member's Kinde token needs to see its tenant (`KINDE_REQUIRED_PERMISSION`).
    pub kinde_required_permission: Option<String>,
    /// The only org whose tokens may be platform-wide (`KINDE_PLATFORM_ORG_CODE`); without
    /// it no Kinde token is.
    pub kinde_platform_org: Option<String>,
    /// Kinde permission that makes a caller of the platform org platform-wide.
    pub platform_permission: String,
    /// Longest accepted `exp - iat` of a service token, in seconds.
    pub max_service_token_lifetime: u64,
}

/// The deprecated shared-secret mode of service tokens (HS256/384/512 under one secret for
/// every service), kept only for migration: off unless `SERVICE_TOKEN_HMAC_COMPAT=true`.
#[derive(Debug, Clone)]
pub struct LegacyServiceSecrets {
    /// Current secret.
    pub secret: Secret,
    /// Previous secret, accepted during a rotation.
    pub previous: Option<Secret>,
    /// Accepted `service` claim values.
    pub allowed_services: Vec<String>,
    /// Services whose shared-secret tokens may be platform-wide.
    pub platform_services: Vec<String>,
}

impl AuthConfig {
    /// Where the issuer publishes its keys.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks", self.kinde_issuer)
    }

    /// Reads the settings through `lookup` (the environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let issuer = lookup("KINDE_ISSUER_URL").ok_or(ConfigError::Missing("KINDE_ISSUER_URL"))?;
        let kinde_issuer = issuer.trim().trim_end_matches('/').to_owned();
        check_issuer(&kinde_issuer)?;
        let trimmed = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let max_service_token_lifetime = match trimmed("SERVICE_TOKEN_MAX_LIFETIME_SECONDS") {
            None => DEFAULT_MAX_SERVICE_TOKEN_LIFETIME,
            Some(text) => text.parse().ok().filter(|s| (60..=86_400).contains(s)).ok_or(ConfigError::Invalid {
                name: "SERVICE_TOKEN_MAX_LIFETIME_SECONDS",
                reason: "must be seconds from 60 to 86400".into(),
            })?,
        };
        Ok(Self {
            kinde_issuer,
            kinde_audience: trimmed("KINDE_AUDIENCE").ok_or(ConfigError::Missing("KINDE_AUDIENCE"))?,
            kinde_required_permission: trimmed("KINDE_REQUIRED_PERMISSION"),
            kinde_platform_org: trimmed("KINDE_PLATFORM_ORG_CODE"),
            platform_permission: trimmed("PLATFORM_ADMIN_PERMISSION")
                .unwrap_or_else(|| DEFAULT_PLATFORM_PERMISSION.to_owned()),
            max_service_token_lifetime,
        })
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }
}

/// The deprecated shared-secret mode, if `SERVICE_TOKEN_HMAC_COMPAT` is `true` (read with
/// the other runtime secrets, `crate::secrets`).
pub(crate) fn legacy_secrets(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<LegacyServiceSecrets>, ConfigError> {
    match lookup("SERVICE_TOKEN_HMAC_COMPAT").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false") | Some("0") | Some("") => return Ok(None),
        Some("true") | Some("1") => {}
        Some(_) => {
            return Err(ConfigError::Invalid {
                name: "SERVICE_TOKEN_HMAC_COMPAT",
                reason: "must be true or false".into(),
            })
        }
    }
    let current = secret(lookup("SERVICE_TOKEN_SECRET"), "SERVICE_TOKEN_SECRET")?
        .ok_or(ConfigError::Missing("SERVICE_TOKEN_SECRET"))?;
    let previous = secret(lookup("SERVICE_TOKEN_SECRET_PREVIOUS"), "SERVICE_TOKEN_SECRET_PREVIOUS")?;
    let list = |name: &str, default: &str| -> Vec<String> {
        lookup(name)
            .unwrap_or_else(|| default.to_owned())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(Some(LegacyServiceSecrets {
        secret: current,
        previous,
        allowed_services: list("ALLOWED_SERVICE_TOKENS", DEFAULT_ALLOWED_SERVICES),
        platform_services: list("SERVICE_TOKEN_HMAC_PLATFORM_SERVICES", ""),
    }))
}

fn secret(value: Option<String>, name: &'static str) -> Result<Option<Secret>, ConfigError> {
    match value {
        None => Ok(None),
        Some(value) if value.len() < MIN_SECRET_LEN => {
            Err(ConfigError::Invalid { name, reason: format!("must be at least {MIN_SECRET_LEN} bytes") })
        }
        Some(value) => Ok(Some(Secret(value.into_bytes()))),
    }
}

/// The issuer must be https; plain http is allowed only for a loopback host (local runs).
fn check_issuer(issuer: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid { name: "KINDE_ISSUER_URL", reason: reason.to_owned() };
    let url = reqwest::Url::parse(issuer).map_err(|_| invalid("must be an absolute URL"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(host)) => host == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(invalid("must use https (http is allowed only for 127.0.0.1, ::1 or localhost)"))
            }
        }
        _ => Err(invalid("must use https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const BASE: [(&str, &str); 2] =
        [("KINDE_ISSUER_URL", "https://acme.kinde.com/"), ("KINDE_AUDIENCE", "https://app-sync")];

    fn config(vars: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        let map: HashMap<String, String> =
            BASE.iter().chain(vars).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AuthConfig::from_lookup(|name| map.get(name).cloned().filter(|v| !v.is_empty()))
    }

    #[test]
    fn defaults_are_strict() {
        let c = config(&[]).unwrap();
        assert_eq!(c.kinde_issuer, "https://acme.kinde.com");
        assert_eq!(c.jwks_url(), "https://acme.kinde.com/.well-known/jwks");
        assert_eq!(c.platform_permission, "platform:all_tenants");
        assert_eq!(c.max_service_token_lifetime, 3600);
        assert!(c.kinde_platform_org.is_none() && c.kinde_required_permission.is_none());
    }

    #[test]
    fn the_kinde_audience_is_required() {
        let map: HashMap<&str, &str> = [("KINDE_ISSUER_URL", "https://a.kinde.com")].into();
        let missing = AuthConfig::from_lookup(|name| map.get(name).map(|v| v.to_string()));
        assert!(matches!(missing, Err(ConfigError::Missing("KINDE_AUDIENCE"))));
    }

    fn legacy(vars: &[(&str, &str)]) -> Result<Option<LegacyServiceSecrets>, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        legacy_secrets(&|name: &str| map.get(name).cloned())
    }

    #[test]
    fn the_shared_secret_mode_is_off_unless_asked_for() {
        assert!(legacy(&[("SERVICE_TOKEN_SECRET", SECRET)]).unwrap().is_none());
        let on = legacy(&[("SERVICE_TOKEN_HMAC_COMPAT", "true"), ("SERVICE_TOKEN_SECRET", SECRET)]).unwrap().unwrap();
        assert_eq!(on.allowed_services.len(), 8);
        assert!(on.platform_services.is_empty());
        assert!(matches!(
            legacy(&[("SERVICE_TOKEN_HMAC_COMPAT", "true")]),
            Err(ConfigError::Missing("SERVICE_TOKEN_SECRET"))
        ));
        assert!(legacy(&[("SERVICE_TOKEN_HMAC_COMPAT", "yes")]).is_err());
        let short = legacy(&[("SERVICE_TOKEN_HMAC_COMPAT", "true"), ("SERVICE_TOKEN_SECRET", "too-short-secret")]);
        let message = short.unwrap_err().to_string();
        assert!(message.contains("SERVICE_TOKEN_SECRET") && !message.contains("too-short-secret"));
        let debug = format!("{:?}", legacy(&[("SERVICE_TOKEN_HMAC_COMPAT", "true"), ("SERVICE_TOKEN_SECRET", SECRET)]));
        assert!(!debug.contains(SECRET));
    }

    #[test]
    fn bad_settings_stop_start_up() {
        let lifetime = config(&[("SERVICE_TOKEN_MAX_LIFETIME_SECONDS", "31536000")]);
        assert!(matches!(lifetime, Err(ConfigError::Invalid { name: "SERVICE_TOKEN_MAX_LIFETIME_SECONDS", .. })));
    }

    #[test]
    fn issuer_must_be_https_except_on_loopback() {
        for ok in ["https://acme.kinde.com", "http://127.0.0.1:3000", "http://localhost:9", "http://[::1]:80"] {
            assert!(config(&[("KINDE_ISSUER_URL", ok)]).is_ok(), "{ok}");
        }
        for bad in ["http://acme.kinde.com", "http://10.0.0.1", "ftp://x", "not a url"] {
            assert!(config(&[("KINDE_ISSUER_URL", bad)]).is_err(), "{bad}");
        }
    }
}
