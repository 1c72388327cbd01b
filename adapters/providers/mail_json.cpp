#include "adapters/providers/mail_json.hpp"
#include "adapters/mail/text.hpp"
#include "config/mask.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace mailpipe::mail_json {

caf::error malformed(std::string_view what) {
  return caf::make_error(ec::parse_error,
                         fmt::format("{}: malformed JSON", what));
}

std::vector<owned_header_field> parse_headers(simdjson::dom::array arr) {
  std::vector<owned_header_field> out;
  for (auto h : arr) {
    std::string_view name;
    if (h["name"].get(name) != simdjson::SUCCESS)
      continue;
    out.push_back({std::string{name}, string_field(h, "value")});
  }
  return out;
}

std::string header_block(const std::vector<owned_header_field>& headers) {
  std::string out;
  for (auto& h : headers) {
    bool name_ok = !h.name.empty()
                   && std::all_of(h.name.begin(), h.name.end(), [](char c) {
                        return c > 32 && c < 127 && c != ':';
                      });
    if (!name_ok)
      continue;
    out += h.name;
    out += ": ";
    for (size_t i = 0; i < h.value.size(); ++i) {
      if (h.value[i] == '\n' && (i == 0 || h.value[i - 1] != '\r'))
        out += '\r';
      out += h.value[i];
    }
    out += "\r\n";
  }
  return out;
}

std::vector<std::string>
carried_test_ids(const std::vector<owned_header_field>& headers,
                 const test_id_rules& rules,
                 const std::vector<std::string>& pending) {
  auto block = header_block(headers);
  return mailpipe::carried_test_ids(parse_header_block(block, block.size()),
                                    rules, pending);
}

std::string string_field(simdjson::dom::element obj, std::string_view field) {
  std::string_view text;
  if (obj[field].get(text) != simdjson::SUCCESS)
    return {};
  return std::string{text};
}

std::string string_field(simdjson::dom::object obj, std::string_view field) {
  std::string_view text;
  if (obj[field].get(text) != simdjson::SUCCESS)
    return {};
  return std::string{text};
}

caf::error check_test_ids(const std::vector<std::string>& test_ids) {
  for (auto& id : test_ids) {
    bool ok = !id.empty() && id.size() <= 200
              && std::all_of(id.begin(), id.end(), [](char c) {
                   return std::isalnum(static_cast<unsigned char>(c))
                          || c == '-' || c == '_' || c == '.';
                 });
    if (!ok)
      return caf::make_error(
          ec::invalid_argument,
          fmt::format("not a test id: '{}'", mask_secrets(id, 80)));
  }
  return {};
}

} // namespace mailpipe::mail_json
