//! The reports' settings and the monthly snapshot of the progress figures: each instance
//! wakes at the first minute of every Beijing month (and at start, for a month missed while
//! no instance ran) and tries to take the snapshot of the month just ended; exactly one
//! succeeds (see [`huigong_store::reports::take_snapshot`]).

use crate::state::AppState;
use huigong_core::period::Month;
use huigong_core::subsidy::SubsidyRule;
use huigong_store::reports::{self, ReportError, SnapshotOutcome};
use std::time::Duration;

/// What the reports need from the configuration (`[reports]`).
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// Applications waiting longer than this many days count as overdue.
    pub pending_overdue_days: u32,
    /// The 建会补助 rule's configurable part.
    pub subsidy: SubsidyRule,
    /// Whether this instance takes the monthly snapshots (every instance may: one wins).
    pub snapshots: bool,
    /// This instance's name in `progress_snapshots.taken_by`.
    pub instance: String,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            pending_overdue_days: 7,
            subsidy: SubsidyRule::default(),
            snapshots: true,
            instance: format!("instance-{}", uuid::Uuid::now_v7().simple()),
        }
    }
}

/// Takes the snapshot of `month` on behalf of `taken_by`.
pub async fn snapshot(
    state: &AppState,
    month: Month,
    taken_by: &str,
) -> Result<SnapshotOutcome, ReportError> {
    reports::take_snapshot(
        &state.db,
        state.sessions.store().as_ref(),
        month,
        state.clock.now(),
        state.reports.pending_overdue_days,
        taken_by,
    )
    .await
}

/// The last month that has ended at the state's clock.
pub fn last_ended_month(state: &AppState) -> Month {
    Month::of(state.clock.now()).prev()
}

/// Runs for the life of the service: brings the report counters up to date (the first time
/// after the migration that counts every union, so no administrator waits for it), then the
/// previous month's snapshot if it is missing, then one at the start of each month.
pub async fn run_snapshots(state: AppState) {
    if let Err(e) = reports::refresh_counters(&state.db, state.clock.now()).await {
        tracing::warn!(error = %e, "report counters not refreshed");
    }
    if !state.reports.snapshots {
        return;
    }
    loop {
        let month = last_ended_month(&state);
        match snapshot(&state, month, &state.reports.instance).await {
            Ok(SnapshotOutcome::Taken) => {
                tracing::info!(month = %month, "progress snapshot taken");
            }
            Ok(SnapshotOutcome::AlreadyTaken) => {}
            Err(e) => tracing::warn!(month = %month, error = %e, "progress snapshot failed"),
        }
        // Until the first minute of the next month (Beijing), checked at least hourly so a
        // clock that jumps, or a failed attempt, is caught up soon.
        let now = state.clock.now();
        let next = Month::of(now).end() + chrono::Duration::seconds(5);
        let wait = (next - now)
            .to_std()
            .unwrap_or(Duration::from_secs(60))
            .clamp(Duration::from_secs(30), Duration::from_secs(3600));
        tokio::time::sleep(wait).await;
    }
}
