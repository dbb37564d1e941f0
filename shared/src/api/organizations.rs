//! `GET /tenants/{tenantId}/organizations` (9.4).

use serde::Serialize;

use super::error::FieldProblem;
use super::paging::{PagedRoute, RouteFilters, ViewContext};
use super::params::QueryParams;
use crate::model::{Entity, EntityDerived};
use crate::store::item::Stored;
use crate::time::Timestamp;

/// An organization entity.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationView {
    org_code: String,
    org_name: String,
    parent_id: Option<String>,
    status: &'static str,
    hierarchy: Hierarchy,
    metadata: EntityMetadata,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Hierarchy {
    level: i64,
    path: Option<String>,
    children: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EntityMetadata {
    description: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The `organizations` route.
pub struct Organizations;

impl PagedRoute for Organizations {
    type Record = Entity;
    type View = OrganizationView;
    const NAME: &'static str = "organizations";
    const TOMBSTONE: &'static [&'static str] = &["orgCode"];

    fn filters(_query: &QueryParams, _incremental: bool, _problems: &mut Vec<FieldProblem>) -> RouteFilters {
        RouteFilters::default()
    }

    fn view(_ctx: &ViewContext, stored: &Stored<Entity, EntityDerived>) -> Option<OrganizationView> {
        let entity = stored.live()?;
        Some(OrganizationView {
            org_code: entity.entity_id.clone(),
            org_name: entity.entity_name.clone(),
            parent_id: entity.parent_entity_id.clone(),
            status: if entity.active() { "active" } else { "inactive" },
            hierarchy: Hierarchy {
                level: entity.level(),
                path: entity.hierarchy_path.clone(),
                children: stored.der.child_ids.clone(),
            },
            metadata: EntityMetadata {
                description: entity.description.clone(),
                kind: entity.entity_type.as_str(),
                created_at: entity.created_at,
                updated_at: stored.updated_at,
            },
            created_at: entity.created_at,
            updated_at: stored.updated_at,
        })
    }
}
