//! `pagination.total` in linear time and the evaluation budget: the initial load's total
//! comes from the counters and holds for the walk, filtered totals are counted once per walk
//! (and flagged when estimated), and a filter that matches little never makes one request
//! read more than the budget.

use std::collections::BTreeSet;

use integration_tests::http::{Bench, A};
use integration_tests::*;
use serde_json::Value;
use shared::model::User;
use shared::seed::seed_clock;
use shared::store::bulk::{self, TenantDataset};
use shared::store::query::EVALUATION_BUDGET;

const EPOCH: &str = "1970-01-01T00:00:00Z";

/// Walks `path` (with its query) from its first page to the end; returns every item and every
/// `pagination` object.
async fn walk(bench: &Bench, path: &str, token: &str) -> (Vec<Value>, Vec<Value>) {
    walk_from(bench, path, None, token).await
}

/// [`walk`] from the page `cursor` leads to.
async fn walk_from(bench: &Bench, path: &str, mut cursor: Option<String>, token: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut items, mut pages) = (Vec::new(), Vec::new());
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let reply = bench.get(&url, Some(token)).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.text);
        items.extend(reply.body["data"].as_array().unwrap().iter().cloned());
        pages.push(reply.body["pagination"].clone());
        match reply.body["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (items, pages),
        }
        assert!(pages.len() < 1_000, "the walk ends");
    }
}

fn users(count: usize, primary: impl Fn(usize) -> Option<&'static str>) -> Vec<User> {
    (0..count)
        .map(|n| {
            let mut u = user(&format!("u{n:05}"), "2025-01-01T00:00:00Z");
            u.primary_organization_id = primary(n).map(str::to_owned);
            u
        })
        .collect()
}

async fn load(bench: &Bench, users: Vec<User>) {
    let data = TenantDataset { users, ..TenantDataset::empty(tenant("bulk-tenant", "org-bulk")) };
    bulk::load_tenant(&bench.store, &data, seed_clock(), &|_| {}).await.unwrap();
}

#[tokio::test]
async fn the_initial_load_total_is_live_records_plus_tombstones_fixed_for_the_walk() {
    let bench = Bench::start().await;
    let w = writer(&bench.store);
    for n in 0..120 {
        w.put_user(A.0, &user(&format!("u{n:03}"), "2025-01-01T00:00:00Z")).await.unwrap();
    }
    for n in 0..5 {
        w.delete_user(A.0, &format!("u{n:03}")).await.unwrap();
    }
    let token = bench.platform();
    let first = bench.get(&format!("/tenants/{}/users?updatedSince={EPOCH}&limit=50", A.0), Some(&token)).await;
    assert_eq!(first.body["pagination"]["total"], 120, "115 live users and 5 tombstones");
    assert_eq!(first.body["pagination"]["totalEstimated"], false);
    // A user created during the walk shows up at its end; the total stays what page 1 said.
    w.put_user(A.0, &user("late", "2025-01-01T00:00:00Z")).await.unwrap();
    let cursor = first.body["pagination"]["nextCursor"].as_str().map(str::to_owned);
    let path = format!("/tenants/{}/users?updatedSince={EPOCH}&limit=50", A.0);
    let (rest, pages) = walk_from(&bench, &path, cursor, &token).await;
    assert!(pages.iter().all(|p| p["total"] == 120), "{pages:?}");
    let ids: Vec<&str> =
        first.body["data"].as_array().unwrap().iter().chain(&rest).filter_map(|i| i["userId"].as_str()).collect();
    assert_eq!(ids.len(), 121);
    assert_eq!(ids.last(), Some(&"late"));
    let deleted = first.body["data"].as_array().unwrap().iter().chain(&rest).filter(|i| i["deleted"] == true).count();
    assert_eq!(deleted, 5);
    // A new walk counts the late user.
    let again = bench.get(&format!("/tenants/{}/users?updatedSince={EPOCH}&limit=1", A.0), Some(&token)).await;
    assert_eq!(again.body["pagination"]["total"], 121);
}

#[tokio::test]
async fn filters_that_match_little_are_read_within_the_budget() {
    let bench = Bench::start().await;
    let population = 12_000;
    load(&bench, users(population, |n| (n % 100 == 0).then_some("rare"))).await;
    let token = bench.platform();
    let t = "bulk-tenant";

    // A filter that matches nothing: every page stays within the budget, the walk ends.
    let (items, pages) = walk(&bench, &format!("/tenants/{t}/users?entityId=nothing&limit=10"), &token).await;
    assert!(items.is_empty());
    assert!(pages.len() >= population / EVALUATION_BUDGET, "{} pages", pages.len());
    assert!(pages[..pages.len() - 1].iter().all(|p| p["hasMore"] == true));
    // The count stopped at its budget with no match: an estimate of 0, flagged as such.
    assert_eq!((&pages[0]["total"], &pages[0]["totalEstimated"]), (&Value::from(0), &Value::from(true)));

    // A filter that matches 1 in 100: every match once, in order; the total counted once
    // and carried; the count ran out of budget, so it is an estimate.
    let (items, pages) = walk(&bench, &format!("/tenants/{t}/users?entityId=rare&limit=25"), &token).await;
    let ids: Vec<&str> = items.iter().filter_map(|i| i["userId"].as_str()).collect();
    let expected: Vec<String> = (0..population).filter(|n| n % 100 == 0).map(|n| format!("u{n:05}")).collect();
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(pages.iter().all(|p| p["total"] == pages[0]["total"] && p["totalEstimated"] == true), "{:?}", pages[0]);
    let estimate = pages[0]["total"].as_u64().unwrap();
    assert!((100..=140).contains(&estimate), "estimate {estimate} for 120 matches");

    // Page mode skips within the budget too, continuing through its cursor.
    let page = bench.get(&format!("/tenants/{t}/users?entityId=rare&limit=25&page=3"), Some(&token)).await;
    assert_eq!(page.status, 200);
    let mut collected: Vec<Value> = page.body["data"].as_array().unwrap().clone();
    let mut cursor = page.body["pagination"]["nextCursor"].as_str().map(str::to_owned);
    while collected.len() < 25 {
        let Some(c) = cursor else { break };
        let next = bench.get(&format!("/tenants/{t}/users?entityId=rare&limit=25&cursor={c}"), Some(&token)).await;
        collected.extend(next.body["data"].as_array().unwrap().iter().cloned());
        cursor = next.body["pagination"]["nextCursor"].as_str().map(str::to_owned);
    }
    let third: BTreeSet<&str> = collected.iter().take(25).filter_map(|i| i["userId"].as_str()).collect();
    assert_eq!(third, expected[50..75].iter().map(String::as_str).collect::<BTreeSet<_>>());
}
