#include "config/config.hpp"
#include "config/mask.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <variant>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace mailpipe {

namespace {

// -- the schema: one row per key ----------------------------------------------

using string_list = std::vector<std::string>;
using field_ref = std::variant<std::string*, int64_t*, bool*, duration*,
                               string_list*>;

struct field {
  const char* key;
  bool secret;
  field_ref (*bind)(config&);
};

#define MP_FIELD(path, secret)                                                 \
  field {                                                                      \
    #path, secret, [](config& c) -> field_ref { return &c.path; }              \
  }

const std::vector<field>& schema() {
  static const std::vector<field> fields = {
    MP_FIELD(node.name, false),
    MP_FIELD(node.inspect_listen, false),
    MP_FIELD(node.heartbeat_interval, false),
    MP_FIELD(node.dead_after, false),
    MP_FIELD(node.shutdown_grace, false),
    MP_FIELD(database.url, true),
    MP_FIELD(database.pool_size, false),
    MP_FIELD(database.connect_timeout, false),
    MP_FIELD(database.statement_timeout, false),
    MP_FIELD(processing.interval, false),
    MP_FIELD(processing.parallel, false),
    MP_FIELD(processing.account_timeout, false),
    MP_FIELD(processing.retry_after, false),
    MP_FIELD(processing.max_failures, false),
    MP_FIELD(processing.lease, false),
    MP_FIELD(jobs.workers, false),
    MP_FIELD(jobs.max_attempts, false),
    MP_FIELD(jobs.backoff, false),
    MP_FIELD(jobs.lease, false),
    MP_FIELD(log.dir, false),
    MP_FIELD(log.level, false),
    MP_FIELD(log.retention_days, false),
    MP_FIELD(http.listen, false),
    MP_FIELD(imap.ca_file, false),
    MP_FIELD(imap.allow_plaintext, false),
    MP_FIELD(imap.connect_timeout, false),
    MP_FIELD(imap.command_timeout, false),
    MP_FIELD(imap.tls_session_resumption, false),
    MP_FIELD(gmail.api_url, false),
    MP_FIELD(gmail.token_url, false),
    MP_FIELD(gmail.client_id, false),
    MP_FIELD(gmail.client_secret, true),
    MP_FIELD(gmail.scope, false),
    MP_FIELD(gmail.request_timeout, false),
    MP_FIELD(gmail.user_quota_per_second, false),
    MP_FIELD(gmail.max_attempts, false),
    MP_FIELD(gmail.max_retry_wait, false),
    MP_FIELD(outlook.api_url, false),
    MP_FIELD(outlook.token_url, false),
    MP_FIELD(outlook.client_id, false),
    MP_FIELD(outlook.client_secret, true),
    MP_FIELD(outlook.scope, false),
    MP_FIELD(outlook.request_timeout, false),
    MP_FIELD(outlook.user_requests_per_second, false),
    MP_FIELD(outlook.max_attempts, false),
    MP_FIELD(outlook.max_retry_wait, false),
    MP_FIELD(analysis.test_id_headers, false),
    MP_FIELD(analysis.test_id_pattern, false),
    MP_FIELD(analysis.trusted_gmail, false),
    MP_FIELD(analysis.trusted_outlook, false),
    MP_FIELD(analysis.trusted_imap, false),
    MP_FIELD(analysis.placement_file, false),
    MP_FIELD(analysis.signatures_file, false),
    MP_FIELD(analysis.max_header_bytes, false),
    MP_FIELD(alerts.discord_webhook_url, true),
    MP_FIELD(alerts.threshold, false),
    MP_FIELD(alerts.window, false),
    MP_FIELD(alerts.cooldown, false),
    MP_FIELD(mistral.api_url, false),
    MP_FIELD(mistral.api_key, true),
    MP_FIELD(mistral.model, false),
    MP_FIELD(mistral.timeout, false),
    MP_FIELD(search.meilisearch_url, false),
    MP_FIELD(search.meilisearch_api_key, true),
    MP_FIELD(crypto.key_env, false),
    MP_FIELD(crypto.key_file, false),
  };
  return fields;
}

#undef MP_FIELD

const field* find_field(std::string_view key) {
  for (auto& f : schema())
    if (key == f.key)
      return &f;
  return nullptr;
}

// -- loading ----------------------------------------------------------------

struct loader {
  config_result& result;
  const env_lookup& env;

  void error(const toml::source_region& where, std::string key,
             std::string message) {
    config_error err;
    err.file = result.cfg.source;
    err.line = static_cast<int>(where.begin.line);
    err.column = static_cast<int>(where.begin.column);
    err.key = std::move(key);
    err.message = std::move(message);
    result.errors.push_back(std::move(err));
  }

  // Expands ${NAME}; "$$" stands for a literal "$".
  std::optional<std::string> expand(const std::string& in,
                                    const toml::source_region& where,
                                    const std::string& key) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '$') {
        out += '$';
        ++i;
      } else if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '{') {
        auto end = in.find('}', i + 2);
        if (end == std::string::npos) {
          error(where, key, "unterminated ${...} in value");
          return std::nullopt;
        }
        auto name = in.substr(i + 2, end - i - 2);
        auto value = env(name);
        if (!value) {
          error(where, key,
                fmt::format("environment variable {} is not set", name));
          return std::nullopt;
        }
        out += *value;
        i = end;
      } else {
        out += in[i];
      }
    }
    return out;
  }

  static const char* type_name(const field_ref& ref) {
    return std::visit(
      [](auto* p) -> const char* {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>)
          return "a string";
        else if constexpr (std::is_same_v<T, int64_t>)
          return "an integer";
        else if constexpr (std::is_same_v<T, bool>)
          return "a boolean (true or false)";
        else if constexpr (std::is_same_v<T, duration>)
          return "a duration string such as \"30s\", \"10m\" or \"1h\"";
        else
          return "an array of strings";
      },
      ref);
  }

  void assign(const field& f, const toml::node& node, const std::string& key) {
    auto ref = f.bind(result.cfg);
    auto where = node.source();
    auto wrong_type = [&] {
      error(where, key,
            fmt::format("wrong type: expected {}, found {}", type_name(ref),
                        toml::impl::node_type_friendly_names
                          [static_cast<size_t>(node.type())]));
    };
    std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (auto v = node.value<std::string>(); v && node.is_string()) {
            if (auto x = expand(*v, where, key))
              *p = std::move(*x);
          } else {
            wrong_type();
          }
        } else if constexpr (std::is_same_v<T, int64_t>) {
          if (node.is_integer())
            *p = *node.value<int64_t>();
          else
            wrong_type();
        } else if constexpr (std::is_same_v<T, bool>) {
          if (node.is_boolean())
            *p = *node.value<bool>();
          else
            wrong_type();
        } else if constexpr (std::is_same_v<T, duration>) {
          if (!node.is_string()) {
            wrong_type();
            return;
          }
          auto text = *node.value<std::string>();
          if (auto d = parse_duration(text))
            *p = *d;
          else
            error(where, key,
                  fmt::format("bad duration \"{}\": write a number and a unit "
                              "(ms, s, m, h, d), e.g. \"30s\", \"10m\", "
                              "\"1h30m\"",
                              text));
        } else {
          auto arr = node.as_array();
          if (!arr) {
            wrong_type();
            return;
          }
          string_list items;
          for (auto& item : *arr) {
            if (!item.is_string()) {
              error(item.source(), key,
                    "wrong type: every item must be a string");
              return;
            }
            if (auto x = expand(*item.value<std::string>(), item.source(), key))
              items.push_back(std::move(*x));
            else
              return;
          }
          *p = std::move(items);
        }
      },
      ref);
  }

  void walk(const toml::table& table, const std::string& prefix) {
    for (auto& [k, node] : table) {
      auto key = prefix.empty() ? std::string{k.str()}
                                : prefix + "." + std::string{k.str()};
      if (auto f = find_field(key)) {
        assign(*f, node, key);
      } else if (auto sub = node.as_table(); sub && is_section(key)) {
        walk(*sub, key);
      } else {
        error(node.source(), key,
              is_section(prefix) || prefix.empty()
                ? fmt::format("unknown key{}", suggestion(key))
                : "unknown key");
      }
    }
  }

  static bool is_section(const std::string& key) {
    auto dotted = key + ".";
    for (auto& f : schema())
      if (std::string_view{f.key}.substr(0, dotted.size()) == dotted)
        return true;
    return false;
  }

  // Names the known key closest to a misspelt one (same section, small edit distance).
  static std::string suggestion(const std::string& key) {
    auto distance = [](std::string_view a, std::string_view b) {
      std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
      for (size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
      for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
          cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1,
                             prev[j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
        std::swap(prev, cur);
      }
      return prev[b.size()];
    };
    const field* best = nullptr;
    size_t best_d = 4;
    for (auto& f : schema()) {
      auto d = distance(key, f.key);
      if (d < best_d) {
        best_d = d;
        best = &f;
      }
    }
    return best ? fmt::format(" (did you mean '{}'?)", best->key) : "";
  }
};

void apply_env_overrides(config_result& result, const env_lookup& env) {
  if (auto url = env("MAILPIPE_DATABASE_URL"); url && !url->empty())
    result.cfg.database.url = *url;
  if (result.cfg.node.name.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != 0)
      result.cfg.node.name = host;
    else
      result.cfg.node.name = "mailpipe";
  }
}

void validate(config_result& result) {
  auto& c = result.cfg;
  auto check = [&](bool ok, const char* key, std::string message) {
    if (!ok)
      result.errors.push_back(
        config_error{c.source, 0, 0, key, std::move(message)});
  };
  check(c.processing.parallel >= 1 && c.processing.parallel <= 4096,
        "processing.parallel", "must be between 1 and 4096");
  check(c.processing.max_failures >= 1, "processing.max_failures",
        "must be at least 1");
  check(c.database.pool_size >= 1 && c.database.pool_size <= 256,
        "database.pool_size", "must be between 1 and 256");
  check(c.jobs.workers >= 0, "jobs.workers", "must not be negative");
  check(c.jobs.max_attempts >= 1, "jobs.max_attempts", "must be at least 1");
  check(c.log.retention_days >= 1, "log.retention_days", "must be at least 1");
  static const char* levels[] = {"trace", "debug",    "info", "warn",
                                 "error", "critical", "off"};
  bool level_ok = false;
  for (auto l : levels)
    level_ok = level_ok || c.log.level == l;
  check(level_ok, "log.level",
        "must be one of trace, debug, info, warn, error, critical, off");
  check(c.processing.interval.count() > 0, "processing.interval",
        "must be positive");
  check(c.node.heartbeat_interval.count() > 0, "node.heartbeat_interval",
        "must be positive");
  check(c.node.dead_after > c.node.heartbeat_interval, "node.dead_after",
        "must be longer than node.heartbeat_interval");
  check(c.gmail.request_timeout.count() > 0, "gmail.request_timeout",
        "must be positive");
  check(c.gmail.user_quota_per_second >= 5, "gmail.user_quota_per_second",
        "must be at least 5 (the cost of one messages.get)");
  check(c.gmail.max_attempts >= 1, "gmail.max_attempts", "must be at least 1");
  check(c.outlook.request_timeout.count() > 0, "outlook.request_timeout",
        "must be positive");
  check(c.outlook.user_requests_per_second >= 1,
        "outlook.user_requests_per_second", "must be at least 1");
  check(c.outlook.max_attempts >= 1, "outlook.max_attempts",
        "must be at least 1");
}

} // namespace

// -- public API ---------------------------------------------------------------

std::string to_string(const config_error& err) {
  std::string where = err.file.empty() ? "config" : err.file;
  if (err.line > 0)
    where += fmt::format(":{}:{}", err.line, err.column);
  return fmt::format("{}: key '{}': {}", where, err.key, err.message);
}

env_lookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    auto value = std::getenv(std::string{name}.c_str());
    if (!value)
      return std::nullopt;
    return std::string{value};
  };
}

config_result load_config_string(std::string_view text, std::string source,
                                 const env_lookup& env) {
  config_result result;
  result.cfg.source = source;
  toml::table parsed;
  try {
    parsed = toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    result.errors.push_back(config_error{
      source, static_cast<int>(err.source().begin.line),
      static_cast<int>(err.source().begin.column), "",
      fmt::format("invalid TOML: {}", err.description())});
    return result;
  }
  loader{result, env}.walk(parsed, "");
  apply_env_overrides(result, env);
  validate(result);
  return result;
}

config_result load_config_file(const std::string& path,
                               const env_lookup& env) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    config_result result;
    result.cfg.source = path;
    result.errors.push_back(
      config_error{path, 0, 0, "", "cannot read the file"});
    return result;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return load_config_string(buf.str(), path, env);
}

config_result default_config(const env_lookup& env) {
  config_result result;
  apply_env_overrides(result, env);
  validate(result);
  return result;
}

std::string render_config(const config& cfg, bool mask) {
  std::string out;
  std::string section;
  auto& mutable_cfg = const_cast<config&>(cfg); // bind() yields pointers; we only read
  for (auto& f : schema()) {
    std::string_view key{f.key};
    auto dot = key.find('.');
    auto sec = std::string{key.substr(0, dot)};
    if (sec != section) {
      out += fmt::format("{}[{}]\n", section.empty() ? "" : "\n", sec);
      section = sec;
    }
    auto name = key.substr(dot + 1);
    auto quote = [](const std::string& s) {
      std::string q = "\"";
      for (char c : s) {
        if (c == '"' || c == '\\')
          q += '\\';
        q += c;
      }
      return q + "\"";
    };
    std::string value = std::visit(
      [&](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (mask && f.secret && !p->empty())
            return quote(key == "database.url" ? mask_url(*p) : "***");
          return quote(*p);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(*p);
        } else if constexpr (std::is_same_v<T, bool>) {
          return *p ? "true" : "false";
        } else if constexpr (std::is_same_v<T, duration>) {
          return quote(format_duration(*p));
        } else {
          std::string s = "[";
          for (size_t i = 0; i < p->size(); ++i)
            s += (i ? ", " : "") + quote((*p)[i]);
          return s + "]";
        }
      },
      f.bind(mutable_cfg));
    out += fmt::format("{} = {}\n", name, value);
  }
  return out;
}

std::optional<duration> parse_duration(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9')
      return std::nullopt;
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000'000)
        return std::nullopt;
      ++i;
    }
    auto unit_start = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z')))
      ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    int64_t factor;
    if (unit == "ms")
      factor = 1;
    else if (unit == "s")
      factor = 1000;
    else if (unit == "m")
      factor = 60'000;
    else if (unit == "h")
      factor = 3'600'000;
    else if (unit == "d")
      factor = 86'400'000;
    else
      return std::nullopt;
    total_ms += n * factor;
  }
  return duration{total_ms};
}

std::string format_duration(duration d) {
  auto ms = d.count();
  if (ms == 0)
    return "0s";
  if (ms % 1000 != 0)
    return fmt::format("{}ms", ms);
  auto s = ms / 1000;
  std::string out;
  if (s >= 86400 && s % 86400 == 0)
    return fmt::format("{}d", s / 86400);
  if (s >= 3600) {
    out += fmt::format("{}h", s / 3600);
    s %= 3600;
  }
  if (s >= 60) {
    out += fmt::format("{}m", s / 60);
    s %= 60;
  }
  if (s > 0)
    out += fmt::format("{}s", s);
  return out;
}

} // namespace mailpipe
