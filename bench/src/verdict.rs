//! What a run proved: correctness results that must hold (any wrong one makes the bench
//! exit non-zero, so a wrong result cannot hide in a table) and the performance targets,
//! each met, missed or not measured in this run.

use crate::burst::BurstRun;
use crate::cold::ColdRun;
use crate::warm::WarmRun;

/// A performance target and what this run measured for it.
#[derive(Clone, Debug)]
pub struct Target {
    pub what: String,
    /// `None`: the phase that measures it did not run.
    pub ok: Option<bool>,
    pub figure: String,
}

/// Correctness observed at the end of each phase, beyond the timed figures.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// After the cold starts and the warm run: does the probe's env var hold its app's
    /// newest value?
    pub probe_current_after_cold: Option<bool>,
    pub probe_current_after_warm: Option<bool>,
}

/// The status each function's cold-start event must be answered with (the same events
/// `events/manifest.json` lists).
fn expected_status(function: &str) -> &'static [u16] {
    match function {
        "webhook" => &[204],
        "connect" => &[200],
        "opt-out" => &[404],
        _ => &[],
    }
}

/// Every correctness result that is wrong, one line each; empty when all hold.
pub fn wrong_results(
    cold: &[ColdRun],
    warm: &WarmRun,
    bursts: &[BurstRun],
    burst_apps: usize,
    seen: &Observed,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for c in cold {
        let want = expected_status(&c.function);
        for (status, n) in &c.statuses {
            if !want.contains(status) {
                wrong.push(format!(
                    "cold starts of {}: {n} first invocation(s) answered {status}, expected {want:?}",
                    c.function
                ));
            }
        }
    }
    if seen.probe_current_after_cold == Some(false) {
        wrong.push("cold starts: the probe's env var is not at its app's newest value".into());
    }
    for ((delay, kind), s) in &warm.series {
        if s.bad_status > 0 {
            wrong.push(format!(
                "warm {} at {delay} ms: {} of {} invocations answered other than 204",
                kind.name(),
                s.bad_status,
                s.handler.len()
            ));
        }
    }
    if seen.probe_current_after_warm == Some(false) {
        wrong.push("warm run: the probe's env var is not at its app's newest value".into());
    }
    // A comparison holds only if every handler does the same work right.
    for (which, c) in &warm.compared {
        let name = which.name();
        for (kind, s) in &c.series {
            let want = kind.path().len();
            if let Some(n) = s.calls.iter().find(|n| **n != want) {
                wrong.push(format!(
                    "comparison, {name}, {}: an invocation made {n} remote calls, not {want}",
                    kind.name()
                ));
            }
            if s.bad_status > 0 {
                wrong.push(format!(
                    "comparison, {name}, {}: {} of {} invocations answered other than 204",
                    kind.name(),
                    s.bad_status,
                    s.handler.len()
                ));
            }
        }
        if c.left_behind > 0 {
            wrong.push(format!(
                "comparison, {name}: {} iterations left the probe's env var behind its app's \
                 newest value",
                c.left_behind
            ));
        }
    }
    for b in bursts {
        let at = format!("burst N = {}, {} ms", b.concurrency, b.delay_ms);
        if b.wrong_values > 0 {
            wrong.push(format!(
                "{at}: {}/{burst_apps} env vars not at their app's newest value",
                b.wrong_values
            ));
        }
        if b.behind > 0 {
            wrong.push(format!(
                "{at}: {}/{burst_apps} links not at their app's newest release",
                b.behind
            ));
        }
        if b.handler.len() != b.deliveries {
            wrong.push(format!(
                "{at}: {} of {} deliveries never answered 2xx (lost)",
                b.deliveries - b.handler.len(),
                b.deliveries
            ));
        }
    }
    wrong
}

/// The closing summary printed to stderr: wrong results first, then missed targets.
pub fn closing_summary(wrong: &[String], targets: &[Target]) -> String {
    let mut s = String::new();
    if wrong.is_empty() {
        s.push_str("bench: correctness: every result holds\n");
    } else {
        s.push_str(&format!("bench: correctness: {} WRONG\n", wrong.len()));
        for w in wrong {
            s.push_str(&format!("bench:   wrong: {w}\n"));
        }
    }
    for t in targets {
        let word = match t.ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        s.push_str(&format!(
            "bench: target {word}: {} — {}\n",
            t.what, t.figure
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warm::{Kind, Series};

    fn burst(wrong_values: usize, behind: usize, answered: usize) -> BurstRun {
        BurstRun {
            concurrency: 10,
            delay_ms: 5,
            deliveries: 4,
            handler: vec![1.0; answered],
            wrong_values,
            behind,
            ..BurstRun::default()
        }
    }

    #[test]
    fn a_clean_run_has_no_wrong_result() {
        let wrong = wrong_results(
            &[],
            &WarmRun::default(),
            &[burst(0, 0, 4)],
            2,
            &Observed::default(),
        );
        assert_eq!(wrong, Vec::<String>::new());
    }

    #[test]
    fn a_stale_env_var_a_link_behind_or_a_lost_delivery_is_wrong() {
        let wrong = wrong_results(
            &[],
            &WarmRun::default(),
            &[burst(1, 0, 4), burst(0, 2, 4), burst(0, 0, 3)],
            2,
            &Observed::default(),
        );
        assert_eq!(
            wrong,
            vec![
                "burst N = 10, 5 ms: 1/2 env vars not at their app's newest value",
                "burst N = 10, 5 ms: 2/2 links not at their app's newest release",
                "burst N = 10, 5 ms: 1 of 4 deliveries never answered 2xx (lost)",
            ]
        );
    }

    #[test]
    fn an_unexpected_cold_answer_or_warm_failure_or_stale_probe_is_wrong() {
        let cold = ColdRun {
            function: "webhook".into(),
            statuses: [(204, 2), (503, 1)].into(),
            ..ColdRun::default()
        };
        let mut warm = WarmRun::default();
        warm.series.insert(
            (5, Kind::Sync),
            Series {
                handler: vec![1.0; 3],
                bad_status: 1,
                ..Series::default()
            },
        );
        let seen = Observed {
            probe_current_after_cold: Some(true),
            probe_current_after_warm: Some(false),
        };
        let wrong = wrong_results(&[cold], &warm, &[], 0, &seen);
        assert_eq!(wrong.len(), 3, "{wrong:?}");
        assert!(wrong[0].contains("answered 503"), "{wrong:?}");
        assert!(wrong[1].contains("1 of 3"), "{wrong:?}");
        assert!(wrong[2].starts_with("warm run"), "{wrong:?}");
    }

    #[test]
    fn a_compared_handler_making_other_calls_failing_or_leaving_the_probe_behind_is_wrong() {
        use crate::warm::{Compared, Handler};
        let mut warm = WarmRun::default();
        let ok = Series {
            handler: vec![1.0; 2],
            calls: vec![6, 6],
            ..Series::default()
        };
        warm.compared.insert(
            Handler::Ours,
            Compared {
                series: [(Kind::Sync, ok.clone())].into(),
                left_behind: 0,
            },
        );
        warm.compared.insert(
            Handler::Python,
            Compared {
                series: [(
                    Kind::Sync,
                    Series {
                        calls: vec![6, 5],
                        bad_status: 1,
                        ..ok.clone()
                    },
                )]
                .into(),
                left_behind: 0,
            },
        );
        warm.compared.insert(
            Handler::Rust,
            Compared {
                series: [(Kind::Sync, ok)].into(),
                left_behind: 2,
            },
        );
        let wrong = wrong_results(&[], &warm, &[], 0, &Observed::default());
        assert_eq!(
            wrong,
            vec![
                "comparison, Python/boto3 baseline, sync (value changed): an invocation made 5 \
                 remote calls, not 6",
                "comparison, Python/boto3 baseline, sync (value changed): 1 of 2 invocations \
                 answered other than 204",
                "comparison, Rust/AWS SDK baseline: 2 iterations left the probe's env var \
                 behind its app's newest value",
            ]
        );
    }

    #[test]
    fn the_summary_names_every_missed_and_unmeasured_target() {
        let s = closing_summary(
            &["x".into()],
            &[
                Target {
                    what: "a".into(),
                    ok: Some(false),
                    figure: "3 ms".into(),
                },
                Target {
                    what: "b".into(),
                    ok: None,
                    figure: "–".into(),
                },
            ],
        );
        assert!(s.contains("1 WRONG"), "{s}");
        assert!(s.contains("target MISSED: a — 3 ms"), "{s}");
        assert!(s.contains("target not measured: b"), "{s}");
    }
}
