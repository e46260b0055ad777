//! End-to-end tests over HTTP against the spawned service, on the backend that
//! `HUIGONG_TEST_BACKEND` selects (`tests/run.sh` runs them on both).
//!
//! One test binary on purpose (STYLE.md): add modules here, not files under `tests/`.

mod helpers;
mod proxy;

mod accounts;
mod admin;
mod api;
mod applications;
mod audit_sealer;
mod backup;
mod benefits;
mod card;
mod card_view;
mod console;
mod console_records;
mod console_reports;
mod demo;
mod exposure;
mod faults;
mod fuzz;
mod guessing;
mod hardening;
mod login;
mod membership;
mod merchants;
mod metrics;
mod notifications;
mod operations;
mod oracle;
mod phone;
mod posters;
mod reach;
mod redis_ha;
mod registration;
mod reports;
mod review;
mod review_auth;
mod roster;
mod sessions;
mod totp;
mod unions;
