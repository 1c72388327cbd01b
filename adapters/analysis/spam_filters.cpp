#include "adapters/analysis/spam_filters.hpp"

#include <algorithm>
#include <cstring>

#include "adapters/mail/text.hpp"

namespace mailpipe {

namespace {

constexpr auto npos = std::string_view::npos;

// -- splitting a header value into fields -------------------------------------

using kv = filter_scratch::kv;
using fields = filter_scratch::fields;

bool is_list_key(const signature_read& r, std::string_view key) {
  for (auto& k : r.rule_lists)
    if (text::iequals(k, key))
      return true;
  return false;
}

// "No, score=1.2 required=5.0 tests=A,B,\r\n\tC autolearn=no" and friends.
void split_kv_words(const signature_read& r, std::string_view v, fields& out) {
  char assign = r.assign[0];
  std::size_t i = 0;
  bool first = true;
  while (i < v.size()) {
    while (i < v.size() && (text::is_space(v[i]) || v[i] == ','))
      ++i;
    if (i >= v.size())
      break;
    auto start = i;
    while (i < v.size() && !text::is_space(v[i]))
      ++i;
    auto word = v.substr(start, i - start);
    auto eq = word.find(assign);
    if (eq == npos || eq == 0) {
      if (first) {
        while (!word.empty() && (word.back() == ',' || word.back() == ';'))
          word.remove_suffix(1);
        out.pairs.push_back({{}, word});
      }
      first = false;
      continue;
    }
    first = false;
    auto key = word.substr(0, eq);
    auto value = word.substr(eq + 1);
    if (is_list_key(r, key)) {
      auto vstart = start + eq + 1;
      if (!value.empty() && value.front() == '[') {
        auto close = v.find(']', vstart);
        i = close == npos ? v.size() : close + 1;
        value = v.substr(vstart + 1,
                         (close == npos ? v.size() : close) - vstart - 1);
      } else {
        // A list folded after its commas continues on the next word.
        while (!value.empty() && value.back() == ',' && i < v.size()) {
          while (i < v.size() && text::is_space(v[i]))
            ++i;
          while (i < v.size() && !text::is_space(v[i]))
            ++i;
          value = v.substr(vstart, i - vstart);
        }
      }
    }
    out.pairs.push_back({key, value});
  }
}

// "CIP:1.2.3.4;CTRY:US;SCL:1;SFV:NSPM;..." with any one-character separators.
void split_kv_pieces(const signature_read& r, std::string_view v, fields& out) {
  char sep = r.pairs[0];
  char assign = r.assign[0];
  std::size_t i = 0;
  bool first = true;
  while (i <= v.size()) {
    auto end = v.find(sep, i);
    if (end == npos)
      end = v.size();
    auto piece = text::trim(v.substr(i, end - i));
    i = end + 1;
    if (piece.empty())
      continue;
    auto eq = piece.find(assign);
    if (eq == npos) {
      if (first)
        out.pairs.push_back({{}, piece});
      else
        out.pairs.push_back({piece, {}});
    } else {
      out.pairs.push_back(
          {text::trim(piece.substr(0, eq)), text::trim(piece.substr(eq + 1))});
    }
    first = false;
  }
}

// "Yes-5.339-5.0-31-1": an empty field means the next number is negative.
void split_dashed(const signature_read& r, std::string_view v, fields& out) {
  v = text::trim(v);
  std::size_t field = 0, i = 0;
  while (i <= v.size() && field < r.layout.size()) {
    auto start = i;
    if (i < v.size() && v[i] == '-' && field > 0)
      ++i; // the sign of a negative number
    auto end = v.find('-', i);
    if (end == npos)
      end = v.size();
    out.pairs.push_back({r.layout[field++], v.substr(start, end - start)});
    i = end + 1;
  }
}

// "default: False [3.50 / 15.00]; SYMBOL(1.00)[opt]; ..." (Rspamd
// X-Spamd-Result).
void split_rspamd(std::string_view v, fields& out) {
  auto colon = v.find(':');
  auto bracket = v.find('[');
  if (colon != npos && bracket != npos && colon < bracket) {
    out.pairs.push_back(
        {{}, text::trim(v.substr(colon + 1, bracket - colon - 1))});
    auto close = v.find(']', bracket);
    auto nums =
        v.substr(bracket + 1, (close == npos ? v.size() : close) - bracket - 1);
    auto slash = nums.find('/');
    if (slash != npos) {
      out.pairs.push_back({"score", text::trim(nums.substr(0, slash))});
      out.pairs.push_back({"required", text::trim(nums.substr(slash + 1))});
    }
    v = close == npos ? std::string_view{} : v.substr(close + 1);
  }
  // Symbols are separated by ';' (older versions: new lines).
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && (text::is_space(v[i]) || v[i] == ';'))
      ++i;
    auto start = i;
    int depth = 0;
    while (i < v.size()) {
      char c = v[i];
      if (c == '(' || c == '[')
        ++depth;
      else if ((c == ')' || c == ']') && depth > 0)
        --depth;
      else if (depth == 0 && (c == ';' || c == '\n'))
        break;
      ++i;
    }
    auto sym = text::trim(v.substr(start, i - start));
    auto paren = sym.find('(');
    if (paren != npos)
      sym = text::trim(sym.substr(0, paren));
    if (!sym.empty())
      out.rules.push_back(sym);
  }
}

void split(const signature_read& r, std::string_view value, fields& out) {
  if (r.format == read_format::kv) {
    if (r.pairs == " ")
      split_kv_words(r, value, out);
    else
      split_kv_pieces(r, value, out);
  } else if (r.format == read_format::dashed) {
    split_dashed(r, value, out);
  } else if (r.format == read_format::rspamd) {
    split_rspamd(value, out);
  } else {
    // token: the first word of the value, and the whole value for rule lists.
    auto v = text::trim(value);
    auto end = v.find_first_of(" \t\r\n,;");
    out.pairs.push_back({{}, v.substr(0, end)});
  }
}

// -- applying a read ----------------------------------------------------------

// The first pair named `key` (ASCII case-insensitive), or nullptr.
const kv* pair_of(const fields& f, std::string_view key) {
  for (auto& p : f.pairs)
    if (text::iequals(p.key, key))
      return &p;
  return nullptr;
}

// The value of a pair found by pair_of ("" for a key without a value).
std::string_view value_of(const kv& p) {
  return p.value.data() ? p.value : std::string_view{"", 0};
}

std::optional<double> number(std::string_view s) {
  s = text::trim(s);
  if (!s.empty() && s.back() == '%')
    s.remove_suffix(1);
  return text::parse_number(s);
}

std::optional<double> first_number(const fields& f,
                                   const std::vector<std::string>& keys) {
  for (auto& k : keys)
    if (auto p = pair_of(f, k))
      if (auto n = number(value_of(*p)))
        return n;
  return std::nullopt;
}

bool any_glob(const std::vector<std::string>& globs, std::string_view v) {
  for (auto& g : globs)
    if (text::iglob(g, v))
      return true;
  return false;
}

// Rule names from a list value: "A,B", "A=1.2, B=0.1", "RULE 1.5, RULE2 0.3".
void add_rule_list(std::string_view v, std::vector<std::string>& rules) {
  std::size_t i = 0;
  while (i < v.size()) {
    auto end = v.find(',', i);
    if (end == npos)
      end = v.size();
    auto item = text::trim(v.substr(i, end - i));
    i = end + 1;
    auto cut = item.find_first_of("= \t\r\n(");
    item = item.substr(0, cut);
    if (!item.empty())
      rules.emplace_back(item);
  }
}

// The meaning of `value` of field `key`: an exact entry first, then glob
// entries.
std::string meaning_of(const signature_read& r, std::string_view key,
                       std::string_view value) {
  auto values = r.meanings.find(key);
  if (values == r.meanings.end()) {
    // Keys are case-insensitive; the table is tiny.
    values = std::find_if(r.meanings.begin(), r.meanings.end(), [&](auto& kv) {
      return text::iequals(kv.first, key);
    });
    if (values == r.meanings.end())
      return {};
  }
  if (auto exact = values->second.find(value); exact != values->second.end())
    return exact->second;
  for (auto& [pattern, meaning] : values->second)
    if (pattern.find('*') != std::string::npos && text::iglob(pattern, value))
      return meaning;
  return {};
}

struct outcome {
  bool spam = false;
  bool not_spam = false;
  bool unknown = false;
};

void apply(const signature_read& r, std::string_view value, const fields& f,
           filter_report& rep, outcome& o) {
  auto score = first_number(f, r.score);
  if (score && !rep.score)
    rep.score = score;
  auto threshold = first_number(f, r.threshold);
  if (!threshold)
    threshold = r.fixed_threshold;
  if (threshold && !rep.threshold && (score || rep.score))
    rep.threshold = threshold;
  for (auto& vr : r.verdicts) {
    auto p = pair_of(f, vr.key);
    if (!p)
      continue;
    auto v = text::trim(value_of(*p));
    if (any_glob(vr.not_spam, v))
      o.not_spam = true;
    else if (any_glob(vr.spam, v))
      o.spam = true;
    else
      o.unknown = true;
  }
  if (score && r.spam_at_or_above)
    (*score >= *r.spam_at_or_above ? o.spam : o.not_spam) = true;
  if (score && threshold && r.score_verdict)
    (*score >= *threshold ? o.spam : o.not_spam) = true;
  for (auto& k : r.rule_lists) {
    if (k.empty())
      add_rule_list(value, rep.rules);
    else if (auto p = pair_of(f, k))
      add_rule_list(value_of(*p), rep.rules);
  }
  for (auto sym : f.rules)
    rep.rules.emplace_back(sym);
  for (auto& k : r.rule_keys) {
    auto p = pair_of(f, k);
    if (!p)
      continue;
    // A token header's rule is its whole value ("SKIPPED(no attachment in
    // message)").
    auto v = k.empty() && r.format == read_format::token
                 ? std::string_view{value}
                 : value_of(*p);
    auto text_value = text::collapse_space(v);
    if (k.empty()) {
      rep.rules.push_back(text_value);
    } else {
      std::string rule;
      rule.reserve(k.size() + 1 + text_value.size());
      rule.append(k).append(1, ':').append(text_value);
      rep.rules.push_back(std::move(rule));
    }
    filter_detail d{k, std::move(text_value), {}};
    d.meaning = meaning_of(r, k, d.value);
    rep.details.push_back(std::move(d));
  }
}

// A cheap hash of the ASCII lower case of `s`: its length, first four and last
// eight bytes read as words with the 0x20 bit set (lower case for letters;
// header names are printable ASCII), since names share long prefixes such as
// "X-MS-Exchange-". Equality is checked after a hash match.
std::uint64_t lower_hash(std::string_view s) noexcept {
  std::uint64_t tail = 0;
  std::uint32_t head = 0;
  auto n = s.size();
  if (n >= 8) {
    std::memcpy(&tail, s.data() + n - 8, 8); // fixed sizes: no library call
    std::memcpy(&head, s.data(), 4);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      tail |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * i);
    head = static_cast<std::uint32_t>(tail);
  }
  tail |= 0x2020202020202020ull;
  head |= 0x20202020u;
  auto h = (tail * 0x9E3779B97F4A7C15ull)
           ^ (std::uint64_t{head} * 0xC2B2AE3D27D4EB4Full)
           ^ (n * 0x165667B19E3779F9ull);
  return h ^ (h >> 31);
}

std::string lower_copy(std::string_view s) {
  return text::to_lower(s);
}

bool is_glob(std::string_view s) {
  return s.find('*') != npos;
}

} // namespace

std::string_view to_string(filter_verdict v) noexcept {
  switch (v) {
    case filter_verdict::spam: return "spam";
    case filter_verdict::not_spam: return "not_spam";
    case filter_verdict::scanned: return "scanned";
    default: return "unknown";
  }
}

filter_table::filter_table(std::vector<filter_signature> filters)
    : filters_(std::move(filters)) {
  auto add = [&](std::string_view name, std::string_view value, std::size_t f,
                 std::size_t r) {
    entry e{lower_copy(text::trim(name)), std::string{text::trim(value)}, f, r};
    (is_glob(e.name) ? globs_ : exact_).push_back(std::move(e));
  };
  for (std::size_t f = 0; f < filters_.size(); ++f) {
    for (auto& d : filters_[f].detect) {
      auto colon = d.find(':');
      if (colon == npos)
        add(d, {}, f, npos);
      else
        add(std::string_view{d}.substr(0, colon),
            std::string_view{d}.substr(colon + 1), f, npos);
    }
    for (std::size_t r = 0; r < filters_[f].reads.size(); ++r)
      add(filters_[f].reads[r].header, {}, f, r);
  }
  std::stable_sort(
      exact_.begin(), exact_.end(),
      [](const entry& a, const entry& b) { return a.name < b.name; });
  for (auto& g : globs_) {
    glob_prefixes_.push_back(g.name.substr(0, g.name.find('*')));
    auto& prefix = glob_prefixes_.back();
    if (prefix.size() < 3) {
      for (auto& w : glob_third_)
        w = ~std::uint64_t{0};
    } else {
      auto c = static_cast<unsigned char>(text::lower(prefix[2]));
      glob_third_[c >> 6] |= std::uint64_t{1} << (c & 63);
    }
  }
  std::size_t size = 16;
  while (size < exact_.size() * 4)
    size *= 2;
  slots_.assign(size, npos);
  slot_hashes_.assign(size, 0);
  for (std::size_t i = 0; i < exact_.size(); ++i) {
    if (i > 0 && exact_[i].name == exact_[i - 1].name)
      continue;
    exact_lengths_ |= std::uint64_t{1}
                      << std::min<std::size_t>(exact_[i].name.size(), 63);
    auto h = lower_hash(exact_[i].name);
    auto slot = h & (size - 1);
    while (slots_[slot] != npos)
      slot = (slot + 1) & (size - 1);
    slots_[slot] = i;
    slot_hashes_[slot] = h;
  }
}

std::size_t filter_table::lookup(std::string_view name) const noexcept {
  if (!((exact_lengths_ >> std::min<std::size_t>(name.size(), 63)) & 1))
    return npos;
  auto h = lower_hash(name);
  auto mask = slots_.size() - 1;
  for (auto slot = h & mask; slots_[slot] != npos; slot = (slot + 1) & mask)
    if (slot_hashes_[slot] == h
        && text::iequals(exact_[slots_[slot]].name, name))
      return slots_[slot];
  return npos;
}

std::vector<filter_report> filter_table::scan(const header_block& headers,
                                              filter_scratch& scratch) const {
  // Named references, not a structured binding: the lambdas below use them.
  auto& detected = scratch.detected;
  auto& hits = scratch.hits;
  auto& claimed = scratch.claimed;
  auto& f = scratch.split;
  detected.assign(filters_.size(), 0);
  hits.clear();
  auto on_entry = [&](const entry& e, std::size_t field) {
    if (e.read == npos) {
      if (e.value.empty()
          || text::iglob(e.value, text::trim(headers.fields[field].value)))
        detected[e.filter] = 1;
    } else {
      hits.push_back({e.filter, e.read, field});
    }
  };
  for (std::size_t i = 0; i < headers.fields.size(); ++i) {
    auto name = headers.fields[i].name;
    if (auto first = lookup(name); first != npos)
      for (auto k = first;
           k < exact_.size() && exact_[k].name == exact_[first].name; ++k)
        on_entry(exact_[k], i);
    auto third =
        static_cast<unsigned char>(name.size() > 2 ? text::lower(name[2]) : 0);
    if (!((glob_third_[third >> 6] >> (third & 63)) & 1))
      continue;
    for (std::size_t g = 0; g < globs_.size(); ++g)
      if (text::istarts_with(name, glob_prefixes_[g])
          && text::iglob(globs_[g].name, name))
        on_entry(globs_[g], i);
  }
  // Headers read by an identified filter are not reported again by a fallback
  // one.
  claimed.assign(headers.fields.size(), 0);
  for (auto& h : hits)
    if (detected[h.filter] && !filters_[h.filter].fallback)
      claimed[h.field] = 1;
  std::vector<filter_report> out;
  out.reserve(4);
  for (std::size_t fi = 0; fi < filters_.size(); ++fi) {
    auto& sig = filters_[fi];
    bool fallback_hit = false;
    if (sig.fallback)
      for (auto& h : hits)
        fallback_hit |= h.filter == fi && !claimed[h.field];
    if (!detected[fi] && !fallback_hit)
      continue;
    filter_report rep;
    rep.name = sig.name;
    rep.rules.reserve(8);
    rep.details.reserve(8);
    outcome o;
    for (std::size_t r = 0; r < sig.reads.size(); ++r) {
      for (auto& h : hits) {
        if (h.filter != fi || h.read != r || (sig.fallback && claimed[h.field]))
          continue;
        auto value = headers.fields[h.field].value;
        f.pairs.clear();
        f.rules.clear();
        split(sig.reads[r], value, f);
        apply(sig.reads[r], value, f, rep, o);
        break; // the topmost header only
      }
    }
    rep.verdict = o.spam       ? filter_verdict::spam
                  : o.not_spam ? filter_verdict::not_spam
                  : o.unknown  ? filter_verdict::unknown
                               : filter_verdict::scanned;
    out.push_back(std::move(rep));
  }
  return out;
}

} // namespace mailpipe
