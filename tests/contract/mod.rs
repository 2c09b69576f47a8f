//! The contract suite: procgate's behaviour scenarios (the job engine, parameters and types,
//! errors, cancel/timeout/retry, claims never shared, the durability fences), written once
//! against a `fixture::Backend` and run on every database. Each scenario is a `pub async fn` in
//! the file of its behaviour group, taking the backend; `contract_suite!` registers every one of
//! them as a `#[tokio::test]` in the test binary of a database:
//!
//! - `tests/api/main.rs` runs them on PostgreSQL (`postgres.rs`: a fresh database per scenario),
//!   in every `cargo test`;
//! - `tests/oracle_live.rs` runs the same functions on Oracle (`oracle.rs`) when
//!   `PROCGATE_TEST_ORACLE_URL` is set, and otherwise prints `SKIPPED: <scenario>: ...` for each.
//!
//! The backend modules are declared by their binaries, so each binary holds only its own. What a
//! scenario asks the database directly goes through a named `Backend` method; what only one
//! database can do stays in that database's own tests.

pub mod durability;
pub mod engine;
pub mod errors;
pub mod events;
pub mod faults;
pub mod fixture;
pub mod injection;
pub mod jobs;
pub mod params;
pub mod predecessor;

/// Registers every contract scenario as a `#[tokio::test]`, one module per behaviour group, with
/// `$open` (an `async fn(&str) -> Option<impl Backend>`) giving each scenario its database, or
/// `None` to skip it. Add a scenario here when you add one to a group file.
macro_rules! contract_suite {
    ($open:path) => {
        $crate::contract::contract_suite!(@groups $open;
            durability {
                a_completed_job_and_its_effects_commit_together,
                a_call_whose_attempt_was_taken_over_is_rolled_back,
                a_failed_call_rolls_back_its_own_effects,
                synchronous_calls_never_starve_leases_or_submits,
                results_past_the_limits_fail_cleanly_sync_and_async,
            }
            engine {
                a_terminal_job_never_changes_again,
                progress_only_rises_and_only_while_running,
                concurrent_claimers_never_share_a_job,
                two_instances_run_each_job_exactly_once,
                a_stopped_instance_leaves_no_job_running,
                rescue_and_heartbeat_respect_cancels_and_lost_leases,
                a_requested_cancel_wins_over_a_retry,
            }
            errors {
                parameters_are_checked_against_the_catalog_before_accepting,
                unknown_unlisted_and_malformed_procedure_names,
                body_errors_are_typed,
                routes_methods_and_ids,
                synchronous_calls_time_out_with_504_and_the_pool_stays_usable,
                synchronous_procedure_errors_are_422_with_the_database_code,
            }
            events {
                a_jobs_history_streams_to_its_end_and_resumes_after_an_id,
                live_events_arrive_while_the_job_runs_and_a_delete_ends_the_stream,
                events_follow_ownership_and_bad_resume_points_are_refused,
                the_long_poll_answers_at_the_next_event_or_at_its_deadline,
                the_feed_shows_each_caller_its_own_jobs_filtered_and_resumable,
                events_written_by_one_instance_reach_readers_on_another,
                the_procedures_own_progress_streams_live_with_its_figures,
                a_long_poll_sees_the_procedures_progress_mid_call,
            }
            faults {
                cancelling_a_pending_job_means_it_never_runs,
                cancelling_a_running_call_interrupts_it_and_keeps_the_pool_healthy,
                a_cancel_sent_to_one_instance_stops_the_call_on_another,
                cancel_follows_ownership,
                a_job_that_outlives_its_timeout_fails_with_code_timeout,
                retries_back_off_as_configured_and_keep_every_attempt,
                higher_priority_runs_first_then_oldest,
                delayed_jobs_do_not_run_early,
                an_idempotency_key_returns_the_same_job,
                per_procedure_limits_hold_across_instances,
                job_options_are_checked,
                shutdown_refuses_new_jobs_and_leaves_nothing_running,
                a_sync_call_running_at_shutdown_is_interrupted_and_answered,
            }
            injection {
                hostile_procedure_names_are_rejected,
            }
            jobs {
                list_is_newest_first_with_filters_and_pages,
                delete_one_job,
                pending_job_is_deleted_running_job_is_cancelled_then_deleted,
                bulk_delete_honours_each_filter_and_both,
                bulk_delete_never_touches_unfinished_jobs,
                bulk_delete_of_many_jobs_goes_in_batches,
                cursor_pages_of_every_filter_shape_match_the_full_list,
            }
            params {
                functions_return_under_the_first_out_parameter,
                omitted_types_and_directions_come_from_the_catalog,
            }
            predecessor {
                proc_test_job_completes_with_its_output,
                demora_shows_progress_while_running_then_completes,
                progress_never_goes_backwards,
                error_procedure_fails_with_its_message,
                cursor_procedure_returns_rows,
                params_procedure_takes_number_text_and_date,
                dml_procedure_reports_rows_created,
                synchronous_call_answers_with_out_values,
            }
        );
    };
    (@groups $open:path; $($group:ident { $($scenario:ident),* $(,)? })*) => {
        $(
            mod $group {
                $(
                    #[tokio::test]
                    async fn $scenario() {
                        let name = concat!(stringify!($group), "::", stringify!($scenario));
                        let Some(backend) = $open(name).await else { return };
                        $crate::contract::$group::$scenario(&backend).await;
                    }
                )*
            }
        )*
    };
}
pub(crate) use contract_suite;
