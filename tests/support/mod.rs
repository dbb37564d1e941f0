//! Helpers for the integration tests: a fresh table per test on the DynamoDB Local that
//! `scripts/test.sh` starts, record builders, and whole-partition reads.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use shared::config::StoreConfig;
use shared::model::{Entity, Membership, Role, RoleAssignment, Tenant, User};
use shared::store::item::RawItem;
use shared::store::writer::{Clock, Writer};
use shared::store::{table, Store};
use shared::sync::events::EventPublisher;
use shared::sync::launch::StepFunctions;
use shared::sync::worker::Worker;
use shared::time::Timestamp;

pub mod contract;
pub mod emulator;
pub mod http;
pub mod mirror;
pub mod proxy;
pub mod watch;

/// The DynamoDB Local endpoint the test command started.
pub fn endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh, which starts DynamoDB Local")
    })
}

/// A new, empty table with a unique name, so tests can run in parallel.
pub async fn fresh_store() -> Store {
    let config = StoreConfig::from_lookup(|name| match name {
        "DYNAMODB_ENDPOINT" => Some(endpoint()),
        "TABLE_NAME" => Some(format!("test-{}", uuid::Uuid::new_v4())),
        _ => None,
    })
    .expect("test config is valid");
    let store = Store::new(&config);
    table::create(&store).await.expect("table can be created");
    store
}

/// A tenant's live items by its counters: what the sync worker's one-task limit
/// (`SYNC_ONE_TASK_MAX_ITEMS`) is compared with.
pub async fn live_items(store: &Store, tenant_id: &str) -> u64 {
    shared::store::reader::counters(store, tenant_id).await.expect("counters read").live_items()
}

/// A sync worker over `store` that logs its events; its Step Functions client goes to
/// `step_functions_endpoint` (moto) when given.
pub fn worker(store: &Store, one_task_max_items: u64, step_functions_endpoint: Option<String>) -> Worker {
    let aws = StoreConfig::from_lookup(|name| (name == "DYNAMODB_ENDPOINT").then(endpoint))
        .expect("test AWS settings are valid");
    let step_functions = StepFunctions::from_lookup(
        |name| step_functions_endpoint.clone().filter(|_| name == "STEP_FUNCTIONS_ENDPOINT"),
        &aws,
    );
    Worker {
        writer: Writer::new(store.clone(), Clock::System),
        events: std::sync::Arc::new(EventPublisher::Log),
        step_functions,
        one_task_max_items,
    }
}

/// A fresh table loaded with the deterministic demo data (seed 42), as the bulk loader writes it.
pub async fn seeded_store() -> (Store, shared::seed::SeedData) {
    let store = fresh_store().await;
    let data = shared::seed::generate(&shared::seed::SeedOptions { seed: 42, scale: None });
    let at = shared::seed::seed_clock();
    shared::store::bulk::load_platform(&store, &data.platform, at).await.expect("platform data loads");
    for tenant in &data.tenants {
        shared::store::bulk::load_tenant(&store, tenant, at, &|_| {}).await.expect("demo tenant loads");
    }
    (store, data)
}

/// A writer on the system clock.
pub fn writer(store: &Store) -> Writer {
    Writer::new(store.clone(), Clock::System)
}

/// Parses a timestamp literal.
pub fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("valid timestamp literal")
}

fn build<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("builder JSON matches the record type")
}

/// A tenant with the given id and Kinde org code.
pub fn tenant(id: &str, org: &str) -> Tenant {
    build(
        json!({ "tenantId": id, "companyName": format!("Company {id}"), "kindeOrgId": org, "createdAt": "2025-01-01T00:00:00Z" }),
    )
}

/// A user created at `created`.
pub fn user(id: &str, created: &str) -> User {
    build(
        json!({ "userId": id, "email": format!("{id}@example.com"), "firstName": "Test", "lastName": id, "createdAt": created }),
    )
}

/// An entity under `parent`.
pub fn entity(id: &str, name: &str, parent: Option<&str>, level: i64) -> Entity {
    build(json!({ "entityId": id, "entityType": "department", "entityName": name, "entityCode": format!("C-{id}"),
        "parentEntityId": parent, "entityLevel": level, "createdAt": "2025-01-01T00:00:00Z" }))
}

/// A role with one CRM permission.
pub fn role(id: &str, priority: i64) -> Role {
    build(json!({ "roleId": id, "roleName": format!("Role {id}"), "priority": priority,
        "permissions": { "crm": { "leads": ["read"] } }, "createdAt": "2025-01-01T00:00:00Z" }))
}

/// A role assignment.
pub fn role_assignment(id: &str, user: &str, role: &str) -> RoleAssignment {
    build(json!({ "assignmentId": id, "userId": user, "roleId": role, "assignedAt": "2025-02-01T00:00:00Z" }))
}

/// An active membership.
pub fn membership(id: &str, user: &str, entity: &str, primary: bool, employee_id: Option<&str>) -> Membership {
    build(json!({ "membershipId": id, "userId": user, "entityId": entity, "membershipStatus": "active",
        "isPrimary": primary, "employeeId": employee_id, "createdAt": "2025-02-01T00:00:00Z" }))
}

/// How many items of `collection` the index of `mode` holds for the tenant (a complete
/// count, however long it takes).
pub async fn index_count(
    store: &Store,
    tenant_id: &str,
    collection: shared::store::keys::Collection,
    mode: shared::store::query::ListMode,
) -> i64 {
    let request = shared::store::query::ListRequest::default();
    let count = shared::store::query::count(store, tenant_id, collection, mode, &request, usize::MAX)
        .await
        .expect("count succeeds");
    assert!(count.complete);
    count.matched as i64
}

/// Every item of a partition (one Query on the partition key, all pages).
pub async fn partition(store: &Store, pk: &str) -> Vec<RawItem> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query succeeds");
        items.extend(output.items.unwrap_or_default());
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return items,
        }
    }
}

/// The audit entries of `tenant` (`None`: the platform's trail) of this month and the one
/// before (a test running across a month's end), as JSON.
pub async fn audit_entries(store: &Store, tenant: Option<&str>) -> Vec<serde_json::Value> {
    let now = shared::time::Timestamp::now();
    let mut partitions =
        vec![shared::audit::audit_pk(tenant, now.plus_millis(-3_600_000)), shared::audit::audit_pk(tenant, now)];
    partitions.dedup();
    let mut entries = Vec::new();
    for pk in partitions {
        for item in partition(store, &pk).await {
            entries.push(serde_dynamo::from_item(item).expect("an audit entry is plain attributes"));
        }
    }
    entries
}

/// Items of a partition keyed by sort key, for comparisons.
pub async fn partition_by_sk(store: &Store, pk: &str) -> BTreeMap<String, RawItem> {
    partition(store, pk)
        .await
        .into_iter()
        .map(|item| {
            let sk = match item.get("SK") {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => panic!("item without SK"),
            };
            (sk, item)
        })
        .collect()
}
