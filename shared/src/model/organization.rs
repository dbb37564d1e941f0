//! Organization entities: the tenant's tree of organizations, locations, departments, teams.

use serde::{Deserialize, Serialize};

use super::validate::{Checker, Problem, Validate};
use crate::time::Timestamp;

/// The kind of an entity in the organization tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    /// A legal or top-level organization.
    Organization,
    /// A site or office.
    Location,
    /// A department.
    Department,
    /// A team.
    Team,
}

impl EntityType {
    /// The lowercase name used in responses (`metadata.type`, `allocationType`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Location => "location",
            Self::Department => "department",
            Self::Team => "team",
        }
    }
}

/// One node of a tenant's organization tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entity {
    /// The entity's id, reported as `orgCode`.
    pub entity_id: String,
    /// What kind of node this is.
    pub entity_type: EntityType,
    /// Display name, reported as `orgName`.
    pub entity_name: String,
    /// Short business code, for example `ACME-NYC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_code: Option<String>,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The parent entity; absent for a root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_entity_id: Option<String>,
    /// Depth in the tree (root = 1); absent counts as 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_level: Option<i64>,
    /// Materialized path, for example `acme.nyc.sales`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchy_path: Option<String>,
    /// Postal address; only `country` is read by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<super::JsonObject>,
    /// ISO 4217 currency code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `false` for a deactivated entity; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// When the entity was created.
    pub created_at: Timestamp,
}

impl Entity {
    /// R1: an entity is active unless `isActive` is `false`.
    pub fn active(&self) -> bool {
        self.is_active != Some(false)
    }

    /// The level used for ordering: `entityLevel`, 1 when absent.
    pub fn level(&self) -> i64 {
        self.entity_level.unwrap_or(1)
    }
}

/// What the store derives for an entity from the other entities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityDerived {
    /// Ids of every live entity whose parent is this one, in byte order.
    #[serde(default)]
    pub child_ids: Vec<String>,
}

impl Validate for Entity {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("entityId", &self.entity_id);
        check.name("entityName", &self.entity_name);
        check.opt_id("parentEntityId", self.parent_entity_id.as_deref());
        if self.parent_entity_id.as_deref() == Some(self.entity_id.as_str()) {
            check.fail("parentEntityId", "must not be the entity itself");
        }
        check.finish()
    }
}
