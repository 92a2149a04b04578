//! The storage scenarios on SQLite (a temp file per test), the catalog's included.
#![cfg(feature = "server")]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

mod support;

use support::{audiences, catalog, catalog_emails, intent_sessions, mix, orders, scenarios};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_merges_states() {
    scenarios::login_merges_states(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onsite_offer_suppresses_reminder() {
    scenarios::onsite_offer_suppresses_reminder(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_cancels_followups() {
    scenarios::purchase_cancels_followups(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_opt_out_falls_back_to_email() {
    scenarios::sms_opt_out_falls_back_to_email(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_delegated_email_is_delivered_by_the_backend() {
    scenarios::browser_delegated_email_is_delivered_by_the_backend(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_is_rendered_from_the_freshest_state() {
    scenarios::reminder_is_rendered_from_the_freshest_state(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_replica_rows_are_taken_over() {
    scenarios::crashed_replica_rows_are_taken_over(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_fails_only_its_own_jobs() {
    scenarios::one_bad_row_fails_only_its_own_jobs(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_traits_are_not_overwritten_by_syncs() {
    scenarios::server_traits_are_not_overwritten_by_syncs(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_triggers_reach_interested_shoppers() {
    scenarios::catalog_triggers_reach_interested_shoppers(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_replace_then_patch() {
    catalog::catalog_replace_then_patch(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_rejected_rows_keep_their_items() {
    catalog::catalog_rejected_rows_keep_their_items(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_failed_import_leaves_the_previous_catalog_whole() {
    catalog::catalog_failed_import_leaves_the_previous_catalog_whole(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_import_fires_its_triggers() {
    scenarios::catalog_import_fires_its_triggers(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_drop_email_from_an_xml_feed() {
    catalog_emails::price_drop_email_from_an_xml_feed(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restock_and_new_arrival_emails_name_the_items() {
    catalog_emails::restock_and_new_arrival_emails_name_the_items(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_cart_emails_list_their_items() {
    catalog_emails::search_and_cart_emails_list_their_items(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_recorded_once_and_backfilled() {
    orders::orders_are_recorded_once_and_backfilled(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_recorded_for_the_intent_fit() {
    intent_sessions::sessions_are_recorded_for_the_intent_fit(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn birthday_and_anniversary_reach_shoppers_who_never_visit() {
    audiences::birthday_and_anniversary_reach_shoppers_who_never_visit(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_drive_win_back_and_buy_again() {
    audiences::predictions_drive_win_back_and_buy_again(support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_split_shifts_traffic_and_keeps_the_holdout() {
    mix::adaptive_split_shifts_traffic_and_keeps_the_holdout(support::sqlite()).await;
}
