#include "adapters/analysis/analysis.hpp"

#include <cctype>

#include <fmt/format.h>

#include "adapters/mail/rfc2047.hpp"
#include "adapters/mail/text.hpp"
#include "messages/error.hpp"

namespace mailpipe {

namespace {

// -- which header is which ----------------------------------------------------

enum class ar_kind { none, ar, arc, original, received_spf };

// The headers carrying authentication results, with their canonical spelling.
struct ar_header {
  std::string_view name;
  ar_kind kind;
};

constexpr ar_header ar_headers[] = {
    {"Authentication-Results", ar_kind::ar},
    {"ARC-Authentication-Results", ar_kind::arc},
    {"X-Original-Authentication-Results", ar_kind::original},
    {"Authentication-Results-Original", ar_kind::original},
    {"Received-SPF", ar_kind::received_spf},
};

static_assert(ar_headers[0].name.size() == 22 && ar_headers[1].name.size() == 26
              && ar_headers[2].name.size() == 33
              && ar_headers[3].name.size() == 31
              && ar_headers[4].name.size() == 12);

[[gnu::always_inline]] inline const ar_header*
ar_header_of(std::string_view name) noexcept {
  // Every field of a message passes here: one length test rejects nearly all.
  const ar_header* h = nullptr;
  switch (name.size()) {
    case 22: h = &ar_headers[0]; break;
    case 26: h = &ar_headers[1]; break;
    case 33: h = &ar_headers[2]; break;
    case 31: h = &ar_headers[3]; break;
    case 12: h = &ar_headers[4]; break;
    default: return nullptr;
  }
  return text::iequals(name, h->name) ? h : nullptr;
}

std::string_view domain_of(std::string_view addr) noexcept {
  auto at = addr.rfind('@');
  auto d = at == std::string_view::npos ? addr : addr.substr(at + 1);
  while (!d.empty() && (d.back() == '>' || d.back() == '.'))
    d.remove_suffix(1);
  return d;
}

// "p=NONE sp=NONE dis=NONE", "policy=reject", "p=REJECT" -> the policy, lower
// case.
std::optional<std::string> policy_from_comment(std::string_view c) {
  for (auto key : {std::string_view{"p="}, std::string_view{"policy="}}) {
    std::size_t from = 0;
    for (;;) {
      auto rel = text::ifind(c.substr(from), key);
      if (rel == std::string_view::npos)
        break;
      auto i = from + rel;
      if (i == 0 || !std::isalnum(static_cast<unsigned char>(c[i - 1]))) {
        auto v = c.substr(i + key.size());
        auto p = v.substr(0, v.find_first_of(" \t;,)"));
        if (!p.empty())
          return text::to_lower(p);
      }
      from = i + key.size();
    }
  }
  return std::nullopt;
}

std::string_view first_nonempty(
    const auth_result& r,
    std::initializer_list<std::pair<std::string_view, std::string_view>> keys) {
  for (auto& [ptype, name] : keys) {
    auto v = r.property(ptype, name);
    if (!v.empty())
      return v;
  }
  return {};
}

} // namespace

bool is_trusted(std::string_view authserv_id,
                const std::vector<std::string>& trusted) {
  for (auto& t : trusted) {
    if (t.empty()) {
      if (authserv_id.empty())
        return true;
    } else if (!authserv_id.empty() && text::iglob(t, authserv_id)) {
      return true;
    }
  }
  return false;
}

auth_summary summarize_auth(const header_block& headers,
                            const std::vector<std::string>& trusted,
                            std::vector<std::string>& defects,
                            auth_scratch& scratch) {
  auth_summary s;
  auto& spf = scratch.spf;
  auto& parsed = scratch.parsed;
  std::size_t expected = 0;
  for (auto& f : headers.fields)
    if (ar_header_of(f.name))
      expected += 4;
  s.results.reserve(expected);
  bool have_dkim = false;
  int best_arc_instance = -1;
  std::optional<std::string> arc_from_aar;
  std::optional<std::string>
      spf_fallback; // result of the first trusted Received-SPF
  std::string spf_fallback_domain;
  for (auto& f : headers.fields) {
    auto which = ar_header_of(f.name);
    if (!which)
      continue;
    auto kind = which->kind;
    if (kind == ar_kind::received_spf) {
      parse_received_spf(f.value, spf);
      for (auto& d : spf.defects)
        defects.push_back(fmt::format("line {}: Received-SPF: {}", f.line, d));
      // The receiver is named by receiver= or leads the comment ("mx.example:
      // ...").
      std::string_view receiver = spf.property("receiver");
      if (receiver.empty()) {
        auto colon = spf.comment.find(':');
        if (colon != std::string::npos && spf.comment.find(' ') > colon)
          receiver = std::string_view{spf.comment}.substr(0, colon);
      }
      auto& e = s.results.emplace_back(); // built in place
      e.header = which->name;
      e.authserv_id.assign(receiver);
      e.trusted = !receiver.empty() && is_trusted(receiver, trusted);
      if (e.trusted && !spf_fallback) {
        auto from = spf.property("envelope-from");
        spf_fallback_domain =
            std::string{domain_of(from.empty() ? spf.property("helo") : from)};
        spf_fallback = spf.result;
      }
      e.result.method = "spf";
      e.result.result = std::move(spf.result);
      e.result.comment = std::move(spf.comment);
      e.result.properties = std::move(spf.properties);
      continue;
    }
    parse_auth_results(f.value, kind == ar_kind::arc, parsed);
    for (auto& d : parsed.defects)
      defects.push_back(fmt::format("line {}: {}: {}", f.line, f.name, d));
    bool trust = is_trusted(parsed.authserv_id, trusted);
    // Only the receiving side's own Authentication-Results feed the summary;
    // each method is taken from the first (topmost) trusted header that reports
    // it.
    bool summary = trust && kind == ar_kind::ar;
    bool took_dkim = false;
    for (auto& r : parsed.results) {
      // r is moved into the list at the end of this iteration.
      if (summary) {
        if (r.method == "spf" && !s.spf_result) {
          s.spf_result = r.result;
          auto d = first_nonempty(r, {{"smtp", "mailfrom"},
                                      {"smtp", "mfrom"},
                                      {"smtp", "from"},
                                      {"smtp", "mail"},
                                      {"smtp", "helo"}});
          if (!d.empty())
            s.spf_domain = std::string{domain_of(d)};
        } else if (r.method == "dkim" && (!have_dkim || took_dkim)) {
          took_dkim = true;
          auto d = r.property("header", "d");
          if (text::iequals(d,
                            "none")) // Microsoft's form for an unsigned message
            d = {};
          if (s.dkim.empty())
            s.dkim.reserve(2); // usually the author's and the ESP's
          s.dkim.push_back(
              {r.result,
               std::string{d.empty() ? domain_of(r.property("header", "i"))
                                     : d},
               std::string{r.property("header", "s")}});
        } else if (r.method == "dmarc" && !s.dmarc_result) {
          s.dmarc_result = r.result;
          auto p = first_nonempty(r, {{"policy", "dmarc"},
                                      {"policy", "published-domain-policy"},
                                      {"header", "p"}});
          if (!p.empty())
            s.dmarc_policy = text::to_lower(p);
          else
            s.dmarc_policy = policy_from_comment(r.comment);
          auto from = r.property("header", "from");
          if (!from.empty())
            s.dmarc_header_from = std::string{domain_of(from)};
        } else if (r.method == "arc" && !s.arc_result) {
          s.arc_result = r.result;
        } else if (r.method == "compauth" && !s.compauth_result) {
          s.compauth_result = r.result;
          s.compauth_reason = r.reason;
        }
      } else if (trust && kind == ar_kind::arc && r.method == "arc"
                 && parsed.instance > best_arc_instance) {
        best_arc_instance = parsed.instance;
        arc_from_aar = r.result;
      }
      auto& e = s.results.emplace_back();
      e.header = which->name;
      e.authserv_id = parsed.authserv_id;
      e.trusted = trust;
      e.instance = parsed.instance;
      e.result = std::move(r);
    }
    have_dkim |= took_dkim;
  }
  if (!s.spf_result && spf_fallback) {
    s.spf_result = spf_fallback;
    if (!spf_fallback_domain.empty())
      s.spf_domain = spf_fallback_domain;
  }
  if (!s.arc_result && arc_from_aar)
    s.arc_result = arc_from_aar;
  return s;
}

// -- analyzer -----------------------------------------------------------------

caf::expected<analyzer> analyzer::make(analysis_policy policy,
                                       const analysis_config& cfg) {
  // The config's schema bounds it; an analyzer built by other code is held to it too.
  if (cfg.max_header_bytes <= 0)
    return caf::make_error(ec::invalid_config,
                           "analysis.max_header_bytes must be positive");
  auto pattern = token_pattern::compile(cfg.test_id_pattern);
  if (!pattern)
    return std::move(pattern.error());
  return analyzer{std::move(policy), cfg, std::move(*pattern)};
}

caf::expected<analyzer> analyzer::builtin(const analysis_config& cfg) {
  auto policy = builtin_policy();
  if (!policy)
    return std::move(policy.error());
  return make(std::move(*policy), cfg);
}

analyzer::analyzer(analysis_policy policy, const analysis_config& cfg,
                   token_pattern pattern)
    : placement_(std::move(policy.placement)),
      filters_(std::move(policy.filters)), test_ids_{cfg.test_id_headers,
                                                     std::move(pattern)},
      trusted_gmail_(cfg.trusted_gmail), trusted_outlook_(cfg.trusted_outlook),
      trusted_imap_(cfg.trusted_imap),
      max_header_bytes_(static_cast<std::size_t>(cfg.max_header_bytes)) {
  for (auto* list : {&trusted_gmail_, &trusted_outlook_, &trusted_imap_})
    trusted_all_.insert(trusted_all_.end(), list->begin(), list->end());
}

const std::vector<std::string>&
analyzer::trusted_ids(std::string_view provider) const {
  if (text::iequals(provider, "gmail"))
    return trusted_gmail_;
  if (text::iequals(provider, "outlook"))
    return trusted_outlook_;
  if (text::iequals(provider, "imap"))
    return trusted_imap_;
  return trusted_all_;
}

message_analysis analyzer::analyze(std::string_view message,
                                   const placement_input& where) const {
  analysis_scratch scratch;
  return analyze(message, where, scratch);
}

message_analysis analyzer::analyze(std::string_view message,
                                   const placement_input& where,
                                   analysis_scratch& scratch) const {
  message_analysis out;
  auto& headers = scratch.headers;
  parse_header_block(message.substr(0, max_input_bytes()), max_header_bytes_,
                     headers);
  out.header_count = headers.fields.size();
  for (auto& d : headers.defects)
    out.defects.push_back(d.line == 0
                              ? d.message
                              : fmt::format("line {}: {}", d.line, d.message));
  out.where = where;
  out.placement = classify_placement(placement_, where);
  for (auto& f : headers.fields) {
    if (out.subject.empty() && text::iequals(f.name, "Subject"))
      out.subject = decode_rfc2047(f.value);
    else if (out.from.empty() && text::iequals(f.name, "From"))
      out.from = decode_rfc2047(f.value);
    else if (out.message_id.empty() && text::iequals(f.name, "Message-ID"))
      out.message_id = unfold(f.value);
    else if (out.date.empty() && text::iequals(f.name, "Date"))
      out.date = unfold(f.value);
  }
  out.test_ids = find_test_ids(headers, test_ids_, out.subject);
  out.auth = summarize_auth(headers, trusted_ids(where.provider), out.defects,
                            scratch.auth);
  out.filters = filters_.scan(headers, scratch.filters);
  return out;
}

} // namespace mailpipe
