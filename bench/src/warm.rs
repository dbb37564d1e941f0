//! Warm request overhead: the full in-process request through the router (authentication,
//! tenant resolution, DynamoDB, JSON) against the raw SDK requests the same page needs,
//! alternated A, B, A, B so both see the same machine state.

use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use shared::api::{self, AppState};
use shared::store::keys::{tenant_pk, Collection};
use shared::store::table::BY_ACTIVE;
use tower::ServiceExt;

use crate::counting::{counting_store, describe, RequestCounter};
use crate::setup::Fixture;
use crate::stats::{ms, ratio, verdict, Samples};

/// Pages measured: route, the collection it reads.
const ROUTES: [(&str, Collection); 3] = [
    ("users", Collection::Users),
    ("organizations", Collection::Entities),
    ("role-assignments", Collection::RoleAssignments),
];
const LIMITS: [usize; 2] = [50, 500];
/// Warm-up requests per combination (caches, connections), not measured.
const WARM_UP: usize = 20;

/// Runs every combination `rounds` times each way and prints the table.
pub async fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<()> {
    let counter = RequestCounter::default();
    let store = counting_store(&fixture.config, &counter);
    let (auth, cursors) = fixture.auth()?;
    let app = api::serve(
        api::all_routes(),
        AppState::new(store.clone(), auth, cursors).with_limits(shared::api::limits::RateLimits::unlimited()),
    );
    let tenant = fixture.tenant().tenant.tenant_id.clone();
    let tokens = [("service", fixture.service_token()?, 1.15), ("kinde", fixture.kinde_token()?, 1.3)];
    println!("\n## Warm request overhead ({rounds} alternations each, tenant {tenant})\n");
    println!("| route | limit | token | router median ms | raw SDK median ms | ratio | target | router p99 ms | raw p99 ms | DynamoDB requests per page |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (route, collection) in ROUTES {
        for limit in LIMITS {
            for (kind, token, target) in &tokens {
                let uri = format!("/api/sync/tenants/{tenant}/{route}?limit={limit}");
                let full = || full_request(&app, &uri, token);
                let raw = || raw_requests(&store, &tenant, collection, limit);
                for _ in 0..WARM_UP {
                    full().await?;
                    raw().await?;
                }
                counter.take();
                full().await?;
                let budget = describe(&counter.take());
                let (mut a, mut b) = (Samples::default(), Samples::default());
                for _ in 0..rounds {
                    let start = Instant::now();
                    full().await?;
                    a.push(start.elapsed());
                    let start = Instant::now();
                    raw().await?;
                    b.push(start.elapsed());
                }
                let r = ratio(a.median(), b.median());
                println!(
                    "| {route} | {limit} | {kind} | {} | {} | {r:.3} | {target} ({}) | {} | {} | {budget} |",
                    ms(a.median()),
                    ms(b.median()),
                    verdict(r, *target),
                    ms(a.p99()),
                    ms(b.p99())
                );
            }
        }
    }
    Ok(())
}

/// One request through the whole router, body read to the end.
async fn full_request(app: &axum::Router, uri: &str, token: &str) -> anyhow::Result<usize> {
    let request = Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty())?;
    let response = app.clone().oneshot(request).await?;
    anyhow::ensure!(response.status() == 200, "{uri} answered {}", response.status());
    Ok(response.into_body().collect().await?.to_bytes().len())
}

/// A strongly consistent `Query` of `collection`'s default pull (the `byActive` index), as a
/// route's page reads it.
pub fn active_pull(
    store: &shared::store::Store,
    tenant: &str,
    collection: Collection,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    store
        .client()
        .query()
        .table_name(store.table())
        .index_name(BY_ACTIVE)
        .consistent_read(true)
        .key_condition_expression("PK = :pk AND begins_with(ASK, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant)))
        .expression_attribute_values(":prefix", AttributeValue::S(collection.key_prefix()))
}

/// A `GetItem` of the tenant's item with sort key `sk`.
pub fn tenant_item(
    store: &shared::store::Store,
    tenant: &str,
    sk: &str,
) -> aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(tenant_pk(tenant)))
        .key("SK", AttributeValue::S(sk.to_owned()))
}

/// The DynamoDB requests a default page needs, made directly with the SDK: one strongly
/// consistent `Query` on the active-records index for `limit + 1` items and the counters'
/// `GetItem`, concurrently (what the route issues; see `docs/api.md`).
pub async fn raw_requests(
    store: &shared::store::Store,
    tenant: &str,
    collection: Collection,
    limit: usize,
) -> anyhow::Result<usize> {
    let query = active_pull(store, tenant, collection).limit(limit as i32 + 1).send();
    let counters = tenant_item(store, tenant, shared::store::keys::STATS_SK).send();
    let (query, counters) = tokio::join!(query, counters);
    Ok(query?.items().len() + usize::from(counters?.item().is_some()))
}
