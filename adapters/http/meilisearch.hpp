#pragma once

// MeiliSearch's documents, tasks and search APIs, as the index_news queue and
// `mailpipe news search` use them when `search.meilisearch_url` is set.
// Writes are asynchronous there: adding documents answers 202 with a task,
// whose status the caller reads until it is succeeded or failed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/http/client.hpp"
#include "config/config.hpp"

namespace mailpipe::meilisearch {

/// The index that holds the newsletters (primary key `id`).
constexpr std::string_view newsletters_index = "newsletters";

/// Adds or replaces `documents_json` (a JSON array of objects with an `id`) in
/// `index`; returns the task's uid (`taskUid`, or `uid` of older versions).
caf::expected<int64_t> add_documents(http::client& client,
                                     const search_config& cfg,
                                     std::string_view index,
                                     const std::string& documents_json);

/// A task's state.
enum class task_state { pending, succeeded, failed };

/// What one read of a task says; `error` holds MeiliSearch's message of a
/// failed (or canceled) task.
struct task_status {
  task_state state = task_state::pending;
  std::string error;
};

/// Reads task `uid` once (enqueued and processing are `pending`).
caf::expected<task_status> read_task(http::client& client,
                                     const search_config& cfg, int64_t uid);

/// One hit of a search: the document's fields as JSON (`_formatted` left out).
caf::expected<std::vector<std::string>>
search(http::client& client, const search_config& cfg, std::string_view index,
       std::string_view query, int64_t limit);

} // namespace mailpipe::meilisearch
