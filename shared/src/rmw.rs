//! Read-modify-write of the stored records under optimistic concurrency: one helper per
//! record kind (app record, integration) and the one backoff policy every such loop waits by.
//!
//! Each caller says only what it changes, how long it may keep trying, and what running
//! out of tries means to it (an error to answer, or nothing at all).

use crate::clock::Clock;
use crate::domain::{AppId, AppRecord, Integration, ProjectId, Timestamp};
use crate::ports::{AppStore, Guard, IntegrationStore, Saved, StoreError};
use std::time::Duration;

/// The first wait after a conflict or a live lease. Short: most conflicts are another
/// save that has already landed, so the next try usually wins.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// Waits double up to this, so a wait for a sync's lease (seconds) polls a few times a
/// second instead of hammering the table.
const MAX_PAUSE: Duration = Duration::from_millis(250);

/// How long a read-modify-write keeps trying. Between tries it waits [`FIRST_PAUSE`],
/// doubling to [`MAX_PAUSE`]; only the budget differs between callers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backoff {
    /// At most this many tries.
    Tries(u32),
    /// Tries until this much time has passed since the first.
    Within(Duration),
    /// At most this many tries, one straight after the other: for a best-effort note that
    /// must not hold up the answer it rides on (see `SyncContext::record_failure`).
    AtOnce(u32),
}

impl Backoff {
    pub(crate) fn start(self) -> Retrying {
        Retrying {
            budget: self,
            started: tokio::time::Instant::now(),
            tries: 0,
            pause: FIRST_PAUSE,
        }
    }
}

/// A [`Backoff`] under way.
pub(crate) struct Retrying {
    budget: Backoff,
    started: tokio::time::Instant,
    tries: u32,
    pause: Duration,
}

impl Retrying {
    /// Called after a try that must be repeated: waits before the next one and says
    /// `true`, or says `false` at once when the budget is spent.
    pub(crate) async fn again(&mut self) -> bool {
        self.tries += 1;
        let (spent, wait) = match self.budget {
            Backoff::Tries(n) => (self.tries >= n, true),
            Backoff::Within(budget) => (self.started.elapsed() >= budget, true),
            Backoff::AtOnce(n) => (self.tries >= n, false),
        };
        if spent {
            return false;
        }
        if wait {
            tokio::time::sleep(self.pause).await;
            self.pause = (self.pause * 2).min(MAX_PAUSE);
        }
        true
    }
}

/// What a change made of the record it was handed.
pub(crate) enum Edit<T> {
    /// Save the record as changed; `T` is the answer once it is saved.
    Save(T),
    /// Nothing to save; `T` is the answer as it is.
    Keep(T),
    /// Not now (someone else's lease on the record): back off and look again.
    Wait,
}

/// How a read-modify-write ended.
pub(crate) enum Updated<T> {
    /// Saved (`Save`) or left alone (`Keep`), with the change's answer.
    Done(T),
    /// There is no such record; the change was never called.
    Absent,
    /// The budget ran out before a save went through.
    Exhausted,
}

/// Loads the app's record, lets `change` edit it (handed the time), and saves it under
/// the guard every writer but a lease holder uses: same generation, no live lease. While
/// a lease is live nothing is written (the save could only conflict); after a conflict
/// the record is loaded afresh and `change` called again on it.
///
/// The lease left on a record that is saved is dropped: the guard proves it expired, and
/// its holder's late commit conflicts on the generation this save moves on.
pub(crate) async fn update_app<T>(
    apps: &dyn AppStore,
    clock: &dyn Clock,
    app: &AppId,
    backoff: Backoff,
    change: impl FnMut(&mut AppRecord, Timestamp) -> Edit<T>,
) -> Result<Updated<T>, StoreError> {
    update_app_then(apps, clock, app, backoff, change, |_| async { Ok(()) }).await
}

/// [`update_app`] with a step between the change and its save: `before_save` gets the
/// answer of a change to be saved, and the save is made only if it succeeds. For a
/// write-ahead, whose record must exist before the save can make it needed.
pub(crate) async fn update_app_then<T, E, Fut>(
    apps: &dyn AppStore,
    clock: &dyn Clock,
    app: &AppId,
    backoff: Backoff,
    mut change: impl FnMut(&mut AppRecord, Timestamp) -> Edit<T>,
    mut before_save: impl FnMut(&T) -> Fut,
) -> Result<Updated<T>, E>
where
    E: From<StoreError>,
    Fut: Future<Output = Result<(), E>>,
{
    let mut retry = backoff.start();
    loop {
        let Some(mut record) = apps.load_app(app).await? else {
            return Ok(Updated::Absent);
        };
        let answer = match change(&mut record, clock.now()) {
            Edit::Keep(answer) => return Ok(Updated::Done(answer)),
            Edit::Save(answer) => Some(answer),
            Edit::Wait => None,
        };
        let now_ms = clock.now_ms();
        if let Some(answer) = answer
            && record.live_lease(now_ms).is_none()
        {
            before_save(&answer).await?;
            let guard = Guard::Unleased {
                generation: record.generation,
                now_ms,
            };
            record.set_lease(None);
            if let Saved::Ok { .. } = apps.save_app(&record, guard).await? {
                return Ok(Updated::Done(answer));
            }
        }
        if !retry.again().await {
            return Ok(Updated::Exhausted);
        }
    }
}

/// Loads the project's integration (`None` when it has none), lets `change` edit it, and
/// saves it if the stored generation has not moved (or, for one `change` created, if
/// there is still none). `Done` carries the integration as saved (its new generation), or
/// `None` when nothing was saved.
pub(crate) async fn update_integration<T>(
    integrations: &dyn IntegrationStore,
    project: &ProjectId,
    backoff: Backoff,
    mut change: impl FnMut(&mut Option<Integration>) -> Edit<T>,
) -> Result<Updated<(T, Option<Integration>)>, StoreError> {
    let mut retry = backoff.start();
    loop {
        let mut current = integrations.load_integration(project).await?;
        let expected = current.as_ref().map(|i| i.generation);
        match change(&mut current) {
            Edit::Keep(answer) => return Ok(Updated::Done((answer, None))),
            Edit::Save(answer) => {
                let Some(mut integration) = current else {
                    // Nothing to save: the change removed what it was handed.
                    return Ok(Updated::Done((answer, None)));
                };
                if let Saved::Ok { generation } = integrations
                    .save_integration(&integration, expected)
                    .await?
                {
                    integration.generation = generation;
                    return Ok(Updated::Done((answer, Some(integration))));
                }
            }
            Edit::Wait => {}
        }
        if !retry.again().await {
            return Ok(Updated::Exhausted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn given_a_try_budget_then_waits_double_to_the_cap_and_stop_after_the_last_try() {
        let started = tokio::time::Instant::now();
        let mut retry = Backoff::Tries(8).start();
        let mut waits = 0;
        while retry.again().await {
            waits += 1;
        }
        assert_eq!(waits, 7, "eight tries, seven waits between them");
        // 20 + 40 + 80 + 160 + 250 + 250 + 250 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(1050));
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_time_budget_then_tries_until_it_has_passed() {
        let started = tokio::time::Instant::now();
        let mut retry = Backoff::Within(Duration::from_secs(1)).start();
        while retry.again().await {}
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert!(started.elapsed() < Duration::from_secs(1) + MAX_PAUSE);
    }

    #[tokio::test(start_paused = true)]
    async fn given_at_once_then_never_waits() {
        let started = tokio::time::Instant::now();
        let mut retry = Backoff::AtOnce(5).start();
        let mut tries = 1;
        while retry.again().await {
            tries += 1;
        }
        assert_eq!(tries, 5);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
