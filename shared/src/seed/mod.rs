//! Deterministic demo data: the same `--seed` always yields the same records, ids and
//! timestamps, so seeded tables can be compared item by item and tests can rely on them.
//!
//! Four tenants of clearly different sizes (one of them inactive), each with a 3-4 level
//! organization tree, users (some inactive, some pending invites without a Kinde id, some
//! with only a full name), roles over several apps, role assignments, memberships with one
//! primary per user, credit balances with per-app totals, tenant credit overrides and app
//! entitlements (one expired, one disabled). Optionally one more, large tenant whose size is
//! given by [`ScaleSpec`], for benchmarks.

mod catalog;
mod names;

use std::collections::BTreeMap;
use std::str::FromStr;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::json;

pub use catalog::catalog;

use crate::model::{
    AppCreditTotals, CatalogApp, CreditBalance, CreditConfig, Entitlement, Entity, EntityType, JsonObject, Membership,
    MembershipStatus, Role, RoleAssignment, Subscription, Tenant, User,
};
use crate::store::bulk::{PlatformDataset, TenantDataset};
use crate::time::Timestamp;

/// The writer clock used for seeded data: every seeded item has this `updatedAt`.
pub const SEED_CLOCK: &str = "2026-01-01T00:00:00.000Z";
/// Records are created between this instant and [`SEED_CLOCK`].
const ORIGIN: &str = "2024-01-01T00:00:00.000Z";

/// Size of the optional large tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleSpec {
    /// Users.
    pub users: usize,
    /// Organization entities.
    pub entities: usize,
    /// Role assignments.
    pub role_assignments: usize,
    /// Memberships (at least one per user: every user has a primary).
    pub memberships: usize,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedOptions {
    /// The random seed.
    pub seed: u64,
    /// The large tenant, if wanted.
    pub scale: Option<ScaleSpec>,
}

/// Generated data: platform data and tenants.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedData {
    /// Catalog and global credit configurations.
    pub platform: PlatformDataset,
    /// The tenants.
    pub tenants: Vec<TenantDataset>,
}

/// The instant every seeded item carries as `updatedAt`.
pub fn seed_clock() -> Timestamp {
    Timestamp::parse(SEED_CLOCK).expect("constant is valid")
}

struct TenantSpec {
    name: &'static str,
    domain: &'static str,
    code: &'static str,
    /// Children per node at levels 1, 2, 3 (organization > location > department > team).
    shape: [usize; 3],
    users: usize,
    active: bool,
    plan: &'static str,
    /// (app code, enabled, expired).
    entitlements: &'static [(&'static str, bool, bool)],
}

const TENANTS: &[TenantSpec] = &[
    TenantSpec {
        name: "Northwind Traders",
        domain: "northwind.example",
        code: "NW",
        shape: [3, 3, 2],
        users: 150,
        active: true,
        plan: "enterprise",
        entitlements: &[
            ("crm", true, false),
            ("hr", true, false),
            ("accounting", true, false),
            ("operations", true, false),
            ("inventory", true, false),
            ("affiliate_connect", false, false),
        ],
    },
    TenantSpec {
        name: "Globex Corporation",
        domain: "globex.example",
        code: "GX",
        shape: [2, 2, 1],
        users: 45,
        active: true,
        plan: "professional",
        entitlements: &[("crm", true, false), ("hr", true, false), ("accounting", true, true)],
    },
    TenantSpec {
        name: "Initech",
        domain: "initech.example",
        code: "IT",
        shape: [1, 2, 1],
        users: 8,
        active: true,
        plan: "starter",
        entitlements: &[("crm", true, false), ("hr", true, false)],
    },
    TenantSpec {
        name: "Umbrella Labs",
        domain: "umbrella.example",
        code: "UL",
        shape: [1, 1, 0],
        users: 4,
        active: false,
        plan: "starter",
        entitlements: &[("crm", true, false)],
    },
];

/// A demo role: which apps it covers and whether it is read-only.
struct RoleTemplate {
    name: &'static str,
    apps: &'static [&'static str],
    read_only: bool,
    priority: i64,
    system: bool,
    active: bool,
}

const fn role_template(
    name: &'static str,
    apps: &'static [&'static str],
    read_only: bool,
    priority: i64,
) -> RoleTemplate {
    RoleTemplate { name, apps, read_only, priority, system: false, active: true }
}

const ROLE_TEMPLATES: &[RoleTemplate] = &[
    RoleTemplate {
        system: true,
        ..role_template(
            "Tenant Admin",
            &["crm", "hr", "accounting", "operations", "inventory", "affiliate_connect"],
            false,
            100,
        )
    },
    RoleTemplate { system: true, ..role_template("Member", &["crm", "hr", "operations"], true, 10) },
    role_template("Sales Manager", &["crm"], false, 60),
    role_template("Sales Representative", &["crm"], true, 40),
    role_template("HR Manager", &["hr"], false, 60),
    role_template("Accountant", &["accounting"], false, 50),
    role_template("Warehouse Lead", &["inventory", "operations"], false, 50),
    role_template("Affiliate Manager", &["affiliate_connect", "crm"], true, 45),
    RoleTemplate { active: false, ..role_template("Legacy Auditor", &["accounting"], true, 5) },
];

/// Generates the demo data for `options`.
pub fn generate(options: &SeedOptions) -> SeedData {
    let mut gen = Gen::new(options.seed);
    let catalog = catalog();
    let platform = PlatformDataset { global_credit_configs: gen.global_configs(&catalog), catalog: catalog.clone() };
    let mut tenants: Vec<TenantDataset> = TENANTS.iter().map(|spec| gen.tenant(spec, &catalog)).collect();
    if let Some(scale) = options.scale {
        tenants.push(gen.scale_tenant(&scale, &catalog));
    }
    SeedData { platform, tenants }
}

/// The random source and the helpers built on it.
struct Gen {
    rng: ChaCha8Rng,
    origin: i64,
    span: i64,
}

impl Gen {
    fn new(seed: u64) -> Self {
        let origin = Timestamp::parse(ORIGIN).expect("constant is valid").millis();
        let span = seed_clock().millis() - origin;
        Self { rng: ChaCha8Rng::seed_from_u64(seed), origin, span }
    }

    fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid().to_string()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// An instant between `after` (or the origin) and the seed clock, whole milliseconds.
    fn time_after(&mut self, after: Option<Timestamp>) -> Timestamp {
        let start = after.map_or(self.origin, |t| t.millis());
        let end = self.origin + self.span;
        let at = if start >= end { end } else { self.rng.random_range(start..end) };
        Timestamp::from_millis(at).expect("in range")
    }

    fn amount(&mut self, max: i64) -> Decimal {
        Decimal::new(self.rng.random_range(0..max * 100), 2)
    }

    fn global_configs(&mut self, catalog: &[CatalogApp]) -> Vec<CreditConfig> {
        let costs = ["0.25", "0.5", "1", "2", "5", "10", "0.0025"];
        let mut configs = Vec::new();
        for app in catalog {
            for (operation, _, permission) in app.operations() {
                if !self.chance(0.6) {
                    continue;
                }
                configs.push(CreditConfig {
                    config_id: self.uuid(),
                    tenant_id: None,
                    operation_code: operation,
                    operation_name: self.chance(0.5).then(|| permission.name.clone()),
                    credit_cost: Decimal::from_str(self.pick::<&str>(&costs)).expect("constant"),
                    unit: self.chance(0.2).then(|| "record".to_owned()),
                    is_active: self.chance(0.05).then_some(false),
                });
            }
        }
        configs.push(CreditConfig {
            config_id: self.uuid(),
            tenant_id: None,
            operation_code: "crm.legacy.import".into(),
            operation_name: Some("Legacy import (not in the catalog)".into()),
            credit_cost: Decimal::from(3),
            unit: None,
            is_active: None,
        });
        configs
    }

    fn tenant(&mut self, spec: &TenantSpec, catalog: &[CatalogApp]) -> TenantDataset {
        let created_at = self.time_after(None);
        let tenant_id = self.uuid();
        let tenant = Tenant {
            tenant_id: tenant_id.clone(),
            company_name: spec.name.to_owned(),
            kinde_org_id: format!("org_{}", &self.uuid().replace('-', "")[..11]),
            is_active: (!spec.active).then_some(false),
            settings: Some(settings(spec)),
            subscription: Some(Subscription {
                plan: Some(spec.plan.to_owned()),
                status: Some(if spec.active { "active" } else { "canceled" }.to_owned()),
                billing_cycle: Some(if spec.plan == "enterprise" { "yearly" } else { "monthly" }.to_owned()),
                current_period_start: Some(self.time_after(Some(created_at))),
                current_period_end: Some(seed_clock().plus_millis(30 * 86_400_000)),
            }),
            trial_ends_at: (spec.plan == "starter").then(|| created_at.plus_millis(14 * 86_400_000)),
            created_at,
        };
        let entities = self.entity_tree(spec.code, spec.name, spec.shape, created_at);
        let users = self.users(spec.users, spec.domain, &entities, created_at, spec.code);
        let memberships = self.memberships(&users, &entities, spec.code, users.len() + users.len() / 3);
        let roles = self.roles(catalog, created_at);
        let role_assignments = self.role_assignments(&users, &roles, &entities, users.len() * 3 / 2);
        let credit_balances = self.credit_balances(&entities);
        let credit_configs = self.tenant_configs(&tenant_id, catalog);
        let entitlements = spec
            .entitlements
            .iter()
            .map(|(app, enabled, expired)| Entitlement {
                app_code: (*app).to_owned(),
                is_enabled: *enabled,
                enabled_modules: Some(enabled_modules(catalog, app, spec.plan)),
                subscription_tier: Some(spec.plan.to_owned()),
                expires_at: expired.then(|| Timestamp::parse("2025-06-30T23:59:59.000Z").expect("constant")),
            })
            .collect();
        TenantDataset {
            tenant,
            users,
            entities,
            roles,
            role_assignments,
            memberships,
            credit_balances,
            credit_configs,
            entitlements,
            source_versions: Default::default(),
        }
    }

    fn scale_tenant(&mut self, scale: &ScaleSpec, catalog: &[CatalogApp]) -> TenantDataset {
        let spec = TenantSpec {
            name: "Scale Test Co",
            domain: "scale.example",
            code: "SC",
            shape: scale_shape(scale.entities),
            users: scale.users,
            active: true,
            plan: "enterprise",
            entitlements: &[("crm", true, false), ("hr", true, false)],
        };
        let mut data = self.tenant(&spec, catalog);
        data.entities.truncate(scale.entities.max(1));
        keep_primary_organizations_in(&mut data.users, &data.entities);
        let users = &data.users;
        data.memberships = self.memberships(users, &data.entities, spec.code, scale.memberships.max(users.len()));
        data.role_assignments = self.role_assignments(users, &data.roles, &data.entities, scale.role_assignments);
        data.credit_balances = self.credit_balances(&data.entities);
        data
    }

    fn entity_tree(&mut self, code: &str, name: &str, shape: [usize; 3], created: Timestamp) -> Vec<Entity> {
        let root = Entity {
            entity_id: self.uuid(),
            entity_type: EntityType::Organization,
            entity_name: name.to_owned(),
            entity_code: Some(code.to_owned()),
            description: Some(format!("{name} headquarters organization")),
            parent_entity_id: None,
            entity_level: Some(1),
            hierarchy_path: Some(code.to_lowercase()),
            address: Some(address(names::CITIES[0])),
            currency: Some("USD".into()),
            is_active: None,
            created_at: created,
        };
        let mut all = vec![root];
        let mut frontier = vec![0usize];
        for (depth, children) in shape.iter().enumerate() {
            let mut next = Vec::new();
            for parent_index in frontier {
                for n in 0..*children {
                    let child = self.child_entity(&all[parent_index], depth, n);
                    all.push(child);
                    next.push(all.len() - 1);
                }
            }
            frontier = next;
        }
        all
    }

    fn child_entity(&mut self, parent: &Entity, depth: usize, n: usize) -> Entity {
        let (entity_type, label, city) = match depth {
            0 => {
                let city = names::CITIES[n % names::CITIES.len()];
                (EntityType::Location, format!("{} Office{}", city.0, suffix(n, names::CITIES.len())), Some(city))
            }
            1 => (
                EntityType::Department,
                format!("{}{}", names::DEPARTMENTS[n % names::DEPARTMENTS.len()], suffix(n, names::DEPARTMENTS.len())),
                None,
            ),
            _ => (
                EntityType::Team,
                format!("Team {}{}", names::TEAMS[n % names::TEAMS.len()], suffix(n, names::TEAMS.len())),
                None,
            ),
        };
        let short: String =
            label.chars().filter(char::is_ascii_alphanumeric).take(3).collect::<String>().to_uppercase();
        let code = format!("{}-{short}{n}", parent.entity_code.as_deref().unwrap_or("E"));
        let entity_name = if depth == 0 { label } else { format!("{} {label}", short_name(parent)) };
        Entity {
            entity_id: self.uuid(),
            entity_type,
            entity_name,
            entity_code: Some(code.clone()),
            description: self.chance(0.7).then(|| format!("{} of {}", entity_type.as_str(), parent.entity_name)),
            parent_entity_id: Some(parent.entity_id.clone()),
            entity_level: Some(depth as i64 + 2),
            hierarchy_path: Some(format!("{}.{}", parent.hierarchy_path.as_deref().unwrap_or(""), code.to_lowercase())),
            address: city.map(address),
            currency: city.map(|c| c.2.to_owned()),
            is_active: (depth == 2 && self.chance(0.08)).then_some(false),
            created_at: self.time_after(Some(parent.created_at)),
        }
    }

    fn users(
        &mut self,
        count: usize,
        domain: &str,
        entities: &[Entity],
        tenant_created: Timestamp,
        code: &str,
    ) -> Vec<User> {
        let homes: Vec<&Entity> = {
            let deep: Vec<&Entity> = entities.iter().filter(|e| e.level() >= 3).collect();
            if deep.is_empty() {
                entities.iter().collect()
            } else {
                deep
            }
        };
        (0..count).map(|n| self.user(n, domain, &homes, tenant_created, code)).collect()
    }

    fn user(&mut self, n: usize, domain: &str, homes: &[&Entity], tenant_created: Timestamp, code: &str) -> User {
        let first = *self.pick(names::FIRST_NAMES);
        let last = *self.pick(names::LAST_NAMES);
        let pending = n > 0 && self.chance(0.05);
        let inactive = n > 0 && !pending && self.chance(0.07);
        let name_only = self.chance(0.05);
        let created_at = self.time_after(Some(tenant_created));
        let home = *self.pick(homes);
        let last_login = (!pending).then(|| self.time_after(Some(created_at)));
        let email_local = format!("{}.{}{n}", first.to_lowercase(), last.to_lowercase().replace([' ', '\''], ""));
        User {
            user_id: self.uuid(),
            kinde_user_id: (!pending).then(|| format!("kp_{}", self.uuid().replace('-', ""))),
            email: format!("{email_local}@{domain}"),
            name: Some(format!("{first} {last}")),
            first_name: (!name_only).then(|| first.to_owned()),
            last_name: (!name_only).then(|| last.to_owned()),
            title: self.chance(0.9).then(|| (*self.pick(names::TITLES)).to_owned()),
            department: Some(home.entity_name.rsplit(' ').next().unwrap_or("General").to_owned()),
            avatar: self.chance(0.6).then(|| format!("https://avatars.{domain}/{}.png", code.to_lowercase())),
            primary_organization_id: Some(home.entity_id.clone()),
            is_active: inactive.then_some(false),
            is_verified: Some(!pending),
            is_tenant_admin: (n == 0 || self.chance(0.03)).then_some(true),
            is_responsible_person: (n == 0).then_some(true),
            onboarding_completed: Some(!pending && self.chance(0.9)),
            last_login_at: last_login,
            last_active_at: last_login.filter(|_| self.chance(0.8)).map(|t| self.time_after(Some(t))),
            login_count: (!pending).then(|| self.rng.random_range(1..400)),
            preferences: Some(preferences(self.chance(0.5))),
            created_at,
        }
    }

    fn memberships(&mut self, users: &[User], entities: &[Entity], code: &str, total: usize) -> Vec<Membership> {
        let mut out = Vec::with_capacity(total);
        for (n, user) in users.iter().enumerate() {
            let entity_id = user.primary_organization_id.clone().unwrap_or_else(|| entities[0].entity_id.clone());
            let status = match (user.kinde_user_id.is_none(), user.active()) {
                (true, _) => MembershipStatus::Pending,
                (false, false) if self.chance(0.5) => MembershipStatus::Inactive,
                _ => MembershipStatus::Active,
            };
            let employee_id = self.chance(0.93).then(|| format!("{code}-{:05}", n + 1));
            out.push(self.membership(user, entity_id, status, true, employee_id));
        }
        while out.len() < total {
            let user = self.pick(users);
            let entity = self.pick(entities);
            out.push(self.membership(user, entity.entity_id.clone(), MembershipStatus::Active, false, None));
        }
        out
    }

    fn membership(
        &mut self,
        user: &User,
        entity_id: String,
        status: MembershipStatus,
        primary: bool,
        employee_id: Option<String>,
    ) -> Membership {
        let created_at = self.time_after(Some(user.created_at));
        let temporary = !primary && self.chance(0.3);
        let deactivated = status == MembershipStatus::Inactive;
        Membership {
            membership_id: self.uuid(),
            user_id: user.user_id.clone(),
            entity_id,
            membership_type: Some(
                if primary {
                    "direct"
                } else if temporary {
                    "temporary"
                } else {
                    "inherited"
                }
                .to_owned(),
            ),
            membership_status: status,
            access_level: Some(if self.chance(0.15) { "manager" } else { "member" }.to_owned()),
            is_primary: Some(primary),
            department: user.department.clone(),
            job_title: user.title.clone(),
            employee_id,
            valid_until: temporary.then(|| seed_clock().plus_millis(90 * 86_400_000)),
            deactivated_at: deactivated.then(|| self.time_after(Some(created_at))),
            deactivated_by: deactivated.then(|| "hr-system".to_owned()),
            created_by: Some("onboarding".to_owned()),
            created_at,
        }
    }

    fn roles(&mut self, catalog: &[CatalogApp], created: Timestamp) -> Vec<Role> {
        ROLE_TEMPLATES
            .iter()
            .map(|t| Role {
                role_id: self.uuid(),
                role_name: Some(t.name.to_owned()),
                description: Some(format!("{} role", t.name)),
                permissions: role_permissions(catalog, t.apps, t.read_only),
                priority: Some(t.priority),
                is_system_role: t.system.then_some(true),
                is_active: (!t.active).then_some(false),
                created_at: self.time_after(Some(created)),
            })
            .collect()
    }

    fn role_assignments(
        &mut self,
        users: &[User],
        roles: &[Role],
        entities: &[Entity],
        total: usize,
    ) -> Vec<RoleAssignment> {
        (0..total)
            .map(|n| {
                let user = &users[n % users.len()];
                let role = if n < users.len() && n > 0 { &roles[1] } else { self.pick(roles) };
                let assigned_at = self.time_after(Some(user.created_at.max(role.created_at)));
                RoleAssignment {
                    assignment_id: self.uuid(),
                    user_id: user.user_id.clone(),
                    role_id: role.role_id.clone(),
                    organization_id: self.chance(0.3).then(|| self.pick(entities).entity_id.clone()),
                    assigned_by: Some(if self.chance(0.5) { "tenant-admin" } else { "provisioning" }.to_owned()),
                    assigned_at,
                    expires_at: self.chance(0.1).then(|| seed_clock().plus_millis(60 * 86_400_000)),
                    is_active: self.chance(0.05).then_some(false),
                }
            })
            .collect()
    }

    fn credit_balances(&mut self, entities: &[Entity]) -> Vec<CreditBalance> {
        let mut out = Vec::new();
        for (n, entity) in entities.iter().enumerate() {
            if entity.level() > 3 || (entity.level() == 3 && n % 3 != 0) {
                continue;
            }
            let mut app_totals = BTreeMap::new();
            for app in ["crm", "hr", "accounting"] {
                if !self.chance(0.7) {
                    continue;
                }
                let allocated = self.amount(5_000);
                let used = (allocated * Decimal::new(self.rng.random_range(0..90), 2)).round_dp(4);
                let last = self.time_after(Some(entity.created_at));
                app_totals.insert(
                    app.to_owned(),
                    AppCreditTotals {
                        allocated,
                        used,
                        last_allocated_at: Some(last),
                        last_allocated_by: self.chance(0.8).then(|| "billing-admin".to_owned()),
                    },
                );
            }
            out.push(CreditBalance {
                entity_id: entity.entity_id.clone(),
                available_credits: self.amount(20_000),
                is_active: (out.len() == 2).then_some(false),
                app_totals,
            });
        }
        out
    }

    fn tenant_configs(&mut self, tenant_id: &str, catalog: &[CatalogApp]) -> Vec<CreditConfig> {
        let mut configs = Vec::new();
        for app in catalog.iter().filter(|a| a.app_code == "crm" || a.app_code == "hr") {
            for (operation, _, permission) in app.operations() {
                if !self.chance(0.2) {
                    continue;
                }
                configs.push(CreditConfig {
                    config_id: self.uuid(),
                    tenant_id: Some(tenant_id.to_owned()),
                    operation_code: operation,
                    operation_name: self.chance(0.5).then(|| format!("{} (negotiated)", permission.name)),
                    credit_cost: self.amount(3),
                    unit: None,
                    is_active: (configs.len() == 1).then_some(false),
                });
            }
        }
        configs
    }
}

fn suffix(n: usize, cycle: usize) -> String {
    if n < cycle {
        String::new()
    } else {
        format!(" {}", n / cycle + 1)
    }
}

fn short_name(entity: &Entity) -> String {
    entity.entity_name.split(' ').next().unwrap_or("").to_owned()
}

fn address(city: (&str, &str, &str)) -> JsonObject {
    let value = json!({ "city": city.0, "country": city.1, "line1": "1 Example Street" });
    serde_json::from_value(value).expect("object")
}

fn settings(spec: &TenantSpec) -> JsonObject {
    let value = json!({
        "timezone": "America/New_York",
        "locale": "en-US",
        "fiscalYearStartMonth": 1,
        "features": { "sso": spec.plan == "enterprise", "auditLog": spec.plan != "starter" },
        "branding": { "primaryColor": "#1f6feb", "companyCode": spec.code }
    });
    serde_json::from_value(value).expect("object")
}

fn preferences(dark: bool) -> JsonObject {
    let value = json!({ "language": "en", "theme": if dark { "dark" } else { "light" }, "notifications": { "email": true, "push": !dark } });
    serde_json::from_value(value).expect("object")
}

fn enabled_modules(catalog: &[CatalogApp], app: &str, plan: &str) -> Vec<String> {
    catalog
        .iter()
        .filter(|a| a.app_code == app)
        .flat_map(|a| &a.modules)
        .filter(|m| m.is_core || plan != "starter")
        .map(|m| m.module_code.clone())
        .collect()
}

fn role_permissions(catalog: &[CatalogApp], apps: &[&str], read_only: bool) -> BTreeMap<String, serde_json::Value> {
    let mut permissions = BTreeMap::new();
    for app in catalog.iter().filter(|a| apps.contains(&a.app_code.as_str())) {
        let modules: serde_json::Map<String, serde_json::Value> = app
            .modules
            .iter()
            .map(|m| {
                let actions: Vec<&str> = m
                    .permissions
                    .iter()
                    .map(|p| p.code.as_str())
                    .filter(|code| !read_only || *code == "read" || *code == "track" || *code == "request")
                    .collect();
                (m.module_code.clone(), json!(actions))
            })
            .collect();
        permissions.insert(app.app_code.clone(), serde_json::Value::Object(modules));
    }
    permissions
}

/// Children per level so that a four-level tree has about `entities` nodes.
/// Points users whose primary organization was cut off by the scale tenant's truncation to an
/// entity that exists (round robin), so the data set has no dangling references.
fn keep_primary_organizations_in(users: &mut [User], entities: &[Entity]) {
    let kept: std::collections::HashSet<&str> = entities.iter().map(|e| e.entity_id.as_str()).collect();
    for (n, user) in users.iter_mut().enumerate() {
        if user.primary_organization_id.as_deref().is_some_and(|id| !kept.contains(id)) {
            user.primary_organization_id = Some(entities[n % entities.len()].entity_id.clone());
        }
    }
}

fn scale_shape(entities: usize) -> [usize; 3] {
    let remaining = entities.saturating_sub(1).max(1) as f64;
    let branching = remaining.cbrt().ceil().max(1.0) as usize;
    [branching, branching, branching]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = generate(&SeedOptions { seed: 7, scale: None });
        let b = generate(&SeedOptions { seed: 7, scale: None });
        let c = generate(&SeedOptions { seed: 8, scale: None });
        assert_eq!(a, b);
        assert_ne!(a.tenants[0].tenant.tenant_id, c.tenants[0].tenant.tenant_id);
    }

    #[test]
    fn every_user_has_exactly_one_primary_membership() {
        let data = generate(&SeedOptions { seed: 1, scale: None });
        for tenant in &data.tenants {
            for user in &tenant.users {
                let primaries = tenant
                    .memberships
                    .iter()
                    .filter(|m| m.user_id == user.user_id && m.is_primary == Some(true))
                    .count();
                assert_eq!(primaries, 1, "user {} of {}", user.user_id, tenant.tenant.company_name);
            }
        }
    }

    #[test]
    fn tenants_differ_in_size_and_trees_are_four_levels_deep() {
        let data = generate(&SeedOptions { seed: 1, scale: None });
        let sizes: Vec<usize> = data.tenants.iter().map(|t| t.users.len()).collect();
        assert!(sizes.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
        let deepest = data.tenants[0].entities.iter().map(Entity::level).max();
        assert_eq!(deepest, Some(4));
        assert!(data.tenants.iter().any(|t| !t.tenant.active()));
        assert!(data.tenants[0].users.iter().any(|u| u.kinde_user_id.is_none()));
        assert!(data.tenants[0].users.iter().any(|u| !u.active()));
    }

    #[test]
    fn scale_tenant_has_the_requested_size() {
        let scale = ScaleSpec { users: 300, entities: 120, role_assignments: 700, memberships: 400 };
        let data = generate(&SeedOptions { seed: 3, scale: Some(scale) });
        let big = data.tenants.last().unwrap();
        assert_eq!(big.users.len(), 300);
        assert_eq!(big.entities.len(), 120);
        assert_eq!(big.role_assignments.len(), 700);
        assert_eq!(big.memberships.len(), 400);
        // No dangling references: the sync's validation of a scale tenant finds nothing.
        let entities: std::collections::HashSet<&str> = big.entities.iter().map(|e| e.entity_id.as_str()).collect();
        for user in &big.users {
            assert!(user.primary_organization_id.as_deref().is_none_or(|id| entities.contains(id)), "{user:?}");
        }
        for membership in &big.memberships {
            assert!(entities.contains(membership.entity_id.as_str()), "{membership:?}");
        }
    }

    #[test]
    fn seeded_records_pass_validation() {
        use crate::model::Validate;
        let data = generate(&SeedOptions { seed: 5, scale: None });
        for app in &data.platform.catalog {
            assert!(app.problems().is_empty(), "{:?}", app.problems());
        }
        for config in &data.platform.global_credit_configs {
            assert!(config.problems().is_empty(), "{:?}", config.problems());
        }
        for t in &data.tenants {
            assert!(t.tenant.problems().is_empty());
            assert!(t.users.iter().all(|r| r.problems().is_empty()));
            assert!(t.entities.iter().all(|r| r.problems().is_empty()));
            assert!(t.roles.iter().all(|r| r.problems().is_empty()));
            assert!(t.role_assignments.iter().all(|r| r.problems().is_empty()));
            assert!(t.memberships.iter().all(|r| r.problems().is_empty()));
            assert!(
                t.credit_balances.iter().all(|r| r.problems().is_empty()),
                "{:?}",
                t.credit_balances.iter().map(|b| b.problems()).collect::<Vec<_>>()
            );
            assert!(t.credit_configs.iter().all(|r| r.problems().is_empty()));
        }
    }
}
