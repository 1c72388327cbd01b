#include "tools/load/libetpan_pass.hpp"

#include <strings.h>

#include <cstring>
#include <memory>
#include <string_view>

#include <caf/error.hpp>
#include <fmt/format.h>
#include <libetpan/libetpan.h>

#include "messages/error.hpp"

namespace mailpipe::load {

namespace {

caf::error failed(ec code, const char* step, int rc) {
  return caf::make_error(code, fmt::format("libetpan {}: error {}", step, rc));
}

/// Searches the selected folder for `test_id` and fetches the hits' headers;
/// true when a fetched header block holds the id.
caf::expected<bool> search_and_fetch(mailimap* s, const std::string& test_id) {
  auto* key = mailimap_search_key_new_or(
      mailimap_search_key_new_header(strdup("X-Mailpipe-Test-Id"),
                                     strdup(test_id.c_str())),
      mailimap_search_key_new_header(strdup("X-Test-ID"),
                                     strdup(test_id.c_str())));
  clist* uids = nullptr;
  int rc = mailimap_uid_search(s, nullptr, key, &uids);
  mailimap_search_key_free(key);
  if (rc != MAILIMAP_NO_ERROR)
    return failed(ec::protocol_error, "UID SEARCH", rc);
  std::unique_ptr<clist, decltype(&mailimap_search_result_free)> uid_guard{
      uids, mailimap_search_result_free};
  if (clist_isempty(uids))
    return false;
  auto* set = mailimap_set_new_empty();
  for (auto* it = clist_begin(uids); it; it = clist_next(it))
    mailimap_set_add_single(set, *static_cast<uint32_t*>(clist_content(it)));
  auto* type = mailimap_fetch_type_new_fetch_att_list_empty();
  mailimap_fetch_type_new_fetch_att_list_add(type,
                                             mailimap_fetch_att_new_uid());
  mailimap_fetch_type_new_fetch_att_list_add(
      type,
      mailimap_fetch_att_new_body_peek_section(mailimap_section_new_header()));
  clist* result = nullptr;
  rc = mailimap_uid_fetch(s, set, type, &result);
  mailimap_fetch_type_free(type);
  mailimap_set_free(set);
  if (rc != MAILIMAP_NO_ERROR)
    return failed(ec::protocol_error, "UID FETCH", rc);
  bool hit = false;
  for (auto* it = clist_begin(result); it; it = clist_next(it)) {
    auto* msg = static_cast<mailimap_msg_att*>(clist_content(it));
    for (auto* j = clist_begin(msg->att_list); j; j = clist_next(j)) {
      auto* item = static_cast<mailimap_msg_att_item*>(clist_content(j));
      if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC
          || item->att_data.att_static->att_type
                 != MAILIMAP_MSG_ATT_BODY_SECTION)
        continue;
      auto* sec = item->att_data.att_static->att_data.att_body_section;
      std::string_view block{sec->sec_body_part ? sec->sec_body_part : "",
                             sec->sec_length};
      hit = hit || block.find(test_id) != std::string_view::npos;
    }
  }
  mailimap_fetch_list_free(result);
  return hit;
}

} // namespace

caf::expected<std::string> libetpan_pass(const std::string& host, uint16_t port,
                                         bool tls, const std::string& user,
                                         const std::string& password,
                                         const std::string& test_id) {
  std::unique_ptr<mailimap, decltype(&mailimap_free)> s{
      mailimap_new(0, nullptr), mailimap_free};
  mailimap_set_timeout(s.get(), 30);
  int rc = tls ? mailimap_ssl_connect(s.get(), host.c_str(), port)
               : mailimap_socket_connect(s.get(), host.c_str(), port);
  if (rc != MAILIMAP_NO_ERROR && rc != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
    return failed(ec::network, "connect", rc);
  rc = mailimap_login(s.get(), user.c_str(), password.c_str());
  if (rc != MAILIMAP_NO_ERROR)
    return failed(ec::auth_failed, "LOGIN", rc);
  clist* boxes = nullptr;
  rc = mailimap_list(s.get(), "", "*", &boxes);
  if (rc != MAILIMAP_NO_ERROR)
    return failed(ec::protocol_error, "LIST", rc);
  std::string junk;
  for (auto* it = clist_begin(boxes); it; it = clist_next(it)) {
    auto* mb = static_cast<mailimap_mailbox_list*>(clist_content(it));
    if (!mb->mb_flag || !mb->mb_flag->mbf_oflags)
      continue;
    for (auto* f = clist_begin(mb->mb_flag->mbf_oflags); f; f = clist_next(f)) {
      auto* flag = static_cast<mailimap_mbx_list_oflag*>(clist_content(f));
      if (flag->of_flag_ext && strcasecmp(flag->of_flag_ext, "Junk") == 0)
        junk = mb->mb_name;
    }
  }
  mailimap_list_result_free(boxes);
  std::string found;
  for (const auto& folder : {std::string{"INBOX"}, junk}) {
    if (folder.empty())
      continue;
    rc = mailimap_examine(s.get(), folder.c_str());
    if (rc != MAILIMAP_NO_ERROR)
      return failed(ec::mailbox_not_found, "EXAMINE", rc);
    auto hit = search_and_fetch(s.get(), test_id);
    if (!hit)
      return std::move(hit.error());
    if (*hit)
      found = folder;
  }
  mailimap_logout(s.get());
  return found;
}

} // namespace mailpipe::load
