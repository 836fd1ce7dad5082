//! One sync: plan from the app's record, take the lease, write, commit; decided afresh
//! whenever a save finds the record changed.

use super::{SyncContext, SyncError, SyncRequest, Target};
use crate::domain::plan::{self, Fetched, Plan, SyncReport, WriteOutcome};
use crate::domain::{AppId, AppRecord, Lease, ProjectId, Repair, Timestamp};
use crate::metrics::SyncMetrics;
use crate::ports::{Guard, Saved};
use crate::rmw::Backoff;
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeMap;
use std::time::Duration;

/// How many times one sync re-reads the app record after losing a race before giving up.
const MAX_ROUNDS: u32 = 50;

/// Config-var reads in flight at once for one sync (one per project linked to the app):
/// thirty projects read one after another outlast the function's timeout; all at once
/// would burst on Heroku's per-account rate limit when the projects share an account.
const FETCHES_AT_ONCE: usize = 8;

impl SyncContext {
    /// Syncs the app's links to `req.target`. Safe to call concurrently and repeatedly.
    pub async fn sync(&self, req: &SyncRequest) -> Result<SyncReport, SyncError> {
        let result = self.sync_inner(req).await;
        let mut m = SyncMetrics::default();
        match &result {
            Ok(report) => {
                m.syncs_done = report.written.len() as u64;
                m.syncs_failed = report.failed.len() as u64;
                if !report.written.is_empty() {
                    m.release_to_written = req
                        .released_at
                        .map(|at| (self.clock.now() - at).as_seconds_f64().max(0.0));
                }
            }
            Err(_) => m.syncs_failed = 1,
        }
        if m.syncs_done + m.syncs_failed > 0 {
            self.metrics.record(&m);
        }
        result
    }

    async fn sync_inner(&self, req: &SyncRequest) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        let Some(mut record) = self.apps.load_app(&req.app_id).await? else {
            tracing::info!(app_id = %req.app_id, "no links for this app");
            return Ok(report);
        };
        let version = match req.target {
            Target::Release(v) => v,
            Target::Newest => match self.newest_version(&record, req).await? {
                Some(v) => v,
                None => return Ok(report),
            },
        };
        report.version = Some(version);

        // Config vars as of `version`, fetched once per project (each has its own token).
        let mut fetched: BTreeMap<ProjectId, Fetched> = BTreeMap::new();
        let mut transient: Option<SyncError> = None;
        // Only the wait for another sync's lease is shared with `rmw`: this loop takes a
        // lease of its own and writes under it, which no plain read-modify-write does.
        let mut lease_wait = Backoff::Within(self.settings.wait_budget).start();
        let mut rounds = 0;
        loop {
            // Every round follows someone else's save; past this many, something keeps
            // changing the record and the redelivery can try again later.
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(SyncError::transient("the app's record kept changing"));
            }
            let wanted = plan::wanted(&record, version, req.only.as_ref());
            if wanted.is_empty() {
                tracing::info!(app_id = %req.app_id, version, "nothing to do: every link is at this release or newer");
                return match transient {
                    Some(e) => Err(e),
                    None => Ok(report),
                };
            }
            let now_ms = self.clock.now_ms();
            let delivery = delivery_of(req);
            if delivery.is_some_and(|(v, id)| record.covered_by_lease(v, id, now_ms)) {
                tracing::info!(app_id = %req.app_id, version, "nothing to do: a delivery of this release or a newer one is being handled");
                return match transient {
                    Some(e) => Err(e),
                    None => Ok(report),
                };
            }
            if let Some(lease) = record.live_lease(now_ms) {
                // Someone is writing right now; wait for them, then decide afresh.
                if !lease_wait.again().await {
                    return Err(SyncError::Transient {
                        reason: "another sync of this app is still running".into(),
                        retry_after: Duration::from_secs(
                            ((lease.until_ms - now_ms) / 1000).max(1) as u64
                        ),
                    });
                }
                record = self.reload(&req.app_id).await?;
                continue;
            }

            let missing = plan::projects(&record, &wanted)
                .into_iter()
                .filter(|p| !fetched.contains_key(p));
            let app_id = &record.app_id;
            let results: Vec<_> = stream::iter(missing)
                .map(|project| async move {
                    let result = self.fetch(&project, app_id, version).await;
                    (project, result)
                })
                .buffer_unordered(FETCHES_AT_ONCE)
                .collect()
                .await;
            for (project, result) in results {
                match result {
                    Ok(f) => {
                        fetched.insert(project, f);
                    }
                    Err(e) => {
                        tracing::warn!(app_id = %req.app_id, project = %project, error = %e, "config vars unavailable");
                        transient.get_or_insert(e);
                    }
                }
            }

            let now = self.clock.now();
            let plan = plan::plan(&record, version, req.only.as_ref(), &fetched);

            if !plan.needs_write() {
                if plan.steps.is_empty() {
                    return Err(transient
                        .unwrap_or_else(|| SyncError::transient("nothing could be fetched")));
                }
                plan::apply(
                    &mut record,
                    &plan,
                    now,
                    &WriteOutcome::default(),
                    &mut report,
                );
                note_cause(&mut record, &plan, req, &report, now);
                // Any lease left on the record has expired: drop it (its holder's late
                // commit also conflicts on the generation this save moves on).
                record.set_lease(None);
                match self
                    .apps
                    .save_app(
                        &record,
                        Guard::Unleased {
                            generation: record.generation,
                            now_ms,
                        },
                    )
                    .await?
                {
                    Saved::Ok { .. } => {
                        return match transient {
                            Some(e) => Err(e),
                            None => Ok(report),
                        };
                    }
                    Saved::Conflict => {
                        report = SyncReport {
                            version: Some(version),
                            ..SyncReport::default()
                        };
                        record = self.reload(&req.app_id).await?;
                        continue;
                    }
                }
            }

            // Take the lease at the generation we decided on: if anything changed since,
            // the condition fails and we decide again from fresh state.
            // Counted from now, not from the start of this round: the Heroku fetch above
            // may have taken seconds, and the writes need the whole margin.
            let taken_at = self.clock.now_ms();
            let owner = uuid::Uuid::new_v4().to_string();
            let lease = Lease {
                owner: owner.clone(),
                until_ms: taken_at + self.settings.lease.as_millis() as i64,
            };
            let mut leased = record.clone();
            leased.set_lease(Some(lease.clone()));
            // Write-ahead: from here until the commit, a write may land whatever happens
            // to this process; a later sync must not write an older release over it.
            for (key, _, _) in plan.writes() {
                if let Some(link) = leased.links.get_mut(key) {
                    link.writing_version = Some(version);
                }
            }
            leased.lease_version = delivery.map(|(v, _)| v);
            leased.lease_delivery = delivery.map(|(_, id)| id.to_owned());
            let taken = self
                .apps
                .save_app(
                    &leased,
                    Guard::Unleased {
                        generation: record.generation,
                        now_ms: taken_at,
                    },
                )
                .await;
            match taken {
                Ok(Saved::Ok { generation }) => {
                    leased.generation = generation;
                    leased.mark_stored();
                }
                // A write that landed with its answer lost is retried by the SDK and
                // refused by the condition it had just satisfied (a conflict), or every
                // attempt fails (an error) though the first landed. Either way the lease
                // may be ours: its owner id is new, and waiting it out would stall every
                // delivery of the app for the lease's length.
                other => {
                    let failed = other.err();
                    let fresh = match self.reload(&req.app_id).await {
                        Ok(fresh) => fresh,
                        Err(e) => return Err(failed.map_or(e, SyncError::from)),
                    };
                    if fresh.lease_owner.as_deref() == Some(owner.as_str())
                        && fresh.generation == record.generation + 1
                    {
                        leased.generation = fresh.generation;
                        leased.mark_stored();
                    } else if let Some(e) = failed {
                        return Err(e.into());
                    } else {
                        record = fresh;
                        continue;
                    }
                }
            }

            let mut versions = BTreeMap::new();
            let (outcome, write_error) = self
                .write_values(&leased, &plan, &lease, &mut versions)
                .await;
            let now = self.clock.now();
            plan::apply(&mut leased, &plan, now, &outcome, &mut report);
            note_cause(&mut leased, &plan, req, &report, now);
            // A write in doubt keeps the lease until it expires: no other writer may start
            // before that write can no longer land (write_margin > the client's timeout).
            leased.set_lease(outcome.in_doubt.then(|| lease.clone()));
            // This delivery has answered by now: if it failed, its retry is Heroku's and
            // must not be taken for this still-running one.
            leased.lease_version = None;
            leased.lease_delivery = None;
            match self
                .apps
                .save_app(
                    &leased,
                    Guard::LeaseHolder {
                        owner,
                        generation: leased.generation,
                    },
                )
                .await
            {
                Ok(Saved::Ok { .. }) => {}
                Ok(Saved::Conflict) => {
                    // Our commit may have landed with its answer lost (the SDK's retry is
                    // then refused by the condition it had satisfied): if the record is
                    // exactly what we committed, it did.
                    let mut committed = leased.clone();
                    committed.generation += 1;
                    if self.apps.load_app(&req.app_id).await.ok().flatten() != Some(committed) {
                        tracing::error!(app_id = %req.app_id, "lease lost before commit; the redelivery will finish");
                        return Err(SyncError::transient("lease lost before commit"));
                    }
                }
                Err(e) => return Err(e.into()),
            }
            for key in &report.written {
                tracing::info!(app_id = %req.app_id, link = %key, version, "env var updated");
            }
            self.announce(&leased, version, &report.written, &versions)
                .await;
            return match write_error.or(transient) {
                Some(e) => Err(e),
                None => Ok(report),
            };
        }
    }

    async fn reload(&self, app: &AppId) -> Result<AppRecord, SyncError> {
        self.apps
            .load_app(app)
            .await?
            .ok_or_else(|| SyncError::Internal(format!("app record {app} vanished")))
    }
}

/// Records on the links what brought this sync: a delivery reaching them, or the
/// reconciler's repair of the ones it wrote.
fn note_cause(
    record: &mut AppRecord,
    plan: &Plan,
    req: &SyncRequest,
    report: &SyncReport,
    now: Timestamp,
) {
    for (key, _) in &plan.steps {
        let Some(link) = record.links.get_mut(key) else {
            continue;
        };
        if req.delivery_id.is_some() {
            link.last_delivery_at = Some(now);
        }
        if let Some(what) = &req.repair
            && report.written.contains(key)
        {
            link.last_repair = Some(Repair {
                at: now,
                what: what.clone(),
            });
        }
    }
}

/// The release and id of a webhook delivery: Heroku retries it until it succeeds. Other
/// syncs (linking, catching up) are nobody's retry, so they never cover a delivery.
fn delivery_of(req: &SyncRequest) -> Option<(u64, &str)> {
    match (req.target, &req.only, req.delivery_id.as_deref()) {
        (Target::Release(v), None, Some(id)) => Some((v, id)),
        _ => None,
    }
}
