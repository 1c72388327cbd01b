#include "config/config.hpp"
#include "config/bounded_file.hpp"
#include "config/mask.hpp"
#include "config/value_checks.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <map>
#include <variant>

#include <caf/message.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

namespace mailpipe {

namespace {

// -- the schema: one row per key ----------------------------------------------

using string_list = std::vector<std::string>;
using field_ref =
    std::variant<std::string*, int64_t*, bool*, duration*, string_list*>;

/// What is wrong with a string value ("" when nothing); see config/value_checks.hpp.
using string_check = std::string (*)(const std::string&);

struct field {
  const char* key;
  bool secret;
  field_ref (*bind)(config&);
  /// Allowed range of an integer, or of a duration in milliseconds.
  int64_t min = 0;
  int64_t max = 0;
  /// The form of a string value; nullptr when any string will do.
  string_check check = nullptr;
};

constexpr int64_t ms = 1;
constexpr int64_t sec = 1000;
constexpr int64_t minute = 60 * sec;
constexpr int64_t hour = 60 * minute;
constexpr int64_t day = 24 * hour;

#define MP_BIND(path) [](config& c) -> field_ref { return &c.path; }
/// A string or list of strings, with an optional form check.
#define MP_STR(path, secret, check)                                            \
  field {                                                                      \
#path, secret, MP_BIND(path), 0, 0, check                                  \
  }
/// A boolean.
#define MP_BOOL(path)                                                          \
  field {                                                                      \
#path, false, MP_BIND(path)                                                \
  }
/// An integer or a duration in [lo, hi] (durations in milliseconds).
#define MP_NUM(path, lo, hi)                                                   \
  field {                                                                      \
#path, false, MP_BIND(path), lo, hi                                        \
  }

const std::vector<field>& schema() {
  using namespace checks;
  static const std::vector<field> fields = {
      MP_STR(node.name, false, node_name),
      MP_STR(node.inspect_listen, false, listen_address),
      MP_NUM(node.heartbeat_interval, 100 * ms, hour),
      MP_NUM(node.dead_after, sec, day),
      MP_NUM(node.shutdown_grace, 100 * ms, hour),
      MP_STR(database.url, true, checks::database_url),
      MP_NUM(database.pool_size, 1, 256),
      MP_NUM(database.connect_timeout, sec, 10 * minute),
      MP_NUM(database.statement_timeout, 100 * ms, day),
      MP_NUM(processing.interval, sec, day),
      MP_NUM(processing.parallel, 1, 4096),
      MP_NUM(processing.account_timeout, sec, day),
      MP_NUM(processing.retry_after, sec, 30 * day),
      MP_NUM(processing.max_failures, 1, 1000),
      MP_NUM(processing.lease, sec, day),
      MP_NUM(jobs.workers, 1, 1024),
      MP_NUM(jobs.store_slots, 1, 1024),
      MP_NUM(jobs.max_attempts, 1, 100),
      MP_NUM(jobs.backoff, 100 * ms, day),
      MP_NUM(jobs.lease, sec, day),
      MP_NUM(jobs.poll_interval, 100 * ms, hour),
      MP_STR(log.dir, false, optional_writable_dir),
      MP_STR(log.level, false, checks::log_level),
      MP_NUM(log.retention_days, 1, 3650),
      MP_STR(http.listen, false, optional_listen_address),
      MP_STR(http.api_token, true, nullptr),
      MP_STR(http.gmail_push_token, true, nullptr),
      MP_STR(http.graph_client_state, true, nullptr),
      MP_STR(imap.ca_file, false, optional_readable_file),
      MP_BOOL(imap.allow_plaintext),
      MP_NUM(imap.connect_timeout, 100 * ms, hour),
      MP_NUM(imap.command_timeout, 100 * ms, hour),
      MP_BOOL(imap.tls_session_resumption),
      MP_NUM(imap.idle_interval, sec, 29 * 60 * sec),
      MP_STR(gmail.api_url, false, service_url),
      MP_STR(gmail.token_url, false, service_url),
      MP_STR(gmail.client_id, false, nullptr),
      MP_STR(gmail.client_secret, true, nullptr),
      MP_STR(gmail.scope, false, nullptr),
      MP_NUM(gmail.request_timeout, 100 * ms, hour),
      // 5: the cost of one messages.get.
      MP_NUM(gmail.user_quota_per_second, 5, 1'000'000),
      MP_NUM(gmail.max_attempts, 1, 100),
      MP_NUM(gmail.max_retry_wait, 0, hour),
      MP_STR(outlook.api_url, false, service_url),
      MP_STR(outlook.token_url, false, service_url),
      MP_STR(outlook.client_id, false, nullptr),
      MP_STR(outlook.client_secret, true, nullptr),
      MP_STR(outlook.scope, false, nullptr),
      MP_NUM(outlook.request_timeout, 100 * ms, hour),
      MP_NUM(outlook.user_requests_per_second, 1, 1'000'000),
      MP_NUM(outlook.max_attempts, 1, 100),
      MP_NUM(outlook.max_retry_wait, 0, hour),
      MP_STR(analysis.test_id_headers, false, nullptr),
      MP_STR(analysis.test_id_pattern, false, nullptr),
      MP_STR(analysis.trusted_gmail, false, nullptr),
      MP_STR(analysis.trusted_outlook, false, nullptr),
      MP_STR(analysis.trusted_imap, false, nullptr),
      MP_STR(analysis.placement_file, false, nullptr),
      MP_STR(analysis.signatures_file, false, nullptr),
      MP_NUM(analysis.max_header_bytes, 1024, 16 << 20),
      MP_STR(alerts.discord_webhook_url, true, optional_service_url),
      MP_NUM(alerts.threshold, 1, 1'000'000),
      MP_NUM(alerts.window, sec, day),
      MP_NUM(alerts.cooldown, 0, day),
      MP_STR(notifications.webhook_secret, true, nullptr),
      MP_NUM(notifications.timeout, 100 * ms, hour),
      MP_STR(smtp.url, false, optional_smtp_url),
      MP_STR(smtp.username, false, nullptr),
      MP_STR(smtp.password, true, nullptr),
      MP_STR(smtp.from, false, nullptr),
      MP_STR(smtp.admin_to, false, nullptr),
      MP_BOOL(smtp.require_tls),
      MP_NUM(smtp.timeout, sec, hour),
      MP_STR(mistral.api_url, false, service_url),
      MP_STR(mistral.api_key, true, nullptr),
      MP_STR(mistral.model, false, nullptr),
      MP_NUM(mistral.timeout, sec, hour),
      MP_STR(search.meilisearch_url, false, optional_service_url),
      MP_STR(search.meilisearch_api_key, true, nullptr),
      MP_STR(crypto.key_env, false, nullptr),
      MP_STR(crypto.key_file, false, optional_readable_file),
  };
  return fields;
}

#undef MP_NUM
#undef MP_BOOL
#undef MP_STR
#undef MP_BIND

const field* find_field(std::string_view key) {
  for (auto& f : schema())
    if (key == f.key)
      return &f;
  return nullptr;
}

// -- loading ------------------------------------------------------------------

/// Where a key's value came from: a file position, or an environment variable.
struct origin {
  std::string source;
  int line = 0;
  int column = 0;
};

/// The origin of every key set by the file or the environment.
using key_origins = std::map<std::string, origin>;

struct loader {
  config_result& result;
  const env_lookup& env;
  key_origins& origins;

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
      error(
          where, key,
          fmt::format("wrong type: expected {}, found {}", type_name(ref),
                      toml::impl::node_type_friendly_names[static_cast<size_t>(
                          node.type())]));
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
              error(
                  where, key,
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
              if (auto x =
                      expand(*item.value<std::string>(), item.source(), key))
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
        origins[key] = origin{result.cfg.source,
                              static_cast<int>(node.source().begin.line),
                              static_cast<int>(node.source().begin.column)};
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

void apply_env_overrides(config_result& result, const env_lookup& env,
                         key_origins& origins) {
  if (auto url = env("MAILPIPE_DATABASE_URL"); url && !url->empty()) {
    result.cfg.database.url = *url;
    origins["database.url"] = origin{"MAILPIPE_DATABASE_URL"};
  }
  if (result.cfg.node.name.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != 0)
      result.cfg.node.name = host;
    else
      result.cfg.node.name = "mailpipe";
  }
}

// The problem with one value against its row of the schema; "" when none.
std::string check_value(const field& f, config& c) {
  return std::visit(
      [&](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          if (*p < f.min || *p > f.max)
            return fmt::format("{} is out of range: must be between {} and {}",
                               *p, f.min, f.max);
        } else if constexpr (std::is_same_v<T, duration>) {
          if (p->count() < f.min || p->count() > f.max)
            return fmt::format(
                "\"{}\" is out of range: must be between \"{}\" and "
                "\"{}\"",
                format_duration(*p), format_duration(duration{f.min}),
                format_duration(duration{f.max}));
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (f.check)
            return f.check(*p);
        }
        return "";
      },
      f.bind(c));
}

// Checks every value against the schema and the rules between keys; each error
// names where the value came from. Errors end up in file order.
void validate(config_result& result, const key_origins& origins) {
  auto& c = result.cfg;
  auto report = [&](const std::string& key, std::string message) {
    config_error err{c.source, 0, 0, key, std::move(message)};
    if (auto i = origins.find(key); i != origins.end()) {
      err.file = i->second.source;
      err.line = i->second.line;
      err.column = i->second.column;
    }
    result.errors.push_back(std::move(err));
  };
  for (auto& f : schema())
    if (auto problem = check_value(f, c); !problem.empty())
      report(f.key, std::move(problem));
  if (c.node.dead_after <= c.node.heartbeat_interval)
    report("node.dead_after", "must be longer than node.heartbeat_interval");
  // In file order; errors without a position (defaults, environment) last.
  std::stable_sort(
      result.errors.begin(), result.errors.end(),
      [](const config_error& a, const config_error& b) {
        auto rank = [](const config_error& e) {
          return std::pair{e.line == 0 ? INT_MAX : e.line, e.column};
        };
        return rank(a) < rank(b);
      });
}

} // namespace

// -- public API ---------------------------------------------------------------

std::string to_string(const config_error& err) {
  std::string where = err.file.empty() ? "config" : err.file;
  if (err.line > 0)
    where += fmt::format(":{}:{}", err.line, err.column);
  if (err.key.empty())
    return fmt::format("{}: {}", where, err.message);
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
    result.errors.push_back(
        config_error{source, static_cast<int>(err.source().begin.line),
                     static_cast<int>(err.source().begin.column), "",
                     fmt::format("invalid TOML: {}", err.description())});
    return result;
  }
  key_origins origins;
  loader{result, env, origins}.walk(parsed, "");
  apply_env_overrides(result, env, origins);
  validate(result, origins);
  return result;
}

config_result load_config_file(const std::string& path, const env_lookup& env) {
  auto text = read_regular_file(path, max_config_file_bytes);
  if (!text) {
    config_result result;
    result.cfg.source = path;
    // The message already names the file.
    auto message = text.error().context().empty()
                       ? std::string{"cannot read the file"}
                       : text.error().context().get_as<std::string>(0);
    auto prefix = path + ": ";
    if (message.rfind(prefix, 0) == 0)
      message.erase(0, prefix.size());
    result.errors.push_back(config_error{path, 0, 0, "", std::move(message)});
    return result;
  }
  return load_config_string(*text, path, env);
}

config_result default_config(const env_lookup& env) {
  config_result result;
  key_origins origins;
  apply_env_overrides(result, env, origins);
  validate(result, origins);
  return result;
}

std::string render_config(const config& cfg, bool mask) {
  std::string out;
  std::string section;
  auto& mutable_cfg =
      const_cast<config&>(cfg); // bind() yields pointers; we only read
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
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          q += fmt::format("\\u{:04x}",
                           static_cast<int>(c)); // no raw line breaks
          continue;
        }
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
            // Credentials can hide in any URL (user:pass@, ?client_secret=).
            if (mask && p->find("://") != std::string::npos)
              return quote(mask_url(*p));
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
  // About 31,700 years: no sum of terms overflows, nor does a conversion to
  // nanoseconds.
  constexpr int64_t max_duration_ms = 1'000'000'000'000'000;
  if (text.empty())
    return std::nullopt;
  if (text == "0")
    return duration{0}; // zero needs no unit ("expires_in": "0" for never)
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
    if (total_ms > max_duration_ms)
      return std::nullopt;
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
