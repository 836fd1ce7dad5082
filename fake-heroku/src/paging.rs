//! Heroku's `Range` / `Next-Range` list paging (`id ]<last>..; max=200, order=desc`).

use std::cmp::Ordering;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

const DEFAULT_MAX: usize = 200;
const MAX_MAX: usize = 1000;

/// A value a list can be sorted and ranged by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Num(u64),
    Str(String),
}

impl Key {
    fn render(&self) -> String {
        match self {
            Key::Num(n) => n.to_string(),
            Key::Str(s) => s.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bound {
    value: String,
    exclusive: bool,
}

/// A parsed `Range` header.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RangeSpec {
    pub(crate) field: String,
    start: Option<Bound>,
    end: Option<Bound>,
    max: usize,
    desc: bool,
    /// For `Accept-Ranges`: the fields this list can be ranged by.
    accept: String,
}

impl RangeSpec {
    /// Parses `[field] [[|]]start..end[[]; max=N, order=asc|desc`; `None` header means the default.
    pub(crate) fn parse(
        header: Option<&str>,
        default_field: &str,
        fields: &[&str],
    ) -> Result<RangeSpec, ApiError> {
        let mut spec = RangeSpec {
            field: default_field.to_owned(),
            start: None,
            end: None,
            max: DEFAULT_MAX,
            desc: false,
            accept: fields.join(", "),
        };
        let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(spec);
        };
        let bad = || ApiError::bad_request(format!("Invalid Range header {header:?}."));
        let (range_part, options) = match header.split_once(';') {
            Some((r, o)) => (r.trim(), o),
            None => (header, ""),
        };
        let mut words = range_part.split_whitespace();
        let (field, range) = match (words.next(), words.next(), words.next()) {
            (Some(f), Some(r), None) => (Some(f), Some(r)),
            (Some(w), None, None) if w.contains("..") => (None, Some(w)),
            (Some(f), None, None) => (Some(f), None),
            (None, _, _) => (None, None),
            _ => return Err(bad()),
        };
        if let Some(f) = field {
            if !fields.contains(&f) {
                return Err(ApiError::bad_request(format!(
                    "Invalid range field {f:?}; valid ranges: {}.",
                    fields.join(", ")
                )));
            }
            spec.field = f.to_owned();
        }
        if let Some(range) = range {
            let (start, end) = range.split_once("..").ok_or_else(bad)?;
            if !start.is_empty() {
                let (value, exclusive) = match start.strip_prefix(']') {
                    Some(v) => (v, true),
                    None => (start, false),
                };
                spec.start = Some(Bound {
                    value: value.to_owned(),
                    exclusive,
                });
            }
            if !end.is_empty() {
                let (value, exclusive) = match end.strip_suffix('[') {
                    Some(v) => (v, true),
                    None => (end, false),
                };
                spec.end = Some(Bound {
                    value: value.to_owned(),
                    exclusive,
                });
            }
        }
        for opt in options
            .split([',', ';'])
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            let (k, v) = opt.split_once('=').ok_or_else(bad)?;
            match (k.trim(), v.trim()) {
                ("max", n) => {
                    let n: usize = n.parse().map_err(|_| bad())?;
                    if n == 0 {
                        return Err(bad());
                    }
                    spec.max = n.min(MAX_MAX);
                }
                ("order", "asc") => spec.desc = false,
                ("order", "desc") => spec.desc = true,
                _ => return Err(bad()),
            }
        }
        Ok(spec)
    }

    fn bound_key(&self, b: &Bound, numeric: bool) -> Result<Key, ApiError> {
        if numeric {
            b.value
                .parse()
                .map(Key::Num)
                .map_err(|_| ApiError::bad_request(format!("Invalid range value {:?}.", b.value)))
        } else {
            Ok(Key::Str(b.value.clone()))
        }
    }

    fn options(&self) -> String {
        let mut s = format!("max={}", self.max);
        if self.desc {
            s.push_str(", order=desc");
        }
        s
    }
}

/// Sorts `items` by the range's field (`key` gives the value for a field name), keeps the
/// requested page and answers 200, or 206 with `Next-Range` when more remain.
pub(crate) fn page<T>(
    mut items: Vec<T>,
    spec: &RangeSpec,
    key: impl Fn(&T, &str) -> Key,
    render: impl Fn(&T) -> serde_json::Value,
    extra: HeaderMap,
) -> Result<Response, ApiError> {
    let field = spec.field.as_str();
    let numeric = items
        .first()
        .is_some_and(|i| matches!(key(i, field), Key::Num(_)));
    let start = spec
        .start
        .as_ref()
        .map(|b| Ok::<_, ApiError>((spec.bound_key(b, numeric)?, b.exclusive)))
        .transpose()?;
    let end = spec
        .end
        .as_ref()
        .map(|b| Ok::<_, ApiError>((spec.bound_key(b, numeric)?, b.exclusive)))
        .transpose()?;
    // "Ahead" means later in the requested order, so bounds read the same either way.
    let ahead = |a: &Key, b: &Key| -> Ordering { if spec.desc { b.cmp(a) } else { a.cmp(b) } };
    items.sort_by(|a, b| ahead(&key(a, field), &key(b, field)));
    items.retain(|i| {
        let k = key(i, field);
        let after_start = start.as_ref().is_none_or(|(s, excl)| match ahead(&k, s) {
            Ordering::Greater => true,
            Ordering::Equal => !excl,
            Ordering::Less => false,
        });
        let before_end = end.as_ref().is_none_or(|(e, excl)| match ahead(&k, e) {
            Ordering::Less => true,
            Ordering::Equal => !excl,
            Ordering::Greater => false,
        });
        after_start && before_end
    });
    let more = items.len() > spec.max;
    items.truncate(spec.max);
    let mut headers = extra;
    headers.insert("accept-ranges", header_value(&spec.accept));
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        let content = format!(
            "{field} {}..{}; {}",
            key(first, field).render(),
            key(last, field).render(),
            spec.options()
        );
        headers.insert("content-range", header_value(&content));
        if more {
            let end = spec.end.as_ref().map_or(String::new(), |b| {
                format!("{}{}", b.value, if b.exclusive { "[" } else { "" })
            });
            let next = format!(
                "{field} ]{}..{end}; {}",
                key(last, field).render(),
                spec.options()
            );
            headers.insert("next-range", header_value(&next));
        }
    }
    let body: Vec<serde_json::Value> = items.iter().map(render).collect();
    let status = if more {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    Ok((status, headers, axum::Json(body)).into_response())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_herokus_range_forms() {
        let f = &["id", "version"];
        let s = RangeSpec::parse(Some("version ..; max=1, order=desc"), "id", f).unwrap();
        assert_eq!(
            (s.field.as_str(), s.max, s.desc, s.start.is_none()),
            ("version", 1, true, true)
        );
        let s = RangeSpec::parse(Some("id ]abc..; max=200"), "id", f).unwrap();
        assert_eq!(
            s.start,
            Some(Bound {
                value: "abc".into(),
                exclusive: true
            })
        );
        let s = RangeSpec::parse(Some("]abc..; max=5;"), "id", f).unwrap();
        assert_eq!((s.field.as_str(), s.max), ("id", 5));
        assert_eq!(
            RangeSpec::parse(Some("id ..; max=5000"), "id", f)
                .unwrap()
                .max,
            1000
        );
        assert!(RangeSpec::parse(Some("name ..; max=5"), "id", f).is_err());
        assert!(RangeSpec::parse(Some("id ..; max=0"), "id", f).is_err());
    }
}
