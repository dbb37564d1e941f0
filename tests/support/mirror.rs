//! The documented consumer protocol (`docs/api.md`, "Keeping a copy current") as the tests
//! run it against a live server while data changes: note a watermark, walk in full, then pull
//! increments from the watermark, keeping per id the newest version.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shared::time::Timestamp;

use crate::http::Bench;

/// A mirror of one route (with its filters): per id, the newest version seen.
#[derive(Default)]
pub struct Mirror {
    items: BTreeMap<String, (Timestamp, Option<Value>)>,
}

impl Mirror {
    /// Applies one item of a response: a live record or a tombstone, unless the mirror
    /// already holds a newer version of the id.
    pub fn apply(&mut self, item: &Value, id_member: &str) {
        let id = item[id_member].as_str().expect("items carry their id").to_owned();
        let deleted = item["deleted"] == true;
        let time = item[if deleted { "deletedAt" } else { "updatedAt" }].as_str().expect("items carry a time");
        let time = Timestamp::parse(time).expect("a timestamp");
        if self.items.get(&id).is_some_and(|(held, _)| *held > time) {
            return;
        }
        self.items.insert(id, (time, (!deleted).then(|| item.clone())));
    }

    /// The live records held, by id.
    pub fn live(&self) -> BTreeMap<String, Value> {
        self.items.iter().filter_map(|(id, (_, item))| item.clone().map(|item| (id.clone(), item))).collect()
    }
}

/// One route a consumer mirrors: its path (with filters) and the member naming its ids.
#[derive(Clone, Copy)]
pub struct Route {
    /// The route after `/tenants/<t>/`, with its filters.
    pub path: &'static str,
    /// The member naming an item's id.
    pub id: &'static str,
}

/// Every paged collection route of a tenant, unfiltered.
pub const EVERY_COLLECTION: [Route; 6] = [
    Route { path: "users", id: "userId" },
    Route { path: "organizations", id: "orgCode" },
    Route { path: "roles", id: "roleId" },
    Route { path: "employee-assignments", id: "assignmentId" },
    Route { path: "role-assignments", id: "assignmentId" },
    Route { path: "entity-credits", id: "entityId" },
];

/// A fresh full pull of `route` (inactive records included), by id.
pub async fn fresh_pull(bench: &Bench, token: &str, tenant: &str, route: Route) -> BTreeMap<String, Value> {
    let mut fresh = BTreeMap::new();
    let base = format!("/tenants/{tenant}/{}", route.path);
    walk(bench, token, &join(&base, "includeInactive=true&limit=500"), |item| {
        fresh.insert(item[route.id].as_str().expect("items carry their id").to_owned(), item.clone());
    })
    .await;
    fresh
}

/// `path` with `rest` added to its query.
pub fn join(path: &str, rest: &str) -> String {
    format!("{path}{}{rest}", if path.contains('?') { '&' } else { '?' })
}

/// Every page of `path` from the start, handing each item to `visit`; returns the last
/// page's watermark.
pub async fn walk(bench: &Bench, token: &str, path: &str, mut visit: impl FnMut(&Value)) -> Option<String> {
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &cursor {
            Some(c) => join(path, &format!("cursor={c}")),
            None => path.to_owned(),
        };
        let reply = bench.get(&url, Some(token)).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.text);
        reply.body["data"].as_array().unwrap().iter().for_each(&mut visit);
        match reply.body["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return reply.body["pagination"]["watermark"].as_str().map(str::to_owned),
        }
    }
    panic!("{path}: the walk does not end");
}

/// The documented consumer protocol for one route, until `stop` is set and one last
/// incremental pull has been applied.
pub async fn follow(
    bench: Arc<Bench>,
    token: String,
    tenant: &'static str,
    route: Route,
    stop: Arc<AtomicBool>,
) -> (Route, Mirror) {
    let base = format!("/tenants/{tenant}/{}", route.path);
    let mut mirror = Mirror::default();
    // 1. Note a watermark: any incremental request's, before the full walk starts.
    let recent = Timestamp::now().plus_millis(-60_000);
    let probe = bench.get(&join(&base, &format!("updatedSince={recent}&limit=1")), Some(&token)).await;
    let Some(watermark) = probe.body["pagination"]["watermark"].as_str() else {
        panic!("{base}: no watermark ({}): {}", probe.status, probe.text);
    };
    let mut watermark = watermark.to_owned();
    // 2. Walk in full (small pages, so the walk overlaps the changes).
    walk(&bench, &token, &join(&base, "includeInactive=true&limit=5"), |item| mirror.apply(item, route.id)).await;
    // 3. Pull increments from the watermark until the writer has stopped, then once more.
    loop {
        let last = stop.load(Ordering::SeqCst);
        let path = join(&base, &format!("updatedSince={watermark}&limit=7"));
        watermark = walk(&bench, &token, &path, |item| mirror.apply(item, route.id)).await.expect("watermark");
        if last {
            return (route, mirror);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
