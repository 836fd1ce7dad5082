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
    /// Applies to only this share of the matching requests, chosen by a seeded sequence
    /// (the n-th match is hit or not, whatever the timing): a flaky service for soaks.
    /// Unchosen requests pass to the next fault and do not count against `times`.
    pub rate: Option<Rate>,
}

/// A share of requests, drawn from a sequence fixed by `seed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub share: f64,
    pub seed: u64,
}

impl Rate {
    /// Whether the `n`-th matching request is hit: splitmix64 of (seed, n) against the
    /// share, so a run replays exactly from its seed.
    pub fn hits(&self, n: u64) -> bool {
        Rate::uniform(self.seed, n) < self.share
    }

    /// The `n`-th draw in [0, 1) of the sequence `seed` fixes (splitmix64).
    pub fn uniform(seed: u64, n: u64) -> f64 {
        let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
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
            rate: None,
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

    /// Only `share` (0..=1) of the matching requests, chosen by a sequence fixed by `seed`.
    pub fn rate(mut self, share: f64, seed: u64) -> Fault {
        self.rate = Some(Rate { share, seed });
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
    /// Each fault with how many requests it has matched (the draw's index for a rate).
    active: Vec<(FaultId, Fault, u64)>,
}

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault) -> FaultId {
        self.next_id += 1;
        let id = FaultId(self.next_id);
        if fault.times != Some(0) {
            self.active.push((id, fault, 0));
        }
        id
    }

    pub(crate) fn remove(&mut self, id: FaultId) {
        self.active.retain(|(i, _, _)| *i != id);
    }

    pub(crate) fn clear(&mut self) {
        self.active.clear();
    }

    /// The fault for this request, if any, counting it against the fault's `times`.
    pub(crate) fn take(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let idx = self.active.iter_mut().position(|(_, f, seen)| {
            if !f.matches(method, path) {
                return false;
            }
            *seen += 1;
            f.rate.is_none_or(|r| r.hits(*seen))
        })?;
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

    #[test]
    fn a_fault_with_a_rate_hits_that_share_and_replays_from_its_seed() {
        let draw = |seed| {
            let mut faults = Faults::default();
            faults.add(Fault::status("/apps", 503).rate(0.2, seed));
            (0..10_000)
                .map(|_| faults.take(&Method::GET, "/apps/x").is_some())
                .collect::<Vec<_>>()
        };
        let hits = draw(7).iter().filter(|h| **h).count();
        assert!((1_800..2_200).contains(&hits), "{hits} of 10,000");
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn a_request_a_rate_passes_over_reaches_the_next_fault_without_spending_times() {
        let mut faults = Faults::default();
        faults.add(Fault::status("/apps", 503).rate(0.0, 1).times(1));
        faults.add(Fault::status("/apps", 429));
        assert_eq!(
            faults.take(&Method::GET, "/apps").map(|f| f.status),
            Some(429)
        );
        assert_eq!(faults.active[0].1.times, Some(1));
    }
}
