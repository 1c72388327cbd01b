#include "adapters/http/meilisearch.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/analysis/analysis_json.hpp"

namespace mailpipe::meilisearch {

namespace {

// Timeout of one call (MeiliSearch answers writes at once, with a task).
constexpr auto call_timeout = std::chrono::seconds{10};

caf::expected<http::response> call(http::client& client,
                                   const search_config& cfg, std::string method,
                                   std::string path, std::string body = {}) {
  http::request req;
  req.method = std::move(method);
  req.url = cfg.meilisearch_url + path;
  req.timeout = call_timeout;
  req.body = std::move(body);
  req.headers = {{"Content-Type", "application/json"}};
  if (!cfg.meilisearch_api_key.empty())
    req.headers.push_back(
        {"Authorization", "Bearer " + cfg.meilisearch_api_key});
  auto resp = client.perform(req);
  if (!resp)
    return std::move(resp.error());
  if (resp->ok())
    return resp;
  auto what = fmt::format("MeiliSearch {} {}", req.method, path);
  if (auto err = http::classify_response(*resp, what,
                                         std::chrono::system_clock::now()))
    return err;
  return caf::make_error(ec::protocol_error,
                         fmt::format("{}: HTTP {}", what, resp->status));
}

caf::error bad_reply(std::string_view what) {
  return caf::make_error(ec::parse_error,
                         fmt::format("MeiliSearch reply: {}", what));
}

} // namespace

caf::expected<int64_t> add_documents(http::client& client,
                                     const search_config& cfg,
                                     std::string_view index,
                                     const std::string& documents_json) {
  auto resp = call(client, cfg, "POST",
                   fmt::format("/indexes/{}/documents?primaryKey=id", index),
                   documents_json);
  if (!resp)
    return std::move(resp.error());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  int64_t uid = 0;
  if (parser.parse(resp->body).get(doc)
      || (doc["taskUid"].get(uid) && doc["uid"].get(uid)))
    return bad_reply("no taskUid in the answer to adding documents");
  return uid;
}

caf::expected<task_status> read_task(http::client& client,
                                     const search_config& cfg, int64_t uid) {
  auto resp = call(client, cfg, "GET", fmt::format("/tasks/{}", uid));
  if (!resp)
    return std::move(resp.error());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view status;
  if (parser.parse(resp->body).get(doc) || doc["status"].get(status))
    return bad_reply("a task without a status");
  task_status out;
  if (status == "succeeded")
    out.state = task_state::succeeded;
  else if (status == "failed" || status == "canceled") {
    out.state = task_state::failed;
    std::string_view message = status;
    (void)doc["error"]["message"].get(message);
    out.error = std::string{message};
  }
  return out;
}

caf::expected<std::vector<std::string>>
search(http::client& client, const search_config& cfg, std::string_view index,
       std::string_view query, int64_t limit) {
  std::string body = "{\"q\":";
  append_json_string(body, query);
  body += fmt::format(",\"limit\":{}}}", limit);
  auto resp = call(client, cfg, "POST",
                   fmt::format("/indexes/{}/search", index), std::move(body));
  if (!resp)
    return std::move(resp.error());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array hits;
  if (parser.parse(resp->body).get(doc) || doc["hits"].get(hits))
    return bad_reply("a search answer without hits");
  std::vector<std::string> out;
  for (auto hit : hits)
    out.push_back(simdjson::minify(hit));
  return out;
}

} // namespace mailpipe::meilisearch
