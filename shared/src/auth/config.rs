//! Authentication settings (contract section 3.10), read and checked once at start-up.

use crate::config::ConfigError;

/// Default of `PLATFORM_ADMIN_PERMISSION`.
pub const DEFAULT_PLATFORM_PERMISSION: &str = "platform:all_tenants";
/// Default of `ALLOWED_SERVICE_TOKENS`.
pub const DEFAULT_ALLOWED_SERVICES: &str = "crm,accounting,ops,operations,hr,affiliate_connect,inventory,wrapper";
/// Shortest accepted service-token secret.
pub const MIN_SECRET_LEN: usize = 32;

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
    /// Required member of `aud`, if configured.
    pub kinde_audience: Option<String>,
    /// Kinde permission that makes a caller platform-wide.
    pub platform_permission: String,
    /// Current service-token secret.
    pub service_secret: Secret,
    /// Previous service-token secret, accepted during a rotation.
    pub service_secret_previous: Option<Secret>,
    /// Accepted `service` claim values.
    pub allowed_services: Vec<String>,
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
        let service_secret = secret(lookup("SERVICE_TOKEN_SECRET"), "SERVICE_TOKEN_SECRET")?
            .ok_or(ConfigError::Missing("SERVICE_TOKEN_SECRET"))?;
        let service_secret_previous = secret(lookup("SERVICE_TOKEN_SECRET_PREVIOUS"), "SERVICE_TOKEN_SECRET_PREVIOUS")?;
        let allowed = lookup("ALLOWED_SERVICE_TOKENS").unwrap_or_else(|| DEFAULT_ALLOWED_SERVICES.to_owned());
        let allowed_services: Vec<String> =
            allowed.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        Ok(Self {
            kinde_issuer,
            kinde_audience: lookup("KINDE_AUDIENCE").map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()),
            platform_permission: lookup("PLATFORM_ADMIN_PERMISSION")
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| DEFAULT_PLATFORM_PERMISSION.to_owned()),
            service_secret,
            service_secret_previous,
            allowed_services,
        })
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }
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

    fn config(vars: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AuthConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[("KINDE_ISSUER_URL", "https://acme.kinde.com/"), ("SERVICE_TOKEN_SECRET", SECRET)]).unwrap();
        assert_eq!(c.kinde_issuer, "https://acme.kinde.com");
        assert_eq!(c.jwks_url(), "https://acme.kinde.com/.well-known/jwks");
        assert_eq!(c.platform_permission, "platform:all_tenants");
        assert_eq!(c.allowed_services.len(), 8);
        assert!(c.kinde_audience.is_none() && c.service_secret_previous.is_none());
    }

    #[test]
    fn allowed_services_are_trimmed_and_empty_entries_dropped() {
        let c = config(&[
            ("KINDE_ISSUER_URL", "https://a.kinde.com"),
            ("SERVICE_TOKEN_SECRET", SECRET),
            ("ALLOWED_SERVICE_TOKENS", " crm, ,hr,,"),
        ])
        .unwrap();
        assert_eq!(c.allowed_services, vec!["crm", "hr"]);
    }

    #[test]
    fn bad_settings_stop_start_up_without_printing_secrets() {
        assert!(matches!(config(&[("SERVICE_TOKEN_SECRET", SECRET)]), Err(ConfigError::Missing("KINDE_ISSUER_URL"))));
        assert!(matches!(
            config(&[("KINDE_ISSUER_URL", "https://a.kinde.com")]),
            Err(ConfigError::Missing("SERVICE_TOKEN_SECRET"))
        ));
        let short =
            config(&[("KINDE_ISSUER_URL", "https://a.kinde.com"), ("SERVICE_TOKEN_SECRET", "too-short-secret")]);
        let message = short.unwrap_err().to_string();
        assert!(message.contains("SERVICE_TOKEN_SECRET") && !message.contains("too-short-secret"));
        let previous = config(&[
            ("KINDE_ISSUER_URL", "https://a.kinde.com"),
            ("SERVICE_TOKEN_SECRET", SECRET),
            ("SERVICE_TOKEN_SECRET_PREVIOUS", "short"),
        ]);
        assert!(matches!(previous, Err(ConfigError::Invalid { name: "SERVICE_TOKEN_SECRET_PREVIOUS", .. })));
        let debug =
            format!("{:?}", config(&[("KINDE_ISSUER_URL", "https://a.kinde.com"), ("SERVICE_TOKEN_SECRET", SECRET)]));
        assert!(!debug.contains(SECRET));
    }

    #[test]
    fn issuer_must_be_https_except_on_loopback() {
        for ok in ["https://acme.kinde.com", "http://127.0.0.1:3000", "http://localhost:9", "http://[::1]:80"] {
            assert!(config(&[("KINDE_ISSUER_URL", ok), ("SERVICE_TOKEN_SECRET", SECRET)]).is_ok(), "{ok}");
        }
        for bad in ["http://acme.kinde.com", "http://10.0.0.1", "ftp://x", "not a url"] {
            assert!(config(&[("KINDE_ISSUER_URL", bad), ("SERVICE_TOKEN_SECRET", SECRET)]).is_err(), "{bad}");
        }
    }
}
