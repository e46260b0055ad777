//! Limits on everything that could tell a stranger who is a member, or let them hold what is
//! not theirs (issue 13, items 4–6): applications to join, roster checks, union submissions.
//! Counters live in the shared ephemeral store (every instance counts the same attempts), in
//! the windows of [`crate::limits`].

use crate::error::ApiError;
use crate::limits::{BEIJING_OFFSET, DAY, HOUR, client_ip, too_many, window};
use crate::state::AppState;
use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use huigong_store::Ephemeral;
use std::time::Duration;
use uuid::Uuid;

/// The configured limits (`[applications]`, `[roster]`, `[unions]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLimits {
    /// Applications to join one WeChat account may submit per (Beijing) day.
    pub applications_per_account_per_day: u64,
    /// Applications to join per client address per hour.
    pub applications_per_ip_per_hour: u64,
    /// Roster rows (dry runs and commits) and single members one admin — and, separately, one
    /// grassroots union — may check against the county's membership per (Beijing) day.
    pub roster_checked_rows_per_day: u64,
    /// Union set-up submissions one WeChat account may make per (Beijing) day.
    pub union_submissions_per_account_per_day: u64,
    /// Union set-up submissions per client address per hour.
    pub union_submissions_per_ip_per_hour: u64,
}

impl Default for CheckLimits {
    fn default() -> Self {
        Self {
            applications_per_account_per_day: 5,
            applications_per_ip_per_hour: 60,
            roster_checked_rows_per_day: 20_000,
            union_submissions_per_account_per_day: 3,
            union_submissions_per_ip_per_hour: 20,
        }
    }
}

/// Counts one submission of `what` (`applications`, `union-submissions`) by `user` from the
/// request's client address; 429 `too_many_attempts` past either limit.
pub async fn count_submission(
    state: &AppState,
    req: &HttpRequest,
    what: &str,
    user: Uuid,
    per_account_per_day: u64,
    per_ip_per_hour: u64,
) -> Result<(), ApiError> {
    let store = state.sessions.store();
    let now = state.clock.now();
    let (hour, hour_left) = window(now, HOUR, 0);
    let from_ip = store
        .increment(
            &format!("{what}:ip:{}:{hour}", client_ip(req)),
            Duration::from_secs(hour_left + 1),
        )
        .await?;
    if from_ip > per_ip_per_hour {
        return Err(too_many("当前网络的提交过多，请稍后再试", hour_left));
    }
    let (day, day_left) = window(now, DAY, BEIJING_OFFSET);
    let from_user = store
        .increment(
            &format!("{what}:user:{user}:{day}"),
            Duration::from_secs(day_left + 1),
        )
        .await?;
    if from_user > per_account_per_day {
        return Err(too_many("今日提交次数已达上限，请明天再试", day_left));
    }
    Ok(())
}

/// Whether an application may tell its applicant "already a member": that answer is a guess
/// of an ID number and name, so it takes one of the account's daily activation guesses (the
/// counter of the activation preview, `card.max_failed_previews_per_day`). The guess is
/// reserved before the lookup, whatever the lookup finds; with none left the application is
/// simply recorded, and the reviewer sees the conflict.
pub async fn may_tell_member(state: &AppState, user: Uuid) -> Result<bool, ApiError> {
    let (day, day_left) = window(state.clock.now(), DAY, BEIJING_OFFSET);
    let used = state
        .sessions
        .store()
        .increment(
            &crate::routes::card::failures_key(user, day),
            Duration::from_secs(day_left + 1),
        )
        .await?;
    Ok(used <= state.card.max_failed_previews_per_day)
}

/// Who is checking rows of people against the county's membership, and their daily budget.
#[derive(Clone, Copy)]
pub struct RowBudget<'a> {
    pub store: &'a dyn Ephemeral,
    pub user_id: Uuid,
    pub per_day: u64,
}

impl std::fmt::Debug for RowBudget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowBudget")
            .field("user_id", &self.user_id)
            .field("per_day", &self.per_day)
            .finish_non_exhaustive()
    }
}

impl<'a> RowBudget<'a> {
    /// The budget of the admin `user_id` under the configured limit.
    pub fn of(state: &'a AppState, user_id: Uuid) -> Self {
        Self {
            store: state.sessions.store().as_ref(),
            user_id,
            per_day: state.checks.roster_checked_rows_per_day,
        }
    }

    /// Takes `rows` checked for grassroots union `org` from today's budgets (Beijing day) —
    /// the admin's and the union's, so that several accounts of one union share one budget —
    /// before they are checked; 429 `too_many_attempts` when they do not fit in either (a file
    /// larger than what is left takes nothing). Rows are taken whatever the check finds: a
    /// refused commit costs what a dry run costs.
    pub async fn charge(&self, org: Uuid, rows: u64, now: DateTime<Utc>) -> Result<(), ApiError> {
        if rows == 0 {
            return Ok(());
        }
        let (day, day_left) = window(now, DAY, BEIJING_OFFSET);
        let keys = [
            format!("roster:checked:{}:{day}", self.user_id),
            format!("roster:checked:org:{org}:{day}"),
        ];
        let refused = || too_many("今日核对的人员数已达上限，请明天再试", day_left);
        for key in &keys {
            let used = self
                .store
                .get(key)
                .await?
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            if used.saturating_add(rows) > self.per_day {
                return Err(refused());
            }
        }
        // Reserved atomically: of concurrent requests, those past either limit are refused.
        for key in &keys {
            let after = self
                .store
                .increment_by(key, rows, Duration::from_secs(day_left + 1))
                .await?;
            if after > self.per_day {
                return Err(refused());
            }
        }
        Ok(())
    }
}
