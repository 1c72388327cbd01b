#pragma once

// Masking of secrets in text that reaches output: config values, errors, log lines.

#include <cstddef>
#include <string>
#include <string_view>

namespace mailpipe {

/// Masks the secrets of a URL or of libpq's `key=value` connection parameters with
/// `***`: the password of `scheme://user:PASS@host` (all of the user info up to the
/// last '@' before the path, so a raw '@' in it hides the rest too), the values of
/// secret query parameters (`password=`, `client_secret=`, `token=`, `key=`, ...) and of
/// the `password` keyword.
std::string mask_url(std::string_view url);

/// Replaces bearer tokens and `*_token=` / `client_secret=` values in `text` by
/// `***` and cuts it to `max_len` characters; for server messages that end up
/// in errors.
std::string mask_secrets(std::string_view text, size_t max_len = 300);

} // namespace mailpipe
