//! Writer and reader round trips, org alias resolution, counters and tombstones, against
//! DynamoDB Local.

use std::str::FromStr;

use integration_tests::*;
use rust_decimal::Decimal;
use serde_json::json;
use shared::model::{
    CatalogApp, CreditBalance, CreditConfig, Entitlement, Entity, Membership, Role, RoleAssignment, User,
};
use shared::store::item::{credit_balance_sk, entity_sk, membership_sk, role_assignment_sk, role_sk, user_sk};
use shared::store::keys::Collection;
use shared::store::query::{self, ListMode, ListRequest};
use shared::store::reader::{self, CollectionCounts, ConfigScope};
use shared::store::writer::{CreditActivity, WriteOutcome};
use shared::store::StoreError;

const T: &str = "tenant-1";

#[tokio::test]
async fn every_record_type_round_trips() {
    let store = fresh_store().await;
    let w = writer(&store);
    let tenant = shared::model::Tenant {
        settings: Some(
            serde_json::from_value(json!({ "locale": "de-DE", "nested": { "b": 2, "a": [1, "x", null] } })).unwrap(),
        ),
        subscription: Some(
            serde_json::from_value(json!({ "plan": "pro", "status": "active", "billingCycle": "monthly",
            "currentPeriodStart": "2026-01-01T00:00:00Z", "currentPeriodEnd": "2026-02-01T00:00:00Z" }))
            .unwrap(),
        ),
        trial_ends_at: Some(at("2025-01-15T00:00:00Z")),
        ..tenant(T, "org_one")
    };
    assert_eq!(w.put_tenant(&tenant).await.unwrap(), WriteOutcome::Created);
    assert_eq!(reader::tenant(&store, T).await.unwrap().unwrap().rec, Some(tenant.clone()));

    let user: User = serde_json::from_value(json!({
        "userId": "u1", "kindeUserId": "kp_1", "email": "u1@example.com", "name": "Ada Lovelace", "title": "Engineer",
        "department": "R&D", "avatar": "https://a/1.png", "primaryOrganizationId": "e1", "isActive": true, "isVerified": true,
        "isTenantAdmin": false, "isResponsiblePerson": true, "onboardingCompleted": true, "lastLoginAt": "2026-01-02T03:04:05.678Z",
        "lastActiveAt": "2026-01-03T00:00:00Z", "loginCount": 7, "preferences": { "theme": "dark" }, "createdAt": "2025-01-01T00:00:00Z"
    }))
    .unwrap();
    let entity: Entity = serde_json::from_value(json!({
        "entityId": "e1", "entityType": "location", "entityName": "Berlin", "entityCode": "BER", "description": "Office",
        "entityLevel": 2, "hierarchyPath": "hq.ber", "address": { "country": "DE" }, "currency": "EUR", "createdAt": "2025-01-01T00:00:00Z"
    }))
    .unwrap();
    let role: Role = serde_json::from_value(json!({
        "roleId": "r1", "roleName": "Admin", "description": "All", "permissions": { "crm": { "leads": ["read", "create"] } },
        "priority": 5, "isSystemRole": true, "createdAt": "2025-01-01T00:00:00Z"
    }))
    .unwrap();
    let assignment: RoleAssignment = serde_json::from_value(json!({
        "assignmentId": "a1", "userId": "u1", "roleId": "r1", "organizationId": "e1", "assignedBy": "admin",
        "assignedAt": "2025-03-01T00:00:00Z", "expiresAt": "2027-01-01T00:00:00Z", "isActive": true
    }))
    .unwrap();
    let membership: Membership = serde_json::from_value(json!({
        "membershipId": "m1", "userId": "u1", "entityId": "e1", "membershipType": "direct", "membershipStatus": "active",
        "accessLevel": "manager", "isPrimary": true, "department": "R&D", "jobTitle": "Lead", "employeeId": "EMP-7",
        "validUntil": "2027-01-01T00:00:00Z", "createdBy": "hr", "createdAt": "2025-02-01T00:00:00Z"
    }))
    .unwrap();
    let balance: CreditBalance = serde_json::from_value(json!({
        "entityId": "e1", "availableCredits": "1234.5678",
        "appTotals": { "crm": { "allocated": "100", "used": "0.0025", "lastAllocatedAt": "2026-01-01T00:00:00Z", "lastAllocatedBy": "billing" } }
    }))
    .unwrap();
    let tenant_config: CreditConfig = serde_json::from_value(json!({
        "configId": "c1", "tenantId": T, "operationCode": "crm.leads.create", "operationName": "Create lead", "creditCost": "2.5", "unit": "lead"
    }))
    .unwrap();
    let global_config = CreditConfig { config_id: "c2".into(), tenant_id: None, ..tenant_config.clone() };
    let app: CatalogApp = serde_json::from_value(json!({
        "appCode": "crm", "appName": "CRM", "status": "active",
        "modules": [{ "moduleCode": "leads", "moduleName": "Leads", "permissions": [{ "code": "read", "name": "Read leads" }] }]
    }))
    .unwrap();
    let entitlement: Entitlement = serde_json::from_value(json!({
        "appCode": "crm", "isEnabled": true, "enabledModules": ["leads"], "subscriptionTier": "pro", "expiresAt": "2027-01-01T00:00:00Z"
    }))
    .unwrap();

    assert_eq!(w.put_entity(T, &entity).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_user(T, &user).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_role(T, &role).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_role_assignment(T, &assignment).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_membership(T, &membership).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_credit_balance(T, &balance).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_credit_config(&tenant_config).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_credit_config(&global_config).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_catalog_app(&app).await.unwrap(), WriteOutcome::Created);
    assert_eq!(w.put_entitlement(T, &entitlement).await.unwrap(), WriteOutcome::Created);

    let read_user = reader::get_record::<User>(&store, T, &user_sk("u1")).await.unwrap().unwrap();
    assert_eq!(read_user.rec.as_ref(), Some(&user));
    assert_eq!(read_user.der.employee_code, "EMP-7");
    let read_entity = reader::get_record::<Entity>(&store, T, &entity_sk("e1")).await.unwrap().unwrap();
    assert_eq!(read_entity.rec.as_ref(), Some(&entity));
    let read_role = reader::get_record::<Role>(&store, T, &role_sk("r1")).await.unwrap().unwrap();
    assert_eq!(read_role.rec.as_ref(), Some(&role));
    assert_eq!(read_role.der.app_codes, vec!["crm"]);
    let read_assignment =
        reader::get_record::<RoleAssignment>(&store, T, &role_assignment_sk("a1")).await.unwrap().unwrap();
    assert_eq!(read_assignment.rec.as_ref(), Some(&assignment));
    assert!(read_assignment.der.refs_ok());
    let read_membership = reader::get_record::<Membership>(&store, T, &membership_sk("m1")).await.unwrap().unwrap();
    assert_eq!(read_membership.rec.as_ref(), Some(&membership));
    assert_eq!(read_membership.der.entity_name.as_deref(), Some("Berlin"));
    assert_eq!(read_membership.der.entity_code.as_deref(), Some("BER"));
    let read_balance = reader::get_record::<CreditBalance>(&store, T, &credit_balance_sk("e1")).await.unwrap().unwrap();
    assert_eq!(read_balance.rec.as_ref(), Some(&balance));
    assert_eq!(read_balance.rec.unwrap().available_credits, Decimal::from_str("1234.5678").unwrap());
    assert_eq!(read_balance.der.allocation_type.as_deref(), Some("location"));
    let tenant_configs = reader::credit_configs(&store, ConfigScope::Tenant(T), "crm").await.unwrap();
    assert_eq!(tenant_configs.into_iter().map(|s| s.rec.unwrap()).collect::<Vec<_>>(), vec![tenant_config]);
    let global_configs = reader::credit_configs(&store, ConfigScope::Global, "crm").await.unwrap();
    assert_eq!(global_configs.into_iter().map(|s| s.rec.unwrap()).collect::<Vec<_>>(), vec![global_config]);
    assert_eq!(reader::catalog(&store).await.unwrap(), vec![app.clone()]);
    assert_eq!(reader::catalog_app(&store, "crm").await.unwrap(), Some(app));
    assert_eq!(reader::entitlement(&store, T, "crm").await.unwrap(), Some(entitlement));

    // Writing the same record again changes nothing, not even its change time.
    let before = read_user.updated_at;
    assert_eq!(w.put_user(T, &user).await.unwrap(), WriteOutcome::Unchanged);
    let after = reader::get_record::<User>(&store, T, &user_sk("u1")).await.unwrap().unwrap();
    assert_eq!((after.updated_at, after.ver), (before, read_user.ver));
}

#[tokio::test]
async fn credit_postings_update_the_app_totals() {
    let store = fresh_store().await;
    let w = writer(&store);
    let balance: CreditBalance = serde_json::from_value(json!({ "entityId": "e1", "availableCredits": "50" })).unwrap();
    w.put_credit_balance(T, &balance).await.unwrap();
    let post = CreditActivity::Ledger {
        operation_code: "application_allocation:hr".into(),
        amount: Decimal::from(40),
        initiated_by: Some("ops".into()),
        created_at: at("2026-02-01T00:00:00Z"),
    };
    assert_eq!(w.post_credit_activity(T, "e1", &post).await.unwrap(), WriteOutcome::Updated);
    let usage = CreditActivity::Usage {
        operation_code: "hr.payroll.run".into(),
        credits_debited: Decimal::from_str("1.5").unwrap(),
        success: true,
        created_at: at("2026-02-02T00:00:00Z"),
    };
    w.post_credit_activity(T, "e1", &usage).await.unwrap();
    let stored = reader::get_record::<CreditBalance>(&store, T, &credit_balance_sk("e1")).await.unwrap().unwrap();
    let hr = &stored.rec.unwrap().app_totals["hr"];
    assert_eq!((hr.allocated, hr.used), (Decimal::from(40), Decimal::from_str("1.5").unwrap()));
    assert_eq!(hr.last_allocated_by.as_deref(), Some("ops"));
    assert_eq!(w.post_credit_activity(T, "missing", &usage).await.unwrap(), WriteOutcome::NotFound);
}

#[tokio::test]
async fn kinde_org_codes_resolve_to_their_tenant() {
    let store = fresh_store().await;
    let w = writer(&store);
    w.put_tenant(&tenant("t-a", "org_a")).await.unwrap();
    w.put_tenant(&tenant("t-b", "org_b")).await.unwrap();
    assert_eq!(reader::tenant_id_for_org(&store, "org_a").await.unwrap().as_deref(), Some("t-a"));
    assert_eq!(reader::tenant_id_for_org(&store, "org_b").await.unwrap().as_deref(), Some("t-b"));
    assert_eq!(reader::tenant_id_for_org(&store, "org_unknown").await.unwrap(), None);
    assert!(reader::tenant(&store, "t-unknown").await.unwrap().is_none());

    // Moving a tenant to a new org code releases the old one.
    w.put_tenant(&tenant("t-a", "org_a2")).await.unwrap();
    assert_eq!(reader::tenant_id_for_org(&store, "org_a2").await.unwrap().as_deref(), Some("t-a"));
    assert_eq!(reader::tenant_id_for_org(&store, "org_a").await.unwrap(), None);

    // An org code belongs to one tenant only.
    let taken = w.put_tenant(&tenant("t-c", "org_b")).await;
    assert!(matches!(taken, Err(StoreError::Rejected(_))), "{taken:?}");
    assert!(reader::tenant(&store, "t-c").await.unwrap().is_none());
}

#[tokio::test]
async fn only_active_tenants_are_in_the_active_index() {
    let store = fresh_store().await;
    let w = writer(&store);
    for id in ["t1", "t2", "t3"] {
        w.put_tenant(&tenant(id, &format!("org_{id}"))).await.unwrap();
    }
    w.put_tenant(&shared::model::Tenant { is_active: Some(false), ..tenant("t2", "org_t2") }).await.unwrap();
    let (first, next) = reader::active_tenant_ids(&store, None, 1).await.unwrap();
    assert_eq!(first, vec!["t1"]);
    let (rest, _) = reader::active_tenant_ids(&store, next.as_deref(), 10).await.unwrap();
    assert_eq!(rest, vec!["t3"]);
}

async fn users_counts(store: &shared::store::Store) -> CollectionCounts {
    reader::counters(store, T).await.unwrap().get(Collection::Users)
}

#[tokio::test]
async fn counters_follow_insert_update_delete_and_reinsert() {
    let store = fresh_store().await;
    let w = writer(&store);
    let counts = |listed, active| CollectionCounts { listed, active, live: listed };
    assert_eq!(users_counts(&store).await, counts(0, 0));
    w.put_user(T, &user("u1", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_user(T, &user("u2", "2025-01-02T00:00:00Z")).await.unwrap();
    assert_eq!(users_counts(&store).await, counts(2, 2));

    let inactive = User { is_active: Some(false), ..user("u2", "2025-01-02T00:00:00Z") };
    assert_eq!(w.put_user(T, &inactive).await.unwrap(), WriteOutcome::Updated);
    assert_eq!(users_counts(&store).await, counts(2, 1));
    assert_eq!(w.put_user(T, &inactive).await.unwrap(), WriteOutcome::Unchanged);
    assert_eq!(users_counts(&store).await, counts(2, 1));

    assert_eq!(w.delete_user(T, "u2").await.unwrap(), WriteOutcome::Deleted);
    assert_eq!(users_counts(&store).await, counts(1, 1));
    assert_eq!(w.delete_user(T, "u2").await.unwrap(), WriteOutcome::NotFound);
    assert_eq!(users_counts(&store).await, counts(1, 1));

    assert_eq!(w.put_user(T, &user("u2", "2025-01-02T00:00:00Z")).await.unwrap(), WriteOutcome::Created);
    assert_eq!(users_counts(&store).await, counts(2, 2));

    // The counters always equal what the list indexes hold.
    let active = index_count(&store, T, Collection::Users, ListMode::Active).await;
    let all = index_count(&store, T, Collection::Users, ListMode::All).await;
    assert_eq!((all, active), (2, 2));
}

#[tokio::test]
async fn concurrent_writers_keep_counters_exact() {
    let store = fresh_store().await;
    let w = writer(&store);
    let mut tasks = Vec::new();
    for n in 0..20 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("u{}", n % 5);
            let mut u = user(&id, "2025-01-01T00:00:00Z");
            u.is_active = Some(n % 2 == 0);
            w.put_user(T, &u).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let active = index_count(&store, T, Collection::Users, ListMode::Active).await;
    let all = index_count(&store, T, Collection::Users, ListMode::All).await;
    assert_eq!(all, 5);
    assert_eq!(users_counts(&store).await, CollectionCounts { listed: all, active, live: all });
}

#[tokio::test]
async fn deletes_leave_tombstones_that_normal_reads_skip() {
    let store = fresh_store().await;
    let w = writer(&store);
    let mark = shared::time::Timestamp::now();
    w.put_user(T, &user("keep", "2025-01-01T00:00:00Z")).await.unwrap();
    w.put_user(T, &user("gone", "2025-01-02T00:00:00Z")).await.unwrap();
    w.delete_user(T, "gone").await.unwrap();

    let page =
        query::list::<User>(&store, T, ListMode::All, &ListRequest { limit: 10, ..Default::default() }).await.unwrap();
    let ids: Vec<&str> = page.items.iter().filter_map(|s| s.live()).map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, vec!["keep"]);

    let changed =
        query::list::<User>(&store, T, ListMode::ChangedSince(mark), &ListRequest { limit: 10, ..Default::default() })
            .await
            .unwrap();
    let tombstones: Vec<_> = changed.items.iter().filter(|s| s.is_tombstone()).collect();
    assert_eq!(tombstones.len(), 1);
    let tombstone = tombstones[0];
    assert_eq!(tombstone.ids.as_ref().unwrap()["userId"], "gone");
    assert!(tombstone.rec.is_none(), "a tombstone keeps no personal data");
    let ttl = tombstone.ttl.unwrap();
    let deleted_at = tombstone.deleted_at.unwrap().epoch_seconds();
    assert!(ttl - deleted_at >= 30 * 86_400, "kept at least 30 days");
    assert_eq!(changed.items.iter().filter(|s| s.live().is_some()).count(), 1);

    // The point read still sees the tombstone as not live.
    let stored = reader::get_record::<User>(&store, T, &user_sk("gone")).await.unwrap().unwrap();
    assert!(stored.live().is_none());
}

/// Decodes `item` with the store's decoder and with `serde_dynamo`, which must agree.
fn both_decoders_agree<T>(item: &shared::store::item::RawItem) -> usize
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let ours: T = shared::store::decode::from_attributes(item).expect("the store's decoder reads the item");
    let theirs: T = serde_dynamo::from_item(item.clone()).expect("serde_dynamo reads the item");
    assert_eq!(ours, theirs);
    1
}

#[tokio::test]
async fn the_by_reference_decoder_reads_every_stored_shape_as_serde_dynamo_does() {
    use shared::model::Tenant;
    use shared::store::item::{CollectionRecord, NoDerived, Stored};
    type Full<R> = Stored<R, <R as CollectionRecord>::Derived>;
    let (store, data) = seeded_store().await;
    let w = writer(&store);
    // Tombstones and unlisted records besides the seed's live ones.
    let t = &data.tenants[1].tenant.tenant_id;
    w.delete_user(t, &data.tenants[1].users[0].user_id).await.unwrap();
    w.delete_entity(t, &data.tenants[1].entities.last().unwrap().entity_id).await.unwrap();
    let mut partitions = vec![shared::store::keys::GLOBAL_PK.to_owned(), shared::store::keys::CATALOG_PK.to_owned()];
    partitions.extend(data.tenants.iter().map(|t| shared::store::keys::tenant_pk(&t.tenant.tenant_id)));
    let mut decoded = std::collections::BTreeMap::<&str, usize>::new();
    for pk in partitions {
        for (sk, item) in partition_by_sk(&store, &pk).await {
            let (kind, n) = match sk.split('#').next().unwrap_or_default() {
                "PROFILE" => ("tenant", both_decoders_agree::<Stored<Tenant, NoDerived>>(&item)),
                "USER" => ("user", both_decoders_agree::<Full<User>>(&item)),
                "ENTITY" => ("entity", both_decoders_agree::<Full<Entity>>(&item)),
                "ROLE" => ("role", both_decoders_agree::<Full<Role>>(&item)),
                "RA" => ("role assignment", both_decoders_agree::<Full<RoleAssignment>>(&item)),
                "MEMBER" => ("membership", both_decoders_agree::<Full<Membership>>(&item)),
                "CREDIT" => ("credit balance", both_decoders_agree::<Full<CreditBalance>>(&item)),
                "CCFG" => ("credit config", both_decoders_agree::<Stored<CreditConfig, NoDerived>>(&item)),
                "APP" if pk == shared::store::keys::CATALOG_PK => {
                    ("catalog app", both_decoders_agree::<Stored<CatalogApp, NoDerived>>(&item))
                }
                "APP" => ("entitlement", both_decoders_agree::<Stored<Entitlement, NoDerived>>(&item)),
                _ => continue,
            };
            *decoded.entry(kind).or_default() += n;
        }
    }
    assert_eq!(decoded.len(), 10, "every record type was met: {decoded:?}");
}
