//! The demo app catalog: our own apps, modules and permissions.

use crate::model::{AppStatus, CatalogApp, CatalogModule, CatalogPermission};

/// (app code, app name, status, [(module code, module name, core, [permission codes])]).
type AppSpec =
    (&'static str, &'static str, AppStatus, &'static [(&'static str, &'static str, bool, &'static [&'static str])]);

const APPS: &[AppSpec] = &[
    (
        "crm",
        "Customer Relationship Management",
        AppStatus::Active,
        &[
            ("contacts", "Contacts", true, &["read", "create", "update", "delete", "export"]),
            ("leads", "Leads", true, &["read", "create", "convert", "assign"]),
            ("deals", "Deals", false, &["read", "create", "update", "close"]),
            ("campaigns", "Campaigns", false, &["read", "send"]),
        ],
    ),
    (
        "hr",
        "Human Resources",
        AppStatus::Active,
        &[
            ("employees", "Employees", true, &["read", "create", "update", "terminate"]),
            ("leave", "Leave Management", true, &["request", "approve", "read"]),
            ("payroll", "Payroll", false, &["run", "read", "export"]),
            ("recruiting", "Recruiting", false, &["post_job", "review_candidate"]),
        ],
    ),
    (
        "affiliate_connect",
        "Affiliate Connect",
        AppStatus::Active,
        &[
            ("partners", "Partners", true, &["read", "invite", "approve"]),
            ("commissions", "Commissions", true, &["read", "calculate", "payout"]),
            ("links", "Tracking Links", false, &["create", "track"]),
        ],
    ),
    (
        "operations",
        "Operations",
        AppStatus::Active,
        &[
            ("projects", "Projects", true, &["read", "create", "update", "archive"]),
            ("tasks", "Tasks", true, &["read", "create", "assign", "complete"]),
            ("timesheets", "Timesheets", false, &["submit", "approve"]),
        ],
    ),
    (
        "accounting",
        "Accounting",
        AppStatus::Active,
        &[
            ("invoices", "Invoices", true, &["read", "create", "send", "void"]),
            ("payments", "Payments", true, &["read", "record", "refund"]),
            ("reports", "Financial Reports", false, &["generate", "export"]),
            ("ledger", "General Ledger", false, &["read", "post"]),
        ],
    ),
    (
        "inventory",
        "Inventory",
        AppStatus::Active,
        &[
            ("items", "Items", true, &["read", "create", "update", "adjust"]),
            ("warehouses", "Warehouses", true, &["read", "create"]),
            ("orders", "Purchase Orders", false, &["read", "create", "fulfill"]),
            ("stocktake", "Stocktake", false, &["start", "reconcile"]),
        ],
    ),
    (
        "project_management",
        "Project Management (retired)",
        AppStatus::Inactive,
        &[("boards", "Boards", true, &["read", "create"])],
    ),
];

/// Turns `post_job` into `Post job`.
fn humanize(code: &str) -> String {
    let text = code.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The demo catalog.
pub fn catalog() -> Vec<CatalogApp> {
    APPS.iter()
        .map(|(code, name, status, modules)| CatalogApp {
            app_code: (*code).to_owned(),
            app_name: (*name).to_owned(),
            description: format!("{name} for teams on the Wrapper platform"),
            status: *status,
            modules: modules
                .iter()
                .map(|(module_code, module_name, is_core, permissions)| CatalogModule {
                    module_code: (*module_code).to_owned(),
                    module_name: (*module_name).to_owned(),
                    description: format!("{module_name} in {name}"),
                    is_core: *is_core,
                    permissions: permissions
                        .iter()
                        .map(|code| CatalogPermission {
                            code: (*code).to_owned(),
                            name: format!("{} {}", humanize(code), module_name.to_lowercase()),
                            description: format!(
                                "Allows a user to {} {}",
                                code.replace('_', " "),
                                module_name.to_lowercase()
                            ),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}
