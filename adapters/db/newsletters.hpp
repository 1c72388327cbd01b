#pragma once

// Newsletters (migration 0003): added from a message, analysed by the
// process_mails queue, indexed by index_news, searched by `mailpipe news
// search`; marked invalid when one of their jobs goes dead.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/connection>

namespace mailpipe::db {

/// A newsletter to add.
struct newsletter_spec {
  /// Message-ID (or a digest of the message): adding the same key twice adds
  /// one row.
  std::string message_key;
  /// The seed account it came from, if any.
  std::optional<int64_t> account;
  std::string sender;
  std::string subject;
  /// The Date header as written.
  std::string sent_at;
  std::string body_text;
};

/// What adding a newsletter did.
struct newsletter_added {
  int64_t id = 0;
  /// False when the key was there already.
  bool added = false;
  /// Its status after the call (new, analysed, indexed, invalid).
  std::string status;
};

/// Adds the newsletter unless its key is known.
caf::expected<newsletter_added> add_newsletter(pqxx::connection& conn,
                                               const newsletter_spec& spec);

/// A newsletter as the commands and handlers read it.
struct newsletter_row {
  int64_t id = 0;
  std::string message_key;
  int64_t account = 0; // 0 when none
  std::string sender;
  std::string subject;
  std::string sent_at;
  std::string body_text;
  std::string status;
  std::string invalid_reason;
  std::string analysis_json; // "" when none
  std::string created_at;
};

/// One newsletter; `ec::not_found` when there is none with that id.
caf::expected<newsletter_row> find_newsletter(pqxx::connection& conn,
                                              int64_t id);

/// The newest newsletters first (bodies left empty).
caf::expected<std::vector<newsletter_row>>
list_newsletters(pqxx::connection& conn, int64_t limit);

/// Stores the content analysis (status analysed, unless already indexed).
caf::error record_newsletter_analysis(pqxx::connection& conn, int64_t id,
                                      const std::string& analysis_json);

/// Writes the PostgreSQL full-text document of the newsletter (subject weight
/// A, summary and topics B, body C; the 'simple' configuration, which does
/// not stem, since newsletters come in every language) and sets it indexed.
caf::error index_newsletter_in_postgres(pqxx::connection& conn, int64_t id);

/// Sets it indexed (in MeiliSearch).
caf::error mark_newsletter_indexed(pqxx::connection& conn, int64_t id);

/// Marks invalid, with `reason`, the newsletter a dead job's payload names
/// (`{"newsletter_id": N}`); false when the payload names none.
caf::expected<bool> invalidate_newsletter_of(pqxx::connection& conn,
                                             const std::string& payload_json,
                                             std::string_view reason);

/// One hit of a full-text search.
struct newsletter_hit {
  int64_t id = 0;
  std::string subject;
  std::string sender;
  std::string sent_at;
  /// ts_rank_cd of the document.
  double rank = 0;
  /// The summary from the analysis ("" when none).
  std::string summary;
};

/// Searches the indexed newsletters with `websearch_to_tsquery` (quoted
/// phrases, `or`, `-word`), best first.
caf::expected<std::vector<newsletter_hit>>
search_newsletters(pqxx::connection& conn, std::string_view query,
                   int64_t limit);

} // namespace mailpipe::db
