//! The values the store derives from related records, as pure functions.
//!
//! The incremental writer and the bulk loader both call these, so a record loaded in bulk
//! and the same record written one by one end up with identical items.

use std::collections::BTreeMap;

use crate::model::{
    employee_code, CreditBalanceDerived, Entity, Membership, MembershipDerived, Role, RoleAssignmentDerived,
    RoleDerived, User, UserDerived,
};

/// A user's derived values from the user's live memberships (R3).
pub fn user<'a>(user: &User, memberships: impl IntoIterator<Item = &'a Membership>) -> UserDerived {
    UserDerived { employee_code: employee_code(&user.user_id, memberships) }
}

/// A role's derived values: the apps it covers, for the `appCode` filter.
pub fn role(role: &Role) -> RoleDerived {
    RoleDerived { app_codes: role.covered_apps() }
}

/// A role assignment's derived values, given whether its user and role exist.
pub fn role_assignment(user_exists: bool, role_exists: bool) -> RoleAssignmentDerived {
    RoleAssignmentDerived { user_ok: user_exists, role_ok: role_exists }
}

/// A membership's derived values from its (live) user and entity, if they exist.
pub fn membership(user: Option<&User>, entity: Option<&Entity>) -> MembershipDerived {
    let mut derived = MembershipDerived::default();
    membership_user_part(&mut derived, user);
    membership_entity_part(&mut derived, entity);
    derived
}

/// Sets the part of a membership's derived values that comes from its user.
pub fn membership_user_part(derived: &mut MembershipDerived, user: Option<&User>) {
    derived.user_ok = user.is_some();
    derived.user_active = user.is_some_and(User::active);
}

/// Sets the part of a membership's derived values that comes from its entity.
pub fn membership_entity_part(derived: &mut MembershipDerived, entity: Option<&Entity>) {
    derived.entity_ok = entity.is_some();
    derived.entity_name = entity.map(|e| e.entity_name.clone());
    derived.entity_code = entity.and_then(|e| e.entity_code.clone());
}

/// A credit balance's derived values from its entity, if it exists.
pub fn credit_balance(entity: Option<&Entity>) -> CreditBalanceDerived {
    CreditBalanceDerived { allocation_type: entity.map(|e| e.entity_type.as_str().to_owned()) }
}

/// Every entity's direct children, in byte order, from the whole set of live entities.
pub fn children<'a>(entities: impl IntoIterator<Item = &'a Entity>) -> BTreeMap<String, Vec<String>> {
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entity in entities {
        if let Some(parent) = &entity.parent_entity_id {
            children.entry(parent.clone()).or_default().push(entity.entity_id.clone());
        }
    }
    for ids in children.values_mut() {
        ids.sort();
    }
    children
}
