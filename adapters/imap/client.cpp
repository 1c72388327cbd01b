#include "adapters/imap/client.hpp"

#include <algorithm>

#include <caf/error.hpp>
#include <fmt/format.h>

#include "adapters/mail/headers.hpp"
#include "adapters/mail/test_id.hpp"
#include "adapters/mail/text.hpp"
#include "adapters/sys/crypto.hpp"
#include "messages/error.hpp"

namespace mailpipe::imap {

namespace {

// -- helpers ------------------------------------------------------------------

/// An astring for a command: quoted when printable ASCII, a literal otherwise.
/// With LITERAL+ the literal goes inline; without, the command is split so
/// that the rest waits for the server's continuation request.
void append_astring(std::vector<std::string>& parts, std::string_view x,
                    bool literal_plus) {
  bool printable = std::all_of(x.begin(), x.end(),
                               [](char c) { return c >= 0x20 && c < 0x7f; });
  if (printable) { // no CR, LF or NUL: `quote` cannot refuse it
    parts.back() += *quote(x);
    return;
  }
  if (literal_plus) {
    parts.back() += fmt::format("{{{}+}}\r\n", x.size());
    parts.back() += x;
    return;
  }
  parts.back() += fmt::format("{{{}}}", x.size());
  parts.emplace_back(x);
}

/// Parses EXAMINE's answer.
mailbox_status status_from(const reply& rep) {
  mailbox_status st;
  auto code_number = [](const response& r) -> uint32_t {
    value v;
    v.text = std::string{text::trim(r.code_args)};
    return v.number().value_or(0);
  };
  for (const auto& r : rep.untagged) {
    if (r.keyword == "EXISTS" && r.number)
      st.exists = *r.number;
    else if (r.state == status::ok && r.code == "UIDVALIDITY")
      st.uid_validity = code_number(r);
    else if (r.state == status::ok && r.code == "UIDNEXT")
      st.uid_next = code_number(r);
  }
  return st;
}

/// Collects UIDs from SEARCH (and ESEARCH ... ALL set) answers.
std::vector<uint32_t> uids_from(const reply& rep) {
  std::vector<uint32_t> out;
  for (const auto& r : rep.untagged) {
    if (r.keyword == "SEARCH") {
      for (const auto& v : r.data)
        if (auto n = v.number())
          out.push_back(*n);
    } else if (r.keyword == "ESEARCH") {
      for (std::size_t i = 0; i + 1 < r.data.size(); ++i) {
        if (!r.data[i].is_atom("ALL"))
          continue;
        std::string_view set = r.data[i + 1].text;
        while (!set.empty()) {
          auto comma = set.find(',');
          auto item = set.substr(0, comma);
          auto colon = item.find(':');
          value lo, hi;
          lo.text = std::string{item.substr(0, colon)};
          hi.text = colon == std::string_view::npos
                        ? lo.text
                        : std::string{item.substr(colon + 1)};
          if (auto a = lo.number(), b = hi.number();
              a && b && *b >= *a && *b - *a < 100000)
            for (auto n = *a; n <= *b; ++n)
              out.push_back(n);
          set = comma == std::string_view::npos ? std::string_view{}
                                                : set.substr(comma + 1);
        }
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// Collects header blocks from FETCH answers (unsolicited flag updates
/// skipped).
std::vector<fetched_header> headers_from(const reply& rep) {
  std::vector<fetched_header> out;
  for (const auto& r : rep.untagged) {
    auto uid = fetch_item(r, "UID");
    auto body = fetch_item(r, "BODY[HEADER]");
    if (!uid || !body || !uid->number() || !body->has_text())
      continue;
    fetched_header h;
    h.uid = *uid->number();
    h.header_block = body->text;
    if (auto labels = fetch_item(r, "X-GM-LABELS");
        labels && labels->kind == value::type::list)
      for (const auto& l : labels->items)
        if (l.has_text())
          h.labels.push_back(l.text);
    out.push_back(std::move(h));
  }
  return out;
}

std::string uid_set(const std::vector<uint32_t>& uids) {
  std::string out;
  for (auto u : uids) {
    if (!out.empty())
      out += ',';
    out += std::to_string(u);
  }
  return out;
}

std::string fetch_items(bool gmail) {
  return gmail ? "(UID X-GM-LABELS BODY.PEEK[HEADER])"
               : "(UID BODY.PEEK[HEADER])";
}

command make_command(std::string text, std::string label = {}) {
  if (label.empty())
    label = text.substr(0, text.find(' '));
  return command{{std::move(text)}, std::move(label)};
}

/// Attributes that describe a folder's role (kept as IMAP labels).
bool is_role_attribute(std::string_view a) {
  for (auto skip : {"\\HasChildren", "\\HasNoChildren", "\\Subscribed",
                    "\\Marked", "\\Unmarked", "\\Noinferiors", "\\Noselect",
                    "\\NonExistent", "\\Remote"})
    if (iequals(a, skip))
      return false;
  return !a.empty() && a.front() == '\\';
}

} // namespace

// -- pure helpers -------------------------------------------------------------

settings make_settings(const imap_config& cfg) {
  settings out;
  out.ca_file = cfg.ca_file;
  out.allow_plaintext = cfg.allow_plaintext;
  out.connect_timeout = cfg.connect_timeout;
  out.command_timeout = cfg.command_timeout;
  out.tls_session_resumption = cfg.tls_session_resumption;
  return out;
}

caf::expected<std::string> quote(std::string_view x) {
  std::string out = "\"";
  for (auto c : x) {
    if (c == '\r' || c == '\n' || c == '\0')
      return caf::make_error(ec::invalid_argument,
                             "IMAP string with CR, LF or NUL");
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

caf::expected<std::string>
search_criteria(const std::vector<std::string>& ids,
                const std::vector<std::string>& headers, bool subject) {
  std::vector<std::string> terms;
  for (const auto& id : ids) {
    auto qid = quote(id);
    if (!qid)
      return std::move(qid.error());
    for (const auto& h : headers) {
      auto qh = quote(h);
      if (!qh)
        return std::move(qh.error());
      terms.push_back(fmt::format("HEADER {} {}", *qh, *qid));
    }
    if (subject)
      terms.push_back(fmt::format("SUBJECT {}", *qid));
  }
  if (terms.empty())
    return caf::make_error(ec::invalid_argument,
                           "IMAP search without test ids or headers");
  // OR is binary: OR a OR b c.
  std::string out;
  for (std::size_t i = 0; i + 1 < terms.size(); ++i)
    out += "OR " + terms[i] + ' ';
  out += terms.back();
  return out;
}

std::string mask(std::string text, const std::vector<std::string>& secrets) {
  auto replace_all = [&text](std::string_view x) {
    for (auto pos = text.find(x); pos != std::string::npos;
         pos = text.find(x, pos + 3))
      text.replace(pos, x.size(), "***");
  };
  for (const auto& s : secrets)
    if (s.size() >= 3)
      replace_all(s);
  // Error excerpts are cut short: a secret cut at either end leaves a
  // fragment, so fragments of 6 bytes and more go too (longest first).
  for (const auto& s : secrets) {
    std::string_view sv = s;
    for (auto k = sv.size(); k-- > 6;) {
      replace_all(sv.substr(0, k));
      replace_all(sv.substr(sv.size() - k));
    }
  }
  return text;
}

namespace {

/// An error's context without the "code: " prefix that `render` adds.
std::string context_text(const caf::error& err) {
  auto text = render(err);
  auto prefix = to_string(static_cast<ec>(err.code())) + ": ";
  if (text.rfind(prefix, 0) == 0)
    text.erase(0, prefix.size());
  return text;
}

} // namespace

caf::error error_from(const response& r, ec fallback, std::string_view context,
                      const std::vector<std::string>& secrets) {
  auto code = fallback;
  if (r.state == status::bad)
    code = ec::protocol_error;
  if (r.state == status::bye)
    code = ec::service_unavailable;
  const auto& c = r.code;
  if (c == "AUTHENTICATIONFAILED" || c == "AUTHORIZATIONFAILED"
      || c == "EXPIRED" || c == "PRIVACYREQUIRED")
    code = ec::auth_failed;
  else if (c == "NONEXISTENT" || c == "TRYCREATE")
    code = ec::mailbox_not_found;
  else if (c == "OVERQUOTA")
    code = ec::quota_exceeded;
  else if (c == "LIMIT")
    code = ec::rate_limited;
  else if (c == "UNAVAILABLE" || c == "SERVERBUG")
    code = ec::service_unavailable;
  else if (text::ifind(r.text, "THROTTL") != std::string_view::npos)
    code = ec::rate_limited;
  auto words = fmt::format(
      "{}: {}{} {}", context, to_string(r.state),
      c.empty() ? std::string{}
                : fmt::format(" [{}{}{}]", c, r.code_args.empty() ? "" : " ",
                              r.code_args),
      r.text);
  return caf::make_error(code, mask(std::move(words), secrets));
}

std::vector<mailbox_info> parse_list(const std::vector<response>& untagged) {
  std::vector<mailbox_info> out;
  for (const auto& r : untagged) {
    if ((r.keyword != "LIST" && r.keyword != "XLIST") || r.data.size() < 3
        || r.data[0].kind != value::type::list || !r.data[2].has_text())
      continue;
    mailbox_info m;
    for (const auto& a : r.data[0].items)
      if (a.has_text())
        m.attributes.push_back(a.text);
    if (r.data[1].has_text())
      m.delimiter = r.data[1].text;
    m.name = r.data[2].text;
    m.display_name = decode_mailbox_name(m.name);
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<mailbox_info> find_junk(const std::vector<mailbox_info>& boxes) {
  for (const auto& b : boxes)
    for (const auto& a : b.attributes)
      if (iequals(a, "\\Junk") || iequals(a, "\\Spam"))
        return b;
  // Well-known names, most common first (Dovecot, Gmail, Outlook, Yahoo,
  // French, German, Italian, Spanish, Dutch clients).
  static constexpr std::string_view names[] = {"Junk",
                                               "Spam",
                                               "Junk E-mail",
                                               "Junk Email",
                                               "Junk Mail",
                                               "Bulk Mail",
                                               "Bulk",
                                               "[Gmail]/Spam",
                                               "Courrier indésirable",
                                               "Pourriel",
                                               "Spamverdacht",
                                               "Junk-E-Mail",
                                               "Posta indesiderata",
                                               "Correo no deseado",
                                               "Ongewenste e-mail",
                                               "INBOX.Junk",
                                               "INBOX.Spam",
                                               "INBOX/Junk",
                                               "INBOX/Spam"};
  for (auto name : names) {
    for (const auto& b : boxes) {
      std::string_view shown = b.display_name;
      if (iequals(shown, name))
        return b;
      if (!b.delimiter.empty()) {
        auto pos = shown.rfind(b.delimiter);
        if (pos != std::string_view::npos
            && iequals(shown.substr(pos + b.delimiter.size()), name))
          return b;
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> header_values(std::string_view block,
                                       std::string_view name) {
  std::vector<std::string> out;
  for (const auto& f : parse_header_block(block, block.size()).fields)
    if (iequals(f.name, name))
      out.emplace_back(text::trim(unfold(f.value)));
  return out;
}

std::string sasl_payload(credentials::method mech, const credentials& cred) {
  if (mech == credentials::method::xoauth2)
    return crypto::base64_encode(fmt::format("user={}\x01"
                                             "auth=Bearer {}\x01\x01",
                                             cred.user, cred.secret));
  return crypto::base64_encode(std::string{'\0'} + cred.user + '\0'
                               + cred.secret);
}

std::vector<std::string> secrets_of(const credentials& cred) {
  // The secret as typed and as it travels inside each SASL payload.
  return {cred.secret, sasl_payload(credentials::method::plain, cred),
          sasl_payload(credentials::method::xoauth2, cred)};
}

// -- capabilities -------------------------------------------------------------

capability_list::capability_list(std::string text) : text_(std::move(text)) {
  std::string_view rest = text_;
  while (!rest.empty()) {
    std::size_t n = 0;
    while (n < rest.size() && !text::is_space(rest[n]))
      ++n;
    if (n > 0)
      words_.push_back(text::to_upper(rest.substr(0, n)));
    rest.remove_prefix(n < rest.size() ? n + 1 : n);
  }
  std::sort(words_.begin(), words_.end());
  words_.erase(std::unique(words_.begin(), words_.end()), words_.end());
}

bool capability_list::has(std::string_view name) const {
  // `words_` is upper case and sorted: `name` is upper-cased on the fly.
  auto less = [](const std::string& word, std::string_view x) {
    auto n = std::min(word.size(), x.size());
    for (std::size_t i = 0; i < n; ++i)
      if (word[i] != text::upper(x[i]))
        return word[i] < text::upper(x[i]);
    return word.size() < x.size();
  };
  auto i = std::lower_bound(words_.begin(), words_.end(), name, less);
  return i != words_.end() && text::iequals(*i, name);
}

namespace {

/// The one empty list (a session's list before anything is announced).
const capability_ptr& no_capabilities() {
  static const capability_ptr empty = std::make_shared<const capability_list>();
  return empty;
}

} // namespace

// -- session: setup -----------------------------------------------------------

bool session::has_capability(std::string_view name) const {
  return caps_->has(name);
}

void session::note_capabilities(const response& r) {
  std::string joined; // the untagged form's words, as one text
  std::string_view announced;
  if (r.code == "CAPABILITY") {
    announced = r.code_args;
  } else if (r.keyword == "CAPABILITY") {
    for (const auto& v : r.data)
      if (v.has_text()) {
        if (!joined.empty())
          joined += ' ';
        joined += v.text;
      }
    announced = joined;
  } else {
    return;
  }
  // A server announces the same lists on every connection: the text decides,
  // and only a list not heard before is parsed.
  if (announced == caps_->text())
    return;
  if (expected_caps_ && announced == expected_caps_->text()) {
    caps_ = expected_caps_;
    return;
  }
  caps_ = std::make_shared<const capability_list>(std::string{announced});
}

void session::add_secrets(const std::vector<std::string>& xs) {
  secrets_.insert(secrets_.end(), xs.begin(), xs.end());
}

std::string session::next_tag() {
  return fmt::format("m{}", ++tag_counter_);
}

caf::expected<session> session::open(const endpoint& ep, const settings& cfg,
                                     const session_hints* hints) {
  if (ep.mode == security::plain && !cfg.allow_plaintext)
    return caf::make_error(ec::invalid_config,
                           fmt::format("plaintext IMAP to {} is not allowed "
                                       "(imap.allow_plaintext)",
                                       ep.host));
  auto deadline = clock::now() + cfg.connect_timeout;
  auto conn = connection::open(ep.host, ep.port, deadline, ep.source_address);
  if (!conn)
    return std::move(conn.error());
  session s;
  s.caps_ = no_capabilities();
  const bool warm = hints && hints->complete();
  if (warm)
    s.expected_caps_ = hints->capabilities;
  s.cfg_ = cfg;
  s.parser_ = response_parser{cfg.limits};
  s.conn_ = std::move(*conn);
  tls_options tls{cfg.ca_file, ep.server_name, false,
                  cfg.tls_session_resumption};
  if (ep.mode == security::implicit_tls)
    if (auto err = s.conn_.start_tls(ep.host, tls, deadline))
      return err;
  if (warm && ep.mode != security::starttls) {
    s.caps_ = hints->greeting_capabilities;
    s.greeting_pending_ = true;
    return s;
  }
  auto hello = s.read_response(deadline);
  if (!hello)
    return std::move(hello.error());
  if (hello->kind != response_kind::untagged
      || (hello->state != status::ok && hello->state != status::preauth))
    return error_from(*hello, ec::protocol_error, "greeting");
  s.note_capabilities(*hello);
  if (ep.mode == security::starttls) {
    auto rep = s.run({make_command("STARTTLS")});
    if (!rep)
      return std::move(rep.error());
    if (!rep->front().ok())
      return error_from(rep->front().done, ec::tls_failed, "STARTTLS");
    if (s.parser_.buffered() > 0) // injected plaintext after STARTTLS
      return caf::make_error(ec::protocol_error,
                             "data after the STARTTLS answer");
    if (auto err = s.conn_.start_tls(ep.host, tls, deadline))
      return err;
    s.caps_ = no_capabilities(); // pre-TLS capabilities cannot be trusted
    if (auto err = s.refresh_capabilities())
      return err;
  }
  return s;
}

// -- session: I/O -------------------------------------------------------------

caf::expected<response> session::read_response(clock::time_point deadline) {
  response r;
  if (auto err = read_response(deadline, r))
    return err;
  return r;
}

caf::error session::read_response(clock::time_point deadline, response& out) {
  for (;;) {
    auto got = parser_.next(out);
    if (!got)
      return caf::make_error(ec::parse_error,
                             mask(context_text(got.error()), secrets_));
    if (*got)
      return {};
    if (!read_buf_)
      read_buf_ = std::make_unique_for_overwrite<char[]>(read_buf_size);
    auto n = conn_.read_some(read_buf_.get(), read_buf_size, deadline);
    if (!n)
      return std::move(n.error());
    parser_.feed(std::string_view{read_buf_.get(), *n});
  }
}

caf::error session::write_raw(std::string_view bytes) {
  return conn_.write(bytes, clock::now() + cfg_.command_timeout);
}

caf::expected<std::vector<reply>>
session::run(const std::vector<command>& cmds) {
  std::vector<reply> replies(cmds.size());
  // Tags are m<n> with consecutive n: a tag's number gives its command.
  const auto first_tag = tag_counter_ + 1;
  for (auto& rep : replies)
    rep.tag = next_tag();
  auto index_of = [&](const std::string& tag) -> std::optional<std::size_t> {
    if (tag.size() < 2 || tag.size() > 11 || tag[0] != 'm')
      return std::nullopt;
    uint64_t n = 0;
    for (std::size_t i = 1; i < tag.size(); ++i) {
      if (tag[i] < '0' || tag[i] > '9')
        return std::nullopt;
      n = n * 10 + static_cast<uint64_t>(tag[i] - '0');
    }
    if (n < first_tag || n - first_tag >= replies.size()
        || replies[n - first_tag].tag != tag)
      return std::nullopt;
    return static_cast<std::size_t>(n - first_tag);
  };
  std::size_t w = 0;      // command being written
  std::size_t part = 0;   // its next part
  std::size_t oldest = 0; // oldest command without an answer
  std::size_t remaining = cmds.size();
  std::optional<std::size_t> blocked_on; // a barrier without its answer
  auto write_more = [&]() -> caf::error {
    std::string out;
    while (w < cmds.size() && !blocked_on) {
      const auto& c = cmds[w];
      if (part == 0)
        out += replies[w].tag + ' ' + c.parts.front() + "\r\n";
      else
        out += c.parts[part] + "\r\n";
      ++part;
      if (part < c.parts.size())
        break; // wait for the continuation request
      if (c.barrier)
        blocked_on = w;
      ++w;
      part = 0;
    }
    return out.empty() ? caf::error{} : write_raw(out);
  };
  if (auto err = write_more())
    return err;
  std::optional<response> bye;
  // Each command gets `command_timeout` for its answer, counted from the
  // previous answer: a server trickling untagged data cannot stretch it.
  auto deadline = clock::now() + cfg_.command_timeout;
  // Each response is parsed in place here and moved once, into its reply.
  response r;
  while (remaining > 0) {
    std::string_view what =
        oldest < cmds.size() ? std::string_view{cmds[oldest].label} : "";
    if (auto err = read_response(deadline, r)) {
      if (bye && is(err, ec::network))
        return error_from(*bye, ec::service_unavailable, what, secrets_);
      return caf::make_error(static_cast<ec>(err.code()),
                             fmt::format("{} ({})", context_text(err), what));
    }
    switch (r.kind) {
      case response_kind::continuation:
        deadline = clock::now() + cfg_.command_timeout;
        if (w < cmds.size() && part > 0) {
          if (auto err = write_more())
            return err;
        } else if (what.rfind("AUTHENTICATE", 0) == 0) {
          // A SASL error challenge (XOAUTH2): answer empty, the NO follows.
          if (auto err = write_raw("\r\n"))
            return err;
        } else {
          return caf::make_error(ec::protocol_error,
                                 fmt::format("unexpected continuation "
                                             "request during {}",
                                             what));
        }
        break;
      case response_kind::tagged: {
        auto i = index_of(r.tag);
        if (!i || replies[*i].done.kind == response_kind::tagged)
          return caf::make_error(ec::protocol_error,
                                 fmt::format("answer with unknown tag \"{}\"",
                                             mask(r.tag, secrets_)));
        note_capabilities(r);
        deadline = clock::now() + cfg_.command_timeout;
        auto idx = *i;
        replies[idx].done = std::move(r);
        --remaining;
        if (idx == w && part > 0) {
          // Refused before its continuation: the rest is never sent.
          ++w;
          part = 0;
          if (auto err = write_more())
            return err;
        } else if (blocked_on == idx) {
          blocked_on.reset();
          if (auto err = write_more())
            return err;
        }
        while (oldest < cmds.size()
               && replies[oldest].done.kind == response_kind::tagged)
          ++oldest;
        break;
      }
      case response_kind::untagged:
        if (greeting_pending_) {
          greeting_pending_ = false;
          if (r.state != status::ok && r.state != status::preauth)
            return error_from(r, ec::protocol_error, "greeting", secrets_);
        }
        note_capabilities(r);
        if (r.state == status::bye)
          bye = r;
        if (oldest < replies.size()) {
          auto& untagged = replies[oldest].untagged;
          if (untagged.empty()) // EXAMINE and LIST bring several
            untagged.reserve(8);
          untagged.push_back(std::move(r));
        }
        break;
    }
  }
  return replies;
}

caf::expected<reply> session::run_checked(const command& cmd, ec fallback) {
  auto rep = run({cmd});
  if (!rep)
    return std::move(rep.error());
  auto& r = rep->front();
  if (!r.ok())
    return error_from(r.done, fallback, cmd.label, secrets_);
  return std::move(r);
}

// -- session: commands --------------------------------------------------------

command session::auth_command(const credentials& cred) const {
  auto mech = cred.mechanism;
  if (mech == credentials::method::automatic)
    mech = has_capability("AUTH=PLAIN") ? credentials::method::plain
                                        : credentials::method::login;
  command c;
  if (mech == credentials::method::login) {
    c.label = "LOGIN";
    c.parts.emplace_back("LOGIN ");
    bool lp = has_capability("LITERAL+");
    append_astring(c.parts, cred.user, lp);
    c.parts.back() += ' ';
    append_astring(c.parts, cred.secret, lp);
    return c;
  }
  std::string name = mech == credentials::method::plain ? "PLAIN" : "XOAUTH2";
  auto payload = sasl_payload(mech, cred);
  c.label = "AUTHENTICATE " + name;
  c.barrier = mech == credentials::method::xoauth2;
  if (has_capability("SASL-IR"))
    c.parts.push_back("AUTHENTICATE " + name + " " + payload);
  else
    c.parts = {"AUTHENTICATE " + name, payload};
  return c;
}

caf::error session::authenticate(const credentials& cred) {
  secrets_ = secrets_of(cred);
  auto cmd = auth_command(cred);
  auto rep = run_checked(cmd, ec::auth_failed);
  if (!rep)
    return std::move(rep.error());
  return {};
}

caf::error session::refresh_capabilities() {
  auto rep = run_checked(make_command("CAPABILITY"), ec::protocol_error);
  if (!rep)
    return std::move(rep.error());
  return {};
}

caf::expected<std::vector<mailbox_info>> session::list() {
  auto text = has_capability("SPECIAL-USE")
                  ? std::string{"LIST \"\" \"*\" RETURN (SPECIAL-USE)"}
                  : std::string{"LIST \"\" \"*\""};
  auto rep = run_checked(make_command(text), ec::protocol_error);
  if (!rep)
    return std::move(rep.error());
  return parse_list(rep->untagged);
}

caf::expected<mailbox_status> session::examine(const std::string& mailbox) {
  auto q = quote(mailbox);
  if (!q)
    return std::move(q.error());
  auto rep = run_checked(make_command("EXAMINE " + *q), ec::mailbox_not_found);
  if (!rep)
    return std::move(rep.error());
  return status_from(*rep);
}

caf::expected<std::vector<uint32_t>>
session::uid_search(const std::string& criteria) {
  auto rep = run_checked(make_command("UID SEARCH " + criteria, "UID SEARCH"),
                         ec::protocol_error);
  if (!rep)
    return std::move(rep.error());
  return uids_from(*rep);
}

caf::expected<std::vector<fetched_header>>
session::fetch_headers(const std::vector<uint32_t>& uids) {
  if (uids.empty())
    return std::vector<fetched_header>{};
  auto rep = run_checked(
      make_command(fmt::format("UID FETCH {} {}", uid_set(uids),
                               fetch_items(has_capability("X-GM-EXT-1"))),
                   "UID FETCH"),
      ec::protocol_error);
  if (!rep)
    return std::move(rep.error());
  return headers_from(*rep);
}

caf::expected<std::vector<fetched_message>>
session::fetch_messages(const std::vector<uint32_t>& uids) {
  std::vector<fetched_message> out;
  if (uids.empty())
    return out;
  auto rep = run_checked(
      make_command(fmt::format("UID FETCH {} (UID BODY.PEEK[])", uid_set(uids)),
                   "UID FETCH"),
      ec::protocol_error);
  if (!rep)
    return std::move(rep.error());
  for (const auto& r : rep->untagged) {
    auto uid = fetch_item(r, "UID");
    auto body = fetch_item(r, "BODY[]");
    if (uid && body && uid->number() && body->has_text())
      out.push_back({*uid->number(), body->text});
  }
  return out;
}

caf::expected<std::optional<uint32_t>>
session::idle(std::chrono::milliseconds wait, uint32_t known_exists) {
  if (!has_capability("IDLE"))
    return caf::make_error(ec::protocol_error, "the server has no IDLE");
  auto tag = next_tag();
  if (auto err = write_raw(tag + " IDLE\r\n"))
    return err;
  auto deadline = clock::now() + cfg_.command_timeout;
  std::optional<uint32_t> exists;
  auto is_news = [known_exists](const response& r) {
    return r.keyword == "EXISTS" && r.number && *r.number > known_exists;
  };
  for (;;) { // wait for "+ idling" (EXISTS may come first)
    auto r = read_response(deadline);
    if (!r)
      return std::move(r.error());
    if (r->kind == response_kind::continuation)
      break;
    if (r->kind == response_kind::tagged)
      return error_from(*r, ec::protocol_error, "IDLE", secrets_);
    if (is_news(*r))
      exists = r->number;
  }
  auto until = clock::now() + wait;
  while (!exists) {
    auto r = read_response(until);
    if (!r) {
      if (is(r.error(), ec::timeout))
        break; // nothing arrived in time: not an error
      return std::move(r.error());
    }
    if (r->state == status::bye)
      return error_from(*r, ec::service_unavailable, "IDLE", secrets_);
    if (is_news(*r))
      exists = r->number;
  }
  if (auto err = write_raw("DONE\r\n"))
    return err;
  deadline = clock::now() + cfg_.command_timeout;
  for (;;) {
    auto r = read_response(deadline);
    if (!r)
      return std::move(r.error());
    if (r->kind == response_kind::tagged) {
      if (r->tag != tag || r->state != status::ok)
        return error_from(*r, ec::protocol_error, "IDLE", secrets_);
      return exists;
    }
    if (is_news(*r) && !exists)
      exists = r->number;
  }
}

caf::error session::logout() {
  auto rep = run({make_command("LOGOUT")});
  conn_.close();
  if (!rep && !is(rep.error(), ec::service_unavailable)
      && !is(rep.error(), ec::network))
    return std::move(rep.error());
  return {};
}

// -- the whole pass -----------------------------------------------------------

namespace {

/// One folder to search during a pass.
struct folder_job {
  std::string name;
  std::string display_name;
  std::vector<std::string> labels;
  // Filled while the pass runs:
  std::vector<uint32_t> uids;
  std::vector<fetched_header> headers;
};

folder_job job_for(const mailbox_info& m) {
  folder_job j{m.name, m.display_name, {}, {}, {}};
  for (const auto& a : m.attributes)
    if (is_role_attribute(a))
      j.labels.push_back(a);
  return j;
}

folder_job job_for(const std::string& name) {
  return folder_job{name, decode_mailbox_name(name), {}, {}, {}};
}

/// EXAMINE + UID SEARCH (+ UID FETCH $ with SEARCHRES) for one folder.
caf::expected<std::vector<command>> folder_commands(const folder_job& job,
                                                    const std::string& criteria,
                                                    bool searchres,
                                                    bool gmail) {
  auto q = quote(job.name);
  if (!q)
    return std::move(q.error());
  std::vector<command> out;
  out.push_back(make_command("EXAMINE " + *q));
  if (searchres) {
    out.push_back(
        make_command("UID SEARCH RETURN (SAVE) " + criteria, "UID SEARCH"));
    out.push_back(
        make_command("UID FETCH $ " + fetch_items(gmail), "UID FETCH"));
  } else {
    out.push_back(make_command("UID SEARCH " + criteria, "UID SEARCH"));
  }
  return out;
}

/// Reads the answers of `folder_commands` starting at `at`.
caf::error take_folder_replies(folder_job& job, const std::vector<reply>& reps,
                               std::size_t at, bool searchres,
                               const std::vector<std::string>& secrets) {
  const auto& ex = reps[at];
  if (!ex.ok())
    return error_from(ex.done, ec::mailbox_not_found,
                      fmt::format("EXAMINE {}", job.display_name), secrets);
  const auto& se = reps[at + 1];
  if (!se.ok())
    return error_from(se.done, ec::protocol_error,
                      fmt::format("UID SEARCH in {}", job.display_name),
                      secrets);
  if (!searchres) {
    job.uids = uids_from(se);
    return {};
  }
  const auto& fe = reps[at + 2];
  if (!fe.ok())
    return error_from(fe.done, ec::protocol_error,
                      fmt::format("UID FETCH in {}", job.display_name),
                      secrets);
  job.headers = headers_from(fe);
  return {};
}

/// Turns fetched header blocks into found messages for the ids they carry.
/// `HEADER` and `SUBJECT` searches match substrings: the rule decides.
void collect(const folder_job& job, const std::vector<std::string>& ids,
             const test_id_rules& rules, std::vector<found_message>& out) {
  for (const auto& h : job.headers) {
    auto block = parse_header_block(h.header_block, h.header_block.size());
    for (auto& id : carried_test_ids(block, rules, ids)) {
      found_message m;
      m.test_id = std::move(id);
      m.folder = job.display_name;
      m.labels = h.labels.empty() ? job.labels : h.labels;
      m.header_block = h.header_block;
      m.provider_id = std::to_string(h.uid);
      out.push_back(std::move(m));
    }
  }
}

caf::expected<std::vector<found_message>>
find_pass(const endpoint& ep, const credentials& cred,
          const std::vector<std::string>& ids, const find_options& opts,
          const test_id_rules& rules, const settings& cfg, bool use_hints) {
  auto criteria = search_criteria(ids, opts.headers, true);
  if (!criteria)
    return std::move(criteria.error());
  auto* hints = opts.hints;
  bool warm = use_hints && hints && hints->complete();
  auto s = session::open(ep, cfg, warm ? hints : nullptr);
  if (!s)
    return std::move(s.error());
  capability_ptr greeting_caps; // what a cold pass learns
  if (hints && !warm)
    greeting_caps = s->shared_capabilities();
  const bool explicit_folders = !opts.folders.empty();
  // Round 1: log in and list; with hints, the whole session goes out here.
  std::vector<command> batch;
  batch.push_back(s->auth_command(cred));
  const auto secrets = secrets_of(cred);
  s->add_secrets(secrets);
  if (!warm)
    batch.push_back(make_command("CAPABILITY"));
  std::size_t list_at = batch.size();
  if (!explicit_folders)
    batch.push_back(
        make_command("LIST \"\" \"*\" RETURN (SPECIAL-USE)", "LIST"));
  std::vector<folder_job> jobs;
  auto plan_jobs = [&](const std::optional<mailbox_info>& junk) {
    jobs.clear();
    if (explicit_folders) {
      for (const auto& f : opts.folders)
        jobs.push_back(job_for(f));
      return;
    }
    jobs.push_back(job_for("INBOX"));
    jobs.back().labels = {"\\Inbox"};
    if (junk)
      jobs.push_back(job_for(*junk));
  };
  bool searchres = false;
  bool gmail = false;
  std::size_t jobs_at = batch.size();
  if (warm) {
    searchres = hints->capabilities->has("SEARCHRES");
    gmail = hints->capabilities->has("X-GM-EXT-1");
    std::optional<mailbox_info> junk;
    if (!hints->junk_folder.empty())
      junk = mailbox_info{hints->junk_folder,
                          decode_mailbox_name(hints->junk_folder),
                          {"\\Junk"},
                          ""};
    plan_jobs(junk);
    for (const auto& j : jobs) {
      auto cmds = folder_commands(j, *criteria, searchres, gmail);
      if (!cmds)
        return std::move(cmds.error());
      batch.insert(batch.end(), cmds->begin(), cmds->end());
    }
    // With SEARCHRES nothing depends on an answer: say goodbye right away.
    if (searchres)
      batch.push_back(make_command("LOGOUT"));
  }
  bool logged_out = warm && searchres;
  auto reps = s->run(batch);
  if (!reps)
    return std::move(reps.error());
  if (!(*reps)[0].ok())
    return error_from((*reps)[0].done, ec::auth_failed, batch[0].label,
                      secrets);
  std::vector<mailbox_info> boxes;
  if (!explicit_folders) {
    auto& lr = (*reps)[list_at];
    if (!lr.ok()) { // no LIST-EXTENDED: plain LIST shows the attributes too
      auto plain =
          s->run_checked(make_command("LIST \"\" \"*\""), ec::protocol_error);
      if (!plain)
        return std::move(plain.error());
      boxes = parse_list(plain->untagged);
    } else {
      boxes = parse_list(lr.untagged);
    }
  }
  auto junk = find_junk(boxes);
  if (warm && !explicit_folders
      && (junk ? junk->name : std::string{}) != hints->junk_folder) {
    // The folders changed since the hints were taken: start over, cold.
    s->logout();
    return find_pass(ep, cred, ids, opts, rules, cfg, false);
  }
  if (warm) {
    std::size_t at = jobs_at;
    for (auto& j : jobs) {
      if (auto err = take_folder_replies(j, *reps, at, searchres, secrets))
        return err;
      at += searchres ? 3 : 2;
    }
  } else {
    // Round 2: every folder's EXAMINE + SEARCH (+ FETCH) in one write.
    searchres = s->has_capability("SEARCHRES");
    gmail = s->has_capability("X-GM-EXT-1");
    plan_jobs(junk);
    batch.clear();
    for (const auto& j : jobs) {
      auto cmds = folder_commands(j, *criteria, searchres, gmail);
      if (!cmds)
        return std::move(cmds.error());
      batch.insert(batch.end(), cmds->begin(), cmds->end());
    }
    if (searchres) { // nothing left that depends on an answer
      batch.push_back(make_command("LOGOUT"));
      logged_out = true;
    }
    reps = s->run(batch);
    if (!reps)
      return std::move(reps.error());
    std::size_t at = 0;
    for (auto& j : jobs) {
      if (auto err = take_folder_replies(j, *reps, at, searchres, secrets))
        return err;
      at += searchres ? 3 : 2;
    }
  }
  if (!searchres) {
    // Without SEARCHRES the fetches need the UIDs: one more round, starting
    // with the folder still selected.
    batch.clear();
    std::vector<folder_job*> order;
    for (auto i = jobs.rbegin(); i != jobs.rend(); ++i)
      if (!i->uids.empty())
        order.push_back(&*i);
    for (std::size_t k = 0; k < order.size(); ++k) {
      if (!(k == 0 && order[0] == &jobs.back()))
        batch.push_back(make_command("EXAMINE " + *quote(order[k]->name)));
      batch.push_back(
          make_command(fmt::format("UID FETCH {} {}", uid_set(order[k]->uids),
                                   fetch_items(gmail)),
                       "UID FETCH"));
    }
    if (!batch.empty()) {
      reps = s->run(batch);
      if (!reps)
        return std::move(reps.error());
      std::size_t at = 0;
      for (std::size_t k = 0; k < order.size(); ++k) {
        if (!(k == 0 && order[0] == &jobs.back())) {
          if (!(*reps)[at].ok())
            return error_from((*reps)[at].done, ec::mailbox_not_found,
                              "EXAMINE " + order[k]->display_name, secrets);
          ++at;
        }
        if (!(*reps)[at].ok())
          return error_from((*reps)[at].done, ec::protocol_error,
                            "UID FETCH in " + order[k]->display_name, secrets);
        order[k]->headers = headers_from((*reps)[at]);
        ++at;
      }
    }
  }
  if (hints && !explicit_folders) {
    // Shared lists: no copy, and an unchanged list stays the same object.
    if (!warm)
      hints->greeting_capabilities = std::move(greeting_caps);
    hints->capabilities = s->shared_capabilities();
    hints->junk_folder = junk ? junk->name : std::string{};
    hints->known = true;
  }
  if (!logged_out)
    if (auto err = s->logout())
      return err;
  std::vector<found_message> out;
  for (const auto& j : jobs)
    collect(j, ids, rules, out);
  return out;
}

} // namespace

caf::expected<std::vector<found_message>>
find_test_messages(const endpoint& ep, const credentials& cred,
                   const std::vector<std::string>& test_ids,
                   const find_options& opts, const settings& cfg) {
  if (test_ids.empty())
    return std::vector<found_message>{};
  auto rules = make_test_id_rules(opts.headers, opts.test_id_pattern);
  if (!rules)
    return std::move(rules.error());
  return find_pass(ep, cred, test_ids, opts, *rules, cfg, true);
}

} // namespace mailpipe::imap
