//! `template.yaml` against the code: the table is the one the code creates, each function's
//! HTTP API routes are exactly its group's routes under both base paths, the state machines'
//! substitutions are all provided, secrets come only from Secrets Manager references, every
//! function logs to a log group with a retention, and the read-only functions can only read.

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::Value;
use shared::api::{self, ALIAS_PATH, BASE_PATH};

fn template_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    std::fs::read_to_string(&path).expect("template.yaml exists at the repository root")
}

fn template() -> Value {
    serde_norway::from_str(&template_text()).expect("template.yaml parses")
}

/// `value` without its CloudFormation tag (`!Ref`, `!Sub`, ...).
fn untagged(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

fn text(value: &Value) -> String {
    untagged(value).as_str().unwrap_or_default().to_owned()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    let resources = template["Resources"].as_mapping().expect("Resources");
    resources
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(name, resource)| (text(name), resource))
        .collect()
}

/// Function binary name -> its HTTP API routes as (method, path).
fn routes_by_binary(template: &Value) -> BTreeMap<String, BTreeSet<(String, String)>> {
    resources_of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(_, function)| {
            let binary = text(&function["Metadata"]["BuildProperties"]["Binary"]);
            let mut routes = BTreeSet::new();
            if let Some(events) = function["Properties"]["Events"].as_mapping() {
                for event in events.values().filter(|e| e["Type"].as_str() == Some("HttpApi")) {
                    let properties = &event["Properties"];
                    routes.insert((text(&properties["Method"]), text(&properties["Path"])));
                }
            }
            (binary, routes)
        })
        .collect()
}

fn expected(routes: &api::Routes) -> BTreeSet<(String, String)> {
    routes
        .specs()
        .iter()
        .flat_map(|spec| [BASE_PATH, ALIAS_PATH].map(|base| (spec.method.to_owned(), format!("{base}{}", spec.path))))
        .collect()
}

#[test]
fn template_contains_the_table_the_code_creates() {
    let expected = shared::store::table::cloudformation_resource();
    assert!(
        template_text().contains(&expected),
        "template.yaml's Table resource differs from the code's table; it must contain exactly:\n{expected}"
    );
}

#[test]
fn each_function_gets_exactly_its_groups_routes_under_both_base_paths() {
    let by_binary = routes_by_binary(&template());
    let mut sync = expected(&api::sync_routes());
    sync.insert(("ANY".to_owned(), "$default".to_owned()));
    let wanted: BTreeMap<String, BTreeSet<(String, String)>> = [
        ("tenants-api".to_owned(), expected(&api::tenant_routes())),
        ("roles-api".to_owned(), expected(&api::role_routes())),
        ("credits-api".to_owned(), expected(&api::credit_routes())),
        ("sync-api".to_owned(), sync),
        ("sync-worker".to_owned(), BTreeSet::new()),
        ("ingest".to_owned(), expected(&api::ingest_routes())),
    ]
    .into();
    assert_eq!(by_binary, wanted);
    for binary in by_binary.keys() {
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../functions/{binary}/Cargo.toml")).exists(),
            "{binary} is a workspace function"
        );
    }
}

#[test]
fn functions_are_built_with_cargo_lambda_and_log_with_a_retention() {
    let template = template();
    assert_eq!(text(&template["Globals"]["Function"]["Runtime"]), "provided.al2023");
    let log_groups: BTreeMap<String, &Value> =
        resources_of_type(&template, "AWS::Logs::LogGroup").into_iter().collect();
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        assert_eq!(text(&function["Metadata"]["BuildMethod"]), "rust-cargolambda", "{name}");
        let group = text(&function["Properties"]["LoggingConfig"]["LogGroup"]);
        let group = log_groups.get(&group).unwrap_or_else(|| panic!("{name} logs to a group of the stack"));
        assert_eq!(text(&group["Properties"]["RetentionInDays"]), "LogRetentionDays", "{name}");
    }
}

#[test]
fn no_secret_is_in_a_function_environment() {
    let template = template();
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let Some(variables) = function["Properties"]["Environment"]["Variables"].as_mapping() else { continue };
        let binary = text(&function["Metadata"]["BuildProperties"]["Binary"]);
        for (variable, value) in variables {
            let (variable, value) = (text(variable), text(value));
            assert!(!value.contains("{{resolve:"), "{name}: {variable} is resolved into the environment");
            let secret_like = ["SECRET", "SIGNING_KEY", "SERVICE_KEYS"].iter().any(|m| variable.contains(m));
            // The services' public keys may be in the environment, from their own parameter only.
            let public_keys = variable == "SERVICE_KEYS" && value == "ServiceKeys";
            assert!(
                !secret_like
                    || public_keys
                    || ["APP_SYNC_SECRET_ID", "SECRETS_REFRESH_SECONDS"].contains(&variable.as_str()),
                "{name}: {variable} must not be in the environment"
            );
        }
        if binary.ends_with("-api") || binary == "ingest" {
            assert_eq!(text(&variables[&Value::from("APP_SYNC_SECRET_ID")]), "SecretsName", "{name} reads the secret");
            let source = text(&variables[&Value::from("CURSOR_KEY_SOURCE")]);
            assert_eq!(source, "CursorKeySource", "{name} takes its cursor keys from the parameter's source");
        }
    }
    let parameters = template["Parameters"].as_mapping().expect("Parameters");
    for name in parameters.keys().map(text) {
        assert!(
            !name.contains("Secret") || name == "SecretsName" || name == "SecretsRefreshSeconds",
            "{name}: secrets are not template parameters"
        );
    }
    let audience = &template["Parameters"]["KindeAudience"];
    assert!(audience["Default"].is_null() && audience["MinLength"].as_u64() == Some(1), "KINDE_AUDIENCE is required");
}

#[test]
fn read_only_functions_may_only_read_the_table() {
    let template = template();
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let binary = text(&function["Metadata"]["BuildProperties"]["Binary"]);
        let statements: Vec<Value> = function["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_sequence().cloned().unwrap_or_default())
            .collect();
        // The cursor key item's creation: a put confined to the item's partition, nothing else.
        let (key_item, statements): (Vec<Value>, Vec<Value>) =
            statements.into_iter().partition(|statement| text(&statement["Sid"]) == "CreateCursorKeys");
        if binary != "sync-worker" {
            assert_eq!(key_item.len(), 1, "{name} may create the cursor key item");
            let statement = &key_item[0];
            assert_eq!(
                untagged(&statement["Action"]).as_sequence().map(|a| a.iter().map(text).collect::<Vec<_>>()),
                Some(vec!["dynamodb:PutItem".to_owned()]),
                "{name}"
            );
            let leading = &statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"];
            assert_eq!(
                leading.as_sequence().map(|keys| keys.iter().map(text).collect::<Vec<_>>()),
                Some(vec![shared::store::cursor_keys::CURSOR_KEYS_PK.to_owned()]),
                "{name}: the put reaches the cursor key item's partition only"
            );
        }
        let actions: BTreeSet<String> = statements
            .into_iter()
            .flat_map(|statement| match untagged(&statement["Action"]) {
                Value::Sequence(actions) => actions.iter().map(text).collect::<Vec<_>>(),
                single => vec![text(single)],
            })
            .collect();
        let wanted: BTreeSet<String> = match binary.as_str() {
            "tenants-api" | "roles-api" | "credits-api" => {
                ["dynamodb:GetItem", "dynamodb:Query", "secretsmanager:GetSecretValue"].map(String::from).into()
            }
            "sync-api" => [
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
                "states:StartExecution",
                "secretsmanager:GetSecretValue",
            ]
            .map(String::from)
            .into(),
            // Runs and counters, the schedule lease (deleted when a schedule ends), the
            // completion event, and the executions of scheduled runs and schedule segments.
            "sync-worker" => [
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem",
                "events:PutEvents",
                "states:StartExecution",
            ]
            .map(String::from)
            .into(),
            // The one writer of records: no Scan, no table management, nothing outside the table.
            "ingest" => [
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem",
                "secretsmanager:GetSecretValue",
            ]
            .map(String::from)
            .into(),
            other => panic!("unexpected function {other}"),
        };
        assert_eq!(actions, wanted, "{name}");
    }
}

#[test]
fn state_machines_get_every_substitution_their_definitions_use() {
    let template = template();
    let machines = resources_of_type(&template, "AWS::Serverless::StateMachine");
    assert_eq!(machines.len(), 2);
    for (name, machine) in machines {
        let file = text(&machine["Properties"]["DefinitionUri"]);
        let definition =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&file)).unwrap();
        let used: BTreeSet<String> = definition
            .split("${")
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect();
        let given: BTreeSet<String> = machine["Properties"]["DefinitionSubstitutions"]
            .as_mapping()
            .map(|m| m.keys().map(text).collect())
            .unwrap_or_default();
        assert_eq!(used, given, "{name} ({file})");
    }
}

#[test]
fn no_function_enables_the_development_or_test_features() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for function in ["tenants-api", "roles-api", "credits-api", "sync-api", "sync-worker", "ingest"] {
        let manifest = std::fs::read_to_string(root.join("functions").join(function).join("Cargo.toml"))
            .expect("the function has a manifest");
        let parsed: toml_like::Manifest = toml_like::parse(&manifest);
        let shared = parsed.dependency("shared").unwrap_or_else(|| panic!("{function} depends on shared"));
        for feature in ["dev-tools", "fault-injection"] {
            assert!(!shared.contains(feature), "{function} enables {feature}: {shared}");
        }
        assert!(!manifest.contains("default-features = true"), "{function}");
    }
    // The gate itself: the modules exist only under the feature.
    let lib = std::fs::read_to_string(root.join("shared/src/lib.rs")).unwrap();
    for module in ["pub mod import;", "pub mod seed;"] {
        let at = lib.find(module).expect("module declared");
        assert!(lib[..at].trim_end().ends_with("#[cfg(feature = \"dev-tools\")]"), "{module} is not gated");
    }
    let auth = std::fs::read_to_string(root.join("shared/src/auth/mod.rs")).unwrap();
    let at = auth.find("pub mod dev;").expect("auth::dev declared");
    assert!(auth[..at].trim_end().ends_with("#[cfg(feature = \"dev-tools\")]"), "auth::dev is not gated");
}

/// Just enough of Cargo.toml to read a dependency's line.
mod toml_like {
    pub struct Manifest(Vec<(String, String)>);

    pub fn parse(text: &str) -> Manifest {
        Manifest(
            text.lines()
                .filter_map(|line| line.split_once('='))
                .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
                .collect(),
        )
    }

    impl Manifest {
        pub fn dependency(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
        }
    }
}

fn number(value: &Value) -> u64 {
    match untagged(value) {
        Value::Number(n) => n.as_u64().expect("a whole number"),
        other => text(other).parse().expect("a number"),
    }
}

#[test]
fn the_ingest_pipeline_is_encrypted_redriven_watched_and_fed_by_the_platform_rule() {
    let template = template();
    let resources = &template["Resources"];
    let function = &resources["IngestFunction"]["Properties"];
    let queue = &resources["IngestQueue"]["Properties"];
    let dead = &resources["IngestDeadLetterQueue"]["Properties"];
    assert_eq!(queue["SqsManagedSseEnabled"].as_bool(), Some(true));
    assert_eq!(dead["SqsManagedSseEnabled"].as_bool(), Some(true));
    assert!(number(&queue["VisibilityTimeout"]) >= 6 * number(&function["Timeout"]), "visibility >= 6x timeout");
    assert_eq!(number(&dead["MessageRetentionPeriod"]), 14 * 86_400);
    assert_eq!(text(&queue["RedrivePolicy"]["deadLetterTargetArn"]), "IngestDeadLetterQueue.Arn");
    assert!(number(&queue["RedrivePolicy"]["maxReceiveCount"]) >= 2);

    let source = &function["Events"]["Changes"];
    assert_eq!(text(&source["Type"]), "SQS");
    assert_eq!(text(&source["Properties"]["Queue"]), "IngestQueue.Arn");
    assert_eq!(text(&source["Properties"]["BatchSize"]), "IngestBatchSize");
    assert_eq!(text(&source["Properties"]["MaximumBatchingWindowInSeconds"]), "IngestBatchWindowSeconds");
    let responses: Vec<String> =
        source["Properties"]["FunctionResponseTypes"].as_sequence().expect("types").iter().map(text).collect();
    assert_eq!(responses, ["ReportBatchItemFailures"]);

    let alarm = &resources["IngestDeadLetterAlarm"]["Properties"];
    assert_eq!(text(&alarm["Namespace"]), "AWS/SQS");
    assert_eq!(text(&alarm["MetricName"]), "ApproximateNumberOfMessagesVisible");
    assert_eq!(text(&alarm["Dimensions"][0]["Value"]), "IngestDeadLetterQueue.QueueName");

    let size = &resources["ItemCollectionSizeAlarm"]["Properties"];
    assert_eq!(text(&size["Namespace"]), shared::metrics::NAMESPACE, "the namespace the writer's EMF lines use");
    assert_eq!(text(&size["MetricName"]), shared::metrics::ITEM_COLLECTION_SIZE);
    assert_eq!(text(&size["Statistic"]), "Maximum");
    let limit_gb = shared::store::size::COLLECTION_LIMIT_BYTES as f64 / f64::from(1u32 << 30);
    assert!((number(&size["Threshold"]) as f64) < limit_gb, "the alarm must fire before the limit");

    let rule = &resources["PlatformChangesRule"]["Properties"];
    let sources: Vec<String> = rule["EventPattern"]["source"].as_sequence().expect("source").iter().map(text).collect();
    assert_eq!(sources, ["wrapper.platform"]);
    assert_eq!(text(&rule["Targets"][0]["Arn"]), "IngestQueue.Arn");
    let statement = &resources["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(text(&statement["Action"]), "sqs:SendMessage");
    assert_eq!(text(&statement["Principal"]["Service"]), "events.amazonaws.com");
    assert_eq!(
        text(&statement["Condition"]["ArnEquals"]["aws:SourceArn"]),
        "PlatformChangesRule.Arn",
        "only the rule may send"
    );
}

#[test]
fn stopped_tenant_syncs_reach_the_worker_and_the_schedule_starts_the_scheduler_as_it_expects() {
    let template = template();
    let resources = &template["Resources"];
    let rule = &resources["TenantSyncStoppedRule"]["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.states"));
    assert_eq!(pattern["detail-type"][0].as_str(), Some(shared::sync::stopped::STATUS_CHANGE));
    let statuses: Vec<String> = pattern["detail"]["status"].as_sequence().unwrap().iter().map(text).collect();
    assert_eq!(statuses, shared::sync::stopped::STOPPED_STATUSES.map(String::from));
    assert_eq!(text(&pattern["detail"]["stateMachineArn"][0]), "TenantSyncStateMachine");
    assert_eq!(text(&rule["Targets"][0]["Arn"]), "SyncWorkerFunction.Arn");
    let permission = &resources["TenantSyncStoppedRulePermission"]["Properties"];
    assert_eq!(text(&permission["SourceArn"]), "TenantSyncStoppedRule.Arn");
    assert_eq!(text(&permission["FunctionName"]), "SyncWorkerFunction");

    let scheduler = &resources["ScheduledSyncStateMachine"]["Properties"];
    let input: serde_json::Value =
        serde_json::from_str(&text(&scheduler["Events"]["Periodic"]["Properties"]["Input"])).unwrap();
    assert_eq!(input, serde_json::json!({ "scheduleId": null, "next": null, "count": 0 }));
    // The worker starts executions by the machines' names (a !Ref would be a cycle).
    for (machine, suffix) in
        [("TenantSyncStateMachine", "tenant-sync"), ("ScheduledSyncStateMachine", "scheduled-sync")]
    {
        assert_eq!(text(&resources[machine]["Properties"]["Name"]), format!("${{AWS::StackName}}-{suffix}"));
        assert!(template_text().contains(&format!("stateMachine:${{AWS::StackName}}-{suffix}'")), "{machine}");
    }
}

#[test]
fn each_function_has_the_memory_size_the_deploy_guide_chose() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/deploy.md")).expect("deploy.md");
    let chosen: BTreeMap<String, u64> = guide
        .split("**Chosen**")
        .nth(1)
        .expect("deploy.md has the chosen sizes")
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), cells.get(2)?.parse().ok()?))
        })
        .collect();
    let template = template();
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert_eq!(chosen.len(), functions.len(), "one chosen size per function: {chosen:?}");
    for (name, function) in functions {
        let size = number(&function["Properties"]["MemorySize"]);
        assert_eq!(Some(&size), chosen.get(&name), "{name}");
    }
}

/// The metrics an alarm watches, as (metric name, dimension name, dimension value as written:
/// `Fn` for `!Ref Fn`, `Queue.QueueName` for `!GetAtt Queue.QueueName`), in either of the
/// alarm's forms (one metric, or metric math over several).
fn watched(alarm: &Value) -> Vec<(String, String, String)> {
    let properties = &alarm["Properties"];
    let mut metrics = vec![(text(&properties["MetricName"]), &properties["Dimensions"])];
    if let Some(list) = properties["Metrics"].as_sequence() {
        for entry in list {
            let metric = &entry["MetricStat"]["Metric"];
            metrics.push((text(&metric["MetricName"]), &metric["Dimensions"]));
        }
    }
    let mut out = Vec::new();
    for (name, dimensions) in metrics {
        for dimension in dimensions.as_sequence().into_iter().flatten() {
            out.push((name.clone(), text(&dimension["Name"]), text(&dimension["Value"])));
        }
        if dimensions.as_sequence().is_none() && !name.is_empty() {
            out.push((name, String::new(), String::new()));
        }
    }
    out
}

fn alarms(template: &Value) -> Vec<(String, &Value)> {
    resources_of_type(template, "AWS::CloudWatch::Alarm")
}

fn watches(template: &Value, metric: &str, dimension: &str, value: &str) -> bool {
    alarms(template)
        .iter()
        .any(|(_, alarm)| watched(alarm).iter().any(|(m, d, v)| m == metric && d == dimension && v == value))
}

#[test]
fn every_function_and_state_machine_is_traced() {
    let template = template();
    assert_eq!(text(&template["Globals"]["Function"]["Tracing"]), "Active", "every function, through Globals");
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let own = &function["Properties"]["Tracing"];
        assert!(own.is_null() || text(own) == "Active", "{name} overrides tracing");
    }
    for (name, machine) in resources_of_type(&template, "AWS::Serverless::StateMachine") {
        assert_eq!(machine["Properties"]["Tracing"]["Enabled"].as_bool(), Some(true), "{name}");
    }
}

#[test]
fn every_function_queue_and_state_machine_has_its_alarms_and_every_alarm_an_action() {
    let template = template();
    for (name, _) in resources_of_type(&template, "AWS::Serverless::Function") {
        assert!(watches(&template, "Errors", "FunctionName", &name), "{name} has no error alarm");
        assert!(watches(&template, "Throttles", "FunctionName", &name), "{name} has no throttle alarm");
        assert!(watches(&template, "Duration", "FunctionName", &name), "{name} has no latency alarm");
    }
    for (name, _) in resources_of_type(&template, "AWS::SQS::Queue") {
        let queue = format!("{name}.QueueName");
        let depth = ["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"]
            .iter()
            .any(|metric| watches(&template, metric, "QueueName", &queue));
        assert!(depth, "{name} has no depth alarm");
    }
    for (name, _) in resources_of_type(&template, "AWS::Serverless::StateMachine") {
        for metric in ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] {
            assert!(watches(&template, metric, "StateMachineArn", &name), "{name} has no {metric} alarm");
        }
    }
    assert!(watches(&template, "5xx", "ApiId", "HttpApi"), "the API's 5xx rate");
    assert!(watches(&template, "ReadThrottleEvents", "TableName", "Table"), "the table's throttles");
    for metric in ["SyncRunsWithIssues", "IngestLag", "ItemCollectionSizeGB"] {
        assert!(alarms(&template).iter().any(|(_, a)| text(&a["Properties"]["MetricName"]) == metric), "{metric}");
    }
    let all = alarms(&template);
    assert!(all.len() >= 20, "{} alarms", all.len());
    for (name, alarm) in all {
        let actions: Vec<String> =
            alarm["Properties"]["AlarmActions"].as_sequence().into_iter().flatten().map(text).collect();
        assert_eq!(actions, ["AlarmTopic"], "{name} notifies the alarm topic");
    }
}

#[test]
fn the_dashboard_is_json_whose_every_widget_shows_metrics() {
    let template = template();
    let body = text(&template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]);
    // Substitutions become plain strings, as CloudFormation fills them in.
    let mut filled = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        filled.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed substitution") + start;
        filled.push_str("sub");
        rest = &rest[end + 1..];
    }
    filled.push_str(rest);
    let dashboard: serde_json::Value = serde_json::from_str(&filled).expect("the dashboard body is JSON");
    let widgets = dashboard["widgets"].as_array().expect("widgets");
    assert!(widgets.len() >= 12);
    for widget in widgets {
        let metrics = widget["properties"]["metrics"].as_array().expect("metrics");
        assert!(!metrics.is_empty(), "{widget}");
    }
}
