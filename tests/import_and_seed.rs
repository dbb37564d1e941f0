//! Import validates everything before writing anything and is idempotent; seeding is
//! deterministic.

use integration_tests::*;
use shared::import;
use shared::seed::{self, seed_clock, SeedOptions};
use shared::store::keys::{alias_pk, tenant_pk, CATALOG_PK, GLOBAL_PK};
use shared::store::writer::{WriteOutcome, Writer};
use shared::store::{bulk, Store};

fn seed_lines(seed: u64) -> (String, seed::SeedData) {
    let data = seed::generate(&SeedOptions { seed, scale: None });
    let small: Vec<_> = data.tenants.iter().filter(|t| t.users.len() <= 8).cloned().collect();
    (import::to_lines(&data.platform, &small), data)
}

async fn run_import(store: &Store, text: &str) -> Result<import::ImportReport, Vec<import::LineError>> {
    let (records, mut errors) = import::parse(text);
    errors.extend(import::check_against_store(store, &records).await.unwrap());
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(import::apply(&writer(store), records, &|| {}).await.unwrap())
}

#[tokio::test]
async fn a_file_with_one_bad_record_is_rejected_whole_with_its_line() {
    let store = fresh_store().await;
    let (text, data) = seed_lines(21);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let bad = lines.len() / 2;
    lines[bad] = lines[bad].replacen("\"record\":{", "\"record\":{\"unexpected\":true,", 1);
    let errors = run_import(&store, &lines.join("\n")).await.unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, bad + 1);
    assert!(errors[0].reason.contains("unknown field `unexpected`"), "{}", errors[0].reason);

    // Nothing at all was written.
    assert!(partition(&store, CATALOG_PK).await.is_empty());
    assert!(partition(&store, GLOBAL_PK).await.is_empty());
    for tenant in &data.tenants {
        assert!(partition(&store, &tenant_pk(&tenant.tenant.tenant_id)).await.is_empty());
    }
}

#[tokio::test]
async fn records_of_unknown_tenants_are_rejected() {
    let store = fresh_store().await;
    let line = r#"{"type":"user","tenantId":"nobody","record":{"userId":"u1","email":"a@b.example","createdAt":"2026-01-01T00:00:00Z"}}"#;
    let errors = run_import(&store, line).await.unwrap_err();
    assert_eq!(errors[0].line, 1);
    assert!(errors[0].reason.contains("neither in the file nor stored"));
}

#[tokio::test]
async fn reimporting_the_same_file_changes_nothing() {
    let store = fresh_store().await;
    let (text, data) = seed_lines(22);
    let first = run_import(&store, &text).await.unwrap();
    assert!(first.count(WriteOutcome::Created) > 50);
    assert!(first.rejected.is_empty());

    let tenant = data.tenants.iter().find(|t| t.users.len() <= 8).unwrap();
    let pk = tenant_pk(&tenant.tenant.tenant_id);
    let before = partition_by_sk(&store, &pk).await;
    let second = run_import(&store, &text).await.unwrap();
    assert_eq!(second.count(WriteOutcome::Created) + second.count(WriteOutcome::Updated), 0, "{:?}", second.outcomes);
    assert_eq!(second.count(WriteOutcome::Unchanged), first.count(WriteOutcome::Created));
    assert_eq!(partition_by_sk(&store, &pk).await, before, "items changed on re-import");
}

async fn seeded_partitions(
    seed: u64,
) -> Vec<(String, std::collections::BTreeMap<String, shared::store::item::RawItem>)> {
    let store = fresh_store().await;
    let data = seed::generate(&SeedOptions { seed, scale: None });
    bulk::load_platform(&store, &data.platform, seed_clock()).await.unwrap();
    for tenant in &data.tenants {
        bulk::load_tenant(&store, tenant, seed_clock(), &|_| {}).await.unwrap();
    }
    let mut keys = vec![CATALOG_PK.to_owned(), GLOBAL_PK.to_owned()];
    for tenant in &data.tenants {
        keys.push(tenant_pk(&tenant.tenant.tenant_id));
        keys.push(alias_pk(&tenant.tenant.kinde_org_id));
    }
    let mut out = Vec::new();
    for pk in keys {
        out.push((pk.clone(), partition_by_sk(&store, &pk).await));
    }
    out
}

#[tokio::test]
async fn the_same_seed_gives_identical_items() {
    let first = seeded_partitions(42).await;
    let second = seeded_partitions(42).await;
    assert_eq!(first.len(), second.len());
    let items: usize = first.iter().map(|(_, items)| items.len()).sum();
    assert!(items > 500, "the demo data is substantial ({items} items)");
    assert_eq!(first, second);
    let other = seeded_partitions(43).await;
    assert_ne!(first[2].0, other[2].0, "another seed gives other tenants");
}

#[tokio::test]
async fn seeding_twice_leaves_existing_tenants_alone() {
    let store = fresh_store().await;
    let data = seed::generate(&SeedOptions { seed: 1, scale: None });
    let tenant = &data.tenants[2];
    bulk::load_tenant(&store, tenant, seed_clock(), &|_| {}).await.unwrap();
    let again = bulk::load_tenant(&store, tenant, seed_clock(), &|_| {}).await;
    assert!(matches!(again, Err(shared::store::StoreError::Rejected(_))));
    // The writer sees the bulk-loaded tenant as its own: writing the same record is a no-op.
    let w = Writer::new(store.clone(), shared::store::writer::Clock::System);
    assert_eq!(w.put_user(&tenant.tenant.tenant_id, &tenant.users[0]).await.unwrap(), WriteOutcome::Unchanged);
}

#[tokio::test]
async fn change_lines_import_with_versions_and_deletes() {
    let store = fresh_store().await;
    let tenant = r#"{"type":"tenant","record":{"tenantId":"t1","companyName":"T","kindeOrgId":"org_t1","createdAt":"2026-01-01T00:00:00Z"}}"#;
    let user = |version: u64, name: &str| {
        format!(
            r#"{{"changeId":"c{version}","type":"user","tenantId":"t1","sourceVersion":{version},"record":{{"userId":"u1","email":"a@b.example","lastName":"{name}","createdAt":"2026-01-01T00:00:00Z"}}}}"#
        )
    };
    let delete =
        r#"{"changeId":"d3","type":"user","op":"delete","tenantId":"t1","sourceVersion":3,"key":{"userId":"u1"}}"#;
    // Versions of one record may follow each other; the delete comes last whatever its line.
    let text = [tenant.to_owned(), delete.to_owned(), user(1, "One"), user(2, "Two")].join("\n");
    let report = run_import(&store, &text).await.unwrap();
    assert_eq!(report.count(WriteOutcome::Deleted), 1, "{report:?}");
    let items = partition_by_sk(&store, &tenant_pk("t1")).await;
    assert_eq!(items["USER#u1"].get("deleted"), Some(&aws_sdk_dynamodb::types::AttributeValue::Bool(true)));
    // The same file again: every versioned line is stale now.
    let again = run_import(&store, &text).await.unwrap();
    assert_eq!(again.count(WriteOutcome::Stale), 3, "{again:?}");
    // A plain line for that user is refused: a version is stored.
    let plain = r#"{"type":"user","tenantId":"t1","record":{"userId":"u1","email":"a@b.example","createdAt":"2026-01-01T00:00:00Z"}}"#;
    let refused = run_import(&store, plain).await.unwrap();
    assert!(refused.rejected[0].reason.contains("version required"), "{refused:?}");
}
