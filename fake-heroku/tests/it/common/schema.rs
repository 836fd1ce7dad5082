//! A small draft-04 checker for Heroku's hyper-schema: `$ref`, `anyOf`/`oneOf`, `type`, `enum`,
//! `format`, `pattern`, `properties`, `required`, `additionalProperties: false`,
//! `patternProperties`, `items`, and prmd's `strictProperties: true` (every listed property
//! present, no others).

use std::path::PathBuf;

use serde_json::Value;

pub struct Schema {
    pub root: Value,
}

/// Heroku's schema, vendored at `fake-heroku/schema/` (or at `$HEROKU_SCHEMA`).
pub fn path() -> PathBuf {
    if let Ok(p) = std::env::var("HEROKU_SCHEMA") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/platform-api-schema.json")
}

/// `/apps/{(%23...)}/config-vars` and `/apps/{app}/config-vars` both become `/apps/{}/config-vars`.
pub fn normalise_href(href: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in href.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

impl Schema {
    pub fn load() -> Schema {
        let p = path();
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
            panic!(
                "reading Heroku's schema at {}: {e} (set HEROKU_SCHEMA)",
                p.display()
            )
        });
        Schema {
            root: serde_json::from_str(&text).unwrap(),
        }
    }

    /// Every (method, normalised href) → targetSchema among the schema's links.
    pub fn links(&self) -> Vec<(String, String, Option<Value>)> {
        let mut out = Vec::new();
        for def in self.root["definitions"].as_object().unwrap().values() {
            for link in def["links"].as_array().into_iter().flatten() {
                let (Some(m), Some(h)) = (link["method"].as_str(), link["href"].as_str()) else {
                    continue;
                };
                out.push((
                    m.to_owned(),
                    normalise_href(h),
                    link.get("targetSchema").cloned(),
                ));
            }
        }
        out
    }

    pub fn target_schema(&self, method: &str, template: &str) -> Option<Value> {
        let want = normalise_href(template);
        self.links()
            .into_iter()
            .find(|(m, h, _)| m == method && *h == want)
            .and_then(|(_, _, t)| t)
    }

    fn resolve(&self, r: &str) -> &Value {
        let ptr = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        self.root
            .pointer(ptr)
            .unwrap_or_else(|| panic!("dangling $ref {r}"))
    }

    pub fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        self.check(schema, value, "$", &mut errs);
        errs
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errs: &mut Vec<String>) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            // draft-04: a $ref replaces its siblings.
            return self.check(self.resolve(r), value, at, errs);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(subs) = schema.get(key).and_then(Value::as_array)
                && !subs.iter().any(|s| self.errors(s, value).is_empty())
            {
                errs.push(format!("{at}: matches none of {key}"));
            }
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| type_matches(t, value)) {
                errs.push(format!("{at}: {value} is not of type {types:?}"));
                return;
            }
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array)
            && !e.contains(value)
        {
            errs.push(format!("{at}: {value} not in enum {e:?}"));
        }
        if let Value::String(s) = value {
            if let Some(f) = schema.get("format").and_then(Value::as_str)
                && !format_matches(f, s)
            {
                errs.push(format!("{at}: {s:?} is not a valid {f}"));
            }
            if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
                // Patterns regex-lite cannot compile (look-arounds) are skipped, not failed.
                if let Ok(re) = regex_lite::Regex::new(p)
                    && !re.is_match(s)
                {
                    errs.push(format!("{at}: {s:?} does not match {p}"));
                }
            }
        }
        if let Value::Object(obj) = value {
            let props = schema.get("properties").and_then(Value::as_object);
            let pattern_props = schema.get("patternProperties").and_then(Value::as_object);
            let strict = schema.get("strictProperties") == Some(&Value::Bool(true));
            let mut required: Vec<String> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if strict {
                required.extend(props.into_iter().flat_map(|p| p.keys().cloned()));
            }
            for r in &required {
                if !obj.contains_key(r) {
                    errs.push(format!("{at}: missing required property {r:?}"));
                }
            }
            for (k, v) in obj {
                let mut known = false;
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    known = true;
                    self.check(s, v, &format!("{at}.{k}"), errs);
                }
                for (pat, s) in pattern_props.into_iter().flatten() {
                    if regex_lite::Regex::new(pat).is_ok_and(|re| re.is_match(k)) {
                        known = true;
                        self.check(s, v, &format!("{at}.{k}"), errs);
                    }
                }
                let closed =
                    strict || schema.get("additionalProperties") == Some(&Value::Bool(false));
                if closed && !known {
                    errs.push(format!("{at}: unexpected property {k:?}"));
                }
            }
        }
        if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.check(s, item, &format!("{at}[{i}]"), errs);
            }
        }
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn format_matches(f: &str, s: &str) -> bool {
    match f {
        "uuid" => uuid::Uuid::parse_str(s).is_ok() && s.len() == 36,
        "date-time" => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }
        "uri" => url::Url::parse(s).is_ok(),
        "email" => s
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.')),
        _ => true,
    }
}
