//! The same storage scenarios on Postgres (the catalog's included), plus two replicas
//! sharing the due timers.
//! Needs the throwaway cluster of scripts/pg-test.sh (`WAYMARK_TEST_PG`; scripts/test.sh
//! section `server` always provides it). Without it every test reports as ignored, with
//! the reason, and under CI (`CI=true`) fails: run by libtest-mimic (`harness = false`),
//! so that a missing cluster is never counted as passed.
#![cfg_attr(
    feature = "server",
    expect(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "test code: a failed unwrap, index or panic is a failed test"
    )
)]

#[cfg(feature = "server")]
mod support;

#[cfg(feature = "server")]
fn main() -> std::process::ExitCode {
    use libtest_mimic::Trial;
    use support::harness::run;
    use support::{audiences, catalog, catalog_emails, intent_sessions, mix, orders, scenarios};

    run(vec![
        Trial::ignorable_test("pg_login_merges_states", || on_postgres("login", 2, scenarios::login_merges_states)),
        Trial::ignorable_test("pg_onsite_offer_suppresses_reminder", || {
            on_postgres("onsite", 2, scenarios::onsite_offer_suppresses_reminder)
        }),
        Trial::ignorable_test("pg_purchase_cancels_followups", || {
            on_postgres("purchase", 2, scenarios::purchase_cancels_followups)
        }),
        Trial::ignorable_test("pg_sms_opt_out_falls_back_to_email", || {
            on_postgres("sms", 2, scenarios::sms_opt_out_falls_back_to_email)
        }),
        Trial::ignorable_test("pg_two_replicas_deliver_exactly_once", || {
            on_postgres("replicas", 4, |db| scenarios::two_replicas_deliver_exactly_once(db, 200))
        }),
        Trial::ignorable_test("pg_browser_delegated_email_is_delivered_by_the_backend", || {
            on_postgres("delegated", 2, scenarios::browser_delegated_email_is_delivered_by_the_backend)
        }),
        Trial::ignorable_test("pg_two_replicas_merge_racing_syncs", || {
            on_postgres("racing", 2, scenarios::two_replicas_merge_racing_syncs)
        }),
        Trial::ignorable_test("pg_reminder_is_rendered_from_the_freshest_state", || {
            on_postgres("templated", 2, scenarios::reminder_is_rendered_from_the_freshest_state)
        }),
        Trial::ignorable_test("pg_crashed_replica_rows_are_taken_over", || {
            on_postgres("crashed", 4, scenarios::crashed_replica_rows_are_taken_over)
        }),
        Trial::ignorable_test("pg_one_bad_row_fails_only_its_own_jobs", || {
            on_postgres("bad_row", 2, scenarios::one_bad_row_fails_only_its_own_jobs)
        }),
        Trial::ignorable_test("pg_server_traits_are_not_overwritten_by_syncs", || {
            on_postgres("server_traits", 2, scenarios::server_traits_are_not_overwritten_by_syncs)
        }),
        Trial::ignorable_test("pg_catalog_triggers_reach_interested_shoppers", || {
            on_postgres("catalog_triggers", 2, scenarios::catalog_triggers_reach_interested_shoppers)
        }),
        Trial::ignorable_test("pg_catalog_import_fires_its_triggers", || {
            on_postgres("catalog_import", 2, scenarios::catalog_import_fires_its_triggers)
        }),
        Trial::ignorable_test("pg_price_drop_email_from_an_xml_feed", || {
            on_postgres("price_drop_email", 2, catalog_emails::price_drop_email_from_an_xml_feed)
        }),
        Trial::ignorable_test("pg_restock_and_new_arrival_emails_name_the_items", || {
            on_postgres("restock_email", 2, catalog_emails::restock_and_new_arrival_emails_name_the_items)
        }),
        Trial::ignorable_test("pg_search_and_cart_emails_list_their_items", || {
            on_postgres("search_email", 2, catalog_emails::search_and_cart_emails_list_their_items)
        }),
        Trial::ignorable_test("pg_orders_are_recorded_once_and_backfilled", || {
            on_postgres("orders", 2, orders::orders_are_recorded_once_and_backfilled)
        }),
        Trial::ignorable_test("pg_sessions_are_recorded_for_the_intent_fit", || {
            on_postgres("intent_sessions", 2, intent_sessions::sessions_are_recorded_for_the_intent_fit)
        }),
        Trial::ignorable_test("pg_birthday_and_anniversary_reach_shoppers_who_never_visit", || {
            on_postgres("audiences", 2, audiences::birthday_and_anniversary_reach_shoppers_who_never_visit)
        }),
        Trial::ignorable_test("pg_adaptive_split_shifts_traffic_and_keeps_the_holdout", || {
            on_postgres("mix", 2, mix::adaptive_split_shifts_traffic_and_keeps_the_holdout)
        }),
        Trial::ignorable_test("pg_predictions_drive_win_back_and_buy_again", || {
            on_postgres("predictions", 2, audiences::predictions_drive_win_back_and_buy_again)
        }),
        Trial::ignorable_test("pg_catalog_replace_then_patch", || {
            on_postgres("catalog", 2, catalog::catalog_replace_then_patch)
        }),
        Trial::ignorable_test("pg_catalog_rejected_rows_keep_their_items", || {
            on_postgres("catalog_rejected", 2, catalog::catalog_rejected_rows_keep_their_items)
        }),
        Trial::ignorable_test("pg_catalog_failed_import_leaves_the_previous_catalog_whole", || {
            on_postgres("catalog_failed", 2, catalog::catalog_failed_import_leaves_the_previous_catalog_whole)
        }),
    ])
}

/// Runs `scenario` on a fresh database `name` of the test cluster, in a multi-threaded
/// runtime of `workers` threads (as `#[tokio::test(flavor = "multi_thread")]` would);
/// ignored without a cluster, failed under CI without one.
#[cfg(feature = "server")]
fn on_postgres<F, Fut>(
    name: &str,
    workers: usize,
    scenario: F,
) -> Result<libtest_mimic::Completion, libtest_mimic::Failed>
where
    F: FnOnce(support::TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if support::postgres_cluster().is_none() {
        return support::harness::absent(
            "WAYMARK_TEST_PG unset: no Postgres cluster (scripts/test.sh server starts one with scripts/pg-test.sh)",
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    runtime.block_on(async {
        let db = support::postgres(name).await;
        scenario(db).await;
    });
    Ok(libtest_mimic::Completion::Completed)
}

/// Without the backend there is nothing to run on Postgres.
#[cfg(not(feature = "server"))]
fn main() -> std::process::ExitCode {
    libtest_mimic::run(&libtest_mimic::Arguments::from_args(), Vec::new()).exit_code()
}
