//! The table definition: created by the CLI and the tests, and rendered into
//! `template.yaml` so the deployed table cannot drift from the one the code expects.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::error::sdk;
use super::item::attr;
use super::{Store, StoreError};

/// `byOrder` LSI: live records in full-pull order.
pub const BY_ORDER: &str = "byOrder";
/// `byActive` LSI: live active records in full-pull order.
pub const BY_ACTIVE: &str = "byActive";
/// `byChange` LSI: records and tombstones by change time.
pub const BY_CHANGE: &str = "byChange";
/// `byUser` LSI: memberships and role assignments by user (writer cascades).
pub const BY_USER: &str = "byUser";
/// `byRef` LSI: entities by parent, memberships by entity, role assignments by role.
pub const BY_REF: &str = "byRef";
/// `activeTenants` GSI: one entry per active tenant, for the scheduled sync.
pub const ACTIVE_TENANTS: &str = "activeTenants";

/// Attributes the reference indexes project besides the keys: the derived values, so a
/// cascade can tell which dependents are out of step without reading them whole.
pub const REFERENCE_PROJECTION: [&str; 1] = ["der"];

/// A local secondary index: name, sort-key attribute, and whether it projects every
/// attribute (the list indexes, read by the API) or only the keys and
/// [`REFERENCE_PROJECTION`] (the reference indexes, read by the writer). DynamoDB allows
/// five local indexes per table; these are all five.
pub const LOCAL_INDEXES: [(&str, &str, bool); 5] = [
    (BY_ORDER, attr::OSK, true),
    (BY_ACTIVE, attr::ASK, true),
    (BY_CHANGE, attr::CSK, true),
    (BY_USER, attr::USK, false),
    (BY_REF, attr::RSK, false),
];

/// Every key attribute of the table and its indexes (all strings).
pub const KEY_ATTRIBUTES: [&str; 9] =
    [attr::PK, attr::SK, attr::OSK, attr::ASK, attr::CSK, attr::USK, attr::RSK, attr::ATPK, attr::ATSK];

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("name and type are set")
}

fn projection(kind: ProjectionType) -> Projection {
    Projection::builder().projection_type(kind).build()
}

fn local_projection(all: bool) -> Projection {
    if all {
        return projection(ProjectionType::All);
    }
    let mut builder = Projection::builder().projection_type(ProjectionType::Include);
    for name in REFERENCE_PROJECTION {
        builder = builder.non_key_attributes(name);
    }
    builder.build()
}

/// Creates the table with its indexes and TTL, and waits until it is active.
pub async fn create(store: &Store) -> Result<(), StoreError> {
    let mut request = store.client().create_table().table_name(store.table()).billing_mode(BillingMode::PayPerRequest);
    for name in KEY_ATTRIBUTES {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        );
    }
    request = request.key_schema(key(attr::PK, KeyType::Hash)).key_schema(key(attr::SK, KeyType::Range));
    for (index, sort_key, all) in LOCAL_INDEXES {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key(attr::PK, KeyType::Hash))
                .key_schema(key(sort_key, KeyType::Range))
                .projection(local_projection(all))
                .build()
                .expect("index fields are set"),
        );
    }
    request = request.global_secondary_indexes(
        GlobalSecondaryIndex::builder()
            .index_name(ACTIVE_TENANTS)
            .key_schema(key(attr::ATPK, KeyType::Hash))
            .key_schema(key(attr::ATSK, KeyType::Range))
            .projection(projection(ProjectionType::KeysOnly))
            .build()
            .expect("index fields are set"),
    );
    request.send().await.map_err(sdk)?;
    wait_until_active(store).await?;
    store
        .client()
        .update_time_to_live()
        .table_name(store.table())
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(attr::TTL).enabled(true).build().expect("set"),
        )
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

async fn wait_until_active(store: &Store) -> Result<(), StoreError> {
    for _ in 0..120 {
        let described = store.client().describe_table().table_name(store.table()).send().await.map_err(sdk)?;
        let status = described.table().and_then(|t| t.table_status()).map(|s| s.as_str().to_owned());
        if status.as_deref() == Some("ACTIVE") {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(StoreError::Request("table did not become ACTIVE within 60 s".into()))
}

/// Whether the table exists.
pub async fn exists(store: &Store) -> Result<bool, StoreError> {
    match store.client().describe_table().table_name(store.table()).send().await {
        Ok(_) => Ok(true),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(false),
        Err(error) => Err(sdk(error)),
    }
}

/// Creates the table unless it exists. Returns whether it was created.
pub async fn ensure(store: &Store) -> Result<bool, StoreError> {
    if exists(store).await? {
        return Ok(false);
    }
    create(store).await?;
    Ok(true)
}

/// Deletes the table.
pub async fn delete(store: &Store) -> Result<(), StoreError> {
    store.client().delete_table().table_name(store.table()).send().await.map_err(sdk)?;
    Ok(())
}

/// A short human-readable description: status, item count, indexes.
pub async fn describe(store: &Store) -> Result<String, StoreError> {
    let described = store.client().describe_table().table_name(store.table()).send().await.map_err(sdk)?;
    let Some(table) = described.table() else {
        return Ok(format!("{}: no description returned", store.table()));
    };
    let mut out = format!(
        "table {}\n  status: {}\n  items: {}\n  bytes: {}\n",
        store.table(),
        table.table_status().map(|s| s.as_str()).unwrap_or("?"),
        table.item_count().unwrap_or_default(),
        table.table_size_bytes().unwrap_or_default(),
    );
    for index in table.local_secondary_indexes() {
        out.push_str(&format!(
            "  LSI {}: {} items\n",
            index.index_name().unwrap_or("?"),
            index.item_count().unwrap_or_default()
        ));
    }
    for index in table.global_secondary_indexes() {
        out.push_str(&format!(
            "  GSI {}: {} items\n",
            index.index_name().unwrap_or("?"),
            index.item_count().unwrap_or_default()
        ));
    }
    Ok(out)
}

/// The table as an AWS SAM / CloudFormation resource, rendered from the same constants
/// [`create`] uses. `template.yaml` must contain this block verbatim (a test checks it).
pub fn cloudformation_resource() -> String {
    let mut out = String::new();
    out.push_str("  Table:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n    Properties:\n");
    out.push_str("      BillingMode: PAY_PER_REQUEST\n      AttributeDefinitions:\n");
    for name in KEY_ATTRIBUTES {
        out.push_str(&format!("        - AttributeName: {name}\n          AttributeType: S\n"));
    }
    out.push_str(&format!(
        "      KeySchema:\n        - AttributeName: {}\n          KeyType: HASH\n        - AttributeName: {}\n          KeyType: RANGE\n",
        attr::PK,
        attr::SK
    ));
    out.push_str("      LocalSecondaryIndexes:\n");
    for (index, sort_key, all) in LOCAL_INDEXES {
        out.push_str(&format!(
            "        - IndexName: {index}\n          KeySchema:\n            - AttributeName: {}\n              KeyType: HASH\n            - AttributeName: {sort_key}\n              KeyType: RANGE\n          Projection:\n",
            attr::PK
        ));
        if all {
            out.push_str("            ProjectionType: ALL\n");
        } else {
            out.push_str("            ProjectionType: INCLUDE\n            NonKeyAttributes:\n");
            for name in REFERENCE_PROJECTION {
                out.push_str(&format!("              - {name}\n"));
            }
        }
    }
    out.push_str(&format!(
        "      GlobalSecondaryIndexes:\n        - IndexName: {ACTIVE_TENANTS}\n          KeySchema:\n            - AttributeName: {}\n              KeyType: HASH\n            - AttributeName: {}\n              KeyType: RANGE\n          Projection:\n            ProjectionType: KEYS_ONLY\n",
        attr::ATPK,
        attr::ATSK
    ));
    out.push_str(&format!(
        "      TimeToLiveSpecification:\n        AttributeName: {}\n        Enabled: true\n",
        attr::TTL
    ));
    out.push_str("      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true\n");
    out.push_str("      SSESpecification:\n        SSEEnabled: true\n");
    out
}
