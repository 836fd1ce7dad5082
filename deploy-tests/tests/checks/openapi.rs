//! `docs/openapi.yaml` against the route table: every route with its method, path
//! parameters and security and nothing else; structurally OpenAPI 3.1 with every `$ref`
//! resolving; errors in the one JSON shape. (`make check-template` also runs the full
//! schema validator, openapi-spec-validator.)

use deploy_tests::{Node, load, resolve_ref};
use shared::http::{ADMIN_SCOPE, Auth, ROUTES};
use std::collections::BTreeSet;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn spec() -> Node {
    load("docs/openapi.yaml").expect("docs/openapi.yaml parses")
}

/// Follows a `$ref` if the node is one.
fn deref<'a>(root: &'a Node, node: &'a Node) -> &'a Node {
    match node.get("$ref").and_then(Node::as_str) {
        Some(r) => resolve_ref(root, r).unwrap_or_else(|| panic!("unresolved $ref {r}")),
        None => node,
    }
}

fn operations(doc: &Node) -> Vec<(String, &str, &Node)> {
    let mut out = Vec::new();
    for (path, item) in doc.get("paths").map(Node::entries).unwrap_or_default() {
        for (method, op) in item.entries() {
            if METHODS.contains(&method.as_str()) {
                out.push((
                    format!("{} {path}", method.to_ascii_uppercase()),
                    path.as_str(),
                    op,
                ));
            }
        }
    }
    out
}

#[test]
fn it_is_structurally_openapi_3_1() {
    let doc = spec();
    let version = doc
        .get("openapi")
        .and_then(Node::as_str)
        .unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version}");
    assert!(
        doc.at(&["info", "title"]).and_then(Node::as_str).is_some(),
        "info.title"
    );
    assert!(
        doc.at(&["info", "version"])
            .and_then(Node::as_str)
            .is_some(),
        "info.version"
    );
    assert!(matches!(doc.get("paths"), Some(Node::Map(_))), "paths");
    for (key, _, op) in operations(&doc) {
        let responses = op.get("responses").map(Node::entries).unwrap_or_default();
        assert!(!responses.is_empty(), "{key}: no responses");
        for (code, r) in responses {
            assert!(
                code.len() == 3 && code.chars().all(|c| c.is_ascii_digit()),
                "{key}: response {code}"
            );
            assert!(
                deref(&doc, r).get("description").is_some(),
                "{key} {code}: description"
            );
        }
    }
}

#[test]
fn every_ref_resolves() {
    let doc = spec();
    let mut count = 0;
    for node in doc.walk() {
        if let Some(r) = node.get("$ref") {
            let r = r.as_str().expect("$ref is a string");
            assert!(r.starts_with("#/"), "only local refs: {r}");
            assert!(resolve_ref(&doc, r).is_some(), "unresolved $ref {r}");
            count += 1;
        }
    }
    assert!(count > 0);
}

#[test]
fn every_route_is_documented_with_its_method_and_nothing_else() {
    let doc = spec();
    let ops = operations(&doc);
    let documented: BTreeSet<String> = ops.iter().map(|(k, _, _)| k.clone()).collect();
    assert_eq!(documented.len(), ops.len());
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| r.key()).collect();
    assert_eq!(
        documented, expected,
        "openapi.yaml differs from shared::http::ROUTES"
    );
    let ids: BTreeSet<&str> = ops
        .iter()
        .filter_map(|(_, _, op)| op.get("operationId").and_then(Node::as_str))
        .collect();
    assert_eq!(
        ids.len(),
        ops.len(),
        "every operation has a unique operationId"
    );
}

#[test]
fn path_parameters_match_the_path_templates() {
    let doc = spec();
    for (key, path, op) in operations(&doc) {
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let item = doc.at(&["paths", path]).expect("path item");
        let params = item
            .get("parameters")
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .chain(op.get("parameters").map(Node::items).unwrap_or_default())
            .map(|p| deref(&doc, p))
            .filter(|p| p.get("in").and_then(Node::as_str) == Some("path"));
        let mut declared = BTreeSet::new();
        for p in params {
            let name = p
                .get("name")
                .and_then(Node::as_str)
                .expect("parameter name");
            assert_eq!(
                p.get("required"),
                Some(&Node::Bool(true)),
                "{key}: {name} must be required"
            );
            assert!(p.get("schema").is_some(), "{key}: {name} needs a schema");
            declared.insert(name);
        }
        assert_eq!(declared, in_path, "{key}: path parameters");
    }
}

#[test]
fn security_matches_the_route_auth() {
    let doc = spec();
    let top = doc.get("security").map(Node::items).unwrap_or_default();
    assert!(
        top.is_empty(),
        "no document-wide security: each operation says its own"
    );
    let schemes = doc
        .at(&["components", "securitySchemes"])
        .expect("securitySchemes");
    let jwt = schemes.get("platformJwt").expect("platformJwt");
    assert_eq!(jwt.get("type").and_then(Node::as_str), Some("http"));
    assert_eq!(jwt.get("scheme").and_then(Node::as_str), Some("bearer"));
    let sig = schemes.get("herokuSignature").expect("herokuSignature");
    assert_eq!(sig.get("type").and_then(Node::as_str), Some("apiKey"));
    assert_eq!(sig.get("in").and_then(Node::as_str), Some("header"));
    let header = sig.get("name").and_then(Node::as_str).unwrap_or_default();
    assert!(
        header.eq_ignore_ascii_case(webhook::signature::HEADER),
        "signature header {header}"
    );

    for (key, _, op) in operations(&doc) {
        let route = ROUTES.iter().find(|r| r.key() == key).expect("known route");
        let security = op
            .get("security")
            .unwrap_or_else(|| panic!("{key}: security must be explicit"));
        let reqs: Vec<(String, Vec<String>)> = security
            .items()
            .iter()
            .flat_map(|req| req.entries().iter())
            .map(|(name, scopes)| {
                (
                    name.clone(),
                    scopes
                        .items()
                        .iter()
                        .filter_map(Node::as_str)
                        .map(str::to_owned)
                        .collect(),
                )
            })
            .collect();
        let want: Vec<(String, Vec<String>)> = match route.auth {
            Auth::Jwt => vec![("platformJwt".into(), vec![])],
            Auth::JwtAdmin => vec![("platformJwt".into(), vec![ADMIN_SCOPE.into()])],
            Auth::Signature => vec![("herokuSignature".into(), vec![])],
            Auth::State => vec![],
        };
        assert_eq!(reqs, want, "{key}: security");
        let documents_401 = op.at(&["responses", "401"]).is_some();
        assert_eq!(
            documents_401,
            route.auth != Auth::State,
            "{key}: a 401 response iff it is authenticated"
        );
    }
}

#[test]
fn errors_share_one_shape_and_rate_limits_say_when_to_retry() {
    let doc = spec();
    let error = doc
        .at(&["components", "schemas", "Error"])
        .expect("Error schema");
    let required: BTreeSet<&str> = error
        .get("required")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(Node::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["error", "message"]));
    for (key, _, op) in operations(&doc) {
        for (code, r) in op.get("responses").map(Node::entries).unwrap_or_default() {
            if !(code.starts_with('4') || code.starts_with('5')) {
                continue;
            }
            let r = deref(&doc, r);
            let schema = r
                .at(&["content", "application/json", "schema"])
                .unwrap_or_else(|| panic!("{key} {code}: JSON body"));
            assert_eq!(
                schema.get("$ref").and_then(Node::as_str),
                Some("#/components/schemas/Error"),
                "{key} {code}"
            );
            if code == "429" || code == "503" {
                assert!(
                    r.at(&["headers", "Retry-After"]).is_some(),
                    "{key} {code}: Retry-After"
                );
            }
        }
    }
}
