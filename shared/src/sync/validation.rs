//! The validation phase (10.5): completeness, referential integrity over every non-deleted
//! record (active or not, listed or not), and repair of the tenant's counters.
//!
//! Records are streamed by key prefix one DynamoDB page at a time; only what the checks need
//! is kept (id sets, the parent of each entity, the references to check), never rows. The
//! same read yields each collection's default-pull tally, which an in-process run uses for
//! its essential and reference sub-results instead of walking the collections again
//! (`run::run_phases`).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::counters::CounterDrift;
use super::phases::{stream, Tally};
use crate::model::{CreditBalance, Entity, Membership, Role, RoleAssignment, User};
use crate::store::keys::Collection;
use crate::store::reader::{self, Counters};
use crate::store::writer::Writer;
use crate::store::{Store, StoreError};

/// Largest number of ids an issue lists.
pub const SAMPLE_SIZE: usize = 10;

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Stable code, for example `ROLE_ASSIGNMENT_UNKNOWN_USER`.
    pub code: String,
    /// What the check found.
    pub message: String,
    /// Offending records.
    pub count: u64,
    /// Up to ten of their ids, in byte order.
    pub sample: Vec<String>,
}

/// `phases.validation.validation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// `round(100 * passed / 3)` over tenant exists, an active user, an active entity.
    pub completeness: u8,
    /// Failed checks, in the contract's order.
    pub issues: Vec<Issue>,
}

/// What validation did besides checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationOutcome {
    /// The result reported in the run.
    pub validation: Validation,
    /// How the counters differed from the counted records, and whether they were repaired.
    pub counter_drift: Option<CounterDrift>,
}

/// Offending ids of one check.
#[derive(Default)]
struct Offenders(BTreeSet<String>);

impl Offenders {
    fn issue(&self, code: &str, message: &str) -> Option<Issue> {
        (!self.0.is_empty()).then(|| Issue {
            code: code.to_owned(),
            message: message.to_owned(),
            count: self.0.len() as u64,
            sample: self.0.iter().take(SAMPLE_SIZE).cloned().collect(),
        })
    }
}

/// One read of every collection of a tenant (each base-table prefix once): what validation
/// checks, the counts it repairs the counters with, and each collection's default-pull
/// tally, which an in-process run reports as the essential and reference sub-results.
pub struct Gathered {
    counters_version: Option<u64>,
    tenant_exists: bool,
    counts: Counters,
    default_pulls: HashMap<Collection, Tally>,
    active_users: u64,
    active_entities: u64,
    parents: HashMap<String, Option<String>>,
    primaries: Vec<(String, String)>,
    ra_user: Offenders,
    ra_role: Offenders,
    m_user: Offenders,
    m_entity: Offenders,
    credit_entity: Offenders,
}

impl Gathered {
    /// The tally of `collection`'s default pull, taken from the read (the sub-result a
    /// separate `byActive` walk would have given at the same moment).
    pub fn default_pull(&mut self, collection: Collection) -> Tally {
        self.default_pulls.remove(&collection).unwrap_or_default()
    }
}

/// Reads every collection once: users, entities and roles concurrently (the id sets the
/// references are checked against), then role assignments, memberships and credit balances
/// concurrently, checked as they stream. Only id sets and offenders are kept, never rows.
pub async fn gather(store: &Store, tenant_id: &str) -> Result<Gathered, StoreError> {
    // The counters' version before any record is read (see `counters`).
    let (_, counters_version) = reader::counters_with_version(store, tenant_id).await?;
    let tenant_exists = reader::tenant(store, tenant_id).await?.is_some_and(|t| t.live().is_some());

    let (mut users, mut primaries, mut active_users) = (HashSet::new(), Vec::new(), 0u64);
    let (mut parents, mut active_entities) = (HashMap::new(), 0u64);
    let mut roles = HashSet::new();
    let (streamed_users, streamed_entities, streamed_roles) = tokio::join!(
        stream::<User>(store, tenant_id, |u| {
            users.insert(u.user_id.clone());
            active_users += u64::from(u.active());
            if let Some(primary) = &u.primary_organization_id {
                primaries.push((u.user_id.clone(), primary.clone()));
            }
        }),
        stream::<Entity>(store, tenant_id, |e| {
            parents.insert(e.entity_id.clone(), e.parent_entity_id.clone());
            active_entities += u64::from(e.active());
        }),
        stream::<Role>(store, tenant_id, |r| {
            roles.insert(r.role_id.clone());
        }),
    );

    let (mut ra_user, mut ra_role, mut m_user, mut m_entity, mut credit_entity) =
        (Offenders::default(), Offenders::default(), Offenders::default(), Offenders::default(), Offenders::default());
    let (streamed_assignments, streamed_memberships, streamed_balances) = tokio::join!(
        stream::<RoleAssignment>(store, tenant_id, |a| {
            if !users.contains(&a.user_id) {
                ra_user.0.insert(a.assignment_id.clone());
            }
            if !roles.contains(&a.role_id) {
                ra_role.0.insert(a.assignment_id.clone());
            }
        }),
        stream::<Membership>(store, tenant_id, |m| {
            if !users.contains(&m.user_id) {
                m_user.0.insert(m.membership_id.clone());
            }
            if !parents.contains_key(&m.entity_id) {
                m_entity.0.insert(m.membership_id.clone());
            }
        }),
        stream::<CreditBalance>(store, tenant_id, |b| {
            if !parents.contains_key(&b.entity_id) {
                credit_entity.0.insert(b.entity_id.clone());
            }
        }),
    );
    let mut counts = Counters::default();
    let mut default_pulls = HashMap::new();
    let streamed = [
        (Collection::Users, streamed_users?),
        (Collection::Entities, streamed_entities?),
        (Collection::Roles, streamed_roles?),
        (Collection::RoleAssignments, streamed_assignments?),
        (Collection::Memberships, streamed_memberships?),
        (Collection::CreditBalances, streamed_balances?),
    ];
    for (collection, streamed) in streamed {
        counts.0.insert(collection, streamed.counts);
        default_pulls.insert(collection, streamed.default_pull);
    }
    Ok(Gathered {
        counters_version,
        tenant_exists,
        counts,
        default_pulls,
        active_users,
        active_entities,
        parents,
        primaries,
        ra_user,
        ra_role,
        m_user,
        m_entity,
        credit_entity,
    })
}

/// Runs validation for a tenant and repairs its counters if they drifted (and nothing moved
/// them while it read; see [`counters`](super::counters)).
pub async fn validate(writer: &Writer, tenant_id: &str, skip_reference: bool) -> Result<ValidationOutcome, StoreError> {
    let gathered = gather(writer.store(), tenant_id).await?;
    conclude(writer, tenant_id, gathered, skip_reference).await
}

/// The checks over what [`gather`] read, in the contract's order, and the counter repair.
pub async fn conclude(
    writer: &Writer,
    tenant_id: &str,
    gathered: Gathered,
    skip_reference: bool,
) -> Result<ValidationOutcome, StoreError> {
    let Gathered { tenant_exists, active_users, active_entities, parents, .. } = &gathered;
    let unknown_parent = Offenders(
        parents
            .iter()
            .filter(|(_, p)| p.as_ref().is_some_and(|p| !parents.contains_key(p)))
            .map(|(id, _)| id.clone())
            .collect(),
    );
    let cycle = Offenders(entities_on_cycles(parents));
    let unknown_primary = Offenders(
        gathered.primaries.iter().filter(|(_, org)| !parents.contains_key(org)).map(|(user, _)| user.clone()).collect(),
    );

    let passed = u32::from(*tenant_exists) + u32::from(*active_users > 0) + u32::from(*active_entities > 0);
    let completeness = ((100 * passed) as f64 / 3.0).round() as u8;
    let mut issues = Vec::new();
    if !tenant_exists {
        issues.push(Issue {
            code: "TENANT_MISSING".into(),
            message: "The tenant record does not exist".into(),
            count: 1,
            sample: vec![tenant_id.to_owned()],
        });
    }
    if *active_users == 0 {
        issues.push(Issue {
            code: "NO_ACTIVE_USERS".into(),
            message: "The tenant has no active user".into(),
            count: 0,
            sample: Vec::new(),
        });
    }
    if *active_entities == 0 {
        issues.push(Issue {
            code: "NO_ACTIVE_ORGANIZATIONS".into(),
            message: "The tenant has no active organization".into(),
            count: 0,
            sample: Vec::new(),
        });
    }
    let g = &gathered;
    let reference_checks = [
        g.ra_user.issue("ROLE_ASSIGNMENT_UNKNOWN_USER", "Role assignments whose user does not exist in the tenant"),
        g.ra_role.issue("ROLE_ASSIGNMENT_UNKNOWN_ROLE", "Role assignments whose role does not exist in the tenant"),
        g.m_user
            .issue("EMPLOYEE_ASSIGNMENT_UNKNOWN_USER", "Employee assignments whose user does not exist in the tenant"),
        g.m_entity.issue(
            "EMPLOYEE_ASSIGNMENT_UNKNOWN_ENTITY",
            "Employee assignments whose entity does not exist in the tenant",
        ),
    ];
    if !skip_reference {
        issues.extend(reference_checks.into_iter().flatten());
    }
    issues.extend(unknown_parent.issue("ENTITY_UNKNOWN_PARENT", "Entities whose parent does not exist in the tenant"));
    issues.extend(cycle.issue("ENTITY_HIERARCHY_CYCLE", "Entities on a cycle of parent links"));
    issues.extend(
        unknown_primary.issue(
            "USER_UNKNOWN_PRIMARY_ORGANIZATION",
            "Users whose primary organization does not exist in the tenant",
        ),
    );
    if !skip_reference {
        issues.extend(
            g.credit_entity
                .issue("ENTITY_CREDIT_UNKNOWN_ENTITY", "Credit balances whose entity does not exist in the tenant"),
        );
    }

    let counter_drift = super::counters::reconcile(writer, tenant_id, &g.counts, g.counters_version).await?;
    Ok(ValidationOutcome { validation: Validation { completeness, issues }, counter_drift })
}

/// Ids of entities whose parent chain returns to themselves.
fn entities_on_cycles(parents: &HashMap<String, Option<String>>) -> BTreeSet<String> {
    let mut on_cycle = BTreeSet::new();
    let mut done: HashSet<&str> = HashSet::new();
    for start in parents.keys() {
        let mut path: Vec<&str> = Vec::new();
        let mut position: HashMap<&str, usize> = HashMap::new();
        let mut current = Some(start.as_str());
        while let Some(id) = current {
            if done.contains(id) {
                break;
            }
            if let Some(&at) = position.get(id) {
                on_cycle.extend(path[at..].iter().map(|s| (*s).to_owned()));
                break;
            }
            position.insert(id, path.len());
            path.push(id);
            current = parents.get(id).and_then(|p| p.as_deref()).filter(|p| parents.contains_key(*p));
        }
        done.extend(path);
    }
    on_cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parents(pairs: &[(&str, Option<&str>)]) -> HashMap<String, Option<String>> {
        pairs.iter().map(|(id, p)| ((*id).to_owned(), p.map(str::to_owned))).collect()
    }

    #[test]
    fn cycles_are_found_and_tails_are_not_on_them() {
        let tree = parents(&[
            ("a", None),
            ("b", Some("a")),
            ("c", Some("b")),
            ("x", Some("y")),
            ("y", Some("z")),
            ("z", Some("x")),
            ("t", Some("x")),
            ("s", Some("s")),
        ]);
        let found: Vec<String> = entities_on_cycles(&tree).into_iter().collect();
        assert_eq!(found, vec!["s", "x", "y", "z"]);
        assert!(entities_on_cycles(&parents(&[("a", None), ("b", Some("a")), ("c", Some("missing"))])).is_empty());
    }
}
