#include "adapters/db/newsletters.hpp"

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "adapters/db/connection.hpp"
#include "adapters/db/sql_values.hpp"

namespace mailpipe::db {

namespace {

caf::error no_newsletter(int64_t id) {
  return caf::make_error(ec::not_found, fmt::format("no newsletter {}", id));
}

std::string row_query(bool with_body) {
  return fmt::format(
      "SELECT id, message_key, COALESCE(email_account_id, 0), sender, "
      "subject, sent_at, {}, status, COALESCE(invalid_reason, ''), "
      "COALESCE(analysis::text, ''), {} FROM newsletters",
      with_body ? "body_text" : "''", iso_text("created_at"));
}

newsletter_row read_row(const pqxx::row& r) {
  newsletter_row n;
  n.id = r[0].as<int64_t>();
  n.message_key = r[1].as<std::string>();
  n.account = r[2].as<int64_t>();
  n.sender = r[3].as<std::string>();
  n.subject = r[4].as<std::string>();
  n.sent_at = r[5].as<std::string>();
  n.body_text = r[6].as<std::string>();
  n.status = r[7].as<std::string>();
  n.invalid_reason = r[8].as<std::string>();
  n.analysis_json = r[9].as<std::string>();
  n.created_at = r[10].as<std::string>();
  return n;
}

// Runs one UPDATE of newsletter `id`; `ec::not_found` when it matched none.
caf::error update_one(pqxx::connection& conn, int64_t id, std::string_view what,
                      const std::string& sql,
                      const std::optional<std::string>& arg = std::nullopt) {
  auto n = guarded(what, [&] {
    pqxx::nontransaction tx{conn};
    auto res = arg ? tx.exec_params(sql, id, *arg) : tx.exec_params(sql, id);
    return res.affected_rows();
  });
  if (!n)
    return n.error();
  return *n == 0 ? no_newsletter(id) : caf::error{};
}

} // namespace

caf::expected<newsletter_added> add_newsletter(pqxx::connection& conn,
                                               const newsletter_spec& spec) {
  return guarded("add a newsletter", [&] {
    pqxx::work tx{conn};
    auto added = tx.exec_params(
        "INSERT INTO newsletters (message_key, email_account_id, sender, "
        "subject, sent_at, body_text) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (message_key) DO NOTHING RETURNING id",
        spec.message_key, spec.account, spec.sender, spec.subject, spec.sent_at,
        spec.body_text);
    newsletter_added out;
    if (!added.empty()) {
      out = {added[0][0].as<int64_t>(), true, "new"};
    } else {
      auto row = tx.exec_params1(
          "SELECT id, status FROM newsletters WHERE message_key = $1",
          spec.message_key);
      out = {row[0].as<int64_t>(), false, row[1].as<std::string>()};
    }
    tx.commit();
    return out;
  });
}

caf::expected<newsletter_row> find_newsletter(pqxx::connection& conn,
                                              int64_t id) {
  auto rows = guarded("read a newsletter", [&] {
    pqxx::nontransaction tx{conn};
    return tx.exec_params(row_query(true) + " WHERE id = $1", id);
  });
  if (!rows)
    return rows.error();
  if (rows->empty())
    return no_newsletter(id);
  return read_row((*rows)[0]);
}

caf::expected<std::vector<newsletter_row>>
list_newsletters(pqxx::connection& conn, int64_t limit) {
  return guarded("list newsletters", [&] {
    pqxx::nontransaction tx{conn};
    std::vector<newsletter_row> out;
    for (const auto& r : tx.exec_params(
             row_query(false) + " ORDER BY created_at DESC, id DESC LIMIT $1",
             limit))
      out.push_back(read_row(r));
    return out;
  });
}

caf::error record_newsletter_analysis(pqxx::connection& conn, int64_t id,
                                      const std::string& analysis_json) {
  return update_one(
      conn, id, "record a newsletter's analysis",
      "UPDATE newsletters SET analysis = $2::jsonb, status = CASE WHEN status "
      "= 'indexed' THEN status ELSE 'analysed' END, invalid_reason = NULL, "
      "updated_at = now() WHERE id = $1",
      analysis_json);
}

caf::error index_newsletter_in_postgres(pqxx::connection& conn, int64_t id) {
  return update_one(
      conn, id, "index a newsletter",
      "UPDATE newsletters SET search = "
      "setweight(to_tsvector('simple', subject), 'A') || "
      "setweight(to_tsvector('simple', COALESCE(analysis->>'summary', '') || "
      "' ' || COALESCE((SELECT string_agg(t, ' ') FROM "
      "jsonb_array_elements_text(analysis->'topics') t), '')), 'B') || "
      "setweight(to_tsvector('simple', body_text), 'C'), "
      "status = 'indexed', indexed_at = now(), updated_at = now() "
      "WHERE id = $1");
}

caf::error mark_newsletter_indexed(pqxx::connection& conn, int64_t id) {
  return update_one(conn, id, "mark a newsletter indexed",
                    "UPDATE newsletters SET status = 'indexed', indexed_at = "
                    "now(), updated_at = now() WHERE id = $1");
}

caf::expected<bool> invalidate_newsletter_of(pqxx::connection& conn,
                                             const std::string& payload_json,
                                             std::string_view reason) {
  return guarded("mark a newsletter invalid", [&] {
    pqxx::nontransaction tx{conn};
    auto res = tx.exec_params(
        "UPDATE newsletters SET status = 'invalid', invalid_reason = $2, "
        "updated_at = now() WHERE id = (SELECT (p->>'newsletter_id')::bigint "
        "FROM (SELECT $1::jsonb AS p) s WHERE jsonb_typeof(p->'newsletter_id') "
        "= 'number')",
        payload_json, std::string{reason});
    return res.affected_rows() > 0;
  });
}

caf::expected<std::vector<newsletter_hit>>
search_newsletters(pqxx::connection& conn, std::string_view query,
                   int64_t limit) {
  return guarded("search newsletters", [&] {
    pqxx::nontransaction tx{conn};
    std::vector<newsletter_hit> out;
    for (const auto& r : tx.exec_params(
             "SELECT id, subject, sender, sent_at, ts_rank_cd(search, q), "
             "COALESCE(analysis->>'summary', '') FROM newsletters, "
             "websearch_to_tsquery('simple', $1) q WHERE search @@ q "
             "ORDER BY 5 DESC, id DESC LIMIT $2",
             std::string{query}, limit))
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(),
                     r[2].as<std::string>(), r[3].as<std::string>(),
                     r[4].as<double>(), r[5].as<std::string>()});
    return out;
  });
}

} // namespace mailpipe::db
