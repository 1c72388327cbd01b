#include "config/mask.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <strings.h>

namespace mailpipe {

namespace {

// Query parameters and libpq keywords whose values are secrets.
bool is_secret_name(std::string_view name) {
  for (auto secret : {"password", "passwd", "client_secret", "secret", "token",
                      "access_token", "refresh_token", "api_key", "apikey",
                      "key", "sig", "signature", "code"})
    if (name.size() == std::strlen(secret)
        && strncasecmp(name.data(), secret, name.size()) == 0)
      return true;
  return false;
}

// libpq's `key=value` form: every secret keyword's value, quoted or not, masked.
std::string mask_keyword_values(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      out += text[i++];
      continue;
    }
    auto name_start = i;
    while (i < text.size() && text[i] != '='
           && !std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    auto name = text.substr(name_start, i - name_start);
    out += name;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      out += text[i++];
    if (i >= text.size() || text[i] != '=')
      continue;
    out += text[i++];
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      out += text[i++];
    auto value_start = i;
    if (i < text.size() && text[i] == '\'') {
      for (++i; i < text.size() && text[i] != '\''; ++i)
        if (text[i] == '\\')
          ++i;
      i = std::min(i + 1, text.size());
    } else {
      while (i < text.size()
             && !std::isspace(static_cast<unsigned char>(text[i])))
        ++i;
    }
    out += is_secret_name(name)
               ? std::string{"***"}
               : std::string{text.substr(value_start, i - value_start)};
  }
  return out;
}

// The query string `a=1&b=2`: values of secret names masked.
std::string mask_query(std::string_view query) {
  std::string out;
  size_t i = 0;
  while (i <= query.size()) {
    auto end = std::min(query.find('&', i), query.size());
    auto param = query.substr(i, end - i);
    auto eq = param.find('=');
    if (eq != std::string_view::npos && is_secret_name(param.substr(0, eq)))
      out += std::string{param.substr(0, eq + 1)} + "***";
    else
      out += param;
    if (end == query.size())
      break;
    out += '&';
    i = end + 1;
  }
  return out;
}

} // namespace

std::string mask_url(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos)
    return url.find('=') == std::string_view::npos ? std::string{url}
                                                   : mask_keyword_values(url);
  auto start = scheme + 3;
  // The user info ends at the last '@' before the path: a raw '@' in a password
  // is masked with the rest of it.
  auto path = std::min(url.find('/', start), url.size());
  auto at = url.substr(0, path).rfind('@');
  std::string out{url.substr(0, start)};
  auto rest = start;
  if (at != std::string_view::npos && at >= start) {
    auto colon = url.find(':', start);
    if (colon < at)
      out += std::string{url.substr(start, colon + 1 - start)} + "***";
    else
      out += url.substr(start, at - start);
    rest = at;
  }
  auto query = url.find('?', rest);
  if (query == std::string_view::npos)
    return out + std::string{url.substr(rest)};
  auto fragment = std::min(url.find('#', query), url.size());
  return out + std::string{url.substr(rest, query + 1 - rest)}
         + mask_query(url.substr(query + 1, fragment - query - 1))
         + std::string{url.substr(fragment)};
}

std::string mask_secrets(std::string_view text, size_t max_len) {
  std::string out{text.substr(0, std::min(text.size(), max_len))};
  auto mask_after = [&](std::string_view key, bool case_insensitive) {
    size_t pos = 0;
    for (;;) {
      size_t hit = std::string::npos;
      for (size_t i = pos; i + key.size() <= out.size(); ++i)
        if (case_insensitive
                ? strncasecmp(out.data() + i, key.data(), key.size()) == 0
                : std::string_view{out}.substr(i, key.size()) == key) {
          hit = i;
          break;
        }
      if (hit == std::string::npos)
        return;
      auto start = hit + key.size();
      auto end = start;
      while (end < out.size()
             && !std::isspace(static_cast<unsigned char>(out[end]))
             && out[end] != '&' && out[end] != '"' && out[end] != ',')
        ++end;
      out.replace(start, end - start, "***");
      pos = start + 3;
    }
  };
  mask_after("bearer ", true);
  mask_after("access_token=", false);
  mask_after("refresh_token=", false);
  mask_after("client_secret=", false);
  mask_after("code=", false);
  return out;
}

} // namespace mailpipe
