//! The writer keeps derived values right: child lists, membership entity names, employee
//! codes, active flags that depend on other records, cascading deletes, dangling
//! references. And the bulk loader produces exactly the items the writer would.

use integration_tests::*;
use serde_json::json;
use shared::import;
use shared::ingest::queue::{self, SqsBatch, SqsMessage};
use shared::model::{Entity, Membership, MembershipStatus, Role, RoleAssignment, User};
use shared::seed::{self, seed_clock, ScaleSpec, SeedOptions};
use shared::store::item::{entity_sk, membership_sk, role_assignment_sk, user_sk, CollectionRecord, Stored};
use shared::store::keys::{tenant_pk, Collection};
use shared::store::query::{self, Filter, ListMode, ListRequest};
use shared::store::reader;
use shared::store::writer::{Clock, WriteOutcome, Writer};
use shared::store::{bulk, Store};

const T: &str = "tenant-d";

/// The audit log the queue handler writes its entries to.
fn audit_log(store: &Store) -> shared::audit::AuditLog {
    shared::audit::AuditLog::new(store.clone(), shared::audit::DEFAULT_RETENTION_DAYS)
}

async fn get<R: CollectionRecord>(store: &Store, sk: &str) -> Stored<R, R::Derived> {
    reader::get_record::<R>(store, T, sk).await.unwrap().expect("item exists")
}

async fn listed_ids<R: CollectionRecord>(store: &Store, mode: ListMode, filters: Vec<Filter>) -> Vec<String> {
    let request = ListRequest { filters, limit: 500, ..Default::default() };
    let page = query::list::<R>(store, T, mode, &request).await.unwrap();
    page.items.iter().filter_map(|s| s.live()).map(|r| r.id().to_owned()).collect()
}

#[tokio::test]
async fn child_lists_follow_creation_reparenting_and_deletion() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_entity(T, &entity("p", "Parent", None, 1)).await.unwrap();
    w.put_entity(T, &entity("q", "Other parent", None, 1)).await.unwrap();
    w.put_entity(T, &entity("b", "B", Some("p"), 2)).await.unwrap();
    w.put_entity(T, &entity("a", "A", Some("p"), 2)).await.unwrap();
    assert_eq!(get::<Entity>(&store, &entity_sk("p")).await.der.child_ids, vec!["a", "b"]);

    let before = get::<Entity>(&store, &entity_sk("p")).await.updated_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    w.put_entity(T, &entity("b", "B", Some("q"), 2)).await.unwrap();
    let p = get::<Entity>(&store, &entity_sk("p")).await;
    assert_eq!(p.der.child_ids, vec!["a"]);
    assert!(p.updated_at > before, "the old parent's change time advances");
    assert_eq!(get::<Entity>(&store, &entity_sk("q")).await.der.child_ids, vec!["b"]);

    w.delete_entity(T, "a").await.unwrap();
    assert!(get::<Entity>(&store, &entity_sk("p")).await.der.child_ids.is_empty());

    // A parent written after its child still learns about it.
    w.put_entity(T, &entity("c", "C", Some("late"), 2)).await.unwrap();
    w.put_entity(T, &entity("late", "Late parent", None, 1)).await.unwrap();
    assert_eq!(get::<Entity>(&store, &entity_sk("late")).await.der.child_ids, vec!["c"]);
}

#[tokio::test]
async fn memberships_follow_their_entity_and_user() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_entity(T, &entity("e", "Sales", None, 1)).await.unwrap();
    w.put_user(T, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_membership(T, &membership("m", "u", "e", true, Some("EMP-1"))).await.unwrap();
    let m = get::<Membership>(&store, &membership_sk("m")).await;
    assert_eq!(m.der.entity_name.as_deref(), Some("Sales"));
    assert_eq!(listed_ids::<Membership>(&store, ListMode::Active, vec![]).await, vec!["m"]);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    w.put_entity(T, &entity("e", "Revenue", None, 1)).await.unwrap();
    let renamed = get::<Membership>(&store, &membership_sk("m")).await;
    assert_eq!(renamed.der.entity_name.as_deref(), Some("Revenue"));
    assert!(renamed.updated_at > m.updated_at);

    // R1: a membership of a deactivated user is not active.
    let inactive = User { is_active: Some(false), ..user("u", "2025-01-01T00:00:00Z") };
    w.put_user(T, &inactive).await.unwrap();
    assert!(listed_ids::<Membership>(&store, ListMode::Active, vec![]).await.is_empty());
    assert_eq!(listed_ids::<Membership>(&store, ListMode::All, vec![]).await, vec!["m"]);
    let counts = reader::counters(&store, T).await.unwrap().get(Collection::Memberships);
    assert_eq!((counts.listed, counts.active), (1, 0));
}

#[tokio::test]
async fn employee_code_comes_from_the_earliest_active_primary_membership() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_entity(T, &entity("e", "Sales", None, 1)).await.unwrap();
    w.put_user(T, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    let code = |store: Store| async move { get::<User>(&store, &user_sk("u")).await.der.employee_code };
    assert_eq!(code(store.clone()).await, "u", "no membership: the user id");

    w.put_membership(T, &membership("m1", "u", "e", true, Some("EMP-1"))).await.unwrap();
    assert_eq!(code(store.clone()).await, "EMP-1");
    w.put_membership(T, &membership("m0", "u", "e", false, Some("EMP-0"))).await.unwrap();
    assert_eq!(code(store.clone()).await, "EMP-1", "not primary");

    let suspended = Membership {
        membership_status: MembershipStatus::Suspended,
        ..membership("m1", "u", "e", true, Some("EMP-1"))
    };
    w.put_membership(T, &suspended).await.unwrap();
    assert_eq!(code(store.clone()).await, "u", "not active");

    w.put_membership(T, &membership("m2", "u", "e", true, Some("EMP-2"))).await.unwrap();
    assert_eq!(code(store.clone()).await, "EMP-2");
    w.delete_membership(T, "m2").await.unwrap();
    assert_eq!(code(store.clone()).await, "u");
}

#[tokio::test]
async fn assignments_with_dangling_references_are_kept_but_not_listed() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_user(T, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_role_assignment(T, &role_assignment("a", "u", "r-later")).await.unwrap();
    assert!(!get::<RoleAssignment>(&store, &role_assignment_sk("a")).await.der.refs_ok());
    assert!(listed_ids::<RoleAssignment>(&store, ListMode::All, vec![]).await.is_empty());
    assert_eq!(reader::counters(&store, T).await.unwrap().get(Collection::RoleAssignments).listed, 0);

    w.put_role(T, &role("r-later", 1)).await.unwrap();
    assert_eq!(listed_ids::<RoleAssignment>(&store, ListMode::Active, vec![]).await, vec!["a"]);
    assert_eq!(reader::counters(&store, T).await.unwrap().get(Collection::RoleAssignments).active, 1);

    // A membership whose user arrives later becomes listed when the user does.
    w.put_entity(T, &entity("e", "Sales", None, 1)).await.unwrap();
    w.put_membership(T, &membership("m", "u-later", "e", true, Some("EMP-9"))).await.unwrap();
    assert!(listed_ids::<Membership>(&store, ListMode::All, vec![]).await.is_empty());
    w.put_user(T, &user("u-later", "2025-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(listed_ids::<Membership>(&store, ListMode::Active, vec![]).await, vec!["m"]);
    assert_eq!(get::<User>(&store, &user_sk("u-later")).await.der.employee_code, "EMP-9");
}

#[tokio::test]
async fn deletes_cascade_to_dependent_records() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_entity(T, &entity("e", "Sales", None, 1)).await.unwrap();
    w.put_user(T, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_user(T, &user("v", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_role(T, &role("r", 1)).await.unwrap();
    w.put_membership(T, &membership("mu", "u", "e", true, Some("E-U"))).await.unwrap();
    w.put_membership(T, &membership("mv", "v", "e", true, Some("E-V"))).await.unwrap();
    w.put_role_assignment(T, &role_assignment("au", "u", "r")).await.unwrap();
    w.put_role_assignment(T, &role_assignment("av", "v", "r")).await.unwrap();
    let balance = serde_json::from_value(serde_json::json!({ "entityId": "e", "availableCredits": "10" })).unwrap();
    w.put_credit_balance(T, &balance).await.unwrap();

    w.delete_user(T, "u").await.unwrap();
    assert_eq!(listed_ids::<Membership>(&store, ListMode::All, vec![]).await, vec!["mv"]);
    assert_eq!(listed_ids::<RoleAssignment>(&store, ListMode::All, vec![]).await, vec!["av"]);

    w.delete_role(T, "r").await.unwrap();
    assert!(listed_ids::<RoleAssignment>(&store, ListMode::All, vec![]).await.is_empty());

    w.delete_entity(T, "e").await.unwrap();
    assert!(listed_ids::<Membership>(&store, ListMode::All, vec![]).await.is_empty());
    assert!(listed_ids::<shared::model::CreditBalance>(&store, ListMode::All, vec![]).await.is_empty());
    assert_eq!(
        get::<User>(&store, &user_sk("v")).await.der.employee_code,
        "v",
        "the primary membership went with the entity"
    );

    let counters = reader::counters(&store, T).await.unwrap();
    for collection in [
        Collection::Memberships,
        Collection::RoleAssignments,
        Collection::CreditBalances,
        Collection::Roles,
        Collection::Entities,
    ] {
        assert_eq!(counters.get(collection).listed, 0, "{collection:?}");
    }
    assert_eq!(counters.get(Collection::Users).listed, 1);
}

#[tokio::test]
async fn roles_filter_by_app_inside_the_query() {
    let store = fresh_store().await;
    let w = writer(&store);
    let hr_role: Role = serde_json::from_value(serde_json::json!({
        "roleId": "hr-role", "roleName": "HR", "permissions": { "hr": { "people": ["view"] }, "crm": { "deals": "all" } },
        "createdAt": "2025-01-01T00:00:00Z"
    }))
    .unwrap();
    w.put_role(T, &hr_role).await.unwrap();
    w.put_role(T, &role("crm-role", 2)).await.unwrap();
    let crm = vec![Filter::Contains(&["der", "appCodes"], "crm".into())];
    assert_eq!(listed_ids::<Role>(&store, ListMode::Active, crm).await, vec!["crm-role"]);
    let hr = vec![Filter::Contains(&["der", "appCodes"], "hr".into())];
    assert_eq!(listed_ids::<Role>(&store, ListMode::Active, hr).await, vec!["hr-role"]);
}

#[tokio::test]
async fn bulk_loading_writes_exactly_what_the_writer_writes() {
    let data = seed::generate(&SeedOptions { seed: 3, scale: None });
    let small = data.tenants.iter().find(|t| t.tenant.company_name == "Initech").unwrap().clone();

    let bulk_store = fresh_store().await;
    bulk::load_tenant(&bulk_store, &small, seed_clock(), &|_| {}).await.unwrap();

    let writer_store = fresh_store().await;
    let writer = Writer::new(writer_store.clone(), Clock::Fixed(seed_clock()));
    let (records, errors) = import::parse(&import::to_lines(&Default::default(), std::slice::from_ref(&small)));
    assert!(errors.is_empty(), "{errors:?}");
    let report = import::apply(&writer, records, &|| {}).await.unwrap();
    assert!(report.rejected.is_empty());

    let pk = tenant_pk(&small.tenant.tenant_id);
    let strip = |mut items: std::collections::BTreeMap<String, shared::store::item::RawItem>| {
        for item in items.values_mut() {
            item.remove("ver");
        }
        items
    };
    let from_bulk = strip(partition_by_sk(&bulk_store, &pk).await);
    let mut from_writer = strip(partition_by_sk(&writer_store, &pk).await);
    // The writer's concurrency guard is bookkeeping of its own; a bulk load needs none.
    assert!(from_writer.remove("REFS").is_some());
    assert_eq!(from_bulk.len(), from_writer.len());
    for (sk, item) in &from_bulk {
        assert_eq!(Some(item), from_writer.get(sk), "item {sk} differs");
    }
}

/// A tenant's import lines as versioned changes (version 10), with a later rename, an older
/// duplicate, a delete and a credit posting mixed in out of order.
fn versioned_lines(data: &bulk::TenantDataset) -> String {
    let t = data.tenant.tenant_id.as_str();
    let mut lines: Vec<serde_json::Value> = import::to_lines(&Default::default(), std::slice::from_ref(data))
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let mut change: serde_json::Value = serde_json::from_str(line).unwrap();
            change["changeId"] = json!(format!("c-{n}"));
            change["sourceVersion"] = json!(10);
            change
        })
        .collect();
    let user_line = |user: &shared::model::User, version: u64, last: &str| {
        let mut record = serde_json::to_value(user).unwrap();
        record["lastName"] = json!(last);
        json!({ "changeId": format!("u-{version}"), "type": "user", "tenantId": t, "sourceVersion": version, "record": record })
    };
    lines.insert(0, user_line(&data.users[0], 11, "Renamed"));
    lines.push(user_line(&data.users[1], 5, "Older"));
    lines.insert(
        1,
        json!({ "changeId": "del-1", "type": "user", "op": "delete", "tenantId": t, "sourceVersion": 12,
        "key": { "userId": data.users[2].user_id } }),
    );
    let entity = &data.credit_balances[0].entity_id;
    lines.insert(
        2,
        json!({ "changeId": "post-1", "type": "creditActivity", "tenantId": t, "record": {
        "entityId": entity, "activity": "ledger", "operationCode": "application_allocation:crm", "amount": "250",
        "initiatedBy": "u-admin", "createdAt": "2026-01-02T10:00:00Z" } }),
    );
    lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn a_bulk_import_of_change_lines_ends_where_the_writer_ends() {
    let data = seed::generate(&SeedOptions { seed: 3, scale: None });
    let small = data.tenants.iter().find(|t| t.tenant.company_name == "Initech").unwrap().clone();
    let text = versioned_lines(&small);

    let bulk_store = fresh_store().await;
    let (records, errors) = import::parse(&text);
    assert!(errors.is_empty(), "{errors:?}");
    let plan = import::bulk::plan(&bulk_store, records).await.unwrap();
    let balances = small.credit_balances.iter().filter(|b| !b.app_totals.is_empty()).count();
    assert!(balances > 0, "the data set has balances with totals, which a versioned line may not carry");
    assert_eq!(
        (plan.tenants.len(), plan.after.len()),
        (1, 2 + balances),
        "the delete, the posting and the balances with totals go through the writer"
    );
    assert_eq!(plan.superseded.values().sum::<usize>(), 2, "the older duplicate and the renamed original");
    let bulk_writer = Writer::new(bulk_store.clone(), Clock::Fixed(seed_clock()));
    let loaded = import::bulk::load(&bulk_store, &bulk_writer, plan, seed_clock(), &|_| {}).await.unwrap();
    let refused = |report: &import::ImportReport| report.rejected.iter().map(|e| e.line).collect::<Vec<_>>();

    let writer_store = fresh_store().await;
    let writer = Writer::new(writer_store.clone(), Clock::Fixed(seed_clock()));
    let (records, _) = import::parse(&text);
    let report = import::apply(&writer, records, &|| {}).await.unwrap();
    assert_eq!(refused(&loaded.through_writer), refused(&report), "the same lines are refused either way");
    assert_eq!(refused(&report).len(), balances);

    let pk = tenant_pk(&small.tenant.tenant_id);
    let strip = |mut items: std::collections::BTreeMap<String, shared::store::item::RawItem>| {
        for item in items.values_mut() {
            item.remove("ver");
        }
        items.remove("REFS");
        // Readers count an absent counter as zero; the writer only adds the ones it touched.
        if let Some(stats) = items.get_mut("STATS") {
            stats.retain(|_, value| value.as_n().map_or(true, |n| n != "0"));
        }
        items
    };
    let from_bulk = strip(partition_by_sk(&bulk_store, &pk).await);
    let from_writer = strip(partition_by_sk(&writer_store, &pk).await);
    assert_eq!(from_bulk.keys().collect::<Vec<_>>(), from_writer.keys().collect::<Vec<_>>());
    for (sk, item) in &from_bulk {
        assert_eq!(Some(item), from_writer.get(sk), "item {sk} differs");
    }
    let renamed = &from_bulk[&format!("USER#{}", small.users[0].user_id)];
    assert_eq!(renamed["sv"].as_n().unwrap(), "11", "the newest version was loaded, with its version");
    // A later, older change is stale against the bulk-loaded version.
    let older = shared::ingest::Change::parse(
        serde_json::from_str(
            &versioned_lines(&small).lines().last().unwrap().replace("\"sourceVersion\":5", "\"sourceVersion\":9"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(shared::ingest::write(&bulk_writer, &older).await.unwrap(), WriteOutcome::Stale);
}

#[tokio::test]
async fn concurrent_creation_of_parents_and_dependents_loses_nothing() {
    let store = fresh_store().await;
    let w = writer(&store);
    let mut tasks = Vec::new();
    for round in 0..12 {
        let tenant = format!("race-{round}");
        let (w1, w2, w3, w4) = (w.clone(), w.clone(), w.clone(), w.clone());
        let (t1, t2, t3, t4) = (tenant.clone(), tenant.clone(), tenant.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move { w1.put_entity(&t1, &entity("parent", "P", None, 1)).await.unwrap() }));
        tasks.push(tokio::spawn(
            async move { w2.put_entity(&t2, &entity("child", "C", Some("parent"), 2)).await.unwrap() },
        ));
        tasks.push(tokio::spawn(async move { w3.put_user(&t3, &user("u", "2025-01-01T00:00:00Z")).await.unwrap() }));
        tasks.push(tokio::spawn(async move {
            w4.put_membership(&t4, &membership("m", "u", "parent", true, Some("EMP-R"))).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for round in 0..12 {
        let tenant = format!("race-{round}");
        let parent = reader::get_record::<Entity>(&store, &tenant, &entity_sk("parent")).await.unwrap().unwrap();
        assert_eq!(parent.der.child_ids, vec!["child"], "round {round}: the child link was lost");
        let m = reader::get_record::<Membership>(&store, &tenant, &membership_sk("m")).await.unwrap().unwrap();
        assert!(m.der.refs_ok() && m.der.user_active, "round {round}: membership not resolved: {:?}", m.der);
        let u = reader::get_record::<User>(&store, &tenant, &user_sk("u")).await.unwrap().unwrap();
        assert_eq!(u.der.employee_code, "EMP-R", "round {round}");
        let counts = reader::counters(&store, &tenant).await.unwrap().get(Collection::Memberships);
        assert_eq!((counts.listed, counts.active), (1, 1), "round {round}");
    }
}

/// A tenant of about 4,000 items, large enough that its bulk load takes a while.
fn loadable_tenant() -> bulk::TenantDataset {
    let scale = ScaleSpec { users: 1_000, entities: 50, role_assignments: 1_000, memberships: 1_000 };
    let data = seed::generate(&SeedOptions { seed: 8, scale: Some(scale) });
    data.tenants.into_iter().max_by_key(|t| t.users.len()).expect("the scale tenant")
}

/// An SQS batch renaming `users` to `last`, at source version `version`.
fn renames(tenant_id: &str, users: &[User], version: u64, last: &str) -> SqsBatch {
    let records = users
        .iter()
        .map(|user| {
            let mut record = serde_json::to_value(user).unwrap();
            record["lastName"] = json!(last);
            let body = json!({ "changeId": format!("live-{}-{version}", user.user_id), "type": "user",
                "tenantId": tenant_id, "sourceVersion": version, "record": record });
            SqsMessage { message_id: user.user_id.clone(), body: body.to_string() }
        })
        .collect();
    SqsBatch { records }
}

type Partition = std::collections::BTreeMap<String, shared::store::item::RawItem>;

/// The stored last name of `user`.
fn last_name(items: &Partition, user: &User) -> String {
    items[&user_sk(&user.user_id)]["rec"].as_m().unwrap()["lastName"].as_s().unwrap().clone()
}

/// The stored last name and source version of `user`.
fn name_and_version(items: &Partition, user: &User) -> (String, String) {
    (last_name(items, user), items[&user_sk(&user.user_id)]["sv"].as_n().unwrap().clone())
}

#[tokio::test]
async fn changes_arriving_during_a_bulk_load_wait_for_it_and_then_apply() {
    let data = loadable_tenant();
    let t = data.tenant.tenant_id.clone();
    let store = fresh_store().await;
    let writer = Writer::new(store.clone(), Clock::System);
    let live = data.users[..3].to_vec();
    let pk = tenant_pk(&t);
    // The platform's changes start as soon as the load has put its marker, and are delivered
    // again (as SQS would) until none fails.
    let platform = async {
        while !partition_by_sk(&store, &pk).await.contains_key(shared::store::loading::BULK_LOAD_SK) {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        let mut pending = live.clone();
        let mut deliveries = 0;
        while !pending.is_empty() {
            deliveries += 1;
            let failed = queue::handle_batch(&writer, &audit_log(&store), renames(&t, &pending, 100, "Live"))
                .await
                .batch_item_failures;
            pending.retain(|user| failed.iter().any(|f| f.item_identifier == user.user_id));
        }
        (started, deliveries)
    };
    let load = async {
        let report = bulk::load_tenant(&store, &data, seed_clock(), &|_| {}).await;
        (report, std::time::Instant::now())
    };
    let ((started, deliveries), (report, loaded_at)) = tokio::join!(platform, load);
    report.expect("the load succeeds");
    assert!(started < loaded_at, "the changes were sent while the load ran");
    assert!(deliveries >= 1);

    let items = partition_by_sk(&store, &pk).await;
    assert!(!items.contains_key(shared::store::loading::BULK_LOAD_SK), "the marker is gone");
    for user in &live {
        assert_eq!(name_and_version(&items, user), ("Live".to_owned(), "100".to_owned()), "the live change won");
    }
    let users = items.keys().filter(|sk| sk.starts_with("USER#")).count();
    assert_eq!(users, data.users.len(), "every loaded user is there");
    let other = &data.users[3];
    assert_eq!(Some(last_name(&items, other)), other.last_name, "the rest is as loaded");
}

#[tokio::test]
async fn a_bulk_load_refuses_a_tenant_whose_changes_arrived_first() {
    let data = loadable_tenant();
    let t = data.tenant.tenant_id.clone();
    let store = fresh_store().await;
    let writer = Writer::new(store.clone(), Clock::System);
    let early = queue::handle_batch(&writer, &audit_log(&store), renames(&t, &data.users[..1], 100, "Early")).await;
    assert!(early.batch_item_failures.is_empty(), "a change before its tenant is stored");

    let refused = bulk::load_tenant(&store, &data, seed_clock(), &|_| {}).await.expect_err("refused");
    assert!(refused.to_string().contains("already holds records"), "{refused}");
    let items = partition_by_sk(&store, &tenant_pk(&t)).await;
    assert!(!items.contains_key(shared::store::loading::BULK_LOAD_SK), "the marker is gone");
    assert_eq!(items.keys().filter(|sk| sk.starts_with("USER#")).count(), 1, "nothing was loaded");
    assert_eq!(name_and_version(&items, &data.users[0]), ("Early".to_owned(), "100".to_owned()));
}
