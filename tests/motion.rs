//! Guarantees that only show while data changes (issue "Correct while data changes"): keys
//! that cannot collide, deletions in filtered incremental pulls, records that stop being
//! listed, cascades interrupted mid-plan and finished by a rerun, idempotency keys after
//! expiry and under concurrent use, and an unambiguous tenant namespace. Each test fails on
//! the code before that issue.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::http::{Bench, A};
use integration_tests::*;
use serde_json::{json, Value};
use shared::model::{CreditBalance, Entity, Membership, RoleAssignment, User};
use shared::seed::seed_clock;
use shared::store::bulk::{self, TenantDataset};
use shared::store::item::{membership_sk, RawItem};
use shared::store::keys::{tenant_pk, Collection};
use shared::store::query::{self, ListMode, ListRequest};
use shared::store::reader;
use shared::store::writer::{Clock, Faults, WriteOutcome, Writer};
use shared::store::{Store, StoreError};

const T: &str = "tenant-motion";

async fn listed_ids<R: shared::store::item::CollectionRecord>(store: &Store, tenant: &str) -> Vec<String> {
    let request = ListRequest { limit: 500, ..Default::default() };
    let page = query::list::<R>(store, tenant, ListMode::All, &request).await.unwrap();
    page.items.iter().filter_map(|s| s.live()).map(|r| r.id().to_owned()).collect()
}

// ----- keys -------------------------------------------------------------------------------

#[tokio::test]
async fn ids_containing_the_separator_never_overwrite_each_other() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_entity(T, &entity("e", "Sales", None, 1)).await.unwrap();
    w.put_user(T, &user("a#b", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_user(T, &user("a", "2025-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(w.put_membership(T, &membership("c", "a#b", "e", true, None)).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_membership(T, &membership("b#c", "a", "e", true, None)).await.unwrap(), WriteOutcome::Created);
    let mut ids = listed_ids::<Membership>(&store, T).await;
    ids.sort();
    assert_eq!(ids, vec!["b#c", "c"]);
    let counts = reader::counters(&store, T).await.unwrap().get(Collection::Memberships);
    assert_eq!((counts.listed, counts.live), (2, 2));
    // Deleting one user takes only its own membership.
    w.delete_user(T, "a#b").await.unwrap();
    assert_eq!(listed_ids::<Membership>(&store, T).await, vec!["b#c"]);
}

#[tokio::test]
async fn a_membership_or_assignment_cannot_move_to_another_user() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_entity(T, &entity("e", "Sales", None, 1)).await.unwrap();
    for u in ["u1", "u2"] {
        w.put_user(T, &user(u, "2025-01-01T00:00:00Z")).await.unwrap();
    }
    w.put_role(T, &role("r1", 1)).await.unwrap();
    w.put_role(T, &role("r2", 1)).await.unwrap();
    w.put_membership(T, &membership("m", "u1", "e", true, None)).await.unwrap();
    w.put_role_assignment(T, &role_assignment("a", "u1", "r1")).await.unwrap();

    let moved = w.put_membership(T, &membership("m", "u2", "e", true, None)).await;
    assert!(matches!(&moved, Err(StoreError::Rejected(m)) if m.contains("userId of a membership cannot change")));
    let moved = w.put_role_assignment(T, &role_assignment("a", "u2", "r1")).await;
    assert!(matches!(&moved, Err(StoreError::Rejected(m)) if m.contains("userId of a role assignment")));
    let moved = w.put_role_assignment(T, &role_assignment("a", "u1", "r2")).await;
    assert!(matches!(&moved, Err(StoreError::Rejected(m)) if m.contains("roleId of a role assignment")));
    assert_eq!(listed_ids::<Membership>(&store, T).await, vec!["m"]);
    assert_eq!(listed_ids::<RoleAssignment>(&store, T).await, vec!["a"]);
    // One public id, one record: deleting it by id leaves nothing behind.
    w.delete_membership(T, "m").await.unwrap();
    w.delete_role_assignment(T, "a").await.unwrap();
    assert!(listed_ids::<Membership>(&store, T).await.is_empty());
    assert!(listed_ids::<RoleAssignment>(&store, T).await.is_empty());
}

#[tokio::test]
async fn the_longest_ids_and_names_are_stored_listed_and_paged() {
    let bench = Bench::start().await;
    let w = writer(&bench.store);
    let long_id = |c: char| c.to_string().repeat(128);
    let name = "\u{20ac}\"#".repeat(80);
    assert!(name.len() <= shared::model::MAX_NAME_LEN);
    let ids = [long_id('\u{10348}'), long_id('\u{10349}')];
    for id in &ids {
        let mut e = entity(id, &name, None, 1);
        e.entity_code = None;
        w.put_entity(A.0, &e).await.unwrap();
    }
    let token = bench.platform();
    let first = bench.get(&format!("/tenants/{}/organizations?limit=1", A.0), Some(&token)).await;
    assert_eq!(first.status, 200);
    let cursor = first.body["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    assert!(cursor.len() <= 2048, "{} characters", cursor.len());
    let second = bench.get(&format!("/tenants/{}/organizations?limit=1&cursor={cursor}", A.0), Some(&token)).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let seen = [&first, &second].map(|r| r.body["data"][0]["orgCode"].as_str().unwrap().to_owned());
    assert_eq!(seen.to_vec(), ids.to_vec());
    assert_eq!(second.body["pagination"]["hasMore"], false);
}

// ----- deletions in every incremental pull ------------------------------------------------

/// The current instant as `updatedSince` text, a few milliseconds before what follows.
async fn mark() -> String {
    let mark = shared::time::Timestamp::now().to_string();
    http::pause(5).await;
    mark
}

/// The items of one incremental page of `route` (with its query) since `since`.
async fn incremental(bench: &Bench, tenant: &str, route: &str, since: &str) -> Vec<Value> {
    let reply = bench.get(&format!("/tenants/{tenant}/{route}&updatedSince={since}"), Some(&bench.platform())).await;
    assert_eq!(reply.status, 200, "{route}: {}", reply.text);
    reply.body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn filtered_incremental_pulls_report_deletions() {
    let bench = Bench::start().await;
    let w = writer(&bench.store);
    let t = A.0;
    for app in shared::seed::catalog() {
        w.put_catalog_app(&app).await.unwrap();
    }
    w.put_entity(t, &entity("e1", "Sales", None, 1)).await.unwrap();
    w.put_entity(t, &entity("e2", "Ops", None, 1)).await.unwrap();
    for u in ["u1", "u2"] {
        w.put_user(t, &user(u, "2025-01-01T00:00:00Z")).await.unwrap();
    }
    w.put_role(t, &role("r1", 1)).await.unwrap();
    w.put_membership(t, &membership("m1", "u1", "e1", true, None)).await.unwrap();
    w.put_membership(t, &membership("m2", "u2", "e1", true, None)).await.unwrap();
    w.put_role_assignment(t, &role_assignment("a1", "u1", "r1")).await.unwrap();
    let balance: CreditBalance = serde_json::from_value(json!({ "entityId": "e2", "availableCredits": "5" })).unwrap();
    w.put_credit_balance(t, &balance).await.unwrap();
    let since = mark().await;
    w.delete_user(t, "u1").await.unwrap();
    w.delete_entity(t, "e2").await.unwrap();

    let pull = |route: &'static str| incremental(&bench, t, route, &since);
    let memberships = pull("employee-assignments?userId=u1").await;
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0]["assignmentId"], "m1");
    assert_eq!(memberships[0]["deleted"], true);
    assert_eq!(pull("employee-assignments?entityId=e1&userId=u1").await.len(), 1);
    assert!(pull("employee-assignments?userId=u2").await.is_empty(), "u2's membership did not change");
    let assignments = pull("role-assignments?userId=u1&roleId=r1").await;
    assert_eq!((assignments.len(), &assignments[0]["deleted"]), (1, &json!(true)));
    let credits = pull("entity-credits?entityId=e2").await;
    assert_eq!((credits.len(), &credits[0]["deleted"]), (1, &json!(true)));
    assert_eq!(credits[0]["entityId"], "e2");
}

#[tokio::test]
async fn a_record_that_stops_being_listed_stays_in_incremental_pulls_as_deleted() {
    let bench = Bench::start().await;
    let w = writer(&bench.store);
    let t = A.0;
    w.put_entity(t, &entity("e", "Sales", None, 1)).await.unwrap();
    w.put_user(t, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_membership(t, &membership("m", "u", "e", true, None)).await.unwrap();
    let since = mark().await;
    // The user goes (and takes the membership); the platform then writes the membership
    // again while its user is still missing: stored, but not listed.
    w.delete_user(t, "u").await.unwrap();
    w.put_membership(t, &membership("m", "u", "e", false, None)).await.unwrap();
    let stored = reader::get_record::<Membership>(&bench.store, t, &membership_sk("m")).await.unwrap().unwrap();
    assert!(stored.live().is_some() && stored.osk.is_none());

    let reply =
        bench.get(&format!("/tenants/{t}/employee-assignments?updatedSince={since}"), Some(&bench.platform())).await;
    let data = reply.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "the change must not leave the change index: {}", reply.text);
    assert_eq!(data[0]["assignmentId"], "m");
    assert_eq!(data[0]["deleted"], true);
    assert_eq!(reply.body["pagination"]["total"], 1);
    // Full pulls still do not list it, and the counters know it is live but unlisted.
    let full =
        bench.get(&format!("/tenants/{t}/employee-assignments?includeInactive=true"), Some(&bench.platform())).await;
    assert_eq!(full.body["data"], json!([]));
    let counts = reader::counters(&bench.store, t).await.unwrap().get(Collection::Memberships);
    assert_eq!((counts.listed, counts.live), (0, 1));
}

// ----- cascades that always finish --------------------------------------------------------

const FANOUT: usize = 320;

/// A user in an entity with [`FANOUT`] memberships, [`FANOUT`] role assignments of one
/// role, and a credit balance: every cascade of it spans four or more transactions.
fn fanout(tenant_id: &str) -> TenantDataset {
    let mut data = TenantDataset {
        tenant: tenant(tenant_id, &format!("org-{tenant_id}")),
        users: vec![user("u", "2025-01-01T00:00:00Z")],
        entities: vec![entity("e", "Sales", None, 1)],
        roles: vec![role("r", 1)],
        role_assignments: Vec::new(),
        memberships: Vec::new(),
        credit_balances: vec![serde_json::from_value(json!({ "entityId": "e", "availableCredits": "7" })).unwrap()],
        credit_configs: Vec::new(),
        entitlements: Vec::new(),
        source_versions: Default::default(),
    };
    for n in 0..FANOUT {
        data.memberships.push(membership(&format!("m{n:03}"), "u", "e", n == 0, Some(&format!("EMP-{n}"))));
        data.role_assignments.push(role_assignment(&format!("a{n:03}"), "u", "r"));
    }
    data
}

/// A tenant's items without what differs between two histories that end in the same
/// state: change times, versions, the tenant in keys and the writer's own guard item.
async fn normalized(store: &Store, tenant_id: &str) -> BTreeMap<String, RawItem> {
    let mut items = partition_by_sk(store, &tenant_pk(tenant_id)).await;
    items.remove("REFS");
    let mut buckets: BTreeMap<String, i64> = BTreeMap::new();
    items.retain(|sk, item| {
        if !sk.starts_with("TOMBS#") {
            return true;
        }
        for collection in Collection::ALL {
            if let Some(AttributeValue::N(n)) = item.get(collection.name()) {
                *buckets.entry(collection.name().to_owned()).or_default() += n.parse::<i64>().unwrap();
            }
        }
        false
    });
    for item in items.values_mut() {
        for volatile in ["PK", "ver", "updatedAt", "CSK", "deletedAt", "ttl"] {
            item.remove(volatile);
        }
        if let Some(AttributeValue::M(rec)) = item.get_mut("rec") {
            rec.remove("tenantId");
            rec.remove("kindeOrgId");
            rec.remove("companyName");
        }
        item.remove("ATSK");
    }
    let totals = buckets.into_iter().map(|(name, n)| (name, AttributeValue::N(n.to_string()))).collect();
    items.insert("TOMBS (all days)".into(), totals);
    items
}

/// Runs `change` on tenant `a` with a writer that fails its second transaction, checks that
/// it failed part-way, runs it again with a plain writer, and compares every item with the
/// same change made in one go on tenant `b`.
async fn interrupted_then_rerun<F, Fut>(label: &str, change: F)
where
    F: Fn(Writer, String) -> Fut,
    Fut: std::future::Future<Output = Result<WriteOutcome, StoreError>>,
{
    let store = fresh_store().await;
    let (a, b) = (format!("{label}-a"), format!("{label}-b"));
    for tenant in [&a, &b] {
        bulk::load_tenant(&store, &fanout(tenant), seed_clock(), &|_| {}).await.unwrap();
    }
    let before = normalized(&store, &a).await;
    let failing = Writer::with_faults(store.clone(), Clock::System, Faults::fail_after(1));
    let failed = change(failing, a.clone()).await;
    assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{label}: the injected failure stops the write");
    let partial = normalized(&store, &a).await;
    assert_ne!(partial, before, "{label}: the first transaction committed");

    let rerun = change(writer(&store), a.clone()).await.unwrap();
    assert_ne!(rerun, WriteOutcome::Unchanged, "{label}: the rerun has work to do");
    change(writer(&store), b.clone()).await.unwrap();
    let (finished, reference) = (normalized(&store, &a).await, normalized(&store, &b).await);
    assert_eq!(finished.len(), reference.len(), "{label}");
    for (sk, item) in &reference {
        assert_eq!(finished.get(sk), Some(item), "{label}: item {sk} differs after the rerun");
    }
    assert_eq!(change(writer(&store), a.clone()).await.unwrap(), noop_outcome(label), "{label}: nothing left");
}

fn noop_outcome(label: &str) -> WriteOutcome {
    if label.starts_with("delete") {
        WriteOutcome::NotFound
    } else {
        WriteOutcome::Unchanged
    }
}

#[tokio::test]
async fn an_interrupted_user_deactivation_is_finished_by_a_rerun() {
    interrupted_then_rerun("deactivate", |w, t| async move {
        let inactive = User { is_active: Some(false), ..user("u", "2025-01-01T00:00:00Z") };
        w.put_user(&t, &inactive).await
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_entity_rename_is_finished_by_a_rerun() {
    interrupted_then_rerun("rename", |w, t| async move {
        let renamed = Entity { entity_name: "Revenue".into(), ..entity("e", "Sales", None, 1) };
        w.put_entity(&t, &renamed).await
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_entity_delete_is_finished_by_a_rerun() {
    interrupted_then_rerun("delete-entity", |w, t| async move { w.delete_entity(&t, "e").await }).await;
}

#[tokio::test]
async fn an_interrupted_user_delete_is_finished_by_a_rerun() {
    interrupted_then_rerun("delete-user", |w, t| async move { w.delete_user(&t, "u").await }).await;
}

#[tokio::test]
async fn an_interrupted_role_delete_is_finished_by_a_rerun() {
    interrupted_then_rerun("delete-role", |w, t| async move { w.delete_role(&t, "r").await }).await;
}

// ----- idempotency keys -------------------------------------------------------------------

async fn trigger(bench: &Bench, token: &str, key: &str) -> http::Reply {
    bench
        .send(|client, url| {
            client
                .post(format!("{url}/api/sync/tenants/{}/sync", A.0))
                .bearer_auth(token)
                .header("idempotency-key", key)
        })
        .await
}

#[tokio::test]
async fn an_idempotency_key_is_usable_again_once_expired() {
    let bench = Bench::start().await;
    let w = writer(&bench.store);
    w.put_user(A.0, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_entity(A.0, &entity("e", "Sales", None, 1)).await.unwrap();
    let token = bench.platform();
    let first = trigger(&bench, &token, "key-1").await;
    assert_eq!(first.status, 200, "{}", first.text);
    // Make the key 25 hours old: DynamoDB's TTL sweeper may leave such an item for days.
    let principal_sk = idempotency_items(&bench.store).await;
    assert_eq!(principal_sk, vec![shared::sync::record::idempotency_sk("wrapper", "key-1")]);
    let old = shared::time::Timestamp::now().plus_millis(-25 * 3_600_000);
    bench
        .store
        .client()
        .update_item()
        .table_name(bench.store.table())
        .key("PK", AttributeValue::S(tenant_pk(A.0)))
        .key("SK", AttributeValue::S(principal_sk[0].clone()))
        .update_expression("SET createdAt = :old, #ttl = :ttl")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":old", AttributeValue::S(old.to_string()))
        .expression_attribute_values(":ttl", AttributeValue::N((old.epoch_seconds() + 86_400).to_string()))
        .send()
        .await
        .unwrap();
    let again = trigger(&bench, &token, "key-1").await;
    assert_eq!(again.status, 200, "an expired key starts a new run: {}", again.text);
    assert_ne!(again.body["results"]["syncId"], first.body["results"]["syncId"]);
    assert!(again.header("idempotent-replayed").is_none());
}

async fn idempotency_items(store: &Store) -> Vec<String> {
    partition_by_sk(store, &tenant_pk(A.0)).await.into_keys().filter(|sk| sk.starts_with("IDEM#")).collect()
}

#[tokio::test]
async fn concurrent_triggers_with_one_key_get_the_same_run() {
    let bench = Bench::start().await;
    let w = writer(&bench.store);
    w.put_user(A.0, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_entity(A.0, &entity("e", "Sales", None, 1)).await.unwrap();
    let token = bench.platform();
    for round in 0..4 {
        let key = format!("same-key-{round}");
        let (one, two) = tokio::join!(trigger(&bench, &token, &key), trigger(&bench, &token, &key));
        for reply in [&one, &two] {
            assert!(reply.status == 200 || reply.status == 202, "round {round}: {} {}", reply.status, reply.text);
        }
        let run = |r: &http::Reply| -> Value {
            r.body["results"]["syncId"].as_str().or(r.body["syncId"].as_str()).map(Value::from).unwrap_or_default()
        };
        assert_eq!(run(&one), run(&two), "round {round}: both answers name one run");
        assert!(one.header("idempotent-replayed").is_some() || two.header("idempotent-replayed").is_some());
    }
    assert_eq!(idempotency_items(&bench.store).await.len(), 4);
}

// ----- one namespace for tenant ids and org codes -------------------------------------------

#[tokio::test]
async fn tenant_ids_and_org_codes_never_name_two_tenants() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_tenant(&tenant("x", "org-x")).await.unwrap();
    let id_is_an_org = w.put_tenant(&tenant("org-x", "org-other")).await;
    assert!(matches!(id_is_an_org, Err(StoreError::Rejected(m)) if m.contains("kindeOrgId of another tenant")));
    let org_is_an_id = w.put_tenant(&tenant("y", "x")).await;
    assert!(matches!(org_is_an_id, Err(StoreError::Rejected(m)) if m.contains("tenantId of another tenant")));
    // A tenant may use its own id as its org code.
    assert_eq!(w.put_tenant(&tenant("z", "z")).await.unwrap(), WriteOutcome::Created);

    // Racing writes cannot both pass: one of each pair is refused.
    for round in 0..6 {
        let (p, q) = (format!("p{round}"), format!("q{round}"));
        let (first_tenant, second_tenant) = (tenant(&p, &format!("org-{p}")), tenant(&q, &p));
        let (first, second) = tokio::join!(w.put_tenant(&first_tenant), w.put_tenant(&second_tenant));
        assert!(first.is_ok() != second.is_ok(), "round {round}: {first:?} / {second:?}");
    }
    // The bulk loader claims ids the same way and never overwrites an alias.
    let mut taken = fanout("w");
    taken.tenant.kinde_org_id = "org-x".into();
    let refused = bulk::load_tenant(&store, &taken, seed_clock(), &|_| {}).await;
    assert!(matches!(refused, Err(StoreError::Rejected(_))), "{refused:?}");
    assert_eq!(reader::tenant_id_for_org(&store, "org-x").await.unwrap().as_deref(), Some("x"));
    assert!(reader::tenant(&store, "w").await.unwrap().is_none(), "nothing of the refused tenant was written");
}
