//! The sync phases and validation against DynamoDB Local: counts equal what the routes
//! report, checksums match what a consumer computes from a full pull, and planted integrity
//! problems are found.

use integration_tests::http::Bench;
use integration_tests::*;
use serde_json::json;
use shared::model::User;
use shared::store::keys::Collection;
use shared::store::reader::{self, CollectionCounts, Counters};
use shared::store::writer::Clock;
use shared::store::writer::Writer;
use shared::sync::checksum::Checksum;
use shared::sync::{phases, validation};

async fn total(bench: &Bench, token: &str, path: &str) -> u64 {
    let reply = bench.get(path, Some(token)).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.body["pagination"]["total"].as_u64().unwrap()
}

#[tokio::test]
async fn phase_counts_equal_the_totals_of_the_routes() {
    let (bench, data) = Bench::seeded().await;
    let catalog = reader::catalog(&bench.store).await.unwrap();
    let platform = bench.platform();
    for tenant in &data.tenants {
        let t = &tenant.tenant.tenant_id;
        let essential = phases::essential(&bench.store, t).await;
        let reference = phases::reference(&bench.store, t, &catalog).await;
        assert!(essential.success && reference.success);
        assert_eq!(essential.data.tenant.count, 1);
        assert_eq!(essential.data.user_profiles.count, total(&bench, &platform, &format!("/tenants/{t}/users")).await);
        assert_eq!(
            essential.data.organizations.count,
            total(&bench, &platform, &format!("/tenants/{t}/organizations")).await
        );
        let r = &reference.data;
        assert_eq!(
            r.tenant_users.as_ref().unwrap().count,
            total(&bench, &platform, &format!("/tenants/{t}/tenant-users")).await
        );
        assert_eq!(r.roles.as_ref().unwrap().count, total(&bench, &platform, &format!("/tenants/{t}/roles")).await);
        assert_eq!(
            r.entity_credits.as_ref().unwrap().count,
            total(&bench, &platform, &format!("/tenants/{t}/entity-credits")).await
        );
        assert_eq!(
            r.employee_assignments.as_ref().unwrap().count,
            total(&bench, &platform, &format!("/tenants/{t}/employee-assignments")).await
        );
        assert_eq!(
            r.role_assignments.as_ref().unwrap().count,
            total(&bench, &platform, &format!("/tenants/{t}/role-assignments")).await
        );
        let mut configured = 0;
        for app in &catalog {
            let reply =
                bench.get(&format!("/tenants/{t}/credit-configs?appCode={}", app.app_code), Some(&platform)).await;
            configured += reply.body["summary"]["tenantSpecific"].as_u64().unwrap()
                + reply.body["summary"]["global"].as_u64().unwrap();
        }
        assert_eq!(r.credit_configs.as_ref().unwrap().count, configured);

        // Seeded data is complete and consistent.
        let outcome = validation::validate(&Writer::new(bench.store.clone(), Clock::System), t, false).await.unwrap();
        assert_eq!(outcome.validation.completeness, 100, "{}", tenant.tenant.company_name);
        assert!(outcome.validation.issues.is_empty(), "{:?}", outcome.validation.issues);
        assert_eq!(outcome.counter_drift, None);
    }
}

#[tokio::test]
async fn a_consumer_can_recompute_the_checksum_from_a_full_pull() {
    let (bench, data) = Bench::seeded().await;
    let t = &data.tenants[1].tenant.tenant_id;
    let token = bench.service(Some(t), json!({}));
    let mut checksum = Checksum::default();
    let mut url = format!("/tenants/{t}/users?limit=7");
    loop {
        let reply = bench.get(&url, Some(&token)).await;
        for user in reply.body["data"].as_array().unwrap() {
            checksum.add(user["userId"].as_str().unwrap(), user["updatedAt"].as_str().unwrap());
        }
        match reply.body["pagination"]["nextCursor"].as_str() {
            Some(cursor) => url = format!("/tenants/{t}/users?limit=7&cursor={cursor}"),
            None => break,
        }
    }
    let essential = phases::essential(&bench.store, t).await;
    assert_eq!(essential.data.user_profiles.checksum, Some(checksum.hex()));
}

#[tokio::test]
async fn checksums_move_with_changes_and_stay_without() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_tenant(&tenant("t", "org_t")).await.unwrap();
    for n in 0..5 {
        w.put_user("t", &user(&format!("u{n}"), "2025-01-01T00:00:00Z")).await.unwrap();
    }
    let first = phases::essential(&store, "t").await.data.user_profiles;
    let again = phases::essential(&store, "t").await.data.user_profiles;
    assert_eq!(first, again, "nothing changed, nothing moves");
    assert_eq!(first.count, 5);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let renamed = User { title: Some("Director".into()), ..user("u2", "2025-01-01T00:00:00Z") };
    w.put_user("t", &renamed).await.unwrap();
    let after = phases::essential(&store, "t").await.data.user_profiles;
    assert_eq!(after.count, 5);
    assert_ne!(after.checksum, first.checksum);
    assert!(after.watermark > first.watermark, "the watermark moves");
}

#[tokio::test]
async fn planted_integrity_problems_are_reported_with_codes_counts_and_samples() {
    let store = fresh_store().await;
    let w = writer(&store);
    let t = "t-broken";
    w.put_tenant(&tenant(t, "org_broken")).await.unwrap();
    w.put_entity(t, &entity("root", "Root", None, 1)).await.unwrap();
    w.put_entity(t, &entity("orphan", "Orphan", Some("gone"), 2)).await.unwrap();
    w.put_entity(t, &entity("loop-a", "A", Some("loop-b"), 2)).await.unwrap();
    w.put_entity(t, &entity("loop-b", "B", Some("loop-a"), 2)).await.unwrap();
    w.put_user(t, &user("u1", "2025-01-01T00:00:00Z")).await.unwrap();
    let lost = User { primary_organization_id: Some("nowhere".into()), ..user("u2", "2025-01-01T00:00:00Z") };
    w.put_user(t, &lost).await.unwrap();
    w.put_role(t, &role("r1", 1)).await.unwrap();
    w.put_role_assignment(t, &role_assignment("ra-ok", "u1", "r1")).await.unwrap();
    w.put_role_assignment(t, &role_assignment("ra-no-role", "u1", "r-missing")).await.unwrap();
    w.put_role_assignment(t, &role_assignment("ra-no-user", "u-missing", "r1")).await.unwrap();
    w.put_membership(t, &membership("m-no-entity", "u1", "e-missing", false, None)).await.unwrap();
    let balance = serde_json::from_value(json!({ "entityId": "e-missing", "availableCredits": "1" })).unwrap();
    w.put_credit_balance(t, &balance).await.unwrap();

    let outcome = validation::validate(&w, t, false).await.unwrap();
    let codes: Vec<(&str, u64, Vec<String>)> =
        outcome.validation.issues.iter().map(|i| (i.code.as_str(), i.count, i.sample.clone())).collect();
    let s = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        codes,
        vec![
            ("ROLE_ASSIGNMENT_UNKNOWN_USER", 1, s(&["ra-no-user"])),
            ("ROLE_ASSIGNMENT_UNKNOWN_ROLE", 1, s(&["ra-no-role"])),
            ("EMPLOYEE_ASSIGNMENT_UNKNOWN_ENTITY", 1, s(&["m-no-entity"])),
            ("ENTITY_UNKNOWN_PARENT", 1, s(&["orphan"])),
            ("ENTITY_HIERARCHY_CYCLE", 2, s(&["loop-a", "loop-b"])),
            ("USER_UNKNOWN_PRIMARY_ORGANIZATION", 1, s(&["u2"])),
            ("ENTITY_CREDIT_UNKNOWN_ENTITY", 1, s(&["e-missing"])),
        ]
    );
    assert_eq!(outcome.validation.completeness, 100);

    // With skipReferenceData the reference checks are not run.
    let skipped = validation::validate(&w, t, true).await.unwrap();
    let codes: Vec<&str> = skipped.validation.issues.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, vec!["ENTITY_UNKNOWN_PARENT", "ENTITY_HIERARCHY_CYCLE", "USER_UNKNOWN_PRIMARY_ORGANIZATION"]);
}

#[tokio::test]
async fn completeness_counts_the_three_checks() {
    let store = fresh_store().await;
    let w = writer(&store);
    let outcome = validation::validate(&w, "nobody", false).await.unwrap();
    assert_eq!(outcome.validation.completeness, 0);
    let codes: Vec<&str> = outcome.validation.issues.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, vec!["TENANT_MISSING", "NO_ACTIVE_USERS", "NO_ACTIVE_ORGANIZATIONS"]);
    w.put_tenant(&tenant("t", "org_t")).await.unwrap();
    w.put_user("t", &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(validation::validate(&w, "t", false).await.unwrap().validation.completeness, 67);
}

#[tokio::test]
async fn drifted_counters_are_repaired() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_tenant(&tenant("t", "org_t")).await.unwrap();
    for n in 0..3 {
        w.put_user("t", &user(&format!("u{n}"), "2025-01-01T00:00:00Z")).await.unwrap();
    }
    let (truth, version) = reader::counters_with_version(&store, "t").await.unwrap();
    let mut wrong = Counters::default();
    wrong.0.insert(Collection::Users, CollectionCounts { listed: 40, active: -2, live: 40 });
    assert!(w.repair_counters("t", &wrong, version).await.unwrap());
    let outcome = validation::validate(&w, "t", false).await.unwrap();
    let drift = outcome.counter_drift.expect("drift is reported");
    assert!(drift.repaired);
    assert_eq!(drift.collections["users"].stored.listed, 40);
    assert_eq!(drift.collections["users"].counted.listed, 3);
    assert_eq!(reader::counters(&store, "t").await.unwrap(), truth);
    assert_eq!(validation::validate(&w, "t", false).await.unwrap().counter_drift, None);
}

#[tokio::test]
async fn counts_taken_while_writes_move_the_counters_are_reported_not_written() {
    use shared::sync::counters;
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_tenant(&tenant("t", "org_t")).await.unwrap();
    w.put_user("t", &user("u0", "2025-01-01T00:00:00Z")).await.unwrap();
    // Validation reads the version, then counts what it streams ...
    let (counted, version) = reader::counters_with_version(&store, "t").await.unwrap();
    // ... while a writer adds a user it has already streamed past.
    w.put_user("t", &user("u1", "2025-01-01T00:00:00Z")).await.unwrap();
    let truth = reader::counters(&store, "t").await.unwrap();
    assert_eq!(truth.get(Collection::Users).listed, 2);
    let drift = counters::reconcile(&w, "t", &counted, version).await.unwrap().expect("the counts differ");
    assert!(!drift.repaired, "a count taken while the counters moved must not overwrite them");
    assert_eq!(drift.collections["users"].counted.listed, 1);
    assert_eq!(reader::counters(&store, "t").await.unwrap(), truth, "the concurrent write's increment survives");
}

#[tokio::test]
async fn a_run_assembles_sync_results_in_the_contract_shape() {
    use shared::sync::run::{new_sync_id, run_phases, SyncOptions};
    let (bench, data) = Bench::seeded().await;
    let w = Writer::new(bench.store.clone(), Clock::System);
    let catalog = reader::catalog(&bench.store).await.unwrap();
    let t = &data.tenants[2].tenant.tenant_id;
    let sync_id = new_sync_id();
    assert_eq!(sync_id.len(), 26);
    let results = run_phases(&w, &catalog, t, &sync_id, SyncOptions::default()).await;
    assert!(results.success, "{results:?}");
    let value = serde_json::to_value(&results).unwrap();
    assert_eq!(value["phases"]["validation"]["validation"]["completeness"], 100);
    assert_eq!(value["phases"]["reference"]["skipped"], false);
    assert!(value["phases"]["essential"]["data"]["userProfiles"]["checksum"].as_str().unwrap().len() == 64);
    assert!(value["duration"].as_i64().unwrap() >= 0);

    let skipped = run_phases(&w, &catalog, t, &new_sync_id(), SyncOptions { skip_reference_data: true }).await;
    let value = serde_json::to_value(&skipped).unwrap();
    assert_eq!(value["phases"]["reference"], json!({ "success": true, "skipped": true, "data": {} }));
    assert!(skipped.success);

    let failing = run_phases(&w, &catalog, "no-such-tenant", &new_sync_id(), SyncOptions::default()).await;
    assert!(!failing.success, "a tenant that does not exist fails validation");
}

mod runs {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::sync::record::{self, RunOptions, RunStatus, StartError};
    use shared::sync::run::SyncResults;

    async fn post_sync(
        bench: &Bench,
        token: &str,
        tenant: &str,
        query: &str,
        key: Option<&str>,
    ) -> integration_tests::http::Reply {
        bench
            .send(|c, url| {
                let mut request = c.post(format!("{url}/api/sync/tenants/{tenant}/sync{query}")).bearer_auth(token);
                if let Some(key) = key {
                    request = request.header("idempotency-key", key);
                }
                request
            })
            .await
    }

    async fn expire_lease(store: &shared::store::Store, tenant: &str, sync_id: &str) {
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key("PK", AttributeValue::S(format!("TENANT#{tenant}")))
            .key("SK", AttributeValue::S(format!("SYNC#{sync_id}")))
            .update_expression("SET leaseExpiresAt = :past")
            .expression_attribute_values(":past", AttributeValue::S("2020-01-01T00:00:00.000Z".into()))
            .send()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn status_before_and_after_a_sync() {
        let (bench, data) = Bench::seeded().await;
        let t = &data.tenants[2].tenant.tenant_id;
        let token = bench.service(Some(t), json!({}));
        let before = bench.get(&format!("/tenants/{t}/sync/status"), Some(&token)).await;
        assert_eq!(before.status, 200, "{}", before.text);
        let status = &before.body["status"];
        assert!(status["lastSync"].is_null() && status["lastRun"].is_null() && status["currentRun"].is_null());
        assert_eq!(status["isComplete"], true);
        assert_eq!(status["dataCounts"]["users"], total(&bench, &token, &format!("/tenants/{t}/users")).await);
        assert_eq!(
            status["dataCounts"]["roleAssignments"],
            total(&bench, &token, &format!("/tenants/{t}/role-assignments")).await
        );

        let run = post_sync(&bench, &token, t, "", None).await;
        assert_eq!(run.status, 200, "{}", run.text);
        assert_eq!(run.body["success"], true);
        assert_eq!(run.body["message"], "Tenant data sync completed successfully");
        let results = &run.body["results"];
        assert_eq!(results["phases"]["essential"]["data"]["userProfiles"]["count"], status["dataCounts"]["users"]);

        let after = bench.get(&format!("/tenants/{t}/sync/status"), Some(&token)).await.body["status"].clone();
        assert_eq!(after["lastSync"], results["completedAt"]);
        assert_eq!(after["lastRun"]["syncId"], results["syncId"]);
        assert_eq!(after["lastRun"]["status"], "succeeded");
        assert_eq!(after["lastRun"]["issuesCount"], 0);
        assert!(after["lastRun"]["leaseExpiresAt"].is_null() && after["currentRun"].is_null());
        let catalog = reader::catalog(&bench.store).await.unwrap();
        let apps: Vec<&str> = catalog.iter().map(|app| app.app_code.as_str()).collect();
        assert_eq!(after["creditConfigApps"], json!(apps), "the apps creditConfigs covers");
    }

    #[tokio::test]
    async fn a_run_is_read_with_its_results_by_its_tenant_only() {
        let (bench, data) = Bench::seeded().await;
        let t = &data.tenants[1].tenant.tenant_id;
        let token = bench.service(Some(t), json!({}));
        let trigger = post_sync(&bench, &token, t, "", None).await;
        assert_eq!(trigger.status, 200, "{}", trigger.text);
        let sync_id = trigger.body["results"]["syncId"].as_str().unwrap().to_owned();
        let read = bench.get(&format!("/tenants/{t}/sync/runs/{sync_id}"), Some(&token)).await;
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(read.body["results"], trigger.body["results"], "the run's results as the trigger answered them");
        assert_eq!(read.body["run"]["syncId"], sync_id.as_str());
        assert_eq!(read.body["run"]["status"], "succeeded");
        assert!(read.header("etag").is_some());
        // Under its org code too; another tenant's token and an unknown run are refused.
        let by_org = format!("/tenants/{}/sync/runs/{sync_id}", data.tenants[1].tenant.kinde_org_id);
        assert_eq!(bench.get(&by_org, Some(&token)).await.status, 200);
        let other = bench.service(Some(&data.tenants[2].tenant.tenant_id), json!({}));
        assert_eq!(bench.get(&format!("/tenants/{t}/sync/runs/{sync_id}"), Some(&other)).await.status, 403);
        let unknown = bench.get(&format!("/tenants/{t}/sync/runs/01JZZZZZZZZZZZZZZZZZZZZZZZ"), Some(&token)).await;
        assert_eq!(unknown.status, 404, "{}", unknown.text);
        let foreign = data.tenants[2].tenant.tenant_id.clone();
        let theirs = post_sync(&bench, &other, &foreign, "", None).await.body["results"]["syncId"].clone();
        let crossed = bench.get(&format!("/tenants/{t}/sync/runs/{}", theirs.as_str().unwrap()), Some(&token)).await;
        assert_eq!(crossed.status, 404, "a run of another tenant is not this tenant's");
    }

    #[tokio::test]
    async fn ten_concurrent_starts_take_the_lease_once() {
        let store = fresh_store().await;
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { record::start(&store, "t", "crm", RunOptions::default(), None).await })
            })
            .collect();
        let mut started = 0;
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => started += 1,
                Err(StartError::InProgress { expired: false, .. }) => refused += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!((started, refused), (1, 9));
    }

    #[tokio::test]
    async fn force_sync_supersedes_only_an_expired_lease() {
        let store = fresh_store().await;
        let first = record::start(&store, "t", "crm", RunOptions::default(), None).await.unwrap();
        let forced = RunOptions { force_sync: true, ..Default::default() };
        assert!(matches!(
            record::start(&store, "t", "crm", forced, None).await,
            Err(StartError::InProgress { expired: false, .. })
        ));
        expire_lease(&store, "t", &first.sync_id).await;
        assert!(matches!(
            record::start(&store, "t", "crm", RunOptions::default(), None).await,
            Err(StartError::InProgress { expired: true, .. })
        ));
        let second = record::start(&store, "t", "crm", forced, None).await.unwrap();
        let old = record::run(&store, "t", &first.sync_id).await.unwrap().unwrap();
        assert_eq!(old.status, RunStatus::Superseded);
        // A superseded run can no longer change its record.
        let late = SyncResults::stopped("t", &first.sync_id, first.started_at);
        assert!(record::finish(&store, &first, late).await.unwrap().is_none());
        assert_eq!(record::run(&store, "t", &first.sync_id).await.unwrap().unwrap().status, RunStatus::Superseded);
        let status = record::status(&store, "t").await.unwrap();
        assert_eq!(status.current_run.unwrap().sync_id, second.sync_id);
        assert_eq!(status.last_run.unwrap().sync_id, first.sync_id);
        assert!(status.last_sync.is_none(), "a superseded run did not complete");
    }

    #[tokio::test]
    async fn a_failed_run_leaves_a_failed_record_and_a_free_lease() {
        let store = fresh_store().await;
        let run = record::start(&store, "t", "crm", RunOptions::default(), None).await.unwrap();
        let finished = record::finish(&store, &run, SyncResults::stopped("t", &run.sync_id, run.started_at))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(finished.status, RunStatus::Failed);
        let status = record::status(&store, "t").await.unwrap();
        assert!(status.current_run.is_none());
        assert_eq!(status.last_sync, finished.completed_at);
        assert!(record::start(&store, "t", "crm", RunOptions::default(), None).await.is_ok(), "the lease is free");
    }

    #[tokio::test]
    async fn a_trigger_while_a_run_holds_the_lease_gets_409_with_the_run() {
        let (bench, data) = Bench::seeded().await;
        let t = &data.tenants[2].tenant.tenant_id;
        let token = bench.service(Some(t), json!({}));
        let holder = record::start(&bench.store, t, "other", RunOptions::default(), None).await.unwrap();
        let reply = post_sync(&bench, &token, t, "?forceSync=true", None).await;
        assert_eq!(reply.status, 409);
        assert_eq!(reply.body["code"], "SYNC_IN_PROGRESS");
        assert_eq!(reply.body["syncId"], holder.sync_id.as_str());
        assert_eq!(reply.body["statusUrl"], format!("/api/sync/tenants/{t}/sync/status"));
        assert!(reply.body["leaseExpiresAt"].is_string() && reply.body["startedAt"].is_string());
        let status = bench.get(&format!("/tenants/{t}/sync/status"), Some(&token)).await.body["status"].clone();
        assert_eq!(status["currentRun"]["syncId"], holder.sync_id.as_str());
        assert!(status["currentRun"]["completedAt"].is_null() && status["currentRun"]["success"].is_null());
    }

    #[tokio::test]
    async fn idempotency_keys_replay_the_first_run() {
        let (bench, data) = Bench::seeded().await;
        let t = &data.tenants[2].tenant.tenant_id;
        let token = bench.service(Some(t), json!({}));
        let first = post_sync(&bench, &token, t, "", Some("key-1")).await;
        assert_eq!(first.status, 200);
        let again = post_sync(&bench, &token, t, "", Some("key-1")).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.body["results"]["syncId"], first.body["results"]["syncId"]);
        let other_options = post_sync(&bench, &token, t, "?skipReferenceData=true", Some("key-1")).await;
        assert_eq!(other_options.status, 422);
        assert_eq!(other_options.body["code"], "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(other_options.body["syncId"], first.body["results"]["syncId"]);
        let bad_key = post_sync(&bench, &token, t, "", Some("has space")).await;
        assert_eq!(bad_key.status, 400);
        assert_eq!(bad_key.body["details"][0]["field"], "Idempotency-Key");
        let bad_flag = post_sync(&bench, &token, t, "?wait=yes", None).await;
        assert_eq!(bad_flag.status, 400);
    }

    #[tokio::test]
    async fn an_inactive_tenant_cannot_be_synced_but_stays_readable() {
        let (bench, data) = Bench::seeded().await;
        let umbrella = data.tenants.iter().find(|t| !t.tenant.active()).unwrap();
        let t = &umbrella.tenant.tenant_id;
        let token = bench.service(Some(t), json!({}));
        let reply = post_sync(&bench, &token, t, "", None).await;
        assert_eq!((reply.status, reply.body["code"].as_str()), (409, Some("TENANT_INACTIVE")));
        assert_eq!(bench.get(&format!("/tenants/{t}"), Some(&token)).await.body["data"]["status"], "inactive");
        assert_eq!(bench.get(&format!("/tenants/{t}/sync/status"), Some(&token)).await.status, 200);
    }

    #[tokio::test]
    async fn skipping_reference_data_reports_the_skipped_phase() {
        let (bench, data) = Bench::seeded().await;
        let t = &data.tenants[1].tenant.tenant_id;
        let reply = post_sync(&bench, &bench.platform(), t, "?skipReferenceData=1&wait=true", None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body["results"]["phases"]["reference"],
            json!({ "success": true, "skipped": true, "data": {} })
        );
    }
}

mod launching {
    use super::*;
    use integration_tests::http::{BenchOptions, Reply};

    /// A loopback address nothing listens on.
    fn closed_endpoint() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    async fn trigger(bench: &Bench, url: &str, token: &str, tenant: &str) -> Reply {
        let response = bench.client.post(format!("{url}/api/sync/tenants/{tenant}/sync")).bearer_auth(token);
        Reply::fetch(response).await
    }

    #[tokio::test]
    async fn a_run_whose_execution_cannot_start_is_failed_and_frees_the_tenant() {
        let (bench, data) = Bench::seeded().await;
        let t = &data.tenants[2].tenant.tenant_id;
        let options = BenchOptions {
            sync_env: vec![
                ("STATE_MACHINE_ARN".into(), "arn:aws:states:us-east-1:123456789012:stateMachine:tenant-sync".into()),
                ("STEP_FUNCTIONS_ENDPOINT".into(), closed_endpoint()),
            ],
            ..Default::default()
        };
        let url = Bench::serve(&bench.store, &bench.issuer, &options).await;
        let token = bench.service(Some(t), json!({}));
        let first = trigger(&bench, &url, &token, t).await;
        assert_eq!(first.status, 503, "{}", first.text);
        assert!(first.headers.get("retry-after").is_some());
        assert!(!first.text.contains("127.0.0.1"), "no internal detail: {}", first.text);
        let status = shared::sync::record::status(&bench.store, t).await.unwrap();
        assert!(status.current_run.is_none(), "the lease is released");
        assert_eq!(status.last_run.unwrap().status, shared::sync::record::RunStatus::Failed);
        assert_eq!(trigger(&bench, &url, &token, t).await.status, 503, "not 409: nothing holds the tenant");
    }

    #[tokio::test]
    async fn an_unreachable_event_bus_does_not_undo_the_run() {
        let (bench, data) = Bench::seeded().await;
        let t = &data.tenants[2].tenant.tenant_id;
        let options = BenchOptions {
            sync_env: vec![
                ("EVENT_BUS_NAME".into(), "app-sync".into()),
                ("EVENTBRIDGE_ENDPOINT".into(), closed_endpoint()),
            ],
            ..Default::default()
        };
        let url = Bench::serve(&bench.store, &bench.issuer, &options).await;
        let reply = trigger(&bench, &url, &bench.service(Some(t), json!({})), t).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["success"], true);
        let status = shared::sync::record::status(&bench.store, t).await.unwrap();
        assert_eq!(status.last_run.unwrap().status, shared::sync::record::RunStatus::Succeeded);
    }
}

/// A tenant whose collections hold every case a default pull leaves out: inactive records,
/// records not listed (their user is gone), tombstones.
async fn tenant_with_every_case(w: &Writer, t: &str) {
    w.put_tenant(&tenant(t, &format!("org_{t}"))).await.unwrap();
    w.put_entity(t, &entity("root", "Root", None, 1)).await.unwrap();
    let mut closed = entity("closed", "Closed", Some("root"), 2);
    closed.is_active = Some(false);
    w.put_entity(t, &closed).await.unwrap();
    for n in 0..6 {
        w.put_user(t, &user(&format!("u{n}"), "2025-01-01T00:00:00Z")).await.unwrap();
    }
    let inactive = User { is_active: Some(false), ..user("u-inactive", "2025-01-02T00:00:00Z") };
    w.put_user(t, &inactive).await.unwrap();
    w.put_role(t, &role("r1", 1)).await.unwrap();
    w.put_role_assignment(t, &role_assignment("ra-1", "u1", "r1")).await.unwrap();
    w.put_role_assignment(t, &role_assignment("ra-gone", "u5", "r1")).await.unwrap();
    w.put_membership(t, &membership("m-1", "u1", "root", true, Some("E1"))).await.unwrap();
    w.put_membership(t, &membership("m-gone", "u5", "root", false, None)).await.unwrap();
    let balance = serde_json::from_value(json!({ "entityId": "root", "availableCredits": "10" })).unwrap();
    w.put_credit_balance(t, &balance).await.unwrap();
    // u5 leaves: a tombstone, and its assignments stay live but unlisted until their deletes.
    shared::ingest::apply(
        w,
        &shared::ingest::Change::parse(json!({ "changeId": "d-u5", "type": "user", "op": "delete", "tenantId": t,
            "sourceVersion": 1, "key": { "userId": "u5" } }))
        .unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_run_in_one_read_reports_what_the_phases_report_one_by_one() {
    use shared::sync::run::{new_sync_id, run_phases, SyncOptions};
    let (bench, data) = Bench::seeded().await;
    let w = Writer::new(bench.store.clone(), Clock::System);
    tenant_with_every_case(&w, "t-cases").await;
    let catalog = reader::catalog(&bench.store).await.unwrap();
    let tenants = data.tenants.iter().map(|t| t.tenant.tenant_id.as_str()).chain(["t-cases"]);
    for t in tenants {
        let run = run_phases(&w, &catalog, t, &new_sync_id(), SyncOptions::default()).await;
        let essential = phases::essential(&bench.store, t).await;
        let reference = phases::reference(&bench.store, t, &catalog).await;
        let validation = shared::sync::run::validation_phase(&w, t, SyncOptions::default()).await;
        assert_eq!(run.phases.essential, essential, "{t}");
        assert_eq!(run.phases.reference, reference, "{t}");
        assert_eq!(run.phases.validation, validation, "{t}");
    }
    let cases = run_phases(&w, &catalog, "t-cases", &new_sync_id(), SyncOptions::default()).await;
    assert_eq!(cases.phases.essential.data.user_profiles.count, 5, "u0-u4: not the inactive one, not the deleted");
    assert_eq!(cases.phases.essential.data.organizations.count, 1, "not the closed entity");
    let reference = &cases.phases.reference.data;
    assert_eq!(reference.role_assignments.as_ref().unwrap().count, 1, "not the unlisted one");
    assert_eq!(reference.employee_assignments.as_ref().unwrap().count, 1);
}

#[tokio::test]
async fn organizations_renamed_during_a_sync_are_counted_once() {
    use shared::sync::run::{new_sync_id, run_phases, SyncOptions};
    const ENTITIES: usize = 3_000;
    const RENAMERS: usize = 4;
    let store = fresh_store().await;
    let w = writer(&store);
    let t = "t-renames";
    let mut entities = vec![entity("root", "Root", None, 1)];
    entities.extend((1..ENTITIES).map(|n| entity(&format!("e{n:04}"), &format!("M{n:04}"), Some("root"), 2)));
    let data = shared::store::bulk::TenantDataset {
        users: vec![user("u", "2025-01-01T00:00:00Z")],
        entities,
        ..shared::store::bulk::TenantDataset::empty(tenant(t, "org_renames"))
    };
    shared::store::bulk::load_tenant(&store, &data, shared::seed::seed_clock(), &|_| {}).await.unwrap();
    // Renames move entities back and forth across the name order of the `byActive` index
    // while the run reads; a walk in that order meets some twice and misses others.
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (done, renames) = (std::sync::Arc::new(AtomicBool::new(false)), std::sync::Arc::new(AtomicUsize::new(0)));
    let renamers: Vec<_> = (0..RENAMERS)
        .map(|lane| {
            let (w, done, renames) = (w.clone(), done.clone(), renames.clone());
            tokio::spawn(async move {
                for round in 0.. {
                    for n in (1 + lane..ENTITIES).step_by(RENAMERS) {
                        if done.load(Ordering::Relaxed) {
                            return;
                        }
                        let name = if (round + n) % 2 == 0 { format!("A{n:04}") } else { format!("Z{n:04}") };
                        w.put_entity(t, &entity(&format!("e{n:04}"), &name, Some("root"), 2)).await.unwrap();
                        renames.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let catalog = reader::catalog(&store).await.unwrap();
    let one_task_worker = integration_tests::worker(&store, u64::MAX, None);
    let mut runs = 0;
    // At least three runs, and on until the renames have moved a few hundred entities.
    while runs < 3 || renames.load(Ordering::Relaxed) < 300 {
        // The run in process and the worker's essential task alike.
        let run = run_phases(&w, &catalog, t, &new_sync_id(), SyncOptions::default()).await;
        assert!(run.phases.essential.success);
        assert_eq!(run.phases.essential.data.organizations.count, ENTITIES as u64, "every entity once in a run");
        let task = phases::essential(&store, t).await;
        assert_eq!(task.data.organizations.count, ENTITIES as u64, "every entity once in the essential task");
        // And the worker's one-task run, through its handler, finalized to free the lease.
        let run = shared::sync::record::start(&store, t, "test", Default::default(), None).await.unwrap();
        let task = |action: &str| json!({ "action": action, "tenantId": t, "syncId": run.sync_id });
        let whole = one_task_worker.handle_payload(task("essential")).await.unwrap();
        assert_eq!(whole["data"]["organizations"]["count"], ENTITIES, "every entity once in a one-task run");
        let mut finalize = task("finalize");
        finalize["essential"] = json!({ "success": whole["success"], "data": whole["data"] });
        finalize["reference"] = whole["oneTask"]["reference"].clone();
        finalize["validation"] = whole["oneTask"]["validation"].clone();
        one_task_worker.handle_payload(finalize).await.unwrap();
        runs += 1;
    }
    done.store(true, Ordering::Relaxed);
    futures::future::join_all(renamers).await.into_iter().for_each(Result::unwrap);
}
