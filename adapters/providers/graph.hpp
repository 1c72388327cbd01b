#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/http/api_session.hpp"
#include "config/config.hpp"
#include "messages/types.hpp"

// Microsoft Graph mail
// (https://learn.microsoft.com/graph/api/resources/message): find test messages
// with $search, resolve their folder to a well-known name, read the
// Focused/Other classification and the internet headers, and follow folders
// with delta queries.

namespace mailpipe::graph {

/// The message properties every request selects.
inline constexpr std::string_view message_select =
    "id,parentFolderId,inferenceClassification,internetMessageHeaders,subject";

/// Well-known folder names resolved to ids, in this order, once per mailbox.
inline constexpr std::string_view well_known_folders[] = {
    "inbox", "junkemail", "deleteditems", "archive"};

// -- pure parsers of the documented JSON --------------------------------------

/// A message resource with the selected properties.
struct message {
  /// The message id.
  std::string id;
  /// Id of the folder holding it.
  std::string parent_folder_id;
  /// "focused" or "other" ("" when absent).
  std::string inference_classification;
  /// The subject.
  std::string subject;
  /// `internetMessageHeaders` in order.
  std::vector<http::header_field> headers;
  /// True for a delta row marked `@removed` (deleted or moved out of the
  /// folder).
  bool removed = false;
};

/// One page of a message collection or of a delta round.
struct message_page {
  /// `value[]`.
  std::vector<message> messages;
  /// `@odata.nextLink`, "" on the last page.
  std::string next_link;
  /// `@odata.deltaLink`, only on the last page of a delta round.
  std::string delta_link;
};

/// Parses a message collection page; ec::parse_error when malformed.
caf::expected<message_page> parse_message_page(std::string_view body);

/// A mailFolder resource.
struct mail_folder {
  /// The folder id.
  std::string id;
  /// Its display name (localized for well-known folders).
  std::string display_name;
};

/// Parses a mailFolder resource; ec::parse_error when malformed.
caf::expected<mail_folder> parse_mail_folder(std::string_view body);

// -- the adapter --------------------------------------------------------------

/// What the Graph adapter needs besides its session.
struct options {
  /// "me" (delegated token) or the user's id or principal name (application
  /// token).
  std::string user = "me";
  /// `$top` of searches and `odata.maxpagesize` of delta rounds.
  int page_size = 50;
  /// Headers that carry the test id (analysis.test_id_headers).
  std::vector<std::string> test_id_headers = analysis_config{}.test_id_headers;
  /// The test-id token in the subject (analysis.test_id_pattern).
  std::string test_id_pattern = analysis_config{}.test_id_pattern;
};

/// The outcome of one delta round of a folder.
struct delta_result {
  /// True when Graph refused the stored delta link (HTTP 410 Gone): start a new
  /// round without a link.
  bool resync_needed = false;
  /// Messages created or changed since the link.
  std::vector<message> changed;
  /// Ids of messages deleted or moved out since.
  std::vector<std::string> removed;
  /// The `@odata.deltaLink` to store for the next round.
  std::string delta_link;
};

/// One Microsoft 365 / Outlook mailbox, read through an authorized session.
/// Blocking. Keeps the folder id -> name map for its lifetime (keep the object
/// to keep the cache).
class mailbox {
public:
  /// Reads the mailbox `opts.user` through `session`.
  mailbox(options opts, api_session& session);

  /// Finds every message carrying one of `test_ids` by the test-id rule
  /// (`carried_test_ids`; one $search per id, every page), one found message
  /// per id it carries: folder = well-known name or display name, labels =
  /// ["inferenceClassification:..."], header block rebuilt from
  /// internetMessageHeaders.
  caf::expected<std::vector<found_message>>
  find(const std::vector<std::string>& test_ids);

  /// Every message $search finds for `term` (quoted as a phrase).
  caf::expected<std::vector<message>> search(std::string_view term);

  /// The well-known name (inbox, junkemail, ...) of a folder id, else its
  /// display name.
  caf::expected<std::string> folder_name(const std::string& folder_id);

  /// One delta round of `folder` (a well-known name or an id): from
  /// `delta_link` when given, else from scratch (only the changes of
  /// `change_type`, e.g. "created", when given; Graph keeps it in the links it
  /// returns); follows every `@odata.nextLink` to the `@odata.deltaLink`.
  caf::expected<delta_result> delta(std::string_view folder,
                                    std::string_view delta_link = {},
                                    std::string_view change_type = {});

  /// The whole RFC 5322 message (`GET messages/{id}/$value`, its MIME
  /// content); ec::not_found when it was deleted.
  caf::expected<std::string> mime(std::string_view id);

  /// Turns a message into what the pipeline stores.
  caf::expected<found_message> to_found(message msg, std::string test_id);

private:
  std::string base() const;
  caf::error load_well_known();
  caf::expected<std::vector<message>> collect(std::string url);

  options opts_;
  api_session& session_;
  bool well_known_loaded_ = false;
  std::map<std::string, std::string> folder_names_;
};

} // namespace mailpipe::graph
