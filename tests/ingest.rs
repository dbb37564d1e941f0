//! Ingestion: the change format (docs and schema against the code), the version rules on
//! DynamoDB Local, and convergence: a generated change history delivered shuffled, with
//! duplicates, by concurrent tasks ends where the same history applied in order ends, and
//! where the platform ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::http::Bench;
use integration_tests::mirror::{follow, fresh_pull, EVERY_COLLECTION};
use integration_tests::{fresh_store, partition_by_sk, tenant, writer};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use shared::ingest::{apply, Change, Outcome};
use shared::store::item::RawItem;
use shared::store::keys::tenant_pk;
use shared::store::writer::{apply_credit_activity, Writer};
use shared::store::Store;

const TENANT: &str = "t-ingest";

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schemas/change.schema.json"))
        .expect("docs/schemas/change.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::options().should_validate_formats(true).build(&schema).expect("the schema compiles")
}

/// Every JSON line of the `json` blocks of `docs/ingest-format.md`.
fn documented_examples() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ingest-format.md"))
        .expect("docs/ingest-format.md");
    let mut inside = false;
    let mut examples = Vec::new();
    for line in text.lines() {
        match line.trim() {
            "```json" => inside = true,
            "```" => inside = false,
            l if inside && l.starts_with('{') && l.ends_with('}') => {
                examples.push(serde_json::from_str(l).unwrap_or_else(|e| panic!("example is not JSON ({e}): {l}")))
            }
            _ => {}
        }
    }
    examples
}

#[test]
fn documented_examples_match_the_schema_and_the_code() {
    let schema = schema();
    let examples = documented_examples();
    assert!(examples.len() >= 8, "the format page has its examples");
    for example in examples {
        let errors: Vec<String> = schema.iter_errors(&example).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{example}: {errors:?}");
        Change::parse(example.clone()).unwrap_or_else(|e| panic!("{example}: {e}"));
    }
}

#[test]
fn invalid_changes_are_refused_by_the_schema_and_the_code() {
    let schema = schema();
    let user = json!({"userId":"u-1","email":"a@b.example","createdAt":"2025-01-01T00:00:00Z"});
    let bad = [
        json!({"changeId":"c","type":"user","tenantId":"t","sourceVersion":1}),
        json!({"changeId":"c","type":"user","op":"delete","tenantId":"t","sourceVersion":1,"key":{"userId":"u","roleId":"r"}}),
        json!({"changeId":"c","type":"user","op":"delete","tenantId":"t","sourceVersion":1,"record":user}),
        json!({"type":"user","tenantId":"t","sourceVersion":1,"record":user}),
        json!({"changeId":"c","type":"tenant","op":"delete","sourceVersion":1,"key":{"tenantId":"t"}}),
        json!({"changeId":"c","type":"user","tenantId":"t","sourceVersion":-1,"record":user}),
        json!({"changeId":"c","type":"user","tenantId":"t","sourceVersion":1,"record":user,"extra":1}),
        json!({"type":"creditActivity","tenantId":"t","record":{"entityId":"e","activity":"ledger","operationCode":"x","amount":"1","createdAt":"2026-01-01T00:00:00Z"}}),
        json!({"changeId":"c","type":"creditActivity","tenantId":"t","record":{"entityId":"e","activity":"usage","operationCode":"crm.a.b","amount":"1","createdAt":"2026-01-01T00:00:00Z"}}),
        json!({"changeId":"c","type":"membership","op":"delete","tenantId":"t","sourceVersion":2,"key":{"membershipId":"m"}}),
    ];
    for change in bad {
        assert!(!schema.is_valid(&change), "the schema accepts {change}");
        assert!(Change::parse(change.clone()).is_err(), "the code accepts {change}");
    }
}

fn change(value: Value) -> Change {
    Change::parse(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

async fn send(writer: &Writer, value: Value) -> Outcome {
    apply(writer, &change(value)).await.expect("the store answers")
}

fn user_change(id: &str, version: u64, last_name: &str) -> Value {
    json!({"changeId": format!("c-{id}-{version}"), "type": "user", "tenantId": TENANT, "sourceVersion": version,
        "record": {"userId": id, "email": format!("{id}@example.com"), "lastName": last_name, "createdAt": "2025-01-01T00:00:00Z"}})
}

fn user_delete(id: &str, version: u64) -> Value {
    json!({"changeId": format!("d-{id}-{version}"), "type": "user", "op": "delete", "tenantId": TENANT,
        "sourceVersion": version, "key": {"userId": id}})
}

async fn stored(store: &Store, sk: &str) -> Option<RawItem> {
    partition_by_sk(store, &tenant_pk(TENANT)).await.remove(sk)
}

fn text<'a>(item: &'a RawItem, path: &[&str]) -> Option<&'a str> {
    let mut value = item.get(path[0])?;
    for member in &path[1..] {
        value = value.as_m().ok()?.get(*member)?;
    }
    value.as_s().ok().map(String::as_str)
}

async fn with_tenant() -> (Store, Writer) {
    let store = fresh_store().await;
    let writer = writer(&store);
    writer.put_tenant(&tenant(TENANT, "org_ingest")).await.expect("tenant");
    (store, writer)
}

#[tokio::test]
async fn newer_versions_win_and_older_ones_are_stale() {
    let (store, writer) = with_tenant().await;
    assert_eq!(send(&writer, user_change("u-1", 5, "Five")).await, Outcome::Applied);
    assert_eq!(send(&writer, user_change("u-1", 3, "Three")).await, Outcome::Stale);
    assert_eq!(send(&writer, user_change("u-1", 5, "Five")).await, Outcome::Stale, "a duplicate is stale");
    let item = stored(&store, "USER#u-1").await.expect("stored");
    assert_eq!(text(&item, &["rec", "lastName"]), Some("Five"));
    assert_eq!(item.get("sv"), Some(&AttributeValue::N("5".into())));

    // A newer version saying the same stores the version without a new change time.
    let before = item.get("updatedAt").cloned();
    assert_eq!(send(&writer, user_change("u-1", 9, "Five")).await, Outcome::Unchanged);
    let item = stored(&store, "USER#u-1").await.expect("stored");
    assert_eq!(item.get("sv"), Some(&AttributeValue::N("9".into())));
    assert_eq!(item.get("updatedAt").cloned(), before);
    assert_eq!(send(&writer, user_change("u-1", 7, "Seven")).await, Outcome::Stale);
}

#[tokio::test]
async fn a_stale_upsert_after_a_delete_does_not_resurrect() {
    let (store, writer) = with_tenant().await;
    assert_eq!(send(&writer, user_change("u-1", 1, "One")).await, Outcome::Applied);
    assert_eq!(send(&writer, user_delete("u-1", 3)).await, Outcome::Applied);
    assert_eq!(send(&writer, user_change("u-1", 2, "Two")).await, Outcome::Stale);
    let item = stored(&store, "USER#u-1").await.expect("tombstone");
    assert_eq!(item.get("deleted"), Some(&AttributeValue::Bool(true)));
    // A re-creation with a newer version does come back.
    assert_eq!(send(&writer, user_change("u-1", 4, "Four")).await, Outcome::Applied);
    let item = stored(&store, "USER#u-1").await.expect("live again");
    assert_eq!(text(&item, &["rec", "lastName"]), Some("Four"));
}

#[tokio::test]
async fn a_delete_before_its_create_leaves_a_versioned_tombstone() {
    let (store, writer) = with_tenant().await;
    let delete = json!({"changeId":"d-1","type":"membership","op":"delete","tenantId":TENANT,"sourceVersion":2,
        "key":{"membershipId":"m-1","userId":"u-1","entityId":"e-1"}});
    assert_eq!(send(&writer, delete).await, Outcome::Applied);
    let create = json!({"changeId":"c-1","type":"membership","tenantId":TENANT,"sourceVersion":1,
        "record":{"membershipId":"m-1","userId":"u-1","entityId":"e-1","membershipStatus":"active","createdAt":"2025-01-01T00:00:00Z"}});
    assert_eq!(send(&writer, create).await, Outcome::Stale);
    let item = stored(&store, "MEMBER#m-1").await.expect("tombstone");
    assert_eq!(item.get("deleted"), Some(&AttributeValue::Bool(true)));
    assert_eq!(text(&item, &["ids", "userId"]), Some("u-1"), "the tombstone reports the key's members");
    assert_eq!(text(&item, &["ids", "entityId"]), Some("e-1"));
    assert_eq!(item.get("sv"), Some(&AttributeValue::N("2".into())));
}

#[tokio::test]
async fn unversioned_lines_apply_only_where_no_version_is_stored() {
    let (_store, writer) = with_tenant().await;
    let plain = |name: &str| json!({"type":"user","tenantId":TENANT,"record":{"userId":"u-1","email":"u@example.com","lastName":name,"createdAt":"2025-01-01T00:00:00Z"}});
    assert_eq!(send(&writer, plain("Plain")).await, Outcome::Applied);
    assert_eq!(send(&writer, user_change("u-1", 1, "Versioned")).await, Outcome::Applied);
    assert!(
        matches!(send(&writer, plain("Again")).await, Outcome::Rejected(reason) if reason.contains("version required"))
    );
}

#[tokio::test]
async fn a_duplicate_credit_posting_counts_once() {
    let (store, writer) = with_tenant().await;
    let entity = json!({"changeId":"c-e","type":"entity","tenantId":TENANT,"sourceVersion":1,
        "record":{"entityId":"e-1","entityType":"organization","entityName":"HQ","createdAt":"2025-01-01T00:00:00Z"}});
    let balance = json!({"changeId":"c-b","type":"creditBalance","tenantId":TENANT,"sourceVersion":1,
        "record":{"entityId":"e-1","availableCredits":"100"}});
    assert_eq!(send(&writer, entity).await, Outcome::Applied);
    assert_eq!(send(&writer, balance).await, Outcome::Applied);
    let posting = json!({"changeId":"p-1","type":"creditActivity","tenantId":TENANT,"record":{"entityId":"e-1",
        "activity":"ledger","operationCode":"application_allocation:crm","amount":"40","createdAt":"2026-01-01T00:00:00Z"}});
    // Concurrent deliveries of one posting, then a redelivery.
    let (a, b) = tokio::join!(send(&writer, posting.clone()), send(&writer, posting.clone()));
    let mut outcomes = [a, b, send(&writer, posting).await];
    outcomes.sort_by_key(|o| o.name());
    assert_eq!(outcomes, [Outcome::Applied, Outcome::Unchanged, Outcome::Unchanged]);
    let item = stored(&store, "CREDIT#e-1").await.expect("balance");
    assert_eq!(text(&item, &["rec", "appTotals", "crm", "allocated"]), Some("40"));
    // A newer balance snapshot keeps the totals the postings made; one with totals is refused.
    let newer = json!({"changeId":"c-b2","type":"creditBalance","tenantId":TENANT,"sourceVersion":2,
        "record":{"entityId":"e-1","availableCredits":"60"}});
    assert_eq!(send(&writer, newer).await, Outcome::Applied);
    let item = stored(&store, "CREDIT#e-1").await.expect("balance");
    assert_eq!(text(&item, &["rec", "appTotals", "crm", "allocated"]), Some("40"));
    let with_totals = json!({"changeId":"c-b3","type":"creditBalance","tenantId":TENANT,"sourceVersion":3,
        "record":{"entityId":"e-1","availableCredits":"60","appTotals":{"crm":{"allocated":"1","used":"0"}}}});
    assert!(matches!(send(&writer, with_totals).await, Outcome::Rejected(_)));
}

#[tokio::test]
async fn an_immutable_member_change_is_rejected() {
    let (_store, writer) = with_tenant().await;
    let membership = |version: u64, user: &str| {
        json!({"changeId": format!("c-{version}"),"type":"membership","tenantId":TENANT,"sourceVersion":version,
            "record":{"membershipId":"m-1","userId":user,"entityId":"e-1","membershipStatus":"active","createdAt":"2025-01-01T00:00:00Z"}})
    };
    assert_eq!(send(&writer, membership(1, "u-1")).await, Outcome::Applied);
    assert!(
        matches!(send(&writer, membership(2, "u-2")).await, Outcome::Rejected(reason) if reason.contains("userId"))
    );
}

/// The platform: a small tenant whose records change at random, each change carrying the
/// record's next version. Deleting a record deletes what depends on it, each with its own
/// change, as the platform's database does.
struct Platform {
    rng: StdRng,
    versions: HashMap<String, u64>,
    live: BTreeMap<String, Value>,
    changes: Vec<Value>,
    totals: BTreeMap<String, shared::model::AppCreditTotals>,
}

const ENTITIES: [&str; 3] = ["e-1", "e-2", "e-3"];
const USERS: [&str; 4] = ["u-1", "u-2", "u-3", "u-4"];
const ROLES: [&str; 2] = ["r-1", "r-2"];
const MEMBERSHIPS: [(&str, &str, &str); 5] =
    [("m-1", "u-1", "e-1"), ("m-2", "u-1", "e-2"), ("m-3", "u-2", "e-2"), ("m-4", "u-3", "e-3"), ("m-5", "u-4", "e-1")];
const ASSIGNMENTS: [(&str, &str, &str); 3] = [("a-1", "u-1", "r-1"), ("a-2", "u-2", "r-2"), ("a-3", "u-3", "r-1")];

impl Platform {
    fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            versions: HashMap::new(),
            live: BTreeMap::new(),
            changes: Vec::new(),
            totals: BTreeMap::new(),
        }
    }

    fn next_version(&mut self, key: &str) -> u64 {
        let version = self.versions.entry(key.to_owned()).or_insert(0);
        *version += self.rng.random_range(1..4);
        *version
    }

    fn upsert(&mut self, kind: &str, id: &str, record: Value) {
        let key = format!("{kind}/{id}");
        let version = self.next_version(&key);
        self.changes.push(json!({"changeId": format!("{key}@{version}"), "type": kind, "tenantId": TENANT,
            "sourceVersion": version, "record": record}));
        self.live.insert(key, record);
    }

    fn delete(&mut self, kind: &str, id: &str, key_members: Value) {
        let key = format!("{kind}/{id}");
        if self.live.remove(&key).is_none() {
            return;
        }
        let version = self.next_version(&key);
        self.changes.push(json!({"changeId": format!("{key}@{version}"), "type": kind, "op": "delete",
            "tenantId": TENANT, "sourceVersion": version, "key": key_members}));
    }

    fn is_live(&self, kind: &str, id: &str) -> bool {
        self.live.contains_key(&format!("{kind}/{id}"))
    }

    /// The records every history starts from: the root entity and its balance (postings
    /// before it are kept until it arrives).
    fn start(&mut self) -> usize {
        self.upsert("entity", "e-1", json!({"entityId":"e-1","entityType":"organization","entityName":"HQ","entityLevel":1,"createdAt":"2025-01-01T00:00:00.000Z"}));
        self.upsert("creditBalance", "e-1", json!({"entityId":"e-1","availableCredits":"1000"}));
        self.changes.len()
    }

    fn step(&mut self, n: usize) {
        let name = format!("v{n}");
        match self.rng.random_range(0..9) {
            0 => {
                let id = ENTITIES[self.rng.random_range(1..3)];
                if self.is_live("entity", id) && self.rng.random_bool(0.3) {
                    let doomed: Vec<_> = MEMBERSHIPS.iter().filter(|m| m.2 == id).collect();
                    for (m, u, e) in doomed {
                        self.delete("membership", m, json!({"membershipId": m, "userId": u, "entityId": e}));
                    }
                    self.delete("entity", id, json!({"entityId": id}));
                } else {
                    let parent = if self.rng.random_bool(0.5) { Some("e-1") } else { None };
                    let active = self.rng.random_bool(0.8);
                    self.upsert(
                        "entity",
                        id,
                        json!({"entityId": id, "entityType": "department", "entityName": format!("{id} {name}"),
                        "parentEntityId": parent, "isActive": active, "createdAt": "2025-01-02T00:00:00.000Z"}),
                    );
                }
            }
            1 | 2 => {
                let id = USERS[self.rng.random_range(0..USERS.len())];
                if self.is_live("user", id) && self.rng.random_bool(0.25) {
                    for (m, u, e) in MEMBERSHIPS.iter().filter(|m| m.1 == id) {
                        self.delete("membership", m, json!({"membershipId": m, "userId": u, "entityId": e}));
                    }
                    for (a, u, r) in ASSIGNMENTS.iter().filter(|a| a.1 == id) {
                        self.delete("roleAssignment", a, json!({"assignmentId": a, "userId": u, "roleId": r}));
                    }
                    self.delete("user", id, json!({"userId": id}));
                } else {
                    let active = self.rng.random_bool(0.8);
                    self.upsert(
                        "user",
                        id,
                        json!({"userId": id, "email": format!("{id}@example.com"), "lastName": name,
                        "isActive": active, "createdAt": "2025-01-03T00:00:00.000Z"}),
                    );
                }
            }
            3 => {
                let id = ROLES[self.rng.random_range(0..ROLES.len())];
                if self.is_live("role", id) && self.rng.random_bool(0.25) {
                    for (a, u, r) in ASSIGNMENTS.iter().filter(|a| a.2 == id) {
                        self.delete("roleAssignment", a, json!({"assignmentId": a, "userId": u, "roleId": r}));
                    }
                    self.delete("role", id, json!({"roleId": id}));
                } else {
                    self.upsert(
                        "role",
                        id,
                        json!({"roleId": id, "roleName": format!("{id} {name}"), "permissions": {}, "createdAt": "2025-01-04T00:00:00.000Z"}),
                    );
                }
            }
            4 | 5 => {
                let (id, user, entity) = MEMBERSHIPS[self.rng.random_range(0..MEMBERSHIPS.len())];
                if self.is_live("membership", id) && self.rng.random_bool(0.3) {
                    self.delete("membership", id, json!({"membershipId": id, "userId": user, "entityId": entity}));
                } else if self.is_live("user", user) && self.is_live("entity", entity) {
                    let status = if self.rng.random_bool(0.7) { "active" } else { "inactive" };
                    self.upsert("membership", id, json!({"membershipId": id, "userId": user, "entityId": entity,
                        "membershipStatus": status, "isPrimary": true, "employeeId": format!("EMP-{id}-{n}"), "createdAt": "2025-01-05T00:00:00.000Z"}));
                }
            }
            6 => {
                let (id, user, role) = ASSIGNMENTS[self.rng.random_range(0..ASSIGNMENTS.len())];
                if self.is_live("roleAssignment", id) && self.rng.random_bool(0.3) {
                    self.delete("roleAssignment", id, json!({"assignmentId": id, "userId": user, "roleId": role}));
                } else if self.is_live("user", user) && self.is_live("role", role) {
                    let active = self.rng.random_bool(0.8);
                    self.upsert(
                        "roleAssignment",
                        id,
                        json!({"assignmentId": id, "userId": user, "roleId": role,
                        "isActive": active, "assignedAt": "2025-01-06T00:00:00.000Z"}),
                    );
                }
            }
            7 => {
                let credits = format!("{}", self.rng.random_range(0..5000));
                self.upsert("creditBalance", "e-1", json!({"entityId": "e-1", "availableCredits": credits}));
            }
            _ => {
                let record = if self.rng.random_bool(0.6) {
                    json!({"entityId":"e-1","activity":"ledger","operationCode":"application_allocation:crm",
                        "amount": format!("{}", self.rng.random_range(-20..100)), "initiatedBy": name,
                        "createdAt": format!("2026-01-01T{:02}:{:02}:00Z", n / 60, n % 60)})
                } else {
                    json!({"entityId":"e-1","activity":"usage","operationCode":"crm.leads.create",
                        "creditsDebited": format!("{}.25", self.rng.random_range(0..10)), "success": true,
                        "createdAt": format!("2026-01-02T{:02}:{:02}:00Z", n / 60, n % 60)})
                };
                let posting = json!({"changeId": format!("posting-{n}"), "type": "creditActivity", "tenantId": TENANT, "record": record});
                if let shared::ingest::Action::CreditActivity { activity, .. } = change(posting.clone()).action {
                    apply_credit_activity(&mut self.totals, &activity);
                }
                self.changes.push(posting);
            }
        }
    }
}

/// An item without what depends on when it was written (change times, versions, expiry).
fn comparable(mut item: RawItem) -> RawItem {
    for name in ["updatedAt", "ver", "CSK", "deletedAt", "ttl"] {
        item.remove(name);
    }
    // A counter that went up and down again reads as zero, one never touched is absent.
    item.retain(|_, value| value != &AttributeValue::N("0".into()));
    item
}

async fn final_state(store: &Store) -> BTreeMap<String, RawItem> {
    partition_by_sk(store, &tenant_pk(TENANT))
        .await
        .into_iter()
        .map(|(sk, item)| (sk, comparable(item)))
        // A tombstone bucket whose counts went back to zero counts nothing.
        .filter(|(sk, item)| !(sk.starts_with("TOMBS#") && item.len() == 2))
        .collect()
}

/// Delivers `changes` through `tasks` concurrent consumers; a change whose apply fails (a
/// conflict that outlasted the writer's retries, a transient store error) goes back to the
/// queue, as SQS redelivers it.
async fn deliver(writer: &Writer, mut changes: Vec<Value>, tasks: usize, pause_ms: u64) {
    changes.reverse(); // consumers pop from the end
    let queue = Arc::new(Mutex::new(changes));
    let consumers = (0..tasks).map(|n| {
        let (queue, writer) = (queue.clone(), writer.clone());
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(n as u64);
            loop {
                if pause_ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(0..pause_ms))).await;
                }
                let Some(value) = queue.lock().expect("queue").pop() else { return };
                match apply(&writer, &change(value.clone())).await {
                    Ok(Outcome::Rejected(reason)) => panic!("{value} rejected: {reason}"),
                    Ok(_) => {}
                    Err(_) => queue.lock().expect("queue").insert(0, value),
                }
            }
        })
    });
    for consumer in consumers.collect::<Vec<_>>() {
        consumer.await.expect("consumer");
    }
}

async fn converge(seed: u64, steps: usize) -> Result<(), TestCaseError> {
    let mut platform = Platform::new(seed);
    platform.start();
    for n in 0..steps {
        platform.step(n);
    }
    let (in_order, in_order_writer) = with_tenant().await;
    deliver(&in_order_writer, platform.changes.clone(), 1, 0).await;

    let (shuffled, shuffled_writer) = with_tenant().await;
    let mut rest = platform.changes.clone();
    let duplicates: Vec<Value> = rest.iter().filter(|_| platform.rng.random_bool(0.25)).cloned().collect();
    rest.extend(duplicates);
    rest.shuffle(&mut platform.rng);
    deliver(&shuffled_writer, rest, 4, 0).await;

    let expected = final_state(&in_order).await;
    let got = final_state(&shuffled).await;
    for (sk, item) in &expected {
        prop_assert_eq!(Some(item), got.get(sk), "seed {}: {} differs", seed, sk);
    }
    prop_assert_eq!(expected.len(), got.len(), "seed {}: item sets differ", seed);

    // And both hold what the platform holds.
    let raw = partition_by_sk(&shuffled, &tenant_pk(TENANT)).await;
    for (key, record) in &platform.live {
        let (kind, id) = key.split_once('/').expect("kind/id");
        let prefix = match kind {
            "entity" => "ENTITY",
            "user" => "USER",
            "role" => "ROLE",
            "membership" => "MEMBER",
            "roleAssignment" => "RA",
            _ => "CREDIT",
        };
        let item = raw.iter().find(|(sk, _)| sk.ends_with(&format!("#{id}")) && sk.starts_with(prefix));
        let (_, item) = item.unwrap_or_else(|| panic!("seed {seed}: {key} is missing"));
        let stored = shared::store::item::Stored::<Value, Value>::from_item(item.clone()).expect("decodes");
        let rec = stored.rec.unwrap_or_else(|| panic!("seed {seed}: {key} is not live"));
        let mut want = record.clone();
        if kind == "creditBalance" {
            want["appTotals"] = serde_json::to_value(&platform.totals).expect("totals");
        }
        prop_assert_eq!(without_nulls(rec), without_nulls(want), "seed {}: {}", seed, key);
    }
    Ok(())
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 0, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any delivery order with any duplicates, by concurrent consumers, ends where the
    /// in-order history ends, every derived value and counter included, and where the
    /// platform ends.
    #[test]
    fn shuffled_duplicated_concurrent_delivery_converges(seed in any::<u64>(), steps in 40usize..90) {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(converge(seed, steps))?;
    }
}

fn message(id: usize, body: String) -> shared::ingest::queue::SqsMessage {
    serde_json::from_value(json!({"messageId": format!("msg-{id}"), "body": body})).expect("message")
}

#[tokio::test]
async fn a_poison_message_and_a_store_failure_fail_only_their_messages() {
    let (store, _) = with_tenant().await;
    // The 7th transaction fails as if the store were unavailable: message 7's (message 4
    // writes nothing).
    let faults = shared::store::writer::Faults::fail_after(6);
    let writer = Writer::with_faults(store.clone(), shared::store::writer::Clock::System, faults);
    let records: Vec<_> = (0..10)
        .map(|n| match n {
            4 => message(n, "{\"type\":\"user\",\"tenantId\":".to_owned()),
            // Every other message arrives as the EventBridge event the rule forwards.
            n if n % 2 == 1 => message(
                n,
                json!({"version":"0","id":"e","detail-type":"UserChanged","source":"wrapper.platform",
                    "detail": user_change(&format!("u-{n}"), 1, "Batch")})
                .to_string(),
            ),
            n => message(n, user_change(&format!("u-{n}"), 1, "Batch").to_string()),
        })
        .collect();
    let batch = shared::ingest::queue::SqsBatch { records };
    let answer =
        shared::ingest::queue::handle_batch(&writer, &shared::audit::AuditLog::new(store.clone(), 1), batch).await;
    let failed: Vec<&str> = answer.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["msg-4", "msg-7"]);
    let users =
        partition_by_sk(&store, &tenant_pk(TENANT)).await.into_keys().filter(|sk| sk.starts_with("USER#")).count();
    assert_eq!(users, 8, "every other message was applied");
}

/// Platform changes in a shuffled, duplicated order, delivered by concurrent consumers while
/// HTTP consumers follow the tenant with the documented protocol: every mirror ends equal to
/// a fresh full pull, and the pulls hold the platform's live records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_consumers_following_the_delivery_end_with_the_platform_state() {
    let bench = Arc::new(Bench::start().await);
    let writer = writer(&bench.store);
    for app in shared::seed::catalog() {
        writer.put_catalog_app(&app).await.expect("catalog");
    }
    writer.put_tenant(&tenant(TENANT, "org_ingest")).await.expect("tenant");
    let mut platform = Platform::new(2026);
    let first = platform.start();
    for n in 0..150 {
        platform.step(n);
    }
    deliver(&writer, platform.changes[..first].to_vec(), 1, 0).await;

    let token = bench.platform();
    let stop = Arc::new(AtomicBool::new(false));
    let followers: Vec<_> = EVERY_COLLECTION
        .into_iter()
        .map(|route| tokio::spawn(follow(bench.clone(), token.clone(), TENANT, route, stop.clone())))
        .collect();
    let mut rest = platform.changes[first..].to_vec();
    let duplicates: Vec<Value> = rest.iter().filter(|_| platform.rng.random_bool(0.25)).cloned().collect();
    rest.extend(duplicates);
    rest.shuffle(&mut platform.rng);
    deliver(&writer, rest, 3, 60).await;
    stop.store(true, Ordering::SeqCst);

    for follower in followers {
        let (route, mirror) = follower.await.expect("follower");
        let fresh = fresh_pull(&bench, &token, TENANT, route).await;
        assert_eq!(mirror.live(), fresh, "{}: the mirror differs from a fresh pull", route.path);
        let kind = match route.path {
            "users" => "user",
            "organizations" => "entity",
            "roles" => "role",
            "employee-assignments" => "membership",
            "role-assignments" => "roleAssignment",
            _ => "creditBalance",
        };
        let live: Vec<String> =
            platform.live.keys().filter_map(|k| k.strip_prefix(&format!("{kind}/")).map(str::to_owned)).collect();
        let pulled: Vec<String> = fresh.keys().cloned().collect();
        assert_eq!(pulled, live, "{}: the pull holds the platform's live records", route.path);
    }
}

#[tokio::test]
async fn a_versioned_delete_leaves_dependents_dangling_until_their_own_deletes() {
    let (store, writer) = with_tenant().await;
    let membership = json!({"changeId":"c-m","type":"membership","tenantId":TENANT,"sourceVersion":1,
        "record":{"membershipId":"m-1","userId":"u-1","entityId":"e-1","membershipStatus":"active","createdAt":"2025-01-01T00:00:00.000Z"}});
    let entity = json!({"changeId":"c-e","type":"entity","tenantId":TENANT,"sourceVersion":1,
        "record":{"entityId":"e-1","entityType":"organization","entityName":"HQ","createdAt":"2025-01-01T00:00:00.000Z"}});
    for value in [user_change("u-1", 1, "One"), entity, membership] {
        assert_eq!(send(&writer, value).await, Outcome::Applied);
    }
    assert!(stored(&store, "MEMBER#m-1").await.expect("membership").contains_key("OSK"), "listed");
    assert_eq!(send(&writer, user_delete("u-1", 2)).await, Outcome::Applied);
    let dangling = stored(&store, "MEMBER#m-1").await.expect("still stored");
    assert!(!dangling.contains_key("OSK") && !dangling.contains_key("deleted"), "kept, not listed: {dangling:?}");
    // The user's re-creation lists it again; its own delete removes it.
    assert_eq!(send(&writer, user_change("u-1", 3, "Back")).await, Outcome::Applied);
    assert!(stored(&store, "MEMBER#m-1").await.expect("membership").contains_key("OSK"), "listed again");
    let delete = json!({"changeId":"d-m","type":"membership","op":"delete","tenantId":TENANT,"sourceVersion":2,
        "key":{"membershipId":"m-1","userId":"u-1","entityId":"e-1"}});
    assert_eq!(send(&writer, delete).await, Outcome::Applied);
    assert_eq!(
        stored(&store, "MEMBER#m-1").await.expect("tombstone").get("deleted"),
        Some(&AttributeValue::Bool(true))
    );
}
