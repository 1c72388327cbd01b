#include "adapters/http/endpoint.hpp"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include <sys/socket.h>

#include <fmt/format.h>
#include <pqxx/nontransaction>
#include <spdlog/spdlog.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/gauges.hpp"
#include "adapters/db/json_output.hpp"
#include "adapters/http/routes.hpp"
#include "adapters/mail/text.hpp"
#include "adapters/sys/crypto.hpp"

namespace mailpipe::http {

// -- replies ------------------------------------------------------------------

reply json_reply(int status, std::string body) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

reply error_reply(int status, std::string_view message,
                  std::string_view field) {
  auto body = "{\"error\":" + db::json_str(message);
  if (!field.empty())
    body += ",\"field\":" + db::json_str(field);
  return json_reply(status, body + "}");
}

bool is_key_text(std::string_view s) {
  constexpr size_t max_key_bytes = 512;
  return !s.empty() && s.size() <= max_key_bytes
         && std::none_of(s.begin(), s.end(), [](char c) {
              auto b = static_cast<unsigned char>(c);
              return b < 0x20 || b == 0x7f;
            });
}

bool is_digits(std::string_view s, size_t max_digits) {
  return !s.empty() && s.size() <= max_digits
         && std::all_of(s.begin(), s.end(),
                        [](char c) { return c >= '0' && c <= '9'; });
}

reply error_reply(const caf::error& err) {
  auto text = render(err);
  if (is(err, ec::database_unavailable))
    return error_reply(503, text);
  if (is(err, ec::not_found))
    return error_reply(404, text);
  if (is(err, ec::already_exists))
    return error_reply(409, text);
  if (is(err, ec::invalid_argument))
    return error_reply(400, text);
  return error_reply(500, text);
}

namespace {

// -- the endpoint's own routes ------------------------------------------------

// The largest request body.
constexpr size_t max_body_bytes = 1 << 20;

// A request whose body cpp-httplib would read without a bound: chunked, or
// without a length (read until the client closes), longer than the limit
// (cpp-httplib reads it all before its own 413), or compressed (inflated
// after the check of its length). Refused before the body is read.
std::optional<reply> refuse_body_framing(const httplib::Request& req) {
  // The methods whose body cpp-httplib reads even without a length.
  bool reads_body = req.method == "POST" || req.method == "PUT"
                    || req.method == "PATCH" || req.method == "DELETE"
                    || req.method == "PRI";
  if (req.has_header("Transfer-Encoding")
      || (reads_body && !req.has_header("Content-Length")))
    return error_reply(411, "a request body needs a Content-Length (chunked "
                            "bodies are not accepted)");
  auto length = req.get_header_value("Content-Length");
  if (!length.empty() && !is_digits(length, 20))
    return error_reply(400, "Content-Length is not a number of bytes");
  if (length.size() > 7
      || (!length.empty() && std::stoul(length) > max_body_bytes))
    return error_reply(413, "the body is larger than 1 MiB");
  auto encoding = req.get_header_value("Content-Encoding");
  if (!encoding.empty() && !text::iequals(encoding, "identity"))
    return error_reply(415, "compressed request bodies are not accepted");
  return std::nullopt;
}

// What an answer cpp-httplib gives itself says: no route, or what was wrong
// with the request before any route saw it.
std::string refusal_of(int status, const httplib::Request& req) {
  switch (status) {
    case 404: return fmt::format("no route {} {}", req.method, req.path);
    case 414: return "the request line is too long";
    default:
      return fmt::format("the request cannot be served (HTTP {})", status);
  }
}

reply healthz(route_env&, const httplib::Request&) {
  return json_reply(200, "{\"status\":\"ok\"}");
}

// Ready when the database answers.
reply readyz(route_env& env, const httplib::Request&) {
  auto ok = env.pool.with_connection(
      [](pqxx::connection& conn) -> caf::expected<bool> {
        return db::guarded("check the database", [&] {
          pqxx::nontransaction{conn}.exec("SELECT 1");
          return true;
        });
      });
  if (!ok)
    return json_reply(503, "{\"status\":\"unavailable\",\"database\":"
                               + db::json_str(render(ok.error())) + "}");
  return json_reply(200, "{\"status\":\"ready\",\"database\":\"ok\"}");
}

void write_gauges(prometheus_text& out, const db::cluster_gauges& g) {
  out.family("mailpipe_jobs", "gauge",
             "Jobs in the cluster by queue and state.");
  for (auto& [key, n] : g.jobs)
    out.sample("mailpipe_jobs", {{"queue", key.first}, {"state", key.second}},
               static_cast<double>(n));
  out.family("mailpipe_accounts", "gauge", "Seed accounts by state.");
  for (auto& [state, n] : g.accounts)
    out.sample("mailpipe_accounts", {{"state", state}}, static_cast<double>(n));
  out.family("mailpipe_runs", "gauge",
             "Processing runs recorded in email_processing_metrics.");
  out.sample("mailpipe_runs", {}, static_cast<double>(g.runs));
  out.family("mailpipe_account_passes", "gauge",
             "Account passes recorded in email_processing_metrics, by status.");
  for (auto& [status, n] : g.account_passes)
    out.sample("mailpipe_account_passes", {{"status", status}},
               static_cast<double>(n));
  out.family("mailpipe_alerts", "gauge",
             "Alerts by delivery state (failed: given up, not delivered).");
  for (auto& [state, n] : g.alerts)
    out.sample("mailpipe_alerts", {{"state", state}}, static_cast<double>(n));
  out.family("mailpipe_tests", "gauge", "Placement tests by status.");
  for (auto& [status, n] : g.tests)
    out.sample("mailpipe_tests", {{"status", status}}, static_cast<double>(n));
  out.family("mailpipe_nodes", "gauge", "Nodes registered and not stopped.");
  out.sample("mailpipe_nodes", {}, static_cast<double>(g.nodes));
}

} // namespace

// -- the endpoint -------------------------------------------------------------

struct endpoint::impl {
  config cfg;
  endpoint_hooks hooks;
  db::connection_pool pool;
  route_env env{cfg, pool};
  httplib::Server server;
  std::thread thread;
  /// The listening socket (set when it is made) and whether the listening
  /// loop has returned: `stop` ends a loop that has not started yet too.
  std::atomic<int> listen_fd{-1};
  std::atomic<bool> listen_returned{false};
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> server_errors{0};

  impl(config c, endpoint_hooks h)
      : cfg(std::move(c)), hooks(std::move(h)),
        pool(cfg.database, endpoint_threads) {}

  reply metrics(const httplib::Request&) {
    prometheus_text out;
    auto gauges = pool.with_connection(
        [](pqxx::connection& conn) { return db::read_gauges(conn); });
    out.family("mailpipe_database_up", "gauge",
               "Whether the database answered this scrape.");
    out.sample("mailpipe_database_up", {}, gauges ? 1 : 0);
    if (gauges)
      write_gauges(out, *gauges);
    out.family("mailpipe_http_requests_total", "counter",
               "Requests this node's endpoint answered.");
    out.sample("mailpipe_http_requests_total", {},
               static_cast<double>(requests.load()));
    out.family("mailpipe_http_server_errors_total", "counter",
               "Requests this node's endpoint answered with a 5xx.");
    out.sample("mailpipe_http_server_errors_total", {},
               static_cast<double>(server_errors.load()));
    if (hooks.node_metrics)
      hooks.node_metrics(out);
    reply r;
    r.body = out.text();
    r.content_type = "text/plain; version=0.0.4";
    return r;
  }

  // The API's bearer token: 404 while the API is off, 401 when it is wrong.
  std::optional<reply> refuse_api(const httplib::Request& req) {
    auto& token = cfg.http.api_token;
    if (token.empty())
      return error_reply(404, "the REST API is off: set [http] api_token");
    auto header = req.get_header_value("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    if (header.rfind(scheme, 0) == 0
        && crypto::same_secret(std::string_view{header}.substr(scheme.size()),
                               token))
      return std::nullopt;
    auto r =
        error_reply(401, "a valid bearer token is required", "Authorization");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }

  void answer(const httplib::Request& req, httplib::Response& res,
              const reply& r) {
    res.status = r.status;
    for (auto& [k, v] : r.headers)
      res.set_header(k.c_str(), v);
    if (!r.body.empty() || r.status != 204)
      res.set_content(r.body, r.content_type.c_str());
    ++requests;
    if (r.status < 500)
      return;
    ++server_errors;
    if (r.status == 500 && hooks.internal_error)
      hooks.internal_error(
          fmt::format("HTTP 500 on {} {}", req.method, req.path), r.body);
  }

  // Runs a route, a 500 for whatever it throws.
  template <class F>
  httplib::Server::Handler guard(F route, bool api) {
    return [this, route, api](const httplib::Request& req,
                              httplib::Response& res) {
      if (api)
        if (auto refused = refuse_api(req))
          return answer(req, res, *refused);
      try {
        answer(req, res, route(req));
      } catch (const std::exception& e) {
        spdlog::error("http {} {}: {}", req.method, req.path, e.what());
        answer(req, res, error_reply(500, "internal error"));
      }
    };
  }

  void add_routes() {
    auto with_env = [this](reply (*f)(route_env&, const httplib::Request&)) {
      return [this, f](const httplib::Request& req) { return f(env, req); };
    };
    server.Get("/healthz", guard(with_env(healthz), false));
    server.Get("/readyz", guard(with_env(readyz), false));
    server.Get("/metrics",
               guard([this](auto& req) { return metrics(req); }, false));
    server.Post("/push/gmail", guard(with_env(gmail_push), false));
    server.Post(R"(/push/graph/([^/]+))", guard(with_env(graph_push), false));
    server.Get("/api/v1/accounts", guard(with_env(api_list_accounts), true));
    server.Post("/api/v1/tests", guard(with_env(api_create_test), true));
    // Keys may hold a '/' (sent as %2F, decoded before the match).
    server.Get(R"(/api/v1/tests/(.+))", guard(with_env(api_show_test), true));
    server.Post("/api/v1/jobs", guard(with_env(api_enqueue_job), true));
    server.Get("/api/v1/jobs/dead", guard(with_env(api_dead_jobs), true));
    server.Post(R"(/api/v1/jobs/(.+)/redrive)",
                guard(with_env(api_redrive_job), true));
    // Before the body is read: cpp-httplib limits a body only by its
    // Content-Length, and inflates a compressed one after that check.
    server.set_pre_routing_handler(
        [](const httplib::Request& req, httplib::Response& res) {
          auto refused = refuse_body_framing(req);
          if (!refused)
            return httplib::Server::HandlerResponse::Unhandled;
          res.status = refused->status;
          res.set_content(refused->body, refused->content_type.c_str());
          return httplib::Server::HandlerResponse::Handled;
        });
    server.set_error_handler(
        [](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty())
            return;
          auto r = error_reply(res.status, refusal_of(res.status, req));
          res.set_content(r.body, r.content_type.c_str());
        });
  }
};

endpoint::endpoint(config cfg, endpoint_hooks hooks)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(hooks))) {}

endpoint::~endpoint() {
  stop();
}

caf::error endpoint::start() {
  auto& address = impl_->cfg.http.listen;
  auto colon = address.rfind(':');
  auto host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  int port = std::atoi(address.c_str() + colon + 1);
  auto& server = impl_->server;
  server.new_task_queue = [] {
    return new httplib::ThreadPool(endpoint_threads);
  };
  server.set_payload_max_length(max_body_bytes);
  server.set_read_timeout(10);
  server.set_write_timeout(10);
  // An idle keep-alive connection holds a request thread, and stop() waits
  // for it: a second, not cpp-httplib's five, so that a node stops promptly.
  server.set_keep_alive_timeout(1);
  // One request a connection: cpp-httplib 0.11 keeps a connection open after
  // an answer that refused a body unread, and would read that body as the
  // next requests.
  server.set_keep_alive_max_count(1);
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which lets a
  // second node bind the same port and take half of the first one's requests.
  server.set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    impl_->listen_fd = sock;
  });
  impl_->add_routes();
  if (!server.bind_to_port(host, port))
    return caf::make_error(
        ec::network,
        fmt::format("the HTTP endpoint cannot listen on {} (in use by another "
                    "process, or not an address of this host): set [http] "
                    "listen to another address, or \"\" to turn it off",
                    address));
  impl_->thread = std::thread{[this] {
    impl_->server.listen_after_bind();
    impl_->listen_returned = true;
  }};
  spdlog::info("HTTP endpoint listening on {}", address);
  return {};
}

void endpoint::stop() {
  if (!impl_->thread.joinable())
    return;
  // cpp-httplib's stop() does nothing until its loop runs. Before that, the
  // socket is shut down instead (not closed: the loop owns it and closes it
  // when its first accept fails). One of the two, never both: each closes.
  if (impl_->server.is_running())
    impl_->server.stop();
  else if (!impl_->listen_returned && impl_->listen_fd >= 0)
    ::shutdown(impl_->listen_fd, SHUT_RDWR);
  impl_->thread.join();
}

int64_t endpoint::requests() const {
  return impl_->requests.load();
}

int64_t endpoint::server_errors() const {
  return impl_->server_errors.load();
}

} // namespace mailpipe::http
