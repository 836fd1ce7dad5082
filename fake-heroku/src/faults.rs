//! Injected faults: canned error answers or delays on matching API/OAuth requests.

use std::time::Duration;

use axum::http::Method;

/// A fault to inject. Requests whose method (if set) and path prefix match get `status` with
/// `body` and `headers` after `delay`; `status` 0 means "just delay, then answer normally".
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_prefix: String,
    pub status: u16,
    /// `None`: the Heroku error JSON that goes with `status`.
    pub body: Option<serde_json::Value>,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    /// How many matching requests it applies to; `None` until cleared.
    pub times: Option<u32>,
}

/// Handle to an injected fault, for [`crate::FakeHeroku::clear_fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct FaultId(pub u64);

impl Fault {
    /// Answer `status` (with Heroku's error JSON) to every request under `path_prefix`.
    pub fn status(path_prefix: &str, status: u16) -> Fault {
        Fault {
            method: None,
            path_prefix: path_prefix.to_owned(),
            status,
            body: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
            times: None,
        }
    }

    /// Hold every request under `path_prefix` for `delay`, then answer it normally.
    pub fn delay(path_prefix: &str, delay: Duration) -> Fault {
        Fault {
            delay,
            ..Fault::status(path_prefix, 0)
        }
    }

    /// Only requests with this method (e.g. "GET"). An invalid method name panics: it is a test bug.
    pub fn method(mut self, method: &str) -> Fault {
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .unwrap_or_else(|_| panic!("invalid HTTP method {method:?}"));
        self.method = Some(m);
        self
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: serde_json::Value) -> Fault {
        self.body = Some(body);
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Fault {
        self.delay = delay;
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && path.starts_with(&self.path_prefix)
    }
}

/// The faults in force, oldest first: the first match wins.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    next_id: u64,
    active: Vec<(FaultId, Fault)>,
}

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault) -> FaultId {
        self.next_id += 1;
        let id = FaultId(self.next_id);
        if fault.times != Some(0) {
            self.active.push((id, fault));
        }
        id
    }

    pub(crate) fn remove(&mut self, id: FaultId) {
        self.active.retain(|(i, _)| *i != id);
    }

    pub(crate) fn clear(&mut self) {
        self.active.clear();
    }

    /// The fault for this request, if any, counting it against the fault's `times`.
    pub(crate) fn take(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let idx = self
            .active
            .iter()
            .position(|(_, f)| f.matches(method, path))?;
        let fault = self.active[idx].1.clone();
        if let Some(n) = &mut self.active[idx].1.times {
            *n -= 1;
            if *n == 0 {
                self.active.remove(idx);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_with_times_expires_after_that_many_matches() {
        let mut faults = Faults::default();
        faults.add(Fault::status("/apps", 503).method("get").times(2));
        assert!(faults.take(&Method::POST, "/apps").is_none());
        assert!(faults.take(&Method::GET, "/account").is_none());
        assert_eq!(
            faults.take(&Method::GET, "/apps/x").map(|f| f.status),
            Some(503)
        );
        assert!(faults.take(&Method::GET, "/apps").is_some());
        assert!(faults.take(&Method::GET, "/apps").is_none());
    }
}
