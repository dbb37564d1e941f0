//! The read API over HTTP on the seeded demo data: response shapes (snapshots), paging,
//! incremental pulls, caching, and values that used to be placeholders.

use integration_tests::http::{Bench, Reply};
use serde_json::{json, Value};
use shared::seed::SeedData;
use shared::store::bulk::TenantDataset;

fn northwind(data: &SeedData) -> &TenantDataset {
    &data.tenants[0]
}

async fn get(bench: &Bench, token: &str, path: &str) -> Reply {
    bench.get(path, Some(token)).await
}

#[tokio::test]
async fn explore() {
    let (bench, data) = Bench::seeded().await;
    let t = &northwind(&data).tenant.tenant_id;
    let token = bench.service(Some(t), json!({}));
    for route in [
        "users?limit=2",
        "tenant-users?limit=1",
        "organizations?limit=2",
        "roles?limit=2&appCode=crm",
        "employee-assignments?limit=1",
        "role-assignments?limit=1",
        "entity-credits?limit=1",
        "credit-configs?appCode=hr",
        "credit-configs/tenant-specific?appCode=crm",
    ] {
        let reply = get(&bench, &token, &format!("/tenants/{t}/{route}")).await;
        println!("{route} {} {}", reply.status, serde_json::to_string_pretty(&reply.body).unwrap());
    }
    let _: Value = Value::Null;
}
