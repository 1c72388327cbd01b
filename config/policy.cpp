#include "config/policy.hpp"
#include "config/bounded_file.hpp"

#include <array>

#include <caf/error.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include "messages/embedded.hpp"
#include "messages/error.hpp"

namespace mailpipe::embedded {
extern const embedded_file mailpipe_config_data[];
extern const std::size_t mailpipe_config_data_count;
} // namespace mailpipe::embedded

namespace mailpipe {

namespace {

// -- reading TOML values ------------------------------------------------------

// Collects the first mistake with its place; later reads are skipped once one
// is found.
struct reader {
  std::string_view source;
  std::string problem;

  void fail(const toml::node& at, std::string_view key, std::string_view what) {
    if (!problem.empty())
      return;
    auto& src = at.source();
    problem = fmt::format("{}:{}:{}: key '{}': {}", source, src.begin.line,
                          src.begin.column, key, what);
  }

  std::string str(const toml::table& t, std::string_view key,
                  bool required = false, std::string fallback = {}) {
    auto node = t.get(key);
    if (!node) {
      if (required)
        fail(t, key, "is required");
      return fallback;
    }
    if (auto s = node->value<std::string>())
      return *s;
    fail(*node, key, "must be a string");
    return fallback;
  }

  std::vector<std::string> strings(const toml::table& t, std::string_view key) {
    std::vector<std::string> out;
    auto node = t.get(key);
    if (!node)
      return out;
    if (auto s = node->value<std::string>()) {
      out.push_back(*s);
      return out;
    }
    auto arr = node->as_array();
    if (!arr) {
      fail(*node, key, "must be a string or an array of strings");
      return out;
    }
    for (auto& el : *arr) {
      if (auto s = el.value<std::string>())
        out.push_back(*s);
      else
        fail(el, key, "must hold strings only");
    }
    return out;
  }

  std::optional<double> number(const toml::table& t, std::string_view key) {
    auto node = t.get(key);
    if (!node)
      return std::nullopt;
    if (auto d = node->value<double>())
      return *d;
    fail(*node, key, "must be a number");
    return std::nullopt;
  }

  template <class F>
  void each_table(const toml::table& t, std::string_view key, F f) {
    auto node = t.get(key);
    if (!node)
      return;
    auto arr = node->as_array();
    if (!arr) {
      fail(*node, key, "must be an array of tables ([[...]])");
      return;
    }
    for (auto& el : *arr) {
      if (auto tt = el.as_table())
        f(*tt);
      else
        fail(el, key, "must hold tables only");
    }
  }
};

const std::vector<std::string_view>& placements() {
  static const std::vector<std::string_view> names = {
      "inbox", "spam", "promotions", "social", "updates", "forums", "other"};
  return names;
}

bool known_placement(std::string_view p) {
  for (auto n : placements())
    if (n == p)
      return true;
  return false;
}

void read_rules(reader& rd, const toml::table& t, std::string_view key,
                std::vector<placement_rule>& into) {
  std::vector<placement_rule> rules;
  rd.each_table(t, key, [&](const toml::table& r) {
    placement_rule rule{rd.str(r, "match", true), rd.str(r, "placement", true)};
    if (!rule.placement.empty() && !known_placement(rule.placement))
      rd.fail(r, "placement",
              fmt::format("unknown placement '{}' (one of {})", rule.placement,
                          fmt::join(placements(), ", ")));
    rules.push_back(std::move(rule));
  });
  // The new rules go first: an operator's rule wins over a built-in one.
  into.insert(into.begin(), rules.begin(), rules.end());
}

caf::expected<toml::table> parse_toml(std::string_view text,
                                      std::string_view source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    auto& src = err.source();
    return caf::make_error(ec::invalid_config,
                           fmt::format("{}:{}:{}: {}", source, src.begin.line,
                                       src.begin.column, err.description()));
  }
}

// The TOML names of the read formats, in enum order.
constexpr std::array<std::string_view, 4> format_names = {"token", "kv",
                                                          "dashed", "rspamd"};

signature_read read_signature_read(reader& rd, const toml::table& t) {
  signature_read r;
  r.header = rd.str(t, "header", true);
  auto format = rd.str(t, "format", false, "token");
  auto known = std::find(format_names.begin(), format_names.end(), format);
  if (known == format_names.end())
    rd.fail(t, "format",
            fmt::format("unknown format '{}' (one of {})", format,
                        fmt::join(format_names, ", ")));
  else
    r.format = static_cast<read_format>(known - format_names.begin());
  r.pairs = rd.str(t, "pairs", false, ";");
  r.assign = rd.str(t, "assign", false, ":");
  if (r.format == read_format::kv
      && (r.pairs.size() != 1 || r.assign.size() != 1))
    rd.fail(t, "pairs", "pairs and assign must be one character each");
  r.layout = rd.strings(t, "layout");
  if (r.format == read_format::dashed && r.layout.empty())
    rd.fail(t, "layout", "format 'dashed' needs a layout");
  r.score = rd.strings(t, "score");
  r.threshold = rd.strings(t, "threshold");
  r.fixed_threshold = rd.number(t, "fixed_threshold");
  r.spam_at_or_above = rd.number(t, "spam_at_or_above");
  if (auto sv = t.get("score_verdict")) {
    if (auto b = sv->value<bool>())
      r.score_verdict = *b;
    else
      rd.fail(*sv, "score_verdict", "must be true or false");
  }
  r.rule_lists = rd.strings(t, "rule_lists");
  r.rule_keys = rd.strings(t, "rule_keys");
  rd.each_table(t, "verdict", [&](const toml::table& v) {
    r.verdicts.push_back(
        {rd.str(v, "key"), rd.strings(v, "spam"), rd.strings(v, "not_spam")});
  });
  if (auto m = t.get("meaning")) {
    if (auto mt = m->as_table()) {
      for (auto& [key, values] : *mt) {
        auto vt = values.as_table();
        if (!vt) {
          rd.fail(values, "meaning", "must be a table of tables");
          continue;
        }
        auto& dst = r.meanings[std::string{key.str()}];
        for (auto& [value, text] : *vt) {
          if (auto s = text.value<std::string>())
            dst[std::string{value.str()}] = *s;
          else
            rd.fail(text, "meaning", "values must be strings");
        }
      }
    } else {
      rd.fail(*m, "meaning", "must be a table");
    }
  }
  return r;
}

} // namespace

caf::error merge_placement_toml(analysis_policy& into, std::string_view text,
                                std::string_view source) {
  auto parsed = parse_toml(text, source);
  if (!parsed)
    return std::move(parsed.error());
  reader rd{source, {}};
  auto& t = *parsed;
  auto section = [&](std::string_view name, std::string_view key,
                     std::vector<placement_rule>& into_rules) {
    if (auto s = t.get(name)) {
      if (auto st = s->as_table())
        read_rules(rd, *st, key, into_rules);
      else
        rd.fail(*s, name, "must be a table");
    }
  };
  section("gmail", "labels", into.placement.gmail_labels);
  section("imap", "attributes", into.placement.imap_attributes);
  section("imap", "folders", into.placement.imap_folders);
  section("outlook", "folders", into.placement.outlook_folders);
  if (t.get("fallback")) {
    auto fb = rd.str(t, "fallback");
    if (!known_placement(fb))
      rd.fail(*t.get("fallback"), "fallback",
              fmt::format("unknown placement '{}'", fb));
    into.placement.fallback = fb;
  }
  if (!rd.problem.empty())
    return caf::make_error(ec::invalid_config, rd.problem);
  return {};
}

caf::error merge_signatures_toml(analysis_policy& into, std::string_view text,
                                 std::string_view source) {
  auto parsed = parse_toml(text, source);
  if (!parsed)
    return std::move(parsed.error());
  reader rd{source, {}};
  std::vector<filter_signature> added;
  rd.each_table(*parsed, "filter", [&](const toml::table& f) {
    filter_signature sig;
    sig.name = rd.str(f, "name", true);
    sig.detect = rd.strings(f, "detect");
    if (auto fb = f.get("fallback")) {
      if (auto b = fb->value<bool>())
        sig.fallback = *b;
      else
        rd.fail(*fb, "fallback", "must be true or false");
    }
    rd.each_table(f, "read", [&](const toml::table& r) {
      sig.reads.push_back(read_signature_read(rd, r));
    });
    if (sig.detect.empty() && sig.reads.empty())
      rd.fail(f, "detect",
              fmt::format("filter '{}' has neither detect nor read", sig.name));
    added.push_back(std::move(sig));
  });
  if (!rd.problem.empty())
    return caf::make_error(ec::invalid_config, rd.problem);
  for (auto& sig : added) {
    auto same = std::find_if(into.filters.begin(), into.filters.end(),
                             [&](auto& f) { return f.name == sig.name; });
    if (same != into.filters.end())
      *same = std::move(sig);
    else
      into.filters.push_back(std::move(sig));
  }
  return {};
}

caf::expected<analysis_policy> builtin_policy() {
  analysis_policy policy;
  // Rules are prepended on merge, so the built-in files are merged as one each.
  for (std::size_t i = 0; i < embedded::mailpipe_config_data_count; ++i) {
    auto& file = embedded::mailpipe_config_data[i];
    caf::error err;
    if (file.name == "placement.toml")
      err = merge_placement_toml(policy, file.content, file.name);
    else if (file.name == "spam_signatures.toml")
      err = merge_signatures_toml(policy, file.content, file.name);
    if (err)
      return err;
  }
  return policy;
}

namespace {

caf::expected<std::string> read_file(const std::string& path) {
  return read_regular_file(path, max_config_file_bytes);
}

} // namespace

caf::expected<analysis_policy> load_policy(const analysis_config& cfg) {
  auto policy = builtin_policy();
  if (!policy)
    return policy;
  using merge_fn =
      caf::error (*)(analysis_policy&, std::string_view, std::string_view);
  const std::pair<const std::string*, merge_fn> files[] = {
      {&cfg.placement_file, &merge_placement_toml},
      {&cfg.signatures_file, &merge_signatures_toml},
  };
  for (auto& [path, merge] : files) {
    if (path->empty())
      continue;
    auto text = read_file(*path);
    if (!text)
      return std::move(text.error());
    if (auto err = merge(*policy, *text, *path))
      return err;
  }
  return policy;
}

} // namespace mailpipe
