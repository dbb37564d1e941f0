//! Tenant isolation: may this caller see the tenant named in the path (contract 3.6)?

use super::directory::{TenantDirectory, TenantRef};
use super::{AuthError, Caller, CallerScope};
use crate::store::reader::{self, StoredTenant};
use crate::store::{Store, StoreError};

/// What went wrong deciding tenant access.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The caller may not proceed.
    #[error(transparent)]
    Denied(#[from] AuthError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tenant named `value`: first by `tenantId`, then by Kinde org code. Deleted or
/// never-written tenants are `None`.
pub async fn resolve_tenant(store: &Store, value: &str) -> Result<Option<StoredTenant>, StoreError> {
    if let Some(tenant) = reader::tenant(store, value).await?.filter(|t| t.live().is_some()) {
        return Ok(Some(tenant));
    }
    match reader::tenant_id_for_org(store, value).await? {
        Some(tenant_id) => Ok(reader::tenant(store, &tenant_id).await?.filter(|t| t.live().is_some())),
        None => Ok(None),
    }
}

/// The tenant id that [`authorize_tenant`] will most likely resolve `path_tenant` to for
/// `caller`, when a read of it may start before the decision: a service token naming its own
/// tenant in the path (it can only be granted or find no such tenant), or a platform caller
/// (trusted with every tenant). A read started this way is used only if authorization grants
/// access and resolves to this very id; otherwise it is dropped unseen, so the answers and
/// their order stay those of contract 3.6. Member tokens are never guessed for: their
/// tenant is known only after the org lookup, and a wrong guess would read a tenant they may
/// not see.
pub fn presumed_tenant<'a>(caller: &Caller, path_tenant: &'a str) -> Option<&'a str> {
    match &caller.scope {
        CallerScope::Platform => Some(path_tenant),
        CallerScope::ServiceTenant(claim) if claim == path_tenant => Some(path_tenant),
        _ => None,
    }
}

/// Decides whether `caller` may see the tenant named `path_tenant` (a tenant id or Kinde
/// org code) and returns its names.
///
/// A tenant-scoped caller naming any tenant but its own gets [`AuthError::Forbidden`],
/// whether or not that tenant exists, so the answer never reveals which tenants exist. Only
/// a caller who may see a tenant learns that it does not exist.
pub async fn authorize_tenant(
    directory: &TenantDirectory,
    caller: &Caller,
    path_tenant: &str,
) -> Result<TenantRef, AccessError> {
    match &caller.scope {
        CallerScope::Unscoped => Err(AuthError::Forbidden.into()),
        CallerScope::Platform => directory.resolve(path_tenant).await?.ok_or(AuthError::TenantNotFound.into()),
        CallerScope::KindeOrg(org) => {
            let own = directory.tenant_for_org(org).await?.ok_or(AuthError::Forbidden)?;
            if path_tenant != own && path_tenant != org {
                return Err(AuthError::Forbidden.into());
            }
            directory.resolve(&own).await?.ok_or(AuthError::TenantNotFound.into())
        }
        CallerScope::ServiceTenant(claim) => {
            let own = directory.resolve(claim).await?;
            if path_tenant == claim {
                return own.ok_or(AuthError::TenantNotFound.into());
            }
            match own {
                Some(tenant) if path_tenant == tenant.tenant_id || path_tenant == tenant.kinde_org_id => Ok(tenant),
                _ => Err(AuthError::Forbidden.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::TokenKind;
    use super::*;

    fn caller(kind: TokenKind, scope: CallerScope) -> Caller {
        Caller { kind, principal: "p".into(), scope, can_write: false }
    }

    #[test]
    fn a_tenant_is_presumed_only_where_access_cannot_be_refused_for_another_tenant() {
        let own = caller(TokenKind::Service, CallerScope::ServiceTenant("t-1".into()));
        assert_eq!(presumed_tenant(&own, "t-1"), Some("t-1"));
        assert_eq!(presumed_tenant(&own, "t-2"), None, "another tenant's page is never read first");
        let platform = caller(TokenKind::Service, CallerScope::Platform);
        assert_eq!(presumed_tenant(&platform, "t-2"), Some("t-2"));
        let member = caller(TokenKind::Kinde, CallerScope::KindeOrg("org_a".into()));
        assert_eq!(presumed_tenant(&member, "org_a"), None);
        assert_eq!(presumed_tenant(&caller(TokenKind::Service, CallerScope::Unscoped), "t-1"), None);
    }
}
