#include "config/mask.hpp"

#include <algorithm>
#include <cctype>

#include <strings.h>

namespace mailpipe {

std::string mask_url(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos)
    return std::string{url};
  auto at = url.find('@', scheme + 3);
  auto slash = url.find('/', scheme + 3);
  std::string out{url};
  if (at != std::string_view::npos && (slash == std::string_view::npos || at < slash)) {
    auto colon = url.find(':', scheme + 3);
    if (colon != std::string_view::npos && colon < at)
      out = std::string{url.substr(0, colon + 1)} + "***"
            + std::string{url.substr(at)};
  }
  // password=... in the query string
  auto pw = out.find("password=");
  if (pw != std::string::npos) {
    auto end = out.find('&', pw);
    out = out.substr(0, pw + 9) + "***"
          + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
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
