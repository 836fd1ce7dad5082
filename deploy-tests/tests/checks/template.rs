//! `template.yaml` against the route table and the security rules of the design: every
//! route of `shared::http::ROUTES` and nothing else, the right function and authorizer
//! for each, least-privilege IAM, and the table and secrets the code expects.

use deploy_tests::{Node, cfn, load};
use shared::adapters::TableKeys;
use shared::http::{ADMIN_SCOPE, Auth, FUNCTIONS, Function, ROUTES};
use std::collections::{BTreeMap, BTreeSet};

fn template() -> Node {
    load("template.yaml").expect("template.yaml parses")
}

/// One `HttpApi` event of a function, with its effective authorizer.
#[derive(Debug)]
struct ApiEvent {
    key: String,
    binary: String,
    authorizer: Option<String>,
    scopes: Vec<String>,
}

fn functions(t: &Node) -> Vec<(&str, &Node)> {
    cfn::resources(t, "AWS::Serverless::Function")
}

fn binary(function: &Node) -> String {
    function
        .at(&["Metadata", "BuildProperties", "Binary"])
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn api_events(t: &Node) -> Vec<ApiEvent> {
    let apis = cfn::resources(t, "AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "exactly one HTTP API");
    let (api_id, api) = apis[0];
    let default = api
        .at(&["Properties", "Auth", "DefaultAuthorizer"])
        .and_then(Node::as_str);
    let mut out = Vec::new();
    for (id, f) in functions(t) {
        let events = f
            .at(&["Properties", "Events"])
            .map(Node::entries)
            .unwrap_or_default();
        let reconcile = binary(f) == Function::Reconcile.name();
        for (name, event) in events {
            let kind = event.get("Type").and_then(Node::as_str);
            if reconcile {
                // Checked in the reconciler's own test: a schedule and a queue, no route.
                assert_ne!(
                    kind,
                    Some("HttpApi"),
                    "{id}.{name}: the reconciler serves no route"
                );
                continue;
            }
            assert_eq!(
                kind,
                Some("HttpApi"),
                "{id}.{name}: only HttpApi events are expected"
            );
            let p = event.get("Properties").expect("event properties");
            assert_eq!(
                p.get("ApiId").and_then(cfn::target),
                Some(api_id),
                "{id}.{name} must be on the stack's one HTTP API"
            );
            let method = p.get("Method").and_then(Node::as_str).unwrap_or_default();
            let path = p.get("Path").and_then(Node::as_str).unwrap_or_default();
            let authorizer = match p.at(&["Auth", "Authorizer"]).and_then(Node::as_str) {
                Some("NONE") => None,
                Some(named) => Some(named.to_owned()),
                None => default.map(str::to_owned),
            };
            let scopes = p
                .at(&["Auth", "AuthorizationScopes"])
                .map(|s| {
                    s.items()
                        .iter()
                        .filter_map(Node::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            out.push(ApiEvent {
                key: format!("{} {path}", method.to_ascii_uppercase()),
                binary: binary(f),
                authorizer,
                scopes,
            });
        }
    }
    out
}

#[test]
fn every_route_is_in_the_template_with_its_function_and_nothing_else() {
    let t = template();
    let events = api_events(&t);
    let in_template: BTreeMap<&str, &ApiEvent> =
        events.iter().map(|e| (e.key.as_str(), e)).collect();
    assert_eq!(in_template.len(), events.len(), "a route is declared twice");
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| r.key()).collect();
    let actual: BTreeSet<String> = in_template.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(
        actual, expected,
        "template routes differ from shared::http::ROUTES"
    );
    for route in ROUTES {
        let e = in_template[route.key().as_str()];
        assert_eq!(
            e.binary,
            route.function.name(),
            "{} is served by the wrong function",
            e.key
        );
    }
}

#[test]
fn the_jwt_authorizer_guards_exactly_the_jwt_routes_and_the_admin_scope_exactly_the_admin_route() {
    let t = template();
    let api = cfn::resources(&t, "AWS::Serverless::HttpApi")[0].1;
    let authorizers = api
        .at(&["Properties", "Auth", "Authorizers"])
        .expect("authorizers");
    for (name, a) in authorizers.entries() {
        let jwt = a.get("JwtConfiguration").expect("a JWT authorizer");
        assert!(
            jwt.get("issuer").and_then(cfn::target).is_some(),
            "{name}: issuer is a parameter"
        );
        assert!(
            jwt.get("audience").and_then(cfn::target).is_some(),
            "{name}: audience is a parameter"
        );
        assert!(
            a.get("AuthorizationScopes").is_none(),
            "{name}: scopes belong on routes, not on the authorizer"
        );
    }
    for e in api_events(&t) {
        let route = ROUTES
            .iter()
            .find(|r| r.key() == e.key)
            .expect("a known route");
        match route.auth {
            Auth::Jwt | Auth::JwtAdmin => {
                let name = e
                    .authorizer
                    .as_deref()
                    .unwrap_or_else(|| panic!("{} needs the JWT authorizer", e.key));
                assert!(
                    authorizers.get(name).is_some(),
                    "{}: unknown authorizer {name}",
                    e.key
                );
            }
            Auth::Signature | Auth::State => {
                assert_eq!(e.authorizer, None, "{} must have no authorizer", e.key)
            }
        }
        let want: Vec<String> = match route.auth {
            Auth::JwtAdmin => vec![ADMIN_SCOPE.to_owned()],
            _ => vec![],
        };
        assert_eq!(e.scopes, want, "{}: authorization scopes", e.key);
    }
}

#[test]
fn functions_are_arm64_rust_binaries_of_the_workspace() {
    let t = template();
    let globals = t.at(&["Globals", "Function"]).expect("Globals.Function");
    let fs = functions(&t);
    let prop = |f: &Node, k: &str| f.at(&["Properties", k]).or_else(|| globals.get(k)).cloned();
    let mut binaries = BTreeSet::new();
    for (id, f) in &fs {
        assert_eq!(
            f.at(&["Metadata", "BuildMethod"]).and_then(Node::as_str),
            Some("rust-cargolambda"),
            "{id}"
        );
        assert_eq!(
            prop(f, "Runtime"),
            Some(Node::Str("provided.al2023".into())),
            "{id}"
        );
        assert_eq!(
            prop(f, "Handler"),
            Some(Node::Str("bootstrap".into())),
            "{id}"
        );
        assert_eq!(
            prop(f, "Architectures"),
            Some(Node::Seq(vec![Node::Str("arm64".into())])),
            "{id}"
        );
        let code = prop(f, "CodeUri")
            .and_then(|c| c.as_str().map(str::to_owned))
            .unwrap_or_default();
        let manifest = deploy_tests::workspace_root()
            .join(&code)
            .join("Cargo.toml");
        let b = binary(f);
        if code != "." {
            // A member directory: its package must define the binary SAM copies.
            if let Ok(text) = std::fs::read_to_string(&manifest) {
                assert!(
                    text.contains(&format!("name = \"{b}\"")),
                    "{id}: {} has no binary {b}",
                    manifest.display()
                );
            }
        }
        let json_logs = f
            .at(&["Properties", "LoggingConfig", "LogFormat"])
            .and_then(Node::as_str);
        assert_eq!(json_logs, Some("JSON"), "{id}: JSON logs");
        let group = f
            .at(&["Properties", "LoggingConfig", "LogGroup"])
            .and_then(cfn::target);
        let group = group
            .and_then(|g| cfn::resource(&t, g))
            .expect("its own log group");
        assert!(
            group.at(&["Properties", "RetentionInDays"]).is_some(),
            "{id}: log retention"
        );
        binaries.insert(b);
    }
    let want: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.name().to_owned()).collect();
    assert_eq!(binaries, want);
}

#[test]
fn function_environment_names_the_fixed_config_and_never_the_api() {
    let t = template();
    let vars = t
        .at(&["Globals", "Function", "Environment", "Variables"])
        .expect("global env");
    for name in [
        "TABLE_NAME",
        "SECRET_PREFIX",
        "PUBLIC_BASE_URL",
        "CONSOLE_URL",
        "HEROKU_API_URL",
        "HEROKU_ID_URL",
        "HEROKU_OAUTH_CLIENT_ID",
        "HEROKU_OAUTH_CLIENT_SECRET_ID",
        "WEBHOOK_SIGNING_KEY_ID",
        "LINKS_PER_PROJECT",
        "TRIAL_DATABASES_PER_DAY",
        "EVENT_BUS_NAME",
    ] {
        assert!(vars.get(name).is_some(), "{name} is not set");
    }
    let api = cfn::resources(&t, "AWS::Serverless::HttpApi")[0].0;
    for (id, f) in functions(&t) {
        let env = [globals_env(&t), f.at(&["Properties", "Environment"])];
        for node in env.into_iter().flatten() {
            let refs_api = node.walk().into_iter().any(|n| cfn::target(n) == Some(api))
                || node.text().contains(&format!("${{{api}"));
            assert!(
                !refs_api,
                "{id}: the environment refers to the HTTP API (a dependency cycle)"
            );
        }
    }
    // Secrets travel as ids only: no value and no dynamic reference in any env var.
    assert!(
        !vars.text().contains("resolve:secretsmanager"),
        "a secret value in the environment"
    );
}

fn globals_env(t: &Node) -> Option<&Node> {
    t.at(&["Globals", "Function", "Environment"])
}

/// Change events (docs/contract.md): one bus, named in every function's environment, on
/// which only the functions that write env vars may put events, and nothing else.
#[test]
fn change_events_go_to_the_stacks_bus_and_only_syncing_functions_may_put_them() {
    let t = template();
    let buses = cfn::resources(&t, "AWS::Events::EventBus");
    assert_eq!(buses.len(), 1, "one event bus");
    let bus = buses[0].0;
    let env = t
        .at(&[
            "Globals",
            "Function",
            "Environment",
            "Variables",
            "EVENT_BUS_NAME",
        ])
        .expect("EVENT_BUS_NAME");
    assert_eq!(cfn::target(env), Some(bus), "EVENT_BUS_NAME is the bus");
    let puts = |f: Function| -> Vec<String> {
        statements_of(&t, &function_id(&t, f))
            .into_iter()
            .filter(|s| actions(s).iter().any(|a| grants(a, "events:PutEvents")))
            .flat_map(resources)
            .map(|r| cfn::target(r).map_or_else(|| r.text(), str::to_owned))
            .collect()
    };
    for f in [Function::Webhook, Function::Connect, Function::Reconcile] {
        let on = puts(f);
        assert!(!on.is_empty(), "{} cannot publish change events", f.name());
        for r in &on {
            assert_eq!(r, bus, "{}: PutEvents on {r}, not the bus", f.name());
        }
    }
    assert!(
        puts(Function::OptOut).is_empty(),
        "opt-out never writes an env var"
    );
    for (owner, s) in statements(&t) {
        for a in actions(s) {
            if a.to_ascii_lowercase().starts_with("events:") {
                assert_eq!(a, "events:PutEvents", "{owner}: {a}");
            }
        }
    }
}

/// `(role owner, statement)` for every IAM statement in the template, from roles, policies
/// and SAM function `Policies`.
fn statements(t: &Node) -> Vec<(String, &Node)> {
    fn docs<'a>(owner: &str, policies: Option<&'a Node>, out: &mut Vec<(String, &'a Node)>) {
        for p in policies.map(Node::items).unwrap_or_default() {
            let doc = p.get("PolicyDocument").unwrap_or(p);
            for s in doc
                .get("Statement")
                .map(|s| s.one_or_many())
                .unwrap_or_default()
            {
                out.push((owner.to_owned(), s));
            }
        }
    }
    let mut out = Vec::new();
    for (id, r) in cfn::resources(t, "AWS::IAM::Role") {
        docs(id, r.at(&["Properties", "Policies"]), &mut out);
    }
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (id, r) in cfn::resources(t, kind) {
            if let Some(doc) = r.at(&["Properties", "PolicyDocument"]) {
                for s in doc
                    .get("Statement")
                    .map(|s| s.one_or_many())
                    .unwrap_or_default()
                {
                    out.push((id.to_owned(), s));
                }
            }
        }
    }
    for (id, f) in functions(t) {
        docs(id, f.at(&["Properties", "Policies"]), &mut out);
    }
    out
}

fn actions(statement: &Node) -> Vec<String> {
    statement
        .get("Action")
        .map(|a| {
            a.one_or_many()
                .into_iter()
                .filter_map(Node::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn role_of<'a>(t: &'a Node, function: &str) -> &'a str {
    let f = cfn::resource(t, function).unwrap_or_else(|| panic!("{function} exists"));
    f.at(&["Properties", "Role"])
        .and_then(cfn::target)
        .unwrap_or_else(|| panic!("{function} has no explicit Role"))
}

fn statements_of<'a>(t: &'a Node, function: &str) -> Vec<&'a Node> {
    let role = role_of(t, function);
    statements(t)
        .into_iter()
        .filter(|(o, _)| o == role)
        .map(|(_, s)| s)
        .collect()
}

fn function_id(t: &Node, f: Function) -> String {
    functions(t)
        .into_iter()
        .find(|(_, n)| binary(n) == f.name())
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no function for {}", f.name()))
}

#[test]
fn iam_statements_have_no_wildcard_action_and_no_bare_wildcard_resource() {
    let t = template();
    let all = statements(&t);
    assert!(!all.is_empty(), "no IAM statement found");
    for (owner, s) in all {
        assert_eq!(
            s.get("Effect").and_then(Node::as_str),
            Some("Allow"),
            "{owner}: only Allow statements"
        );
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{owner}: NotAction/NotResource"
        );
        let acts = actions(s);
        assert!(!acts.is_empty(), "{owner}: a statement without actions");
        for a in &acts {
            assert!(!a.contains('*'), "{owner}: wildcard action {a}");
        }
        let resources = s
            .get("Resource")
            .map(|r| r.one_or_many())
            .unwrap_or_default();
        assert!(
            !resources.is_empty(),
            "{owner}: a statement without resources"
        );
        for r in resources {
            assert_ne!(
                r.as_str(),
                Some("*"),
                "{owner}: Resource \"*\" for {acts:?}"
            );
            let text = r.text();
            assert!(
                !text.ends_with(":*") || text.contains("/"),
                "{owner}: whole-service resource {text}"
            );
        }
    }
    // SAM's generated role would attach AWSLambdaBasicExecutionRole (logs on "*").
    for (id, _) in functions(&t) {
        let role = role_of(&t, id);
        assert!(
            cfn::resource(&t, role).is_some(),
            "{id}: its role {role} is in this template"
        );
    }
}

/// The token secrets, as the template names them: the one resource `DeleteSecret` may
/// have. They lie outside `projects/`, so no env var secret can match.
const TOKEN_SECRETS: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}/heroku-tokens/*";

/// Whether the IAM action pattern `pattern` (`*` and `?` wildcards, case-insensitive as
/// in IAM) covers `action`.
fn grants(pattern: &str, action: &str) -> bool {
    fn matches(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], a) || (!a.is_empty() && matches(p, &a[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x == y => matches(&p[1..], &a[1..]),
            _ => false,
        }
    }
    matches(
        pattern.to_ascii_lowercase().as_bytes(),
        action.to_ascii_lowercase().as_bytes(),
    )
}

fn resources(statement: &Node) -> Vec<&Node> {
    statement
        .get("Resource")
        .map(Node::one_or_many)
        .unwrap_or_default()
}

/// Exactly `!Sub <TOKEN_SECRETS>`: no other spelling, no wider pattern.
fn is_token_secrets(r: &Node) -> bool {
    matches!(r.tagged(), Some(("!Sub", Node::Str(s))) if s == TOKEN_SECRETS)
}

/// Exactly `!Ref HerokuOAuthClientSecret`.
fn is_client_secret(r: &Node) -> bool {
    matches!(r.tagged(), Some(("!Ref", Node::Str(s))) if s == "HerokuOAuthClientSecret")
}

/// Every grant in `t` through which an env var secret could be deleted, or through which
/// the opt-out function could touch one. Resources are compared exactly against the
/// token-secret pattern: looking for `/projects/` in them would let `${SecretPrefix}/*`
/// through.
fn env_var_secret_exposure(t: &Node) -> Vec<String> {
    let mut problems = Vec::new();
    for (owner, s) in statements(t) {
        if !actions(s)
            .iter()
            .any(|a| grants(a, "secretsmanager:DeleteSecret"))
        {
            continue;
        }
        for r in resources(s) {
            if !is_token_secrets(r) {
                problems.push(format!("{owner}: DeleteSecret on {}", r.text()));
            }
        }
    }
    let opt_out = function_id(t, Function::OptOut);
    for s in statements_of(t, &opt_out) {
        let acts = actions(s);
        if !acts
            .iter()
            .any(|a| a == "*" || a.to_ascii_lowercase().starts_with("secretsmanager:"))
        {
            continue;
        }
        for r in resources(s) {
            if !is_token_secrets(r) && !is_client_secret(r) {
                problems.push(format!("{opt_out}: {acts:?} on {}", r.text()));
            }
        }
    }
    problems
}

#[test]
fn env_var_secrets_can_never_be_deleted_and_opt_out_cannot_touch_them() {
    let t = template();
    assert_eq!(env_var_secret_exposure(&t), Vec::<String>::new());
    let webhook = function_id(&t, Function::Webhook);
    for s in statements_of(&t, &webhook) {
        assert!(
            !actions(s)
                .iter()
                .any(|a| grants(a, "secretsmanager:DeleteSecret")),
            "webhook may delete secrets"
        );
    }
}

/// A template with the opt-out function, its role as the real template grants it, and
/// `extra` appended to a second role's statements (or, with `opt_out: true`, to opt-out's).
fn fragment(extra: &str, opt_out: bool) -> Node {
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("              {l}\n"))
            .collect::<String>()
    };
    let (mine, other) = if opt_out {
        (indent(extra), String::new())
    } else {
        (String::new(), indent(extra))
    };
    let yaml = format!(
        r#"Resources:
  OptOutFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: opt-out
    Properties:
      Role: !GetAtt OptOutRole.Arn
  OptOutRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: secrets
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: secretsmanager:GetSecretValue
                Resource:
                  - !Ref HerokuOAuthClientSecret
                  - !Sub {TOKEN_SECRETS}
              - Effect: Allow
                Action: [secretsmanager:PutSecretValue, secretsmanager:DeleteSecret]
                Resource: !Sub {TOKEN_SECRETS}
{mine}  OtherRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: secrets
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: secretsmanager:PutSecretValue
                Resource: !Sub arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{SecretPrefix}}/projects/*/env/*
{other}"#
    );
    deploy_tests::parse(&yaml).expect("fragment parses")
}

#[test]
fn the_env_var_secret_check_rejects_any_wider_delete_or_opt_out_grant() {
    assert_eq!(
        env_var_secret_exposure(&fragment("", false)),
        Vec::<String>::new(),
        "the template's own grants pass"
    );
    let prefix = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}";
    let wider = [
        // The one a search for "/projects/" let through.
        (
            "- Effect: Allow\n  Action: secretsmanager:DeleteSecret\n  Resource: !Sub PREFIX/*",
            false,
        ),
        (
            "- Effect: Allow\n  Action: secretsmanager:DeleteSecret\n  Resource: !Sub PREFIX/projects/*/env/*",
            false,
        ),
        (
            "- Effect: Allow\n  Action: secretsmanager:Delete*\n  Resource: !Sub PREFIX/*",
            false,
        ),
        (
            "- Effect: Allow\n  Action: secretsmanager:DeleteSecret\n  Resource: !Sub PREFIX/heroku-tokens*",
            false,
        ),
        (
            "- Effect: Allow\n  Action: secretsmanager:PutSecretValue\n  Resource: !Sub PREFIX/*",
            true,
        ),
    ];
    for (extra, opt_out) in wider {
        let extra = extra.replace("PREFIX", prefix);
        let problems = env_var_secret_exposure(&fragment(&extra, opt_out));
        assert_eq!(problems.len(), 1, "not rejected: {extra}\n{problems:?}");
    }
}

#[test]
fn each_function_gets_what_its_code_calls() {
    let t = template();
    let granted = |f: Function| -> BTreeSet<String> {
        statements_of(&t, &function_id(&t, f))
            .into_iter()
            .flat_map(actions)
            .collect()
    };
    let webhook = granted(Function::Webhook);
    for a in [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:CreateSecret",
    ] {
        assert!(webhook.contains(a), "webhook lacks {a}");
    }
    let connect = granted(Function::Connect);
    for a in [
        "dynamodb:Query",
        "dynamodb:DeleteItem",
        "secretsmanager:CreateSecret",
        "secretsmanager:DeleteSecret",
    ] {
        assert!(connect.contains(a), "connect lacks {a}");
    }
    let opt_out = granted(Function::OptOut);
    for a in [
        "dynamodb:Query",
        "secretsmanager:DeleteSecret",
        "secretsmanager:PutSecretValue",
    ] {
        assert!(opt_out.contains(a), "opt-out lacks {a}");
    }
    assert!(
        !opt_out.contains("secretsmanager:CreateSecret"),
        "opt-out never creates a secret"
    );
    let reconcile = granted(Function::Reconcile);
    for a in [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        // A grant left pending: its item goes once it is revoked (shared::pending).
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        // The one-off backfill of the reconcile index after an upgrade.
        "dynamodb:Scan",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:CreateSecret",
        "secretsmanager:DeleteSecret",
    ] {
        assert!(reconcile.contains(a), "reconcile lacks {a}");
    }
    // Its queue permissions are on its queue only.
    for s in statements_of(&t, &function_id(&t, Function::Reconcile)) {
        if actions(s).iter().any(|a| a.starts_with("sqs:")) {
            for r in resources(s) {
                assert_eq!(cfn::target(r), Some("ReconcileQueue"), "sqs on {r:?}");
            }
        }
    }
}

/// The reconciler's plumbing: scheduled every 15 minutes, fed by a queue with a
/// dead-letter queue, reporting partial batch failures.
#[test]
fn the_reconciler_runs_on_a_schedule_and_a_queue_with_a_dead_letter_queue() {
    let t = template();
    let id = function_id(&t, Function::Reconcile);
    let f = cfn::resource(&t, &id).unwrap();
    let events = f.at(&["Properties", "Events"]).expect("events");
    let kinds: BTreeSet<String> = events
        .entries()
        .iter()
        .filter_map(|(_, e)| e.get("Type").and_then(Node::as_str).map(str::to_owned))
        .collect();
    assert_eq!(kinds, ["SQS", "ScheduleV2"].map(String::from).into());
    let schedule = &events
        .entries()
        .iter()
        .find(|(_, e)| e.get("Type").and_then(Node::as_str) == Some("ScheduleV2"))
        .unwrap()
        .1;
    assert_eq!(
        schedule
            .at(&["Properties", "ScheduleExpression"])
            .and_then(Node::as_str),
        Some("rate(15 minutes)")
    );
    let sqs = &events
        .entries()
        .iter()
        .find(|(_, e)| e.get("Type").and_then(Node::as_str) == Some("SQS"))
        .unwrap()
        .1;
    assert!(
        sqs.at(&["Properties", "FunctionResponseTypes"])
            .is_some_and(|n| n.text().contains("ReportBatchItemFailures")),
        "a failed message must not fail its whole batch"
    );
    let queue = sqs
        .at(&["Properties", "Queue"])
        .and_then(cfn::target)
        .expect("the queue");
    let q = cfn::resource(&t, queue).unwrap();
    let dlq = q
        .at(&["Properties", "RedrivePolicy", "deadLetterTargetArn"])
        .and_then(cfn::target)
        .expect("a dead-letter queue");
    assert!(cfn::resource(&t, dlq).is_some());
    let int = |n: Option<&Node>| match n {
        Some(Node::Int(i)) => *i,
        other => panic!("not a number: {other:?}"),
    };
    let v = int(q.at(&["Properties", "VisibilityTimeout"]));
    let to = int(f.at(&["Properties", "Timeout"]));
    assert!(v >= 6 * to, "visibility {v} s < 6 x timeout {to} s");
}

#[test]
fn the_table_matches_the_key_design_and_is_kept() {
    let t = template();
    let tables = cfn::resources(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let (id, table) = tables[0];
    assert_eq!(
        table.get("DeletionPolicy").and_then(Node::as_str),
        Some("Retain"),
        "{id}"
    );
    assert_eq!(
        table.get("UpdateReplacePolicy").and_then(Node::as_str),
        Some("Retain"),
        "{id}"
    );
    let p = table.get("Properties").expect("properties");
    let keys: Vec<(String, String)> = p
        .get("KeySchema")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .map(|k| {
            let s = |f: &str| {
                k.get(f)
                    .and_then(Node::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            (s("AttributeName"), s("KeyType"))
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            (TableKeys::PK.into(), "HASH".into()),
            (TableKeys::SK.into(), "RANGE".into())
        ]
    );
    for def in p
        .get("AttributeDefinitions")
        .map(Node::items)
        .unwrap_or_default()
    {
        assert_eq!(def.get("AttributeType").and_then(Node::as_str), Some("S"));
    }
    assert_eq!(
        p.at(&["TimeToLiveSpecification", "AttributeName"])
            .and_then(Node::as_str),
        Some(TableKeys::TTL)
    );
    assert_eq!(
        p.at(&["TimeToLiveSpecification", "Enabled"]),
        Some(&Node::Bool(true))
    );
    assert_eq!(
        p.get("BillingMode").and_then(Node::as_str),
        Some("PAY_PER_REQUEST")
    );
    assert_eq!(
        p.at(&[
            "PointInTimeRecoverySpecification",
            "PointInTimeRecoveryEnabled"
        ]),
        Some(&Node::Bool(true))
    );
    // One sparse, keys-only index: the reconciler's list (shared/src/adapters/dynamo.rs).
    let indexes = p
        .get("GlobalSecondaryIndexes")
        .map(Node::items)
        .unwrap_or_default();
    assert_eq!(indexes.len(), 1, "the reconcile index only");
    let gsi = &indexes[0];
    assert_eq!(
        gsi.get("IndexName").and_then(Node::as_str),
        Some(TableKeys::RECONCILE_INDEX)
    );
    let gsi_keys: Vec<(String, String)> = gsi
        .get("KeySchema")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .map(|k| {
            let s = |f: &str| {
                k.get(f)
                    .and_then(Node::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            (s("AttributeName"), s("KeyType"))
        })
        .collect();
    assert_eq!(
        gsi_keys,
        vec![
            (TableKeys::RECON_PK.into(), "HASH".into()),
            (TableKeys::RECON_SK.into(), "RANGE".into())
        ]
    );
    assert_eq!(
        gsi.at(&["Projection", "ProjectionType"])
            .and_then(Node::as_str),
        Some("KEYS_ONLY")
    );
}

#[test]
fn secrets_are_kept_named_under_the_prefix_and_never_parameters_or_outputs() {
    let t = template();
    let secrets = cfn::resources(&t, "AWS::SecretsManager::Secret");
    let names: BTreeSet<String> = secrets
        .iter()
        .map(|(_, s)| {
            s.at(&["Properties", "Name"])
                .map(Node::text)
                .unwrap_or_default()
        })
        .collect();
    let want: BTreeSet<String> = [
        "${SecretPrefix}/webhook-signing-key",
        "${SecretPrefix}/heroku-oauth-client-secret",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(names, want);
    for (id, s) in &secrets {
        assert_eq!(
            s.get("DeletionPolicy").and_then(Node::as_str),
            Some("Retain"),
            "{id}"
        );
        assert_eq!(
            s.get("UpdateReplacePolicy").and_then(Node::as_str),
            Some("Retain"),
            "{id}"
        );
    }
    let key = secrets
        .iter()
        .find(|(_, s)| {
            s.at(&["Properties", "Name"])
                .map(Node::text)
                .unwrap_or_default()
                .ends_with("webhook-signing-key")
        })
        .map(|(_, s)| s)
        .expect("signing key");
    let generated = key
        .at(&["Properties", "GenerateSecretString"])
        .expect("generated by the stack");
    assert!(matches!(generated.get("PasswordLength"), Some(Node::Int(n)) if *n >= 48));
    assert_eq!(generated.get("ExcludePunctuation"), Some(&Node::Bool(true)));
    for (name, p) in t.get("Parameters").map(Node::entries).unwrap_or_default() {
        let lower = name.to_ascii_lowercase();
        assert!(
            !lower.contains("secret") || lower.contains("prefix"),
            "secret as a parameter: {name}"
        );
        assert!(
            p.get("NoEcho").is_none(),
            "{name}: a NoEcho parameter is a secret in disguise"
        );
    }
    let outputs = t.get("Outputs").map(Node::text).unwrap_or_default();
    assert!(!outputs.contains("resolve:secretsmanager") && !outputs.contains("SecretString"));
}

#[test]
fn alarms_cover_errors_throttles_failed_syncs_and_api_5xx() {
    let t = template();
    let alarms = cfn::resources(&t, "AWS::CloudWatch::Alarm");
    let topic = cfn::resources(&t, "AWS::SNS::Topic");
    assert_eq!(topic.len(), 1);
    let metric = |a: &Node| {
        let s = |k: &str| {
            a.at(&["Properties", k])
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (s("Namespace"), s("MetricName"))
    };
    for (id, a) in &alarms {
        let actions = a
            .at(&["Properties", "AlarmActions"])
            .map(Node::items)
            .unwrap_or_default();
        assert!(
            actions.iter().any(|x| cfn::target(x) == Some(topic[0].0)),
            "{id} notifies nobody"
        );
    }
    for (id, _) in functions(&t) {
        for m in ["Errors", "Throttles"] {
            let found = alarms.iter().any(|(_, a)| {
                metric(a) == ("AWS/Lambda".into(), m.into())
                    && a.at(&["Properties", "Dimensions"]).is_some_and(|d| {
                        d.items()
                            .iter()
                            .any(|d| d.get("Value").and_then(cfn::target) == Some(id))
                    })
            });
            assert!(found, "no {m} alarm for {id}");
        }
    }
    let has = |ns: &str, name: &str| {
        alarms
            .iter()
            .any(|(_, a)| metric(a) == (ns.into(), name.into()))
    };
    assert!(
        has(shared::metrics::NAMESPACE, "SyncsFailed"),
        "no SyncsFailed alarm"
    );
    assert!(has("AWS/ApiGateway", "5xx"), "no API 5xx alarm");
    assert!(
        has(shared::metrics::NAMESPACE, "LinksBehind"),
        "no alarm on drift the reconciler finds"
    );
    assert!(
        has(shared::metrics::NAMESPACE, "AppsFailed"),
        "no alarm on apps the reconciler cannot reconcile"
    );
    assert!(
        has("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        "no alarm on the reconcile dead-letter queue"
    );
    let subscription = cfn::resources(&t, "AWS::SNS::Subscription");
    assert!(
        subscription
            .iter()
            .all(|(_, s)| s.get("Condition").is_some()),
        "the email subscription is conditional"
    );
}

/// Issue 11, item 7: the webhook route is throttled on its own (management traffic or
/// junk aimed at the public callback cannot starve deliveries), and CORS admits the
/// console's origin only.
#[test]
fn the_webhook_has_its_own_throttle_and_cors_admits_only_the_console_origin() {
    let t = template();
    let apis = cfn::resources(&t, "AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1);
    let api = apis[0].1;
    let limit = |route: &str, what: &str| -> u64 {
        api.at(&["Properties", "RouteSettings", route, what])
            .and_then(|v| match v {
                Node::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
            .unwrap_or_else(|| {
                panic!(
                    "{route} has no {what} of its own: {:?}",
                    api.at(&["Properties", "RouteSettings"])
                )
            })
    };
    let default = |what: &str| -> u64 {
        api.at(&["Properties", "DefaultRouteSettings", what])
            .and_then(|v| match v {
                Node::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no default {what}"))
    };
    let webhook = ROUTES
        .iter()
        .find(|r| r.function == Function::Webhook)
        .expect("webhook route");
    for what in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        assert!(
            limit(&webhook.key(), what) > default(what),
            "the webhook's {what} is not above the management routes'"
        );
    }
    let origins = api
        .at(&["Properties", "CorsConfiguration", "AllowOrigins"])
        .map(Node::items)
        .expect("CORS origins");
    assert_eq!(origins.len(), 1, "one origin: the console's");
    let text = origins[0].text();
    assert!(
        text.contains("ConsoleUrl") && text.contains("https://") && !text.contains('*'),
        "the console's origin, derived from ConsoleUrl: {text}"
    );
}

/// Issue 11, item 6: the signing key rotates through the reconcile function (Secrets
/// Manager's rotation Lambda) and the admin route; only those may change it.
#[test]
fn the_signing_key_rotates_through_the_reconciler_and_only_it_and_connect_may_change_it() {
    let t = template();
    let schedules = cfn::resources(&t, "AWS::SecretsManager::RotationSchedule");
    assert_eq!(schedules.len(), 1, "one rotation schedule");
    let p = schedules[0].1.get("Properties").expect("properties");
    assert_eq!(
        p.get("SecretId").and_then(cfn::target),
        Some("WebhookSigningKey")
    );
    let reconcile = function_id(&t, Function::Reconcile);
    assert_eq!(
        p.get("RotationLambdaARN").and_then(cfn::target),
        Some(reconcile.as_str())
    );
    assert_eq!(
        p.get("RotateImmediatelyOnUpdate"),
        Some(&Node::Bool(false)),
        "a deploy never rotates by itself"
    );
    let permission = cfn::resources(&t, "AWS::Lambda::Permission")
        .into_iter()
        .find(|(_, r)| {
            r.at(&["Properties", "Principal"]).and_then(Node::as_str)
                == Some("secretsmanager.amazonaws.com")
        })
        .expect("Secrets Manager may invoke the rotation function");
    assert_eq!(
        permission
            .1
            .at(&["Properties", "FunctionName"])
            .and_then(cfn::target),
        Some(reconcile.as_str())
    );
    // Who may write the key: the rotation route (connect) and the rotation steps.
    for (owner, s) in statements(&t) {
        let writes = actions(s).iter().any(|a| {
            grants(a, "secretsmanager:PutSecretValue")
                || grants(a, "secretsmanager:UpdateSecretVersionStage")
        });
        if writes
            && resources(s)
                .iter()
                .any(|r| cfn::target(r) == Some("WebhookSigningKey"))
        {
            assert!(
                owner == role_of(&t, &reconcile)
                    || owner == role_of(&t, &function_id(&t, Function::Connect)),
                "{owner} may change the signing key"
            );
        }
    }
}
