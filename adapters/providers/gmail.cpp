#include "adapters/providers/gmail.hpp"

#include <set>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "adapters/providers/mail_json.hpp"
#include "adapters/sys/crypto.hpp"

namespace mailpipe::gmail {

namespace {

using mail_json::malformed;
using mail_json::string_field;
using mail_json::with_object;

// `labelIds` of a message resource (none when absent).
template <class Json>
std::vector<std::string> label_ids_of(Json doc) {
  std::vector<std::string> out;
  simdjson::dom::array labels;
  if (doc["labelIds"].get(labels) == simdjson::SUCCESS)
    for (auto l : labels) {
      std::string_view text;
      if (l.get(text) == simdjson::SUCCESS)
        out.emplace_back(text);
    }
  return out;
}

} // namespace

// -- parsers ------------------------------------------------------------------

caf::expected<message_page> parse_message_list(std::string_view body) {
  return with_object<message_page>(
      body, "Gmail messages.list", [](auto doc) -> caf::expected<message_page> {
        message_page out;
        simdjson::dom::array msgs;
        // An empty result has no "messages" at all.
        if (doc["messages"].get(msgs) == simdjson::SUCCESS)
          for (auto m : msgs) {
            auto id = string_field(m, "id");
            if (id.empty())
              return malformed("Gmail messages.list");
            out.ids.push_back(std::move(id));
          }
        else if (doc["messages"].error() != simdjson::NO_SUCH_FIELD)
          return malformed("Gmail messages.list");
        out.next_page_token = string_field(doc, "nextPageToken");
        return out;
      });
}

caf::expected<message_metadata> parse_message_metadata(std::string_view body) {
  return with_object<message_metadata>(
      body, "Gmail messages.get",
      [](auto doc) -> caf::expected<message_metadata> {
        message_metadata out;
        out.id = string_field(doc, "id");
        if (out.id.empty())
          return malformed("Gmail messages.get");
        out.history_id = string_field(doc, "historyId");
        out.label_ids = label_ids_of(doc);
        simdjson::dom::array headers;
        if (doc["payload"]["headers"].get(headers) == simdjson::SUCCESS)
          out.headers = mail_json::parse_headers(headers);
        return out;
      });
}

caf::expected<raw_message> parse_raw_message(std::string_view body) {
  return with_object<raw_message>(
      body, "Gmail messages.get (raw)",
      [](auto doc) -> caf::expected<raw_message> {
        raw_message out;
        out.id = string_field(doc, "id");
        auto encoded = string_field(doc, "raw");
        if (out.id.empty() || encoded.empty())
          return malformed("Gmail messages.get (raw)");
        auto decoded = crypto::base64_decode(encoded);
        if (!decoded)
          return malformed("Gmail messages.get (raw)");
        out.raw = std::move(*decoded);
        out.label_ids = label_ids_of(doc);
        return out;
      });
}

caf::expected<history_page> parse_history(std::string_view body) {
  return with_object<history_page>(
      body, "Gmail history.list", [](auto doc) -> caf::expected<history_page> {
        history_page out;
        out.history_id = string_field(doc, "historyId");
        if (out.history_id.empty())
          return malformed("Gmail history.list");
        out.next_page_token = string_field(doc, "nextPageToken");
        std::set<std::string> seen;
        simdjson::dom::array history;
        if (doc["history"].get(history) == simdjson::SUCCESS)
          for (auto h : history) {
            out.last_record_id = string_field(h, "id");
            simdjson::dom::array added;
            if (h["messagesAdded"].get(added) != simdjson::SUCCESS)
              continue;
            for (auto a : added) {
              simdjson::dom::element msg;
              if (a["message"].get(msg) != simdjson::SUCCESS)
                continue;
              auto id = string_field(msg, "id");
              if (!id.empty() && seen.insert(id).second)
                out.added_ids.push_back(std::move(id));
            }
          }
        return out;
      });
}

std::string search_query(const std::vector<std::string>& test_ids) {
  std::string out;
  for (auto& id : test_ids)
    out += fmt::format("{}\"{}\"", out.empty() ? "" : " ", id);
  return test_ids.size() > 1 ? "{" + out + "}" : out;
}

// -- mailbox ------------------------------------------------------------------

mailbox::mailbox(options opts, api_session& session)
    : opts_(std::move(opts)), session_(session) {}

std::string mailbox::url(std::string_view path) const {
  auto base = session_.options().api_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return fmt::format("{}/gmail/v1/users/{}/{}", base,
                     http::url_encode(opts_.user_id), path);
}

caf::expected<std::vector<std::string>>
mailbox::search(std::string_view query) {
  std::vector<std::string> out;
  std::string page_token;
  do {
    auto u =
        url(fmt::format("messages?q={}&includeSpamTrash=true&maxResults={}",
                        http::url_encode(query), opts_.page_size));
    if (!page_token.empty())
      u += "&pageToken=" + http::url_encode(page_token);
    auto resp = session_.get(u, cost_list);
    if (!resp)
      return std::move(resp.error());
    auto page = parse_message_list(resp->body);
    if (!page)
      return std::move(page.error());
    out.insert(out.end(), page->ids.begin(), page->ids.end());
    page_token = std::move(page->next_page_token);
  } while (!page_token.empty());
  return out;
}

caf::expected<std::string> mailbox::get_message(std::string_view id,
                                                std::string_view format,
                                                std::string_view query) {
  auto resp =
      session_.get(url(fmt::format("messages/{}?format={}{}",
                                   http::url_encode(id), format, query)),
                   cost_get);
  if (!resp)
    return std::move(resp.error());
  return std::move(resp->body);
}

caf::expected<message_metadata>
mailbox::metadata(std::string_view id,
                  const std::vector<std::string>& only_headers) {
  std::string query;
  for (auto& name : only_headers)
    query += "&metadataHeaders=" + http::url_encode(name);
  auto body = get_message(id, "metadata", query);
  if (!body)
    return std::move(body.error());
  return parse_message_metadata(*body);
}

caf::expected<raw_message> mailbox::raw(std::string_view id) {
  auto body = get_message(id, "raw");
  if (!body)
    return std::move(body.error());
  return parse_raw_message(*body);
}

found_message mailbox::to_found(const message_metadata& meta,
                                std::string test_id) const {
  found_message out;
  out.test_id = std::move(test_id);
  out.labels = meta.label_ids;
  out.header_block = mail_json::header_block(meta.headers);
  out.provider_id = meta.id;
  return out;
}

caf::expected<std::vector<found_message>>
mailbox::find(const std::vector<std::string>& test_ids) {
  if (auto err = mail_json::check_test_ids(test_ids))
    return err;
  auto rules = make_test_id_rules(opts_.test_id_headers, opts_.test_id_pattern);
  if (!rules)
    return std::move(rules.error());
  std::vector<found_message> out;
  std::set<std::string> done; // message ids already handed out
  for (size_t first = 0; first < test_ids.size(); first += opts_.batch) {
    auto last = std::min(test_ids.size(), first + opts_.batch);
    std::vector<std::string> batch(test_ids.begin() + first,
                                   test_ids.begin() + last);
    auto ids = search(search_query(batch));
    if (!ids)
      return std::move(ids.error());
    std::vector<std::string> fresh;
    for (auto& id : *ids)
      if (done.insert(id).second)
        fresh.push_back(id);
    if (auto err = keep_test_messages(fresh, *rules, batch, out))
      return err;
  }
  return out;
}

caf::error mailbox::keep_test_messages(const std::vector<std::string>& ids,
                                       const test_id_rules& rules,
                                       const std::vector<std::string>& pending,
                                       std::vector<found_message>& out) {
  for (auto& id : ids) {
    auto meta = metadata(id);
    if (!meta) {
      if (is(meta.error(), ec::not_found)) // deleted since the search
        continue;
      return std::move(meta.error());
    }
    // The search also matches bodies and near misses: the rule decides.
    for (auto& tid : mail_json::carried_test_ids(meta->headers, rules, pending))
      out.push_back(to_found(*meta, tid));
  }
  return {};
}

caf::expected<std::optional<history_page>>
mailbox::history(std::string_view start_history_id,
                 std::string_view page_token) {
  auto u = url(fmt::format("history?startHistoryId={}&historyTypes=messageAdded"
                           "&maxResults=500",
                           http::url_encode(start_history_id)));
  if (!page_token.empty())
    u += "&pageToken=" + http::url_encode(page_token);
  auto resp = session_.get(u, cost_history, {}, {404});
  if (!resp)
    return std::move(resp.error());
  if (resp->status == 404) {
    spdlog::info("gmail {}: history {} is gone; full resync needed",
                 opts_.user_id, start_history_id);
    return std::nullopt;
  }
  auto page = parse_history(resp->body);
  if (!page)
    return std::move(page.error());
  return std::move(*page);
}

caf::expected<std::string> mailbox::current_history_id() {
  auto resp = session_.get(url("profile"), cost_profile);
  if (!resp)
    return std::move(resp.error());
  return with_object<std::string>(resp->body, "Gmail getProfile",
                                  [](auto doc) -> caf::expected<std::string> {
                                    auto id = string_field(doc, "historyId");
                                    if (id.empty())
                                      return malformed("Gmail getProfile");
                                    return id;
                                  });
}

caf::expected<std::vector<found_message>>
mailbox::fetch(const std::vector<std::string>& ids,
               const std::vector<std::string>& test_ids) {
  auto rules = make_test_id_rules(opts_.test_id_headers, opts_.test_id_pattern);
  if (!rules)
    return std::move(rules.error());
  std::vector<found_message> out;
  if (auto err = keep_test_messages(ids, *rules, test_ids, out))
    return err;
  return out;
}

} // namespace mailpipe::gmail
