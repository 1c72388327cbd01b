#include "actors/fetcher.hpp"

#include <simdjson.h>

#include "adapters/analysis/analysis_json.hpp"
#include "adapters/http/api_session.hpp"
#include "adapters/providers/gmail.hpp"
#include "adapters/providers/graph.hpp"

namespace mailpipe {

namespace {

// -- IMAP ---------------------------------------------------------------------

imap::security security_of(const std::string& name) {
  if (name == "starttls")
    return imap::security::starttls;
  if (name == "plain" || name == "none")
    return imap::security::plain;
  return imap::security::implicit_tls;
}

std::vector<std::string> tokens_of(const claimed_account& acc) {
  std::vector<std::string> out;
  for (auto& t : acc.tests)
    out.push_back(t.token);
  return out;
}

// The token endpoint of an OAuth2 account: Gmail's for Gmail (and Gmail's
// IMAP), Microsoft's otherwise.
oauth2::endpoint token_endpoint_of(const config& cfg,
                                   const claimed_account& acc) {
  bool google = acc.kind == provider::gmail
                || acc.imap_host.find("gmail") != std::string::npos;
  return google ? token_endpoint(cfg.gmail) : token_endpoint(cfg.outlook);
}

oauth2::token_cache& tokens(const config& cfg, const claimed_account& acc,
                            connection_knowledge& know) {
  if (!know.tokens)
    know.tokens = std::make_shared<oauth2::token_cache>(
        token_endpoint_of(cfg, acc), acc.secret);
  return *know.tokens;
}

caf::expected<std::vector<found_message>>
fetch_imap(const config& cfg, const pass_request& req,
           connection_knowledge& know) {
  auto cred = imap_credentials_of(cfg, req.account, know);
  if (!cred)
    return cred.error();
  if (!know.hints.known)
    know.hints = hints_of(req.account.sync_state);
  imap::find_options opts;
  opts.headers = cfg.analysis.test_id_headers;
  opts.test_id_pattern = cfg.analysis.test_id_pattern;
  opts.hints = &know.hints;
  auto settings = imap::make_settings(cfg.imap);
  settings.command_timeout = std::min(settings.command_timeout, req.timeout);
  settings.connect_timeout = std::min(settings.connect_timeout, req.timeout);
  return imap::find_test_messages(imap_endpoint_of(req.account), *cred,
                                  tokens_of(req.account), opts, settings);
}

// -- the REST providers -------------------------------------------------------

template <class ProviderConfig>
api_session_options rest_options(const ProviderConfig& section,
                                 const pass_request& req) {
  auto opts = session_options(section, req.account.email);
  opts.timeout = std::min(opts.timeout, req.timeout);
  // A Retry-After past the account's time limit outlives the pass: it is a
  // rate-limited failure at once, retried at the next run.
  opts.retry.max_wait = std::min(opts.retry.max_wait, req.timeout);
  return opts;
}

// The pass's REST session, made by its first try and kept for the next.
template <class ProviderConfig>
api_session& session_of(const config& cfg, const ProviderConfig& section,
                        const pass_request& req, connection_knowledge& know,
                        fetch_progress& progress) {
  if (!progress.session) {
    progress.client = std::make_unique<http::client>();
    progress.session = std::make_unique<api_session>(
        rest_options(section, req), *progress.client,
        tokens(cfg, req.account, know), nullptr);
  }
  return *progress.session;
}

// One try of a Gmail or Graph search (`Mailbox` is `gmail::mailbox` or
// `graph::mailbox`, `Options` its options).
template <class Mailbox, class Options, class ProviderConfig>
caf::expected<std::vector<found_message>>
fetch_rest(const config& cfg, const ProviderConfig& section,
           const pass_request& req, connection_knowledge& know,
           fetch_progress& progress) {
  auto& session = session_of(cfg, section, req, know, progress);
  Options opts;
  opts.test_id_headers = cfg.analysis.test_id_headers;
  opts.test_id_pattern = cfg.analysis.test_id_pattern;
  auto found = Mailbox{opts, session}.find(tokens_of(req.account));
  if (!found && is(found.error(), ec::retry_later)) {
    progress.retry_in = session.retry_in();
    progress.cause = session.cause();
  }
  return found;
}

using fetcher_ptr = fetcher_actor::stateful_pointer<fetcher_state>;

// Tries the pass once more: answers it, or schedules the next try when the
// read must wait and the pass's time allows.
void try_fetch(fetcher_ptr self) {
  auto& st = self->state;
  ++st.tries;
  st.waiting = false;
  auto found = st.fetch(st.cfg, st.req, *st.know, st.progress);
  if (!found && is(found.error(), ec::retry_later)) {
    if (self->clock().now() + st.progress.retry_in < st.deadline) {
      st.waiting = true;
      self->delayed_send(self, st.progress.retry_in, atom::tick_v);
      return;
    }
    st.answer.deliver(st.progress.cause ? st.progress.cause : found.error());
  } else if (!found) {
    st.answer.deliver(found.error());
  } else {
    st.answer.deliver(std::move(*found));
  }
  self->quit();
}

} // namespace

caf::expected<std::vector<found_message>>
fetch_test_messages(const config& cfg, const pass_request& req,
                    connection_knowledge& know, fetch_progress& progress) {
  switch (req.account.kind) {
    case provider::gmail:
      return fetch_rest<gmail::mailbox, gmail::options>(cfg, cfg.gmail, req,
                                                        know, progress);
    case provider::outlook:
      return fetch_rest<graph::mailbox, graph::options>(cfg, cfg.outlook, req,
                                                        know, progress);
    case provider::imap: break;
  }
  return fetch_imap(cfg, req, know);
}

fetcher_actor::behavior_type
fetcher(fetcher_ptr self, config cfg, fetch_fn fetch,
        std::shared_ptr<connection_knowledge> know) {
  self->state.cfg = std::move(cfg);
  self->state.fetch = std::move(fetch);
  self->state.know = std::move(know);
  return {
      [self](atom::status) {
        auto& st = self->state;
        status_dict d;
        d["name"] = std::string{fetcher_state::name};
        d["account"] = st.req.account.email;
        d["tries"] = static_cast<int64_t>(st.tries);
        d["waiting"] = st.waiting;
        return d;
      },
      [self](atom::fetch,
             pass_request& req) -> caf::result<std::vector<found_message>> {
        auto& st = self->state;
        st.req = std::move(req);
        st.deadline = self->clock().now() + st.req.timeout;
        st.answer = self->make_response_promise<std::vector<found_message>>();
        try_fetch(self);
        return st.answer;
      },
      [self](atom::tick) { try_fetch(self); },
  };
}

// -- OAuth2 tokens across passes ---------------------------------------------

void prepare_tokens(connection_knowledge& know, const config& cfg,
                    const claimed_account& acc, keep_token_fn keep) {
  bool oauth = acc.auth_method == "oauth2" || acc.auth_method == "xoauth2";
  if (!oauth || acc.secret.empty())
    return;
  if (know.tokens
      && (acc.secret == know.tokens->granted()
          || acc.secret == know.tokens->refresh_token()))
    return;
  auto cache = std::make_shared<oauth2::token_cache>(
      token_endpoint_of(cfg, acc), acc.secret);
  report_rotations(*cache, acc.id, std::move(keep));
  know.tokens = std::move(cache);
}

void report_rotations(oauth2::token_cache& cache, int64_t account_id,
                      keep_token_fn keep) {
  cache.on_rotate = [account_id, granted = cache.granted(),
                     keep = std::move(keep)](const std::string& from,
                                             const std::string& to) {
    keep(rotated_token{account_id, {from, granted}, to});
  };
}

// -- session hints kept in sync_state -----------------------------------------

imap::endpoint imap_endpoint_of(const claimed_account& acc) {
  imap::endpoint ep;
  ep.host = acc.imap_host;
  ep.port = static_cast<uint16_t>(acc.imap_port);
  ep.mode = security_of(acc.imap_security);
  return ep;
}

caf::expected<imap::credentials>
imap_credentials_of(const config& cfg, const claimed_account& acc,
                    connection_knowledge& know) {
  imap::credentials cred;
  cred.user = acc.username.empty() ? acc.email : acc.username;
  if (acc.auth_method != "xoauth2") {
    cred.secret = acc.secret;
    return cred;
  }
  http::client client;
  auto token = tokens(cfg, acc, know)
                   .access_token(client, std::chrono::system_clock::now());
  if (!token)
    return token.error();
  cred.secret = std::move(*token);
  cred.mechanism = imap::credentials::method::xoauth2;
  return cred;
}

std::string hints_json(const imap::session_hints& hints) {
  if (!hints.complete())
    return "";
  std::string out = "{\"greeting\":";
  append_json_string(out, hints.greeting_capabilities->text());
  out += ",\"capabilities\":";
  append_json_string(out, hints.capabilities->text());
  out += ",\"junk\":";
  append_json_string(out, hints.junk_folder);
  return out + "}";
}

imap::session_hints hints_of(std::string_view sync_state) {
  imap::session_hints out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(sync_state.data(), sync_state.size()).get(doc))
    return out;
  std::string_view greeting, caps, junk;
  auto kept = doc["imap_hints"];
  if (kept["greeting"].get(greeting) || kept["capabilities"].get(caps)
      || kept["junk"].get(junk) || caps.empty())
    return out;
  out.greeting_capabilities =
      std::make_shared<const imap::capability_list>(std::string{greeting});
  out.capabilities =
      std::make_shared<const imap::capability_list>(std::string{caps});
  out.junk_folder = std::string{junk};
  out.known = true;
  return out;
}

std::string hints_to_keep(std::string_view sync_state,
                          const imap::session_hints& hints) {
  auto now = hints_json(hints);
  return now == hints_json(hints_of(sync_state)) ? "" : now;
}

} // namespace mailpipe
