#pragma once

// The forms a config string must have. Each check returns what is wrong with a
// value, "" when it is fine; the schema in config.cpp names one check per key.

#include <string>

namespace mailpipe::checks {

/// A node name: 1 to 128 bytes, no control characters (NUL and newlines would cut
/// database values and forge log lines).
std::string node_name(const std::string& value);

/// A listen address `HOST:PORT`: HOST an IPv4 literal, `[IPv6]` or `localhost`, PORT
/// 1..65535.
std::string listen_address(const std::string& value);

/// Like listen_address, or "" (the listener disabled).
std::string optional_listen_address(const std::string& value);

/// A PostgreSQL connection string: a `postgresql://` or `postgres://` URI with valid
/// percent-encoding, or libpq's `key=value` form.
std::string database_url(const std::string& value);

/// An `https://` URL, or `http://` to a loopback host (local test servers).
std::string service_url(const std::string& value);

/// Like service_url, or "" (the service not used).
std::string optional_service_url(const std::string& value);

/// "" (no SMTP server), or an smtp:// or smtps:// URL with a host.
std::string optional_smtp_url(const std::string& value);

/// One of spdlog's levels: trace, debug, info, warn, error, critical, off.
std::string log_level(const std::string& value);

/// "" or a folder that exists (or can be created) and is writable.
std::string optional_writable_dir(const std::string& value);

/// "" or a regular file that can be read.
std::string optional_readable_file(const std::string& value);

} // namespace mailpipe::checks
