//! The same storage scenarios on Postgres, plus two replicas sharing the due timers.
//! Needs the throwaway cluster of scripts/pg-test.sh (`WAYMARK_TEST_PG`); without it each
//! test prints a notice and passes (scripts/test.sh server always provides it).
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use support::scenarios;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_login_merges_states() {
    let Some(db) = support::postgres("login").await else { return };
    scenarios::login_merges_states(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_onsite_offer_suppresses_reminder() {
    let Some(db) = support::postgres("onsite").await else { return };
    scenarios::onsite_offer_suppresses_reminder(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_purchase_cancels_followups() {
    let Some(db) = support::postgres("purchase").await else { return };
    scenarios::purchase_cancels_followups(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_sms_opt_out_falls_back_to_email() {
    let Some(db) = support::postgres("sms").await else { return };
    scenarios::sms_opt_out_falls_back_to_email(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_two_replicas_deliver_exactly_once() {
    let Some(db) = support::postgres("replicas").await else { return };
    scenarios::two_replicas_deliver_exactly_once(db, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_browser_delegated_email_is_delivered_by_the_backend() {
    let Some(db) = support::postgres("delegated").await else { return };
    scenarios::browser_delegated_email_is_delivered_by_the_backend(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_two_replicas_merge_racing_syncs() {
    let Some(db) = support::postgres("racing").await else { return };
    scenarios::two_replicas_merge_racing_syncs(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_reminder_is_rendered_from_the_freshest_state() {
    let Some(db) = support::postgres("templated").await else { return };
    scenarios::reminder_is_rendered_from_the_freshest_state(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_crashed_replica_rows_are_taken_over() {
    let Some(db) = support::postgres("crashed").await else { return };
    scenarios::crashed_replica_rows_are_taken_over(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_one_bad_row_fails_only_its_own_jobs() {
    let Some(db) = support::postgres("bad_row").await else { return };
    scenarios::one_bad_row_fails_only_its_own_jobs(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_server_traits_are_not_overwritten_by_syncs() {
    let Some(db) = support::postgres("server_traits").await else { return };
    scenarios::server_traits_are_not_overwritten_by_syncs(db).await;
}
