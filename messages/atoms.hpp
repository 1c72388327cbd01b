#pragma once

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

// Every atom of the protocol, one line each (atom text is at most 10 characters
// in CAF 0.17).

/// Asks any actor for its status dictionary (the console is built on it).
CAF_ADD_ATOM(mailpipe, mailpipe::atom, status, "status")
/// Starts a processing run (scheduler tick or `mailpipe process`).
CAF_ADD_ATOM(mailpipe, mailpipe::atom, run, "run")
/// A periodic timer of an actor to itself.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, tick, "tick")
/// Asks a fetcher to find the messages of pending tests.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, fetch, "fetch")
/// Asks the analyzer to analyse a header block.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, analyze, "analyze")
/// Asks the store to persist something.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, store, "store")
/// A node heartbeat.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, heartbeat, "heartbeat")
/// Orders an ordered shutdown of a subtree.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, shutdown, "shutdown")
/// Reports an event to the metrics or alert actor.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, event, "event")
/// Reactivates a disabled account.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, reactivate, "reactivate")
/// Redrives a dead job.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, redrive, "redrive")
/// Pauses a queue.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, pause, "pause")
/// Resumes a queue.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, resume, "resume")
/// The answer to a request that finished its work (a terminator's shutdown).
CAF_ADD_ATOM(mailpipe, mailpipe::atom, done, "done")
/// Asks the store to delete old rows (the daily metrics cleanup).
CAF_ADD_ATOM(mailpipe, mailpipe::atom, clean, "clean")
/// Asks the store to renew or release the leases of a run.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, lease, "lease")
/// Progress of a run, sent to the run's listener.
CAF_ADD_ATOM(mailpipe, mailpipe::atom, progress, "progress")
