#pragma once

// Every typed actor interface of mailpipe, one comment per handler. Reading
// this file tells the whole message protocol.

#include <caf/atom.hpp>
#include <caf/config_value.hpp>
#include <caf/dictionary.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/fwd.hpp"
#include "messages/pipeline.hpp"

namespace mailpipe {

/// The answer to a status request: a small dictionary (VAST's status
/// convention).
using status_dict = caf::dictionary<caf::config_value>;

/// Every actor answers a status request (the console is built on it).
using status_handler = caf::replies_to<atom::status>::with<status_dict>;

/// The root actor of a node: supervises the node's actors and shuts them down
/// in order.
using node_actor = caf::typed_actor<
    // Returns the node's status with one entry per child.
    status_handler,
    // Starts the ordered shutdown: children stop in reverse start order (a
    // terminator kills one that outlives `node.shutdown_grace`), then the node.
    caf::reacts_to<atom::shutdown>>;

/// Stops a set of actors in order, escalating to a kill after a grace period
/// (one per shutdown; the node and every supervisor use it).
using terminator_actor = caf::typed_actor<
    // Returns how many targets there are, how many are stopped and how many
    // were killed.
    status_handler,
    // Stops the targets; the answer comes once every one is down or killed.
    caf::replies_to<atom::shutdown,
                    std::vector<terminator_target>>::with<atom::done>,
    // Internal: the grace period of the target at this index ran out.
    caf::reacts_to<atom::tick, uint64_t>>;

/// Registers the node in `nodes` and keeps its heartbeat (a detached actor: it
/// blocks on PostgreSQL). Marks the node stopped when it exits.
using registrar_actor = caf::typed_actor<
    // Returns the node name, last heartbeat and database state.
    status_handler,
    // Internal: writes the heartbeat and schedules the next one.
    caf::reacts_to<atom::heartbeat>>;

// -- the processing pipeline (DESIGN.md, "Flow of one processing run") --------

/// A PostgreSQL writer of the pipeline (detached: it blocks on libpq; a small
/// pool shares the work, one connection each). Every call is one transaction,
/// bounded by the database timeouts.
using store_actor = caf::typed_actor<
    // Returns the calls made, the last error and whether the connection is up.
    status_handler,
    // Claims the eligible accounts with the holder's lease (a dry run only
    // lists them) and opens each account's secret.
    caf::replies_to<atom::run, claim_request>::with<claim_result>,
    // Writes a pass's results once per test and account, or its failure (count,
    // retry time, disabling), in one transaction; the answer comes after the
    // commit.
    caf::replies_to<atom::store, pass_record>::with<pass_ack>,
    // Seals a refresh token an account's provider rotated to (while the
    // stored one is still one it replaces).
    caf::reacts_to<atom::store, rotated_token>,
    // Inserts metrics rows in one statement; returns how many.
    caf::replies_to<atom::store, std::vector<metrics_row>>::with<int64_t>,
    // Extends every lease of the holder's run by the duration; returns how
    // many.
    caf::replies_to<atom::lease, lease_holder,
                    pipeline_duration>::with<int64_t>,
    // Ends a run: releases its leases, expires tests past `expires_at` and
    // completes those with nothing pending; returns (tests expired, tests
    // completed).
    caf::replies_to<atom::done, lease_holder>::with<int64_t, int64_t>,
    // Deletes metrics rows older than this many days; returns how many.
    caf::replies_to<atom::clean, int64_t>::with<int64_t>>;

/// One per seed account, alive as long as the node knows the account: keeps its
/// session hints and token cache across passes and its failure state (a cache
/// of `email_account_failures`); spawns a fetcher and an analyzer per pass.
using supervisor_actor = caf::typed_actor<
    // Returns the account, its failure count, retry time, passes and last
    // outcome.
    status_handler,
    // One pass: fetch, analyse, store, then the outcome (never an error: a
    // failure is an outcome).
    caf::replies_to<atom::run, pass_request>::with<pass_outcome>>;

/// Finds the test messages of one account (detached: blocking I/O); quits after
/// one answer. Between the tries of a read that must wait (a rate limit, a
/// retry) it sleeps in its mailbox, answering status and exit.
using fetcher_actor = caf::typed_actor<
    // Returns the account, the tries so far and whether one is scheduled.
    status_handler,
    // Finds the messages of the pass's pending tests within its time limit.
    caf::replies_to<atom::fetch,
                    pass_request>::with<std::vector<found_message>>,
    // Internal: the wait asked for by the last try is over; try again.
    caf::reacts_to<atom::tick>>;

/// Turns found messages into results (pure; quits after one answer).
using analyzer_actor = caf::typed_actor<
    caf::replies_to<atom::analyze, provider, std::vector<found_message>>::with<
        std::vector<found_result>>>;

/// One processing run: claims, keeps at most `parallel` accounts busy, collects
/// the outcomes, ends the run, answers with the report, and quits.
using orchestrator_actor = caf::typed_actor<
    // Returns the run id, accounts claimed, in flight and done.
    status_handler,
    // Runs once.
    caf::replies_to<atom::run, run_request>::with<run_report>,
    // Starts no further account; the run ends when the passes in flight are
    // done.
    caf::reacts_to<atom::shutdown>,
    // Internal: renews the run's leases.
    caf::reacts_to<atom::lease>>;

/// Starts runs (every `processing.interval` in `mailpipe run`, or when asked,
/// never two at once) and owns the account supervisors, routing each pass to
/// its account's supervisor.
using scheduler_actor = caf::typed_actor<
    // Returns runs started, the run in progress, supervisors alive.
    status_handler,
    // Starts a run now; `ec::busy` (as an error) when one is in progress.
    caf::replies_to<atom::run, run_request>::with<run_report>,
    // Routes a pass to the supervisor of its account (created on first use).
    caf::replies_to<atom::run, pass_request>::with<pass_outcome>,
    // Internal: the interval elapsed.
    caf::reacts_to<atom::tick>>;

/// In-memory counters of the node and the daily cleanup of
/// `email_processing_metrics`.
using metrics_actor = caf::typed_actor<
    // Returns runs, accounts by outcome, messages found, rows written.
    status_handler,
    // Writes a run's rows (through a store) and counts them.
    caf::replies_to<atom::store, std::vector<metrics_row>>::with<int64_t>,
    // Internal: the daily cleanup.
    caf::reacts_to<atom::clean>>;

/// Turns events into alerts: per-kind windows (the `alerts.threshold`-th event
/// within `alerts.window` fires one alert, then `alerts.cooldown`), critical
/// events at once. Every alert is a row in `alerts`; delivery to Discord never
/// blocks the sender.
using alerter_actor = caf::typed_actor<
    // Returns the windows, alerts sent, pending and dropped.
    status_handler,
    // Counts an event; may fire an alert.
    caf::reacts_to<atom::event, alert_event>,
    // Internal: retries deliveries and records that waited for the database.
    caf::reacts_to<atom::tick>>;

/// The alerter's detached helper: writes the alert rows and delivers them to
/// Discord (blocking I/O), so the alerter itself never blocks.
using alert_sender_actor = caf::typed_actor<
    // Returns the queue lengths, the counters and the last errors.
    status_handler,
    // Records and delivers one alert that fired (its text already composed;
    // `at` is its `created_at`).
    caf::reacts_to<atom::store, alert_event>,
    // Writes the records that waited for the database, and takes over the
    // pending rows of an earlier process on the first connection (sent by the
    // alerter's tick).
    caf::reacts_to<atom::store>,
    // Internal: the wait before the next delivery is over (older generations
    // are stale).
    caf::reacts_to<atom::tick, uint64_t>>;

// -- the durable queues (DESIGN.md, "Durable jobs") ---------------------------

/// Works the durable queues it has handlers for (detached: it blocks on
/// PostgreSQL and on the handlers' I/O): claims a batch, runs each job,
/// records its outcome, and raises a critical alert for a job that went dead.
/// Polls every second while there is nothing to do.
using job_worker_actor = caf::typed_actor<
    // Returns its queues, the jobs done, retried and dead, and the last error.
    status_handler,
    // Internal: claims and runs the next batch.
    caf::reacts_to<atom::tick>>;

/// Renews the leases of the jobs the node's workers run (detached: it blocks
/// on PostgreSQL), every third of `jobs.lease`.
using lease_keeper_actor = caf::typed_actor<
    // Returns the jobs held and the leases renewed.
    status_handler,
    // A worker (its lease owner) runs these jobs now.
    caf::reacts_to<atom::lease, std::string, std::vector<std::string>>,
    // The worker is done with these jobs.
    caf::reacts_to<atom::done, std::string, std::vector<std::string>>,
    // Internal: renew.
    caf::reacts_to<atom::tick>>;

/// The key under which a node's scheduler is in the registry, for the
/// `fetch_emails` jobs that ask it for a pass of one account.
constexpr caf::atom_value scheduler_registry_key = caf::atom("scheduler");

/// The key under which a node's lease keeper is in the registry.
constexpr caf::atom_value lease_keeper_registry_key = caf::atom("leasekeep");

// -- IMAP push (docs/pipeline.md, "IMAP push") ---------------------------------

/// Takes the watch of the accounts with push on and runs a watcher for each
/// (detached: it blocks on PostgreSQL).
using push_watch_actor = caf::typed_actor<
    // Returns the accounts watched, the reports and the jobs added.
    status_handler,
    // A watcher saw new mail in this account: enqueue its fetch_emails job.
    caf::reacts_to<atom::fetch, int64_t>,
    // A watcher's provider rotated its account's refresh token: seal it.
    caf::reacts_to<atom::store, rotated_token>,
    // Internal: renew the watches, take new ones, drop those turned off.
    caf::reacts_to<atom::tick>>;

/// Holds one IDLE connection to a push account's server (detached: it blocks
/// on the socket).
using idle_watcher_actor = caf::typed_actor<
    // Returns the account, whether it is connected and the reports made.
    status_handler,
    // Internal: one round (look at the folders, then IDLE).
    caf::reacts_to<atom::run>>;

// -- the HTTP endpoint (docs/http.md) -----------------------------------------

/// Serves the node's HTTP endpoint (detached: it owns the server's threads,
/// which block on PostgreSQL, and joins them when it exits).
using http_endpoint_actor = caf::typed_actor<
    // Returns the address, the requests answered and the 5xx among them.
    status_handler>;

/// The key under which a running alerter is in its actor system's registry, for
/// the actors that alert without holding it (the registrar).
constexpr caf::atom_value alerter_registry_key = caf::atom("alerter");

} // namespace mailpipe
