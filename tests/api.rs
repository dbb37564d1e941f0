//! The read API over HTTP on the seeded demo data: response shapes (snapshots), paging in
//! both modes, incremental pulls, conditional requests, values that used to be
//! placeholders, bad input, and the auth matrix over every route.

use std::collections::HashSet;

use integration_tests::http::{pause, Bench, Reply};
use serde_json::{json, Value};
use shared::seed::SeedData;
use shared::store::bulk::TenantDataset;
use shared::store::writer::{Clock, Writer};

fn northwind(data: &SeedData) -> &TenantDataset {
    &data.tenants[0]
}

fn initech(data: &SeedData) -> &TenantDataset {
    &data.tenants[2]
}

async fn get(bench: &Bench, token: &str, path: &str) -> Reply {
    bench.get(path, Some(token)).await
}

async fn post(bench: &Bench, token: &str, path: &str, body: Option<&str>) -> Reply {
    bench
        .send(|c, url| {
            let mut request = c.post(format!("{url}/api/sync{path}")).bearer_auth(token);
            if let Some(body) = body {
                request = request.header("content-type", "application/json").body(body.to_owned());
            }
            request
        })
        .await
}

/// The raw body with values that change per request replaced.
fn stable_text(reply: &Reply) -> String {
    let mut text = reply.text.clone();
    for member in ["snapshotAt", "requestId", "timestamp"] {
        if let Some(value) = reply.body.get(member).and_then(Value::as_str) {
            text = text.replace(value, &format!("<{member}>"));
        }
    }
    text
}

#[tokio::test]
async fn every_endpoint_answers_in_the_contract_shape() {
    let (bench, data) = Bench::seeded().await;
    let t = &initech(&data).tenant.tenant_id;
    let token = bench.service(Some(t), json!({}));
    let routes = [
        ("tenant", format!("/tenants/{t}")),
        ("users", format!("/tenants/{t}/users?limit=2")),
        ("tenant_users", format!("/tenants/{t}/tenant-users?limit=2")),
        ("organizations", format!("/tenants/{t}/organizations?limit=2")),
        ("roles", format!("/tenants/{t}/roles?limit=2&appCode=crm")),
        ("employee_assignments", format!("/tenants/{t}/employee-assignments?limit=2")),
        ("role_assignments", format!("/tenants/{t}/role-assignments?limit=2")),
        ("entity_credits", format!("/tenants/{t}/entity-credits?limit=2&appCode=crm")),
        ("credit_configs", format!("/tenants/{t}/credit-configs?appCode=hr")),
        ("credit_configs_tenant_specific", format!("/tenants/{t}/credit-configs/tenant-specific?appCode=crm")),
        ("credit_configs_global", "/credit-configs/global?appCode=inventory".to_owned()),
        ("data_requirements", "/data-requirements".to_owned()),
    ];
    for (name, path) in routes {
        let reply = get(&bench, &token, &path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert_eq!(reply.header("content-type"), Some("application/json; charset=utf-8"));
        assert!(reply.header("etag").is_some() && reply.header("x-request-id").is_some());
        insta::assert_snapshot!(name, stable_text(&reply));
    }
    let bootstrap = post(&bench, &token, &format!("/tenants/{t}/bootstrap"), Some(r#"{"appCode":" CRM "}"#)).await;
    assert_eq!(bootstrap.status, 200, "{}", bootstrap.text);
    insta::assert_snapshot!("bootstrap", stable_text(&bootstrap));
}

async fn walk_cursor(bench: &Bench, token: &str, path: &str, limit: usize) -> (Vec<Value>, Vec<Value>) {
    let mut items = Vec::new();
    let mut pages = Vec::new();
    let mut url = format!("{path}?limit={limit}");
    loop {
        let reply = get(bench, token, &url).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.text);
        items.extend(reply.body["data"].as_array().unwrap().iter().cloned());
        pages.push(reply.body["pagination"].clone());
        match reply.body["pagination"]["nextCursor"].as_str() {
            Some(cursor) => url = format!("{path}?limit={limit}&cursor={cursor}"),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn walking_every_page_returns_the_full_set_once_in_both_modes() {
    let (bench, data) = Bench::seeded().await;
    let tenant = northwind(&data);
    let t = &tenant.tenant.tenant_id;
    let token = bench.service(Some(t), json!({}));
    let expected: HashSet<String> = tenant.users.iter().filter(|u| u.active()).map(|u| u.user_id.clone()).collect();

    let path = format!("/tenants/{t}/users");
    let (items, pages) = walk_cursor(&bench, &token, &path, 7).await;
    let ids: Vec<String> = items.iter().map(|u| u["userId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), expected.len(), "no repeats, no skips");
    assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), expected);
    let created: Vec<&str> = items.iter().map(|u| u["createdAt"].as_str().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "ordered by createdAt");
    for (n, page) in pages.iter().enumerate() {
        assert_eq!(page["total"], expected.len());
        assert_eq!(page["page"], n + 1);
        assert_eq!(page["totalPages"], expected.len().div_ceil(7));
        assert_eq!(page["hasMore"], n + 1 < pages.len());
    }

    let mut paged = Vec::new();
    for page in 1.. {
        let reply = get(&bench, &token, &format!("{path}?limit=20&page={page}")).await;
        let batch = reply.body["data"].as_array().unwrap().clone();
        if batch.is_empty() {
            assert_eq!(reply.body["pagination"]["hasMore"], false);
            break;
        }
        paged.extend(batch.into_iter().map(|u| u["userId"].as_str().unwrap().to_owned()));
    }
    assert_eq!(paged, ids, "page mode walks the same order");

    // Switching from page mode to cursors continues where the page ended.
    let second = get(&bench, &token, &format!("{path}?limit=20&page=2")).await;
    let cursor = second.body["pagination"]["nextCursor"].as_str().unwrap();
    let third = get(&bench, &token, &format!("{path}?limit=20&cursor={cursor}")).await;
    assert_eq!(third.body["data"][0]["userId"], ids[40]);
    assert_eq!(third.body["pagination"]["page"], 3);

    // includeInactive and the roles app filter walk completely too.
    let (all, _) = walk_cursor(&bench, &token, &format!("/tenants/{t}/users?includeInactive=true&x=1"), 50).await;
    assert_eq!(all.len(), tenant.users.len());
    let (crm_roles, _) = walk_cursor(&bench, &token, &format!("/tenants/{t}/roles?appCode=crm&x=1"), 2).await;
    let expected_roles =
        tenant.roles.iter().filter(|r| r.active() && r.covered_apps().contains(&"crm".to_owned())).count();
    assert_eq!(crm_roles.len(), expected_roles);
}

#[tokio::test]
async fn incremental_pulls_return_changes_and_tombstones_with_a_stable_watermark() {
    let (bench, data) = Bench::seeded().await;
    let tenant = northwind(&data);
    let t = &tenant.tenant.tenant_id;
    let token = bench.service(Some(t), json!({}));
    let writer = Writer::new(bench.store.clone(), Clock::System);

    let initial = get(&bench, &token, &format!("/tenants/{t}/users?updatedSince=1970-01-01T00:00:00Z&limit=500")).await;
    assert_eq!(initial.status, 200, "{}", initial.text);
    assert_eq!(initial.body["pagination"]["total"], tenant.users.len(), "initial load: active and inactive");
    let first_mark = initial.body["pagination"]["watermark"].as_str().unwrap().to_owned();

    pause(20).await;
    let mark = shared::time::Timestamp::now();
    pause(20).await;
    let mut changed = tenant.users[3].clone();
    changed.login_count = Some(4242);
    writer.put_user(t, &changed).await.unwrap();
    let gone = tenant.users[4].user_id.clone();
    writer.delete_user(t, &gone).await.unwrap();

    let since = mark.to_string();
    let path = format!("/tenants/{t}/users?updatedSince={since}&limit=1");
    let first = get(&bench, &token, &path).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["pagination"]["total"], 2);
    let watermark = first.body["pagination"]["watermark"].as_str().unwrap().to_owned();
    assert!(watermark.as_str() > first_mark.as_str(), "the watermark advances");
    let cursor = first.body["pagination"]["nextCursor"].as_str().unwrap();
    let second = get(&bench, &token, &format!("{path}&cursor={cursor}")).await;
    assert_eq!(second.body["pagination"]["watermark"], watermark.as_str(), "fixed for the whole walk");
    assert_eq!(second.body["pagination"]["hasMore"], false);
    let items = [first.body["data"][0].clone(), second.body["data"][0].clone()];
    let live = items.iter().find(|i| i.get("deleted").is_none()).unwrap();
    assert_eq!(live["userId"], changed.user_id.as_str());
    let tombstone = items.iter().find(|i| i["deleted"] == true).unwrap();
    assert_eq!(tombstone["userId"], gone.as_str());
    assert_eq!(tombstone.as_object().unwrap().len(), 3, "userId, deleted, deletedAt: {tombstone}");

    // The deleted user's memberships leave tombstones on their route too.
    let memberships = get(&bench, &token, &format!("/tenants/{t}/employee-assignments?updatedSince={since}")).await;
    let tombstones: Vec<&Value> =
        memberships.body["data"].as_array().unwrap().iter().filter(|m| m["deleted"] == true).collect();
    assert!(!tombstones.is_empty());
    assert!(tombstones.iter().all(|m| m["userId"] == gone.as_str() && m["tenantId"] == t.as_str()));
    // Normal reads never show deleted records.
    let full = get(&bench, &token, &format!("/tenants/{t}/users?includeInactive=true&limit=500")).await;
    assert!(full.body["data"].as_array().unwrap().iter().all(|u| u["userId"] != gone.as_str()));
}

#[tokio::test]
async fn if_none_match_gives_304_with_the_caching_headers() {
    let (bench, data) = Bench::seeded().await;
    let t = &northwind(&data).tenant.tenant_id;
    let token = bench.service(Some(t), json!({}));
    for path in [format!("/tenants/{t}/organizations"), format!("/tenants/{t}"), "/data-requirements".to_owned()] {
        let first = get(&bench, &token, &path).await;
        let tag = first.header("etag").unwrap().to_owned();
        assert_eq!(first.header("cache-control"), Some("private, no-cache"));
        assert_eq!(first.header("vary"), Some("Authorization"));
        for inm in [tag.clone(), format!("W/{tag}"), "*".to_owned()] {
            let again = bench
                .send(|c, url| {
                    c.get(format!("{url}/api/sync{path}")).bearer_auth(&token).header("if-none-match", inm.clone())
                })
                .await;
            assert_eq!(again.status, 304, "{path} {inm}");
            assert!(again.text.is_empty());
            assert_eq!(again.header("etag"), Some(tag.as_str()));
            assert!(again.header("x-request-id").is_some());
        }
    }
    // A 304 only goes to a caller who would get the 200.
    let first = get(&bench, &token, &format!("/tenants/{t}")).await;
    let tag = first.header("etag").unwrap().to_owned();
    let stranger = bench.service(Some(&data.tenants[1].tenant.tenant_id), json!({}));
    let denied = bench
        .send(|c, url| c.get(format!("{url}/api/sync/tenants/{t}")).bearer_auth(&stranger).header("if-none-match", tag))
        .await;
    assert_eq!(denied.status, 403);
}

#[tokio::test]
async fn former_placeholders_come_from_the_stored_records() {
    let (bench, data) = Bench::seeded().await;
    let tenant = northwind(&data);
    let t = &tenant.tenant.tenant_id;
    let token = bench.service(Some(t), json!({}));

    let info = get(&bench, &token, &format!("/tenants/{t}")).await.body["data"].clone();
    assert_eq!(info["organization"]["orgCode"], tenant.tenant.kinde_org_id.as_str(), "org code, not the tenant id");
    assert_eq!(info["settings"], serde_json::to_value(tenant.tenant.settings.as_ref().unwrap()).unwrap());
    assert_eq!(info["subscription"]["plan"], "enterprise");

    let users = get(&bench, &token, &format!("/tenants/{t}/tenant-users?includeInactive=true&limit=500")).await.body
        ["data"]
        .clone();
    let by_id = |id: &str| users.as_array().unwrap().iter().find(|u| u["userId"] == id).unwrap().clone();
    for user in &tenant.users {
        let view = by_id(&user.user_id);
        assert_eq!(view["loginCount"], user.login_count.unwrap_or(0));
        assert_eq!(view["isVerified"], user.is_verified.unwrap_or(false));
        assert_eq!(view["isResponsiblePerson"], user.is_responsible_person.unwrap_or(false));
        assert_eq!(view["primaryOrganizationId"], user.primary_organization_id.as_deref().unwrap());
        assert_eq!(view["profile"]["title"], user.title.clone().unwrap_or_default());
        assert_eq!(view["preferences"], serde_json::to_value(user.preferences.as_ref().unwrap()).unwrap());
        if user.first_name.is_some() {
            assert_eq!(view["firstName"], user.first_name.as_deref().unwrap(), "stored names are not re-split");
        }
    }
    let primary = tenant.memberships.iter().find(|m| m.is_active_primary() && m.employee_id.is_some()).unwrap();
    assert_eq!(by_id(&primary.user_id)["profile"]["employeeCode"], primary.employee_id.as_deref().unwrap());
    let active_user = tenant.users.iter().find(|u| u.active() && u.last_active_at.is_some()).unwrap();
    let compact = get(&bench, &token, &format!("/tenants/{t}/users?limit=500")).await.body["data"].clone();
    let compact_user =
        compact.as_array().unwrap().iter().find(|u| u["userId"] == active_user.user_id.as_str()).unwrap();
    assert_eq!(compact_user["status"]["lastActivityAt"], active_user.last_active_at.unwrap().to_string());
    assert_eq!(compact_user["organization"]["department"], active_user.department.as_deref().unwrap());

    let orgs = get(&bench, &token, &format!("/tenants/{t}/organizations?limit=500&includeInactive=true")).await.body
        ["data"]
        .clone();
    let root = orgs.as_array().unwrap().iter().find(|o| o["parentId"].is_null()).unwrap();
    let children: HashSet<&str> = tenant
        .entities
        .iter()
        .filter(|e| e.parent_entity_id.as_deref() == root["orgCode"].as_str())
        .map(|e| e.entity_id.as_str())
        .collect();
    assert_eq!(root["hierarchy"]["children"].as_array().unwrap().len(), children.len());
    assert!(!children.is_empty());

    let credits =
        get(&bench, &token, &format!("/tenants/{t}/entity-credits?includeInactive=true&appCode=crm&limit=500"))
            .await
            .body["data"]
            .clone();
    for balance in &tenant.credit_balances {
        let view = credits.as_array().unwrap().iter().find(|c| c["entityId"] == balance.entity_id.as_str()).unwrap();
        match balance.app_totals.get("crm") {
            Some(totals) => {
                assert_eq!(
                    view["allocatedAt"],
                    totals.last_allocated_at.map(|t| t.to_string()).map_or(Value::Null, Value::from)
                );
                assert_eq!(
                    view["allocatedCredits"].as_f64().unwrap().to_string(),
                    totals.allocated.normalize().to_string()
                );
            }
            None => assert!(view["allocatedAt"].is_null(), "no allocation: null, not now"),
        }
        assert_eq!(
            view["availableCredits"].as_f64().unwrap().to_string(),
            balance.available_credits.normalize().to_string()
        );
    }
    let roles = get(&bench, &token, &format!("/tenants/{t}/roles?includeInactive=true")).await.body["data"].clone();
    assert!(roles.as_array().unwrap().iter().any(|r| r["isActive"] == false), "the stored flag, not always true");
}

#[tokio::test]
async fn bootstrap_checks_app_and_entitlement() {
    let (bench, data) = Bench::seeded().await;
    let globex = &data.tenants[1].tenant.tenant_id;
    let token = bench.service(Some(globex), json!({}));
    let path = format!("/tenants/{globex}/bootstrap");
    let expired = post(&bench, &token, &path, Some(r#"{"appCode":"accounting"}"#)).await;
    assert_eq!((expired.status, expired.body["code"].as_str()), (403, Some("ENTITLEMENT_EXPIRED")));
    let denied = post(&bench, &token, &format!("{path}?appCode=inventory"), None).await;
    assert_eq!((denied.status, denied.body["code"].as_str()), (403, Some("ENTITLEMENT_DENIED")));
    let inactive = post(&bench, &token, &path, Some(r#"{"appCode":"project_management"}"#)).await;
    assert_eq!((inactive.status, inactive.body["code"].as_str()), (400, Some("UNKNOWN_APP_CODE")));
    let ok = post(&bench, &token, &path, Some(r#"{"appCode":"hr","requestedBy":"onboarding"}"#)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["recordCounts"]["users"], ok.body["data"]["users"].as_array().unwrap().len());
    let northwind = &data.tenants[0].tenant.tenant_id;
    let disabled = post(
        &bench,
        &bench.platform(),
        &format!("/tenants/{northwind}/bootstrap"),
        Some(r#"{"appCode":"affiliate_connect"}"#),
    )
    .await;
    assert_eq!((disabled.status, disabled.body["code"].as_str()), (403, Some("ENTITLEMENT_DENIED")));
}

#[tokio::test]
async fn bad_input_gets_the_documented_4xx_never_a_5xx() {
    let (bench, data) = Bench::seeded().await;
    let t = northwind(&data).tenant.tenant_id.clone();
    let other = data.tenants[1].tenant.tenant_id.clone();
    let token = bench.service(Some(&t), json!({}));
    let users_cursor = get(&bench, &token, &format!("/tenants/{t}/users?limit=1")).await.body["pagination"]
        ["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let platform = bench.platform();
    let other_cursor = get(&bench, &platform, &format!("/tenants/{other}/users?limit=1")).await.body["pagination"]
        ["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tampered = users_cursor.clone().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let long = "x".repeat(129);
    let u = format!("/tenants/{t}/users");
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        (format!("{u}?limit=-1"), 400, None),
        (format!("{u}?limit=0"), 400, None),
        (format!("{u}?limit=501"), 400, None),
        (format!("{u}?limit=1.5"), 400, None),
        (format!("{u}?limit=99999999999"), 400, None),
        (format!("{u}?limit=1e3"), 400, None),
        (format!("{u}?limit=0x10"), 400, None),
        (format!("{u}?limit="), 400, None),
        (format!("{u}?limit=5&limit=6"), 400, None),
        (format!("{u}?page=0"), 400, None),
        (format!("{u}?page=-2"), 400, None),
        (format!("{u}?page=2.5"), 400, None),
        (format!("{u}?page=1000&limit=50"), 400, Some("PAGE_WINDOW_EXCEEDED")),
        (format!("{u}?page=2&cursor={users_cursor}"), 400, None),
        (format!("{u}?cursor={tampered}"), 400, Some("CURSOR_INVALID")),
        (format!("{u}?cursor=garbage"), 400, Some("CURSOR_INVALID")),
        (format!("{u}?cursor={}", "a".repeat(2049)), 400, None),
        (format!("/tenants/{t}/tenant-users?cursor={users_cursor}"), 400, Some("CURSOR_INVALID")),
        (format!("{u}?includeInactive=true&cursor={users_cursor}"), 400, Some("CURSOR_INVALID")),
        (format!("/tenants/{other}/users?cursor={other_cursor}"), 403, Some("TENANT_ACCESS_DENIED")),
        (format!("{u}?includeInactive=yes"), 400, None),
        (format!("{u}?includeInactive=TRUE"), 400, None),
        (format!("{u}?includeInactive="), 400, None),
        (format!("{u}?updatedSince=yesterday"), 400, None),
        (format!("{u}?updatedSince=2026-01-01"), 400, None),
        (format!("{u}?updatedSince=2999-01-01T00:00:00Z"), 400, None),
        (format!("{u}?updatedSince=2020-01-01T00:00:00Z"), 400, Some("UPDATED_SINCE_TOO_OLD")),
        (format!("{u}?updatedSince=1970-01-01T00:00:00Z&page=2"), 400, None),
        (format!("{u}?updatedSince=1970-01-01T00:00:00Z&entityId=e1"), 400, None),
        (format!("{u}?entityId={long}"), 400, None),
        (format!("{u}?entityId=a%01b"), 400, None),
        (format!("/tenants/{t}/roles?appCode=CRM"), 400, None),
        (format!("/tenants/{t}/roles?appCode=nosuchapp"), 400, Some("UNKNOWN_APP_CODE")),
        (format!("/tenants/{t}/entity-credits?appCode="), 400, None),
        (format!("/tenants/{t}/entity-credits?appCode=nosuchapp"), 400, Some("UNKNOWN_APP_CODE")),
        (format!("/tenants/{t}/credit-configs?appCode=affiliateConnect"), 400, None),
        (format!("/tenants/{t}/credit-configs/tenant-specific"), 400, None),
        ("/credit-configs/global".to_owned(), 400, None),
        ("/credit-configs/global?appCode=".to_owned(), 400, None),
        ("/credit-configs/global?appCode=unknown_app".to_owned(), 400, Some("UNKNOWN_APP_CODE")),
        (format!("/tenants/{t}/role-assignments?userId={long}"), 400, None),
        (format!("/tenants/{t}/employee-assignments?userId=&entityId=x"), 400, None),
        (format!("/tenants/{long}/users"), 400, None),
        (format!("/tenants/{t}/users/"), 404, None),
        (format!("/tenants/{t}/nothing"), 404, None),
        ("/nothing".to_owned(), 404, None),
    ];
    assert!(cases.len() >= 40);
    for (path, status, code) in &cases {
        let reply = get(&bench, &token, path).await;
        assert_eq!(reply.status, *status, "{path}: {}", reply.text);
        assert_eq!(reply.body["statusCode"], *status);
        assert_eq!(reply.body["success"], false);
        if let Some(code) = code {
            assert_eq!(reply.body["code"], *code, "{path}");
        }
        if *status == 400 && code.is_none() {
            assert!(reply.body["details"].as_array().is_some_and(|d| !d.is_empty()), "{path}: {}", reply.text);
        }
    }
    // Outside the base paths, with the wrong method, with bad bodies.
    let raw = |method: reqwest::Method, path: &str| {
        let path = path.to_owned();
        let token = token.clone();
        move |c: &reqwest::Client, url: &str| c.request(method, format!("{url}{path}")).bearer_auth(token)
    };
    assert_eq!(bench.send(raw(reqwest::Method::GET, &format!("/api/api/wrapper/tenants/{t}"))).await.status, 404);
    let wrong_method = bench.send(raw(reqwest::Method::DELETE, &format!("/api/sync/tenants/{t}/users"))).await;
    assert_eq!(wrong_method.status, 405);
    assert!(wrong_method.header("allow").is_some_and(|a| a.contains("GET")), "{:?}", wrong_method.headers);
    assert_eq!(wrong_method.body["error"], "Method Not Allowed");
    let bootstrap = format!("/tenants/{t}/bootstrap");
    let text = bench
        .send(|c, url| {
            c.post(format!("{url}/api/sync{bootstrap}"))
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body("x")
        })
        .await;
    assert_eq!(text.status, 415);
    assert_eq!(post(&bench, &token, &bootstrap, Some("{not json")).await.status, 400);
    assert_eq!(post(&bench, &token, &bootstrap, Some(r#"{"requestedBy": 5}"#)).await.status, 400);
    // The body's appCode wins, but a malformed query appCode is still rejected.
    let both = post(&bench, &token, &format!("{bootstrap}?appCode=no-such!"), Some(r#"{"appCode":"crm"}"#)).await;
    assert_eq!((both.status, both.body["details"][0]["field"].as_str()), (400, Some("appCode")));
    assert_eq!(
        post(&bench, &token, &bootstrap, Some(&format!(r#"{{"pad":"{}"}}"#, "x".repeat(1_100_000)))).await.status,
        413
    );
}

#[tokio::test]
async fn every_route_by_caller_matrix() {
    let (bench, data) = Bench::seeded().await;
    let (a, b) = (&data.tenants[0].tenant, &data.tenants[1].tenant);
    let callers: [(&str, Option<String>); 5] = [
        ("none", None),
        ("A", Some(bench.kinde(Some(&a.kinde_org_id), json!({})))),
        ("B", Some(bench.service(Some(&b.tenant_id), json!({})))),
        ("unscoped", Some(bench.service(None, json!({})))),
        ("platform", Some(bench.platform())),
    ];
    let routes = |t: &str| {
        vec![
            ("GET", format!("/tenants/{t}")),
            ("GET", format!("/tenants/{t}/users")),
            ("GET", format!("/tenants/{t}/tenant-users")),
            ("GET", format!("/tenants/{t}/organizations")),
            ("GET", format!("/tenants/{t}/roles")),
            ("GET", format!("/tenants/{t}/employee-assignments")),
            ("GET", format!("/tenants/{t}/role-assignments")),
            ("GET", format!("/tenants/{t}/entity-credits")),
            ("GET", format!("/tenants/{t}/credit-configs")),
            ("GET", format!("/tenants/{t}/credit-configs/tenant-specific?appCode=crm")),
            ("POST", format!("/tenants/{t}/bootstrap?appCode=crm")),
            ("GET", format!("/tenants/{t}/sync/status")),
            ("POST", format!("/tenants/{t}/sync?skipReferenceData=true")),
        ]
    };
    for (target, name) in [(&a.tenant_id, "A"), (&a.kinde_org_id, "A"), (&b.tenant_id, "B")] {
        for (method, route) in routes(target) {
            for prefix in ["/api/sync", "/api/wrapper"] {
                for (caller, token) in &callers {
                    let status = bench.status(method, &format!("{prefix}{route}"), token.as_deref()).await;
                    let expected = match (*caller, name) {
                        ("none", _) => 401,
                        ("platform", _) => 200,
                        (who, target) if who == target => 200,
                        _ => 403,
                    };
                    assert_eq!(status, expected, "{caller} on {name}: {prefix}{route}");
                }
            }
        }
    }
    // A platform-wide caller learns that a tenant does not exist, on every route.
    let platform = bench.platform();
    for (method, route) in routes("no-such-tenant") {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let reply =
            bench.send(|c, url| c.request(method, format!("{url}/api/sync{route}")).bearer_auth(&platform)).await;
        assert_eq!(reply.status, 404, "{route}");
        assert_eq!(reply.body["message"], "Tenant not found");
    }
    // Routes without a tenant: data-requirements is public, global configs need any token.
    for (caller, token) in &callers {
        let global = bench.status("GET", "/api/sync/credit-configs/global?appCode=crm", token.as_deref()).await;
        assert_eq!(global, if *caller == "none" { 401 } else { 200 });
        assert_eq!(bench.status("GET", "/api/wrapper/data-requirements", Some("garbage")).await, 200);
    }
}
