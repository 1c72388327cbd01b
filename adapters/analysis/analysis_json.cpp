#include "adapters/analysis/analysis_json.hpp"

#include <iterator>

#include <fmt/format.h>

#include "adapters/mail/text.hpp"

namespace mailpipe {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    // Runs of bytes that need no escaping are appended at once.
    auto start = i;
    while (i < s.size()) {
      auto b = static_cast<unsigned char>(s[i]);
      if (b < 0x20 || b >= 0x7F || b == '"' || b == '\\')
        break;
      ++i;
    }
    out.append(s.data() + start, i - start);
    if (i == s.size())
      break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      auto len = text::utf8_sequence_length(s.substr(i));
      if (len > 0) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        text::append_lenient_utf8(out, s.substr(i, 1));
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F)
          out += fmt::format("\\u{:04x}", c);
        else
          out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  out.push_back('"');
}

namespace {

// A small streaming writer: handles commas, indentation and nesting.
class writer {
public:
  explicit writer(int indent) : indent_(indent) { out_.reserve(8192); }

  void begin_object() {
    value_prefix();
    out_.push_back('{');
    push();
  }

  void end_object() { pop('}'); }

  void begin_array() {
    value_prefix();
    out_.push_back('[');
    push();
  }

  void end_array() { pop(']'); }

  void key(std::string_view k) {
    separator();
    append_json_string(out_, k);
    out_ += indent_ > 0 ? ": " : ":";
    after_key_ = true;
  }

  void str(std::string_view s) {
    value_prefix();
    append_json_string(out_, s);
  }

  void opt_str(const std::optional<std::string>& s) {
    if (s)
      str(*s);
    else
      null();
  }

  void null() {
    value_prefix();
    out_ += "null";
  }

  void boolean(bool b) {
    value_prefix();
    out_ += b ? "true" : "false";
  }

  void number(double d) {
    value_prefix();
    fmt::format_to(std::back_inserter(out_), "{}", d);
  }

  void integer(long long n) {
    value_prefix();
    fmt::format_to(std::back_inserter(out_), "{}", n);
  }

  void opt_number(const std::optional<double>& d) {
    if (d)
      number(*d);
    else
      null();
  }

  /// `"k": "v"`.
  void field(std::string_view k, std::string_view v) {
    key(k);
    str(v);
  }

  /// `"k": "v"`, or `"k": null` when v is empty.
  void field_or_null(std::string_view k, std::string_view v) {
    key(k);
    if (v.empty())
      null();
    else
      str(v);
  }

  /// `"k": "v"` or `"k": null`.
  void field_opt(std::string_view k, const std::optional<std::string>& v) {
    key(k);
    opt_str(v);
  }

  void strings(const std::vector<std::string>& v) {
    begin_array();
    for (auto& s : v)
      str(s);
    end_array();
  }

  std::string take() {
    if (indent_ > 0)
      out_.push_back('\n');
    return std::move(out_);
  }

private:
  void newline() {
    if (indent_ > 0) {
      out_.push_back('\n');
      out_.append(static_cast<std::size_t>(indent_) * counts_.size(), ' ');
    }
  }

  void separator() {
    if (!counts_.empty()) {
      if (counts_.back()++ > 0)
        out_.push_back(',');
      newline();
    }
  }

  void value_prefix() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    separator();
  }

  void push() { counts_.push_back(0); }

  void pop(char close) {
    bool had = counts_.back() > 0;
    counts_.pop_back();
    if (had)
      newline();
    out_.push_back(close);
  }

  int indent_;
  std::string out_;
  std::vector<int> counts_;
  bool after_key_ = false;
};

void write_result(writer& w, const auth_entry& e) {
  w.begin_object();
  w.field("header", e.header);
  w.field("authserv_id", e.authserv_id);
  w.key("trusted");
  w.boolean(e.trusted);
  if (e.instance > 0) {
    w.key("instance");
    w.integer(e.instance);
  }
  w.field("method", e.result.method);
  if (!e.result.method_version.empty()) {
    w.field("method_version", e.result.method_version);
  }
  w.field("result", e.result.result);
  w.field_or_null("reason", e.result.reason);
  w.field_or_null("comment", e.result.comment);
  w.key("properties");
  w.begin_object();
  for (auto& p : e.result.properties) {
    w.key(p.ptype.empty() ? p.name : fmt::format("{}.{}", p.ptype, p.name));
    w.str(p.value);
  }
  w.end_object();
  w.end_object();
}

void write_auth(writer& w, const auth_summary& a) {
  w.begin_object();
  w.key("spf");
  w.begin_object();
  w.field_opt("result", a.spf_result);
  w.field_opt("domain", a.spf_domain);
  w.end_object();
  w.key("dkim");
  w.begin_array();
  for (auto& d : a.dkim) {
    w.begin_object();
    w.field("result", d.result);
    w.field_or_null("domain", d.domain);
    w.field_or_null("selector", d.selector);
    w.end_object();
  }
  w.end_array();
  w.key("dmarc");
  w.begin_object();
  w.field_opt("result", a.dmarc_result);
  w.field_opt("policy", a.dmarc_policy);
  w.field_opt("header_from", a.dmarc_header_from);
  w.end_object();
  w.key("arc");
  w.begin_object();
  w.field_opt("result", a.arc_result);
  w.end_object();
  w.key("compauth");
  w.begin_object();
  w.field_opt("result", a.compauth_result);
  w.field_opt("reason", a.compauth_reason);
  w.end_object();
  w.key("results");
  w.begin_array();
  for (auto& e : a.results)
    write_result(w, e);
  w.end_array();
  w.end_object();
}

void write_filter(writer& w, const filter_report& f) {
  w.begin_object();
  w.field("name", f.name);
  w.field("verdict", to_string(f.verdict));
  w.key("score");
  w.opt_number(f.score);
  w.key("threshold");
  w.opt_number(f.threshold);
  w.key("rules");
  w.strings(f.rules);
  w.key("details");
  w.begin_array();
  for (auto& d : f.details) {
    w.begin_object();
    w.field("field", d.field);
    w.field("value", d.value);
    w.field_or_null("meaning", d.meaning);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

} // namespace

std::string to_json(const message_analysis& a, int indent) {
  writer w{indent};
  w.begin_object();
  w.key("test_ids");
  w.strings(a.test_ids);
  w.key("placement");
  if (a.placement)
    w.str(a.placement->placement);
  else
    w.null();
  w.key("location");
  w.begin_object();
  w.field("provider", a.where.provider);
  w.field("folder", a.where.folder);
  w.key("labels");
  w.strings(a.where.labels);
  w.key("matched");
  if (a.placement && !a.placement->matched.empty())
    w.str(a.placement->matched);
  else
    w.null();
  w.key("focused");
  if (a.placement && a.placement->focused)
    w.str(*a.placement->focused);
  else
    w.null();
  w.end_object();
  w.field("subject", a.subject);
  w.field("from", a.from);
  w.field("message_id", a.message_id);
  w.field("date", a.date);
  w.key("auth");
  write_auth(w, a.auth);
  w.key("filters");
  w.begin_array();
  for (auto& f : a.filters)
    write_filter(w, f);
  w.end_array();
  w.key("defects");
  w.strings(a.defects);
  w.key("header_count");
  w.integer(static_cast<long long>(a.header_count));
  w.end_object();
  return w.take();
}

} // namespace mailpipe
