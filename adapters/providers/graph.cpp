#include "adapters/providers/graph.hpp"

#include <set>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "adapters/providers/mail_json.hpp"

namespace mailpipe::graph {

namespace {

using mail_json::malformed;
using mail_json::string_field;
using mail_json::with_object;

// Graph's paging hint for collections that take no $top (delta).
http::header_field page_size_pref(int n) {
  return {"Prefer", fmt::format("odata.maxpagesize={}", n)};
}

} // namespace

// -- parsers ------------------------------------------------------------------

caf::expected<message_page> parse_message_page(std::string_view body) {
  return with_object<message_page>(
      body, "Graph messages", [](auto doc) -> caf::expected<message_page> {
        message_page out;
        simdjson::dom::array value;
        if (doc["value"].get(value) != simdjson::SUCCESS)
          return malformed("Graph messages");
        for (auto v : value) {
          message m;
          m.id = string_field(v, "id");
          if (m.id.empty())
            return malformed("Graph messages");
          m.parent_folder_id = string_field(v, "parentFolderId");
          m.inference_classification =
              string_field(v, "inferenceClassification");
          m.subject = string_field(v, "subject");
          simdjson::dom::array headers;
          if (v["internetMessageHeaders"].get(headers) == simdjson::SUCCESS)
            m.headers = mail_json::parse_headers(headers);
          m.removed = v["@removed"].error() == simdjson::SUCCESS;
          out.messages.push_back(std::move(m));
        }
        out.next_link = string_field(doc, "@odata.nextLink");
        out.delta_link = string_field(doc, "@odata.deltaLink");
        return out;
      });
}

caf::expected<mail_folder> parse_mail_folder(std::string_view body) {
  return with_object<mail_folder>(
      body, "Graph mailFolder", [](auto doc) -> caf::expected<mail_folder> {
        mail_folder out;
        out.id = string_field(doc, "id");
        if (out.id.empty())
          return malformed("Graph mailFolder");
        out.display_name = string_field(doc, "displayName");
        return out;
      });
}

// -- mailbox ------------------------------------------------------------------

mailbox::mailbox(options opts, api_session& session)
    : opts_(std::move(opts)), session_(session) {}

std::string mailbox::base() const {
  auto url = session_.options().api_url;
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  if (opts_.user == "me")
    return url + "/me";
  return url + "/users/" + http::url_encode(opts_.user);
}

caf::expected<std::vector<message>> mailbox::collect(std::string url) {
  std::vector<message> out;
  while (!url.empty()) {
    auto resp = session_.get(url, 1, {page_size_pref(opts_.page_size)});
    if (!resp)
      return std::move(resp.error());
    auto page = parse_message_page(resp->body);
    if (!page)
      return std::move(page.error());
    std::move(page->messages.begin(), page->messages.end(),
              std::back_inserter(out));
    url = std::move(page->next_link);
  }
  return out;
}

caf::expected<std::vector<message>> mailbox::search(std::string_view term) {
  // $search takes a quoted phrase; ConsistencyLevel: eventual is needed only
  // for directory objects, not for messages.
  auto url = fmt::format("{}/messages?$search={}&$select={}&$top={}", base(),
                         http::url_encode(fmt::format("\"{}\"", term)),
                         http::url_encode(message_select), opts_.page_size);
  return collect(std::move(url));
}

caf::error mailbox::load_well_known() {
  if (well_known_loaded_)
    return {};
  for (auto name : well_known_folders) {
    auto resp = session_.get(fmt::format("{}/mailFolders/{}", base(), name), 1,
                             {}, {404});
    if (!resp)
      return std::move(resp.error());
    if (resp->status == 404) // e.g. no archive folder in this mailbox
      continue;
    auto folder = parse_mail_folder(resp->body);
    if (!folder)
      return std::move(folder.error());
    folder_names_[folder->id] = std::string{name};
  }
  well_known_loaded_ = true;
  return {};
}

caf::expected<std::string> mailbox::folder_name(const std::string& folder_id) {
  if (auto err = load_well_known())
    return err;
  if (auto i = folder_names_.find(folder_id); i != folder_names_.end())
    return i->second;
  auto resp = session_.get(
      fmt::format("{}/mailFolders/{}", base(), http::url_encode(folder_id)), 1,
      {}, {404});
  if (!resp)
    return std::move(resp.error());
  std::string name = folder_id; // deleted meanwhile: the id is all we know
  if (resp->status != 404) {
    auto folder = parse_mail_folder(resp->body);
    if (!folder)
      return std::move(folder.error());
    if (!folder->display_name.empty())
      name = folder->display_name;
  }
  folder_names_[folder_id] = name;
  return name;
}

caf::expected<found_message> mailbox::to_found(message msg,
                                               std::string test_id) {
  found_message out;
  if (!msg.parent_folder_id.empty()) {
    auto folder = folder_name(msg.parent_folder_id);
    if (!folder)
      return std::move(folder.error());
    out.folder = std::move(*folder);
  }
  out.test_id = std::move(test_id);
  if (!msg.inference_classification.empty())
    out.labels.push_back("inferenceClassification:"
                         + msg.inference_classification);
  out.header_block = mail_json::header_block(msg.headers);
  out.provider_id = std::move(msg.id);
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
  std::set<std::string> done;
  for (auto& id : test_ids) {
    auto hits = search(id);
    if (!hits)
      return std::move(hits.error());
    for (auto& msg : *hits) {
      if (!done.insert(msg.id).second)
        continue;
      // $search matches the id anywhere (body included) and loosely: the
      // rule decides which pending ids the message carries.
      for (auto& tid :
           mail_json::carried_test_ids(msg.headers, *rules, test_ids)) {
        auto found = to_found(msg, tid);
        if (!found)
          return std::move(found.error());
        out.push_back(std::move(*found));
      }
    }
  }
  return out;
}

caf::expected<std::string> mailbox::mime(std::string_view id) {
  // The answer is MIME text, not JSON.
  auto resp = session_.get(
      fmt::format("{}/messages/{}/$value", base(), http::url_encode(id)), 1,
      {{"Accept", "*/*"}});
  if (!resp)
    return std::move(resp.error());
  return std::move(resp->body);
}

caf::expected<delta_result> mailbox::delta(std::string_view folder,
                                           std::string_view delta_link,
                                           std::string_view change_type) {
  std::string url{delta_link};
  if (url.empty())
    url =
        fmt::format("{}/mailFolders/{}/messages/delta?$select={}", base(),
                    http::url_encode(folder), http::url_encode(message_select));
  if (delta_link.empty() && !change_type.empty())
    url += "&changeType=" + http::url_encode(change_type);
  delta_result out;
  while (!url.empty()) {
    auto resp = session_.get(url, 1, {page_size_pref(opts_.page_size)}, {410});
    if (!resp)
      return std::move(resp.error());
    if (resp->status == 410) {
      spdlog::info("graph {}: delta link of {} expired; resync needed",
                   opts_.user, folder);
      return delta_result{true, {}, {}, {}};
    }
    auto page = parse_message_page(resp->body);
    if (!page)
      return std::move(page.error());
    for (auto& m : page->messages) {
      if (m.removed)
        out.removed.push_back(std::move(m.id));
      else
        out.changed.push_back(std::move(m));
    }
    url = std::move(page->next_link);
    if (url.empty() && page->delta_link.empty())
      return caf::make_error(ec::protocol_error,
                             "Graph delta: last page has no @odata.deltaLink");
    out.delta_link = std::move(page->delta_link);
  }
  return out;
}

} // namespace mailpipe::graph
