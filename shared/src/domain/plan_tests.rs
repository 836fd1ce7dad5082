//! Tests of the sync plan: a few cases by hand, then its rules as properties over
//! thousands of generated records, releases and fetches.

use super::*;
use crate::domain::{AppId, ConfigVarName, EnvVarName, LinkStatus};
use proptest::prelude::*;

const APP: &str = "44dc9c7a-771c-4a9e-bfe9-a8dbc1c55f4d";

fn link(project: &str, env: &str, status: LinkStatus, at: Option<u64>) -> Link {
    Link {
        project_id: ProjectId::parse(project).unwrap(),
        env_var: EnvVarName::parse(env).unwrap(),
        app_id: AppId::parse(APP).unwrap(),
        app_name: "app".into(),
        config_var: ConfigVarName::parse("DATABASE_URL").unwrap(),
        status,
        fingerprint: None,
        last_release_version: at,
        writing_version: None,
        last_synced_at: None,
        last_checked_at: None,
        last_delivery_at: None,
        last_repair: None,
        last_error: None,
        linked_at: Timestamp::UNIX_EPOCH,
        linked_by: "u".into(),
        history: vec![],
    }
}

fn record(links: Vec<Link>) -> AppRecord {
    let mut r = AppRecord::new(AppId::parse(APP).unwrap(), "app");
    r.links = links.into_iter().map(|l| (l.key(), l)).collect();
    r
}

fn vars(url: Option<&str>) -> Fetched {
    Fetched::Vars(
        url.map(|u| ("DATABASE_URL".to_owned(), u.to_owned()))
            .into_iter()
            .collect(),
    )
}

fn fetched<const N: usize>(pairs: [(&str, Fetched); N]) -> BTreeMap<ProjectId, Fetched> {
    pairs
        .into_iter()
        .map(|(p, f)| (ProjectId::parse(p).unwrap(), f))
        .collect()
}

/// A comparable rendering of a plan (values included: these are test values).
fn shape(p: &Plan) -> Vec<(String, String)> {
    p.steps
        .iter()
        .map(|(k, s)| {
            let what = match s {
                Step::Write { value, fingerprint } => {
                    format!("write {} {}", value.expose_secret(), fingerprint.as_str())
                }
                Step::Unchanged => "unchanged".into(),
                Step::Waiting(w) => format!("waiting {w}"),
                Step::Failed(w) => format!("failed {w}"),
            };
            (k.to_string(), what)
        })
        .collect()
}

#[test]
fn a_changed_value_is_written_and_an_equal_one_is_not() {
    let mut r = record(vec![
        link("p1", "A", LinkStatus::Active, Some(3)),
        link("p2", "B", LinkStatus::Active, Some(3)),
    ]);
    let b = LinkKey::new(
        &ProjectId::parse("p2").unwrap(),
        &EnvVarName::parse("B").unwrap(),
    );
    r.links.get_mut(&b).unwrap().fingerprint = Some(Fingerprint::of(b.as_str(), "url-2"));
    let f = fetched([("p1", vars(Some("url-2"))), ("p2", vars(Some("url-2")))]);
    let p = plan(&r, 4, None, &f);
    assert_eq!(
        shape(&p),
        vec![
            (
                "p1/A".into(),
                format!("write url-2 {}", Fingerprint::of("p1/A", "url-2").as_str())
            ),
            ("p2/B".into(), "unchanged".into()),
        ]
    );
}

#[test]
fn a_write_that_did_not_happen_leaves_the_link_as_it_was() {
    let mut r = record(vec![link("p1", "A", LinkStatus::Active, Some(3))]);
    let before = r.clone();
    let p = plan(&r, 4, None, &fetched([("p1", vars(Some("u")))]));
    let mut report = SyncReport::default();
    apply(
        &mut r,
        &p,
        Timestamp::UNIX_EPOCH,
        &WriteOutcome::default(),
        &mut report,
    );
    assert_eq!(r, before);
    assert!(report.is_noop());
}

#[test]
fn a_refused_write_shows_on_the_link_once() {
    let mut r = record(vec![link("p1", "A", LinkStatus::Active, Some(3))]);
    let key = r.links.keys().next().unwrap().clone();
    let mut outcome = WriteOutcome::default();
    outcome
        .refused
        .insert(key.clone(), "scheduled for deletion".into());
    for v in [4, 5] {
        let p = plan(&r, v, None, &fetched([("p1", vars(Some("u")))]));
        apply(
            &mut r,
            &p,
            Timestamp::UNIX_EPOCH,
            &outcome,
            &mut SyncReport::default(),
        );
    }
    let l = &r.links[&key];
    assert_eq!(l.last_error.as_deref(), Some("scheduled for deletion"));
    assert_eq!(l.history.len(), 1, "{:?}", l.history);
    assert_eq!(l.fingerprint, None);
}

#[test]
fn a_missing_config_var_waits_and_an_unreadable_project_fails() {
    let r = record(vec![
        link("p1", "A", LinkStatus::Active, None),
        link("p2", "B", LinkStatus::Active, None),
        link("p3", "C", LinkStatus::Active, None),
    ]);
    let f = fetched([
        ("p1", vars(None)),
        ("p2", Fetched::Failed("revoked".into())),
    ]);
    let p = plan(&r, 1, None, &f);
    assert_eq!(
        shape(&p),
        vec![
            (
                "p1/A".into(),
                "waiting config var DATABASE_URL is not set on app app (yet)".into()
            ),
            ("p2/B".into(), "failed revoked".into()),
        ],
        "p3 was not fetched (transient): no step, left for the retry"
    );
}

#[test]
fn only_restricts_the_plan_to_one_link() {
    let r = record(vec![
        link("p1", "A", LinkStatus::Active, None),
        link("p1", "B", LinkStatus::Active, None),
    ]);
    let only = LinkKey::new(
        &ProjectId::parse("p1").unwrap(),
        &EnvVarName::parse("B").unwrap(),
    );
    let p = plan(&r, 1, Some(&only), &fetched([("p1", vars(Some("u")))]));
    assert_eq!(p.steps.len(), 1);
    assert_eq!(p.steps[0].0, only);
}

/// Generated input: links with random status, version reached and stored value; a
/// release; and per project either a value, no config var, or a permanent failure.
fn arb_case() -> impl Strategy<Value = (AppRecord, u64, BTreeMap<ProjectId, Fetched>)> {
    let status = prop_oneof![
        Just(LinkStatus::Active),
        Just(LinkStatus::OptedOut),
        Just(LinkStatus::Disconnected)
    ];
    let one = (
        0..4usize,
        0..3usize,
        status,
        proptest::option::of(0..8u64),
        0..4usize,
    );
    (
        proptest::collection::vec(one, 0..8),
        0..10u64,
        proptest::collection::vec(0..5usize, 4),
    )
        .prop_map(|(links, version, per_project)| {
            let values = ["u0", "u1", "u2", "u3"];
            let mut ls = Vec::new();
            for (p, e, status, at, stored) in links {
                let mut l = link(&format!("p{p}"), &format!("E{e}"), status, at);
                l.fingerprint = Some(Fingerprint::of(l.key().as_str(), values[stored]));
                ls.push(l);
            }
            let mut f = BTreeMap::new();
            for (p, what) in per_project.into_iter().enumerate() {
                let fetched = match what {
                    0..=2 => vars(Some(values[what])),
                    3 => vars(None),
                    _ => Fetched::Failed("revoked".into()),
                };
                f.insert(ProjectId::parse(format!("p{p}")).unwrap(), fetched);
            }
            (record(ls), version, f)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn plans_only_for_active_links_behind_the_release((r, v, f) in arb_case()) {
        for (key, _) in &plan(&r, v, None, &f).steps {
            let l = &r.links[key];
            prop_assert!(l.is_active(), "{key} is {:?}", l.status);
            prop_assert!(l.last_release_version.unwrap_or(0) < v, "{key} is at {:?} ≥ {v}", l.last_release_version);
        }
    }

    #[test]
    fn the_same_input_gives_the_same_plan((r, v, f) in arb_case()) {
        prop_assert_eq!(shape(&plan(&r, v, None, &f)), shape(&plan(&r, v, None, &f)));
    }

    #[test]
    fn writes_exactly_the_values_whose_fingerprint_differs((r, v, f) in arb_case()) {
        for (key, step) in &plan(&r, v, None, &f).steps {
            let l = &r.links[key];
            if let Fetched::Vars(vars) = &f[&l.project_id]
                && let Some(value) = vars.get("DATABASE_URL")
            {
                let fp = Fingerprint::of(key.as_str(), value.expose_secret());
                let differs = l.fingerprint.as_ref() != Some(&fp);
                prop_assert_eq!(matches!(step, Step::Write { .. }), differs);
            }
        }
    }

    /// Once applied (every write done), the same release plans nothing: a duplicate
    /// delivery is a no-op, and so is any older one.
    #[test]
    fn an_applied_release_and_every_older_one_plan_nothing((r, v, f) in arb_case()) {
        let mut r = r;
        let p = plan(&r, v, None, &f);
        let outcome = WriteOutcome {
            written: p.writes().map(|(k, _, _)| k.clone()).collect(),
            refused: BTreeMap::new(),
            in_doubt: false,
        };
        let mut report = SyncReport::default();
        apply(&mut r, &p, Timestamp::UNIX_EPOCH, &outcome, &mut report);
        for older in 0..=v {
            let again = plan(&r, older, None, &f);
            prop_assert!(
                again.steps.iter().all(|(k, _)| !report.written.contains(k) && !report.unchanged.contains(k)),
                "release {older} replanned a link that {v} settled"
            );
        }
        for (k, value, fp) in p.writes() {
            prop_assert_eq!(r.links[k].fingerprint.as_ref(), Some(fp));
            prop_assert_eq!(fp, &Fingerprint::of(k.as_str(), value.expose_secret()));
        }
    }
}

#[test]
fn a_write_that_may_have_landed_blocks_older_releases_and_is_redone() {
    let mut r = record(vec![link("p1", "A", LinkStatus::Active, Some(10))]);
    let key = r.links.keys().next().unwrap().clone();
    {
        let l = r.links.get_mut(&key).unwrap();
        l.writing_version = Some(12);
        // The fingerprint still says v10's value, but the secret may hold v12's.
        l.fingerprint = Some(Fingerprint::of(key.as_str(), "same"));
    }
    let f = fetched([("p1", vars(Some("same")))]);
    assert!(plan(&r, 11, None, &f).steps.is_empty(), "no older release");
    let p = plan(&r, 12, None, &f);
    assert!(
        matches!(p.steps.as_slice(), [(_, Step::Write { .. })]),
        "rewritten, not trusted as unchanged: {:?}",
        shape(&p)
    );
    let outcome = WriteOutcome {
        written: [key.clone()].into(),
        ..WriteOutcome::default()
    };
    apply(
        &mut r,
        &p,
        Timestamp::UNIX_EPOCH,
        &outcome,
        &mut SyncReport::default(),
    );
    assert_eq!(r.links[&key].writing_version, None, "cleared by the commit");
}
