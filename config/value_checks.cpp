#include "config/value_checks.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace mailpipe::checks {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t start = i;
    int value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3)
      value = value * 10 + (s[i++] - '0');
    if (i == start || value > 255)
      return false;
    ++parts;
    if (i == s.size())
      break;
    if (s[i] != '.')
      return false;
    ++i;
  }
  return parts == 4;
}

bool is_ipv6(std::string_view s) {
  if (s.size() < 2 || s.find(':') == std::string_view::npos)
    return false;
  for (char c : s)
    if (!is_hex(c) && c != ':' && c != '.')
      return false;
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The host of `scheme://[userinfo@]host[:port][/...]`, brackets kept.
std::string_view url_host(std::string_view rest) {
  auto end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  if (starts_with(authority, "[")) {
    auto close = authority.find(']');
    return authority.substr(
        0, close == std::string_view::npos ? authority.size() : close + 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "[::1]" || starts_with(host, "127.");
}

} // namespace

std::string node_name(const std::string& value) {
  if (value.empty())
    return "must not be empty";
  if (value.size() > 128)
    return "must be at most 128 bytes";
  for (unsigned char c : value)
    if (c < 0x20 || c == 0x7f)
      return "must not contain control characters (NUL, newline, tab)";
  return "";
}

std::string listen_address(const std::string& value) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos)
    return fmt::format("\"{}\" is not HOST:PORT (e.g. \"127.0.0.1:8025\")",
                       value);
  std::string_view host{value.data(), colon};
  std::string_view port{value.data() + colon + 1, value.size() - colon - 1};
  bool host_ok =
      host == "localhost" || is_ipv4(host)
      || (host.size() > 2 && host.front() == '[' && host.back() == ']'
          && is_ipv6(host.substr(1, host.size() - 2)));
  if (!host_ok)
    return fmt::format("\"{}\" is not an IP address (write an IPv4 address, "
                       "[IPv6] or localhost)",
                       host);
  long number = 0;
  for (char c : port) {
    if (!is_digit(c) || number > 65535)
      return fmt::format("port \"{}\" is not a number from 1 to 65535", port);
    number = number * 10 + (c - '0');
  }
  if (port.empty() || number < 1 || number > 65535)
    return fmt::format("port \"{}\" is not a number from 1 to 65535", port);
  return "";
}

std::string optional_listen_address(const std::string& value) {
  return value.empty() ? "" : listen_address(value);
}

std::string database_url(const std::string& value) {
  std::string_view v{value};
  auto scheme_end = v.find("://");
  if (scheme_end == std::string_view::npos) {
    // libpq's key=value form: at least one '=' and no scheme.
    if (v.find('=') == std::string_view::npos)
      return "is neither a postgresql:// URL nor key=value connection "
             "parameters";
    return "";
  }
  auto scheme = v.substr(0, scheme_end);
  if (scheme != "postgresql" && scheme != "postgres")
    return fmt::format(
        "scheme \"{}\" is not PostgreSQL's: write postgresql://...", scheme);
  // The value itself is never echoed: it may hold a password.
  auto authority = v.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find('/'));
  if (authority.find('@') != authority.rfind('@'))
    return "the user name or password holds a raw '@': write it as %40";
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == '%'
        && (i + 2 >= v.size() || !is_hex(v[i + 1]) || !is_hex(v[i + 2])))
      return fmt::format("bad percent-encoding at byte {} (write %25 for a "
                         "literal %)",
                         i + 1);
  return "";
}

std::string service_url(const std::string& value) {
  std::string_view v{value};
  if (starts_with(v, "https://")) {
    if (url_host(v.substr(8)).empty())
      return "has no host";
    return "";
  }
  if (starts_with(v, "http://")) {
    auto host = url_host(v.substr(7));
    if (host.empty())
      return "has no host";
    if (!is_loopback_host(host))
      return "must use https:// (plain http:// only to a loopback host)";
    return "";
  }
  return "must be an https:// URL";
}

std::string optional_service_url(const std::string& value) {
  return value.empty() ? "" : service_url(value);
}

std::string optional_smtp_url(const std::string& value) {
  std::string_view v{value};
  if (v.empty())
    return "";
  for (auto scheme : {"smtp://", "smtps://"})
    if (starts_with(v, scheme))
      return url_host(v.substr(std::string_view{scheme}.size())).empty()
                 ? "has no host"
                 : "";
  return "must be an smtp:// or smtps:// URL";
}

std::string log_level(const std::string& value) {
  for (auto level :
       {"trace", "debug", "info", "warn", "error", "critical", "off"})
    if (value == level)
      return "";
  return "must be one of trace, debug, info, warn, error, critical, off";
}

std::string optional_writable_dir(const std::string& value) {
  if (value.empty())
    return "";
  // The folder, or its nearest existing ancestor (where it would be created).
  std::string path = value;
  while (!path.empty()) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return path == value
                   ? fmt::format("{} is not a folder", value)
                   : fmt::format("cannot be created: {} is not a folder", path);
      if (::access(path.c_str(), W_OK | X_OK) != 0)
        return fmt::format("{}{} is not writable",
                           path == value ? "" : "cannot be created: ", path);
      return "";
    }
    if (errno != ENOENT)
      return fmt::format("{}: {}", path, std::strerror(errno));
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos)
      path = ".";
    else
      path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return "";
}

std::string optional_readable_file(const std::string& value) {
  if (value.empty())
    return "";
  struct stat st {};
  if (::stat(value.c_str(), &st) != 0)
    return fmt::format("{}: {}", value, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fmt::format("{} is not a regular file", value);
  if (::access(value.c_str(), R_OK) != 0)
    return fmt::format("{} is not readable", value);
  return "";
}

} // namespace mailpipe::checks
