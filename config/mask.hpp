#pragma once

// Masking of secrets in text that reaches output: config values, errors, log lines.

#include <cstddef>
#include <string>
#include <string_view>

namespace mailpipe {

/// Replaces the password of a URL (`scheme://user:PASS@host`) with `***`.
std::string mask_url(std::string_view url);

/// Replaces bearer tokens and `*_token=` / `client_secret=` values in `text` by
/// `***` and cuts it to `max_len` characters; for server messages that end up
/// in errors.
std::string mask_secrets(std::string_view text, size_t max_len = 300);

} // namespace mailpipe
