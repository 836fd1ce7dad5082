//! Webhook delivery bodies, parsed leniently: Heroku adds fields over time and sends
//! nulls freely, so everything is optional and read from a loose JSON tree.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What we need from a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub resource: Option<String>,
    pub action: Option<String>,
    pub delivery_id: Option<String>,
    pub release: Option<ReleaseEvent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseEvent {
    pub app_id: Option<String>,
    pub app_name: Option<String>,
    pub version: Option<u64>,
    pub status: Option<String>,
    pub created_at: Option<OffsetDateTime>,
}

/// Why a body is not a delivery at all.
#[derive(Debug, thiserror::Error)]
#[error("body is not a JSON object: {0}")]
pub struct MalformedBody(String);

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_owned)
}

/// A version may arrive as a number or, defensively, as a numeric string.
fn version(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Delivery {
    pub fn parse(body: &[u8]) -> Result<Delivery, MalformedBody> {
        let root: Value = serde_json::from_slice(body).map_err(|e| MalformedBody(e.to_string()))?;
        if !root.is_object() {
            return Err(MalformedBody("top level is not an object".into()));
        }
        let resource = text(&root, &["resource"]);
        let release = match root.get("data") {
            Some(data) if data.is_object() && resource.as_deref() == Some("release") => {
                Some(ReleaseEvent {
                    app_id: text(data, &["app", "id"]),
                    app_name: text(data, &["app", "name"]),
                    version: version(data.get("version")),
                    status: text(data, &["status"]),
                    created_at: text(data, &["created_at"])
                        .and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok()),
                })
            }
            _ => None,
        };
        Ok(Delivery {
            resource,
            action: text(&root, &["action"]),
            delivery_id: text(&root, &["webhook_metadata", "delivery", "id"]),
            release,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heroku_documentation_example_parses() {
        let body = include_bytes!("../../../events/heroku/example-api-release-create.json");
        let d = Delivery::parse(body).unwrap();
        assert_eq!(d.resource.as_deref(), Some("release"));
        assert_eq!(
            d.delivery_id.as_deref(),
            Some("d244009a-670f-4340-88e9-789a4f9002d5")
        );
        let r = d.release.unwrap();
        assert_eq!(
            r.app_id.as_deref(),
            Some("44dc9c7a-771c-4a9e-bfe9-a8dbc1c55f4d")
        );
        assert_eq!(r.version, Some(3));
        assert_eq!(r.status.as_deref(), Some("succeeded"));
        assert!(r.created_at.is_some());
    }

    #[test]
    fn nulls_unknown_fields_and_odd_types_are_tolerated() {
        let body =
            br#"{"resource":"release","action":"update","data":{"app":{"id":"x","name":null},
            "version":"7","status":"succeeded","created_at":null,"new_field":{"deep":[1,2]}},
            "webhook_metadata":null,"previous_data":null}"#;
        let r = Delivery::parse(body).unwrap().release.unwrap();
        assert_eq!(r.version, Some(7));
        assert_eq!(r.app_name, None);
        assert_eq!(r.created_at, None);
    }

    #[test]
    fn non_objects_are_malformed() {
        assert!(Delivery::parse(b"[1]").is_err());
        assert!(Delivery::parse(b"{\"resource\":").is_err());
        assert!(Delivery::parse(b"").is_err());
    }

    #[test]
    fn other_resources_carry_no_release() {
        let d = Delivery::parse(br#"{"resource":"dyno","data":{"version":3}}"#).unwrap();
        assert!(d.release.is_none());
    }
}
