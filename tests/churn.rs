//! The churn test: while one task keeps changing a tenant through the writer (creations,
//! renames, moves between entities, deactivations, deletions; ids are never reused), two
//! consumers mirror it over HTTP with the documented protocol (`docs/api.md`, "Keeping a
//! copy current"): note a watermark, walk in full, then pull increments from the watermark,
//! keeping per id the newest version. One consumer mirrors whole collections, the other
//! filtered ones. After the writer stops and one last incremental pull, every mirror must
//! equal what a fresh full pull returns, the fresh pulls must hold exactly the records the
//! table lists, and the counters must equal the real counts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::http::Bench;
use integration_tests::mirror::{follow, fresh_pull, Route, EVERY_COLLECTION};
use integration_tests::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use shared::model::{CreditBalance, Entity, Membership, MembershipStatus, Role, User};
use shared::seed::seed_clock;
use shared::store::bulk::{self, TenantDataset};
use shared::store::keys::Collection;
use shared::store::query::ListMode;
use shared::store::reader;
use shared::store::writer::{CreditActivity, Writer};
use shared::time::Timestamp;

const T: &str = "churn-tenant";
const CHANGES: usize = 160;

/// The tenant before the churn: a small tree, users, roles, memberships, assignments,
/// balances.
fn initial() -> TenantDataset {
    let mut data = TenantDataset {
        users: (0..24).map(|n| user(&format!("user-{n}"), "2025-01-01T00:00:00Z")).collect(),
        entities: vec![entity("org-0", "Root", None, 1)],
        roles: (0..4).map(|n| role(&format!("role-{n}"), n)).collect(),
        ..TenantDataset::empty(tenant(T, "org-churn"))
    };
    for n in 1..6 {
        data.entities.push(entity(&format!("org-{n}"), &format!("Unit {n}"), Some("org-0"), 2));
    }
    for n in 0..24 {
        let unit = format!("org-{}", n % 6);
        data.memberships.push(membership(
            &format!("mem-{n}"),
            &format!("user-{n}"),
            &unit,
            true,
            Some(&format!("E{n}")),
        ));
        data.role_assignments.push(role_assignment(
            &format!("ra-{n}"),
            &format!("user-{n}"),
            &format!("role-{}", n % 4),
        ));
    }
    for n in 0..6 {
        data.credit_balances.push(balance(&format!("org-{n}")));
    }
    data
}

fn balance(entity_id: &str) -> CreditBalance {
    serde_json::from_value(json!({ "entityId": entity_id, "availableCredits": "100" })).unwrap()
}

/// What the writer task knows of the live records, to pick targets for its changes.
struct Model {
    users: BTreeMap<String, User>,
    entities: BTreeMap<String, Entity>,
    roles: BTreeMap<String, Role>,
    memberships: BTreeMap<String, Membership>,
    assignments: Vec<String>,
    next: usize,
}

impl Model {
    fn of(data: &TenantDataset) -> Self {
        Self {
            users: data.users.iter().map(|u| (u.user_id.clone(), u.clone())).collect(),
            entities: data.entities.iter().map(|e| (e.entity_id.clone(), e.clone())).collect(),
            roles: data.roles.iter().map(|r| (r.role_id.clone(), r.clone())).collect(),
            memberships: data.memberships.iter().map(|m| (m.membership_id.clone(), m.clone())).collect(),
            assignments: data.role_assignments.iter().map(|a| a.assignment_id.clone()).collect(),
            next: 100,
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }
}

fn pick<'a, V>(rng: &mut StdRng, map: &'a BTreeMap<String, V>) -> Option<(&'a String, &'a V)> {
    (!map.is_empty()).then(|| map.iter().nth(rng.random_range(0..map.len()))).flatten()
}

/// One random change through the writer.
async fn change(w: &Writer, model: &mut Model, rng: &mut StdRng) {
    match rng.random_range(0..14) {
        0 | 1 => {
            let id = model.fresh("user");
            let u = user(&id, "2025-06-01T00:00:00Z");
            w.put_user(T, &u).await.unwrap();
            model.users.insert(id, u);
        }
        2 => {
            if let Some((id, u)) = pick(rng, &model.users) {
                let renamed = User { first_name: Some(format!("Renamed {}", rng.random_range(0..1000))), ..u.clone() };
                w.put_user(T, &renamed).await.unwrap();
                model.users.insert(id.clone(), renamed);
            }
        }
        3 => {
            if let Some((id, u)) = pick(rng, &model.users) {
                let toggled = User { is_active: Some(!u.active()), ..u.clone() };
                w.put_user(T, &toggled).await.unwrap();
                model.users.insert(id.clone(), toggled);
            }
        }
        4 => {
            if let Some(id) = pick(rng, &model.users).map(|(id, _)| id.clone()) {
                w.delete_user(T, &id).await.unwrap();
                model.users.remove(&id);
                model.memberships.retain(|_, m| m.user_id != id);
            }
        }
        5 => {
            let id = model.fresh("org");
            let e = entity(&id, &format!("New unit {}", model.next), Some("org-0"), 2);
            w.put_entity(T, &e).await.unwrap();
            model.entities.insert(id, e);
        }
        6 | 7 => {
            // Renames and moves change an organization's place in the full-pull order.
            if let Some((id, e)) = pick(rng, &model.entities).filter(|(id, _)| id.as_str() != "org-0") {
                let (id, e) = (id.clone(), e.clone());
                let parents: Vec<&String> = model.entities.keys().filter(|p| **p != id).collect();
                let parent = parents[rng.random_range(0..parents.len())].clone();
                let moved = Entity {
                    entity_name: format!("{} {}", ["Alpha", "Mid", "Zulu"][rng.random_range(0..3)], model.next),
                    parent_entity_id: Some(if rng.random_bool(0.5) { "org-0".to_owned() } else { parent }),
                    entity_level: Some(rng.random_range(1..4)),
                    ..e
                };
                w.put_entity(T, &moved).await.unwrap();
                model.entities.insert(id, moved);
            }
        }
        8 => {
            if let Some(id) = pick(rng, &model.entities).map(|(id, _)| id.clone()).filter(|id| id != "org-0") {
                w.delete_entity(T, &id).await.unwrap();
                model.entities.remove(&id);
                model.memberships.retain(|_, m| m.entity_id != id);
            }
        }
        9 | 10 => {
            let (Some((user_id, _)), Some((entity_id, _))) = (pick(rng, &model.users), pick(rng, &model.entities))
            else {
                return;
            };
            let (user_id, entity_id) = (user_id.clone(), entity_id.clone());
            let id = model.fresh("mem");
            let m = membership(&id, &user_id, &entity_id, rng.random_bool(0.3), Some(&format!("E{}", model.next)));
            w.put_membership(T, &m).await.unwrap();
            model.memberships.insert(id, m);
        }
        11 => {
            if let Some((id, m)) = pick(rng, &model.memberships) {
                if rng.random_bool(0.5) {
                    w.delete_membership(T, id).await.unwrap();
                    let id = id.clone();
                    model.memberships.remove(&id);
                } else {
                    let status = if m.membership_status == MembershipStatus::Active {
                        MembershipStatus::Suspended
                    } else {
                        MembershipStatus::Active
                    };
                    let changed = Membership { membership_status: status, ..m.clone() };
                    w.put_membership(T, &changed).await.unwrap();
                    model.memberships.insert(id.clone(), changed);
                }
            }
        }
        12 => {
            if let Some((id, r)) = pick(rng, &model.roles) {
                let reordered = Role { priority: Some(rng.random_range(-3..5)), ..r.clone() };
                w.put_role(T, &reordered).await.unwrap();
                model.roles.insert(id.clone(), reordered);
            }
            let user_id = pick(rng, &model.users).map(|(id, _)| id.clone());
            let role_id = pick(rng, &model.roles).map(|(id, _)| id.clone());
            if let (Some(user_id), Some(role_id)) = (user_id, role_id) {
                let id = model.fresh("ra");
                w.put_role_assignment(T, &role_assignment(&id, &user_id, &role_id)).await.unwrap();
                model.assignments.push(id);
            }
        }
        _ => {
            if let Some((entity_id, _)) = pick(rng, &model.entities) {
                if rng.random_bool(0.5) {
                    w.put_credit_balance(T, &balance(entity_id)).await.unwrap();
                } else {
                    let activity = CreditActivity::Ledger {
                        operation_code: "application_allocation:crm".into(),
                        amount: rust_decimal::Decimal::from(rng.random_range(1..50)),
                        initiated_by: None,
                        created_at: Timestamp::now(),
                    };
                    w.post_credit_activity(T, entity_id, &activity).await.unwrap();
                }
            }
            if let Some(n) = (!model.assignments.is_empty()).then(|| rng.random_range(0..model.assignments.len())) {
                let id = model.assignments.swap_remove(n);
                w.delete_role_assignment(T, &id).await.unwrap();
            }
        }
    }
}

const FILTERED: [Route; 5] = [
    Route { path: "employee-assignments?entityId=org-1", id: "assignmentId" },
    Route { path: "employee-assignments?userId=user-3", id: "assignmentId" },
    Route { path: "role-assignments?roleId=role-2", id: "assignmentId" },
    Route { path: "role-assignments?userId=user-5&roleId=role-1", id: "assignmentId" },
    Route { path: "entity-credits?entityId=org-2", id: "entityId" },
];

#[tokio::test]
async fn mirrors_converge_on_the_live_state_while_the_tenant_changes() {
    let bench = Arc::new(Bench::start().await);
    let w = writer(&bench.store);
    for app in shared::seed::catalog() {
        w.put_catalog_app(&app).await.unwrap();
    }
    let data = initial();
    bulk::load_tenant(&bench.store, &data, seed_clock(), &|_| {}).await.unwrap();
    let token = bench.platform();
    let stop = Arc::new(AtomicBool::new(false));

    let mut consumers = Vec::new();
    for route in EVERY_COLLECTION.into_iter().chain(FILTERED) {
        consumers.push(tokio::spawn(follow(bench.clone(), token.clone(), T, route, stop.clone())));
    }
    let mut model = Model::of(&data);
    let mut rng = StdRng::seed_from_u64(2026);
    for _ in 0..CHANGES {
        change(&w, &mut model, &mut rng).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..25))).await;
    }
    stop.store(true, Ordering::SeqCst);

    for consumer in consumers {
        let (route, mirror) = consumer.await.unwrap();
        let fresh = fresh_pull(&bench, &token, T, route).await;
        let live = mirror.live();
        let missing: Vec<&String> = fresh.keys().filter(|id| !live.contains_key(*id)).collect();
        let extra: Vec<&String> = live.keys().filter(|id| !fresh.contains_key(*id)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{}: missing {missing:?}, extra {extra:?}", route.path);
        for (id, item) in &fresh {
            assert_eq!(&live[id], item, "{}: {id} differs from the live state", route.path);
        }
    }

    // The fresh pulls hold what the table lists, and the counters equal the real counts.
    let counters = reader::counters(&bench.store, T).await.unwrap();
    for collection in Collection::ALL {
        let counts = counters.get(collection);
        let listed = index_count(&bench.store, T, collection, ListMode::All).await;
        let active = index_count(&bench.store, T, collection, ListMode::Active).await;
        assert_eq!((counts.listed, counts.active), (listed, active), "{collection:?}");
    }
    let listed_users = index_count(&bench.store, T, Collection::Users, ListMode::All).await as usize;
    assert_eq!(listed_users, model.users.len());
    let listed_entities = index_count(&bench.store, T, Collection::Entities, ListMode::All).await as usize;
    assert_eq!(listed_entities, model.entities.len());
    let listed_memberships = index_count(&bench.store, T, Collection::Memberships, ListMode::All).await as usize;
    assert_eq!(listed_memberships, model.memberships.len());
}
