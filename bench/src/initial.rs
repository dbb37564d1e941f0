//! The initial load against a plain full walk: `users?updatedSince=1970-01-01T00:00:00Z`
//! (the contract's initial-load value) and `users?includeInactive=true` over the same tenant,
//! both walked to the end with `limit=500` through the in-process router, alternated. Time
//! and the read capacity DynamoDB reports for the walk's requests are compared.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use shared::api::{self, AppState};
use shared::seed::ScaleSpec;
use shared::store::{bulk, Store};
use tower::ServiceExt;

use crate::counting::{describe, CapacityCounter, RequestCounter};
use crate::setup::{self, fresh_table, Fixture};
use crate::stats::{ms, verdict, Samples};

/// What one walk cost.
struct Walk {
    took: Duration,
    items: usize,
    pages: usize,
    capacity: f64,
    total: Value,
}

/// Runs `rounds` alternations over a tenant of `users` users and prints the table.
pub async fn run(users: usize, rounds: usize) -> anyhow::Result<()> {
    let scale = ScaleSpec { users, entities: (users / 10).max(1), role_assignments: 0, memberships: 0 };
    let data = setup::generate(Some(scale));
    let (config, plain) = fresh_table("initial").await?;
    let at = shared::seed::seed_clock();
    bulk::load_platform(&plain, &data.platform, at).await?;
    let tenant = data.tenants.last().expect("the scale tenant");
    bulk::load_tenant(&plain, tenant, at, &|_| {}).await?;
    let fixture = Fixture::over(config.clone(), data.clone()).await?;
    let (requests, capacity) = (RequestCounter::default(), CapacityCounter::default());
    let store = Store::with_client_config(&config, |b| b.interceptor(requests.clone()).interceptor(capacity.clone()));
    let (auth, cursors) = fixture.auth()?;
    let app = api::serve(
        api::all_routes(),
        AppState::new(store, auth, cursors).with_limits(shared::api::limits::RateLimits::unlimited()),
    );
    let token = fixture.service_token()?;
    let id = &tenant.tenant.tenant_id;
    let full = format!("/api/sync/tenants/{id}/users?includeInactive=true&limit=500");
    let initial = format!("/api/sync/tenants/{id}/users?updatedSince=1970-01-01T00:00:00Z&limit=500");

    println!("\n## Initial load against a full walk ({rounds} alternations, {users} users, limit=500)\n");
    walk(&app, &full, &token, &capacity).await?;
    walk(&app, &initial, &token, &capacity).await?;
    let (mut a, mut b) = (Samples::default(), Samples::default());
    let (mut last_a, mut last_b) = (None, None);
    for _ in 0..rounds {
        requests.take();
        let walked = walk(&app, &initial, &token, &capacity).await?;
        a.push(walked.took);
        last_a = Some((walked, describe(&requests.take())));
        let walked = walk(&app, &full, &token, &capacity).await?;
        b.push(walked.took);
        last_b = Some((walked, describe(&requests.take())));
    }
    let ((initial_walk, initial_requests), (full_walk, full_requests)) =
        (last_a.expect("rounds > 0"), last_b.expect("rounds > 0"));
    let time_ratio = a.median().as_secs_f64() / b.median().as_secs_f64();
    let capacity_ratio = initial_walk.capacity / full_walk.capacity;
    println!("| walk | items | pages | total on page 1 | median ms | read capacity (units) | DynamoDB requests |");
    println!("|---|---|---|---|---|---|---|");
    let rows = [
        ("initial load", &initial_walk, &a, &initial_requests),
        ("full walk (`includeInactive=true`)", &full_walk, &b, &full_requests),
    ];
    for (name, walk, samples, requests) in rows {
        println!(
            "| {name} | {} | {} | {} | {} | {:.1} | {requests} |",
            walk.items,
            walk.pages,
            walk.total,
            ms(samples.median()),
            walk.capacity
        );
    }
    println!("\n| figure | value | target |");
    println!("|---|---|---|");
    println!("| time, initial load / full walk | {time_ratio:.2} | 1.3 ({}) |", verdict(time_ratio, 1.3));
    println!(
        "| read capacity, initial load / full walk | {capacity_ratio:.2} | 2.1 ({}) |",
        verdict(capacity_ratio, 2.1)
    );
    Ok(())
}

/// Follows `nextCursor` from `uri` to the end.
async fn walk(app: &axum::Router, uri: &str, token: &str, capacity: &CapacityCounter) -> anyhow::Result<Walk> {
    capacity.take();
    let started = Instant::now();
    let (mut items, mut pages, mut total) = (0, 0, Value::Null);
    let mut next = uri.to_owned();
    loop {
        let request = Request::get(&next).header("authorization", format!("Bearer {token}")).body(Body::empty())?;
        let response = app.clone().oneshot(request).await?;
        anyhow::ensure!(response.status().is_success(), "{next}: {}", response.status());
        let body: Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
        pages += 1;
        items += body["data"].as_array().map_or(0, Vec::len);
        if pages == 1 {
            total = body["pagination"]["total"].clone();
        }
        match body["pagination"]["nextCursor"].as_str() {
            Some(cursor) => next = format!("{uri}&cursor={cursor}"),
            None => break,
        }
    }
    Ok(Walk { took: started.elapsed(), items, pages, capacity: capacity.take(), total })
}
