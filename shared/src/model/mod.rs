//! The stored records: the platform's data as the contract (section 8.1) names it.
//!
//! Each record holds only source fields, the values a writer or importer supplies. Values the
//! store derives from other records (an entity's children, a user's employee code, a
//! membership's entity name, ...) live in the `Derived` companions next to each record and
//! are maintained by [`crate::store::writer`]; `updatedAt` is likewise set by the writer, never
//! by callers. Records deny unknown members so that an import file with a typo fails
//! validation instead of silently dropping data.

mod catalog;
mod credit;
mod membership;
mod organization;
mod role;
mod tenant;
mod user;
mod validate;

pub use catalog::{AppStatus, CatalogApp, CatalogModule, CatalogPermission, Entitlement};
pub use credit::{AppCreditTotals, CreditBalance, CreditBalanceDerived, CreditConfig};
pub use membership::{employee_code, Membership, MembershipDerived, MembershipStatus};
pub use organization::{Entity, EntityDerived, EntityType};
pub use role::{Role, RoleAssignment, RoleAssignmentDerived, RoleDerived};
pub use tenant::{KindeOrgAlias, Subscription, Tenant};
pub use user::{User, UserDerived};
pub use validate::{id_problem, is_app_code, Problem, Validate, MAX_ID_BYTES, MAX_ID_LEN, MAX_NAME_LEN};

/// A free-form JSON object copied from stored data (`settings`, `preferences`). Kept as a
/// sorted map so identical data always serializes to identical bytes.
pub type JsonObject = std::collections::BTreeMap<String, serde_json::Value>;
