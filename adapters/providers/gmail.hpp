#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/http/api_session.hpp"
#include "adapters/mail/test_id.hpp"
#include "config/config.hpp"
#include "messages/types.hpp"

// The Gmail API (https://developers.google.com/gmail/api/reference/rest): find
// test messages by search in every folder (spam and trash included), read their
// labels and header block with format=metadata, and follow the mailbox's
// history.

namespace mailpipe::gmail {

// -- quota costs (Gmail usage limits, units per call) -------------------------

/// users.messages.list.
inline constexpr double cost_list = 5;
/// users.messages.get.
inline constexpr double cost_get = 5;
/// users.history.list.
inline constexpr double cost_history = 2;
/// users.getProfile.
inline constexpr double cost_profile = 1;

// -- pure parsers of the documented JSON --------------------------------------

/// One page of users.messages.list.
struct message_page {
  /// `messages[].id`.
  std::vector<std::string> ids;
  /// `nextPageToken`, "" on the last page.
  std::string next_page_token;
};

/// Parses a users.messages.list response; ec::parse_error when malformed.
caf::expected<message_page> parse_message_list(std::string_view body);

/// A message as users.messages.get?format=metadata returns it.
struct message_metadata {
  /// The message id.
  std::string id;
  /// `labelIds`, e.g. INBOX, SPAM, CATEGORY_PROMOTIONS, UNREAD.
  std::vector<std::string> label_ids;
  /// `payload.headers` in order.
  std::vector<http::header_field> headers;
  /// `historyId` of the message's last change.
  std::string history_id;
};

/// Parses a users.messages.get (format=metadata) response; ec::parse_error when
/// malformed.
caf::expected<message_metadata> parse_message_metadata(std::string_view body);

/// A message as users.messages.get?format=raw returns it.
struct raw_message {
  /// The message id.
  std::string id;
  /// `labelIds`, e.g. INBOX, SPAM, CATEGORY_PROMOTIONS.
  std::vector<std::string> label_ids;
  /// The whole RFC 5322 message, decoded from `raw` (base64url).
  std::string raw;
};

/// Parses a users.messages.get (format=raw) response; ec::parse_error when
/// malformed (no id, no `raw`, or `raw` not base64url).
caf::expected<raw_message> parse_raw_message(std::string_view body);

/// One page of users.history.list.
struct history_page {
  /// Ids of `history[].messagesAdded[].message`, first seen first, no
  /// duplicates.
  std::vector<std::string> added_ids;
  /// The mailbox's current `historyId`.
  std::string history_id;
  /// `nextPageToken`, "" on the last page.
  std::string next_page_token;
  /// The `id` of the page's last history record ("" when it has none): a
  /// later list from it starts after this page.
  std::string last_record_id;
};

/// Parses a users.history.list response; ec::parse_error when malformed.
caf::expected<history_page> parse_history(std::string_view body);

/// The search for `test_ids`: `"id"` for one, `{"id1" "id2"}` (any of) for
/// several.
std::string search_query(const std::vector<std::string>& test_ids);

// -- the adapter --------------------------------------------------------------

/// What the Gmail adapter needs besides its session.
struct options {
  /// `userId` in the paths: "me" or the address.
  std::string user_id = "me";
  /// `maxResults` of list calls.
  int page_size = 100;
  /// Test ids searched in one query.
  size_t batch = 20;
  /// Headers that carry the test id (analysis.test_id_headers).
  std::vector<std::string> test_id_headers = analysis_config{}.test_id_headers;
  /// The test-id token in the subject (analysis.test_id_pattern).
  std::string test_id_pattern = analysis_config{}.test_id_pattern;
};

/// One Gmail mailbox, read through an authorized session. Blocking.
class mailbox {
public:
  /// Reads the mailbox `opts.user_id` through `session`.
  mailbox(options opts, api_session& session);

  /// Finds every message carrying one of `test_ids` by the test-id rule
  /// (`carried_test_ids`), spam and trash included: one found message per id
  /// it carries, folder "", labels = labelIds, header block rebuilt from
  /// payload.headers. ec::invalid_config for a bad `test_id_pattern`.
  caf::expected<std::vector<found_message>>
  find(const std::vector<std::string>& test_ids);

  /// All message ids users.messages.list returns for `query` (every page, spam
  /// and trash included).
  caf::expected<std::vector<std::string>> search(std::string_view query);

  /// users.messages.get?format=metadata of one message: every header, or
  /// only the ones named in `only_headers` (`metadataHeaders`).
  caf::expected<message_metadata>
  metadata(std::string_view id,
           const std::vector<std::string>& only_headers = {});

  /// users.messages.get?format=raw of one message (ec::not_found when it was
  /// deleted).
  caf::expected<raw_message> raw(std::string_view id);

  /// One page of users.history.list from `start_history_id` (messageAdded
  /// only; `page_token` "" for the first): nullopt when Gmail no longer has
  /// that history (HTTP 404).
  caf::expected<std::optional<history_page>>
  history(std::string_view start_history_id, std::string_view page_token);

  /// The mailbox's current historyId (users.getProfile), the start of
  /// incremental fetches.
  caf::expected<std::string> current_history_id();

  /// Reads `ids` (e.g. from `history` pages) and keeps those carrying one of
  /// `test_ids` by the test-id rule (`carried_test_ids`); messages deleted
  /// meanwhile are skipped.
  caf::expected<std::vector<found_message>>
  fetch(const std::vector<std::string>& ids,
        const std::vector<std::string>& test_ids);

private:
  std::string url(std::string_view path) const;
  /// The body of users.messages.get of `id` in `format` (`query` appended).
  caf::expected<std::string> get_message(std::string_view id,
                                         std::string_view format,
                                         std::string_view query = {});
  /// The message as a test message for `test_id`.
  found_message to_found(const message_metadata& meta,
                         std::string test_id) const;
  /// Reads the metadata of `ids` and appends one found message per id of
  /// `pending` each carries by `rules`; messages deleted meanwhile are skipped.
  caf::error keep_test_messages(const std::vector<std::string>& ids,
                                const test_id_rules& rules,
                                const std::vector<std::string>& pending,
                                std::vector<found_message>& out);

  options opts_;
  api_session& session_;
};

} // namespace mailpipe::gmail
