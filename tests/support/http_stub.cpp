#include "tests/support/http_stub.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "adapters/http/client.hpp"

namespace mailpipe::test {

namespace {

struct route {
  std::string method;
  std::regex path;
  stub_handler handler;
};

} // namespace

// -- stub_request / stub_reply ------------------------------------------------

std::string stub_request::param(const std::string& name) const {
  auto i = params.find(name);
  return i == params.end() ? std::string{} : i->second;
}

std::string stub_request::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (http::iequals(k, name))
      return v;
  return {};
}

stub_reply stub_reply::json(int status, std::string body) {
  stub_reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

stub_reply stub_reply::api_error(int status, std::string code,
                                 std::string message) {
  // Google's code is the HTTP status as a number, Microsoft's a string; callers
  // choose.
  bool numeric = !code.empty()
                 && std::all_of(code.begin(), code.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
  return json(status,
              fmt::format(R"({{"error": {{"code": {}, "message": {}}}}})",
                          numeric ? code : json_quote(code),
                          json_quote(message)));
}

stub_reply&& stub_reply::with_header(std::string name, std::string value) && {
  headers.emplace_back(std::move(name), std::move(value));
  return std::move(*this);
}

stub_reply&& stub_reply::after(std::chrono::milliseconds wait) && {
  delay = wait;
  return std::move(*this);
}

// -- http_stub ----------------------------------------------------------------

struct http_stub::impl {
  httplib::Server server;
  std::thread thread;
  int port = -1;
  mutable std::mutex mtx;
  std::vector<route> routes;
  std::vector<stub_request> log;

  void handle(const httplib::Request& req, httplib::Response& res) {
    stub_request rec;
    rec.method = req.method;
    rec.path = req.path;
    rec.body = req.body;
    for (auto& [k, v] : req.params)
      rec.params.emplace(k, v);
    for (auto& [k, v] : req.headers)
      rec.headers.emplace(k, v);
    stub_handler handler;
    {
      std::lock_guard<std::mutex> guard{mtx};
      log.push_back(rec);
      for (auto i = routes.rbegin(); i != routes.rend(); ++i)
        if (i->method == req.method && std::regex_match(req.path, i->path)) {
          handler = i->handler;
          break;
        }
    }
    auto reply =
        handler
            ? handler(rec)
            : stub_reply::api_error(
                404, "404", "no stub route for " + req.method + " " + req.path);
    if (reply.delay.count() > 0)
      std::this_thread::sleep_for(reply.delay);
    res.status = reply.status;
    for (auto& [k, v] : reply.headers)
      res.set_header(k.c_str(), v);
    res.set_content(reply.body, reply.content_type.c_str());
  }
};

http_stub::http_stub() : impl_(std::make_unique<impl>()) {
  auto* self = impl_.get();
  auto handler = [self](const httplib::Request& req, httplib::Response& res) {
    self->handle(req, res);
  };
  auto& svr = impl_->server;
  svr.Get(".*", handler);
  svr.Post(".*", handler);
  svr.Put(".*", handler);
  svr.Patch(".*", handler);
  svr.Delete(".*", handler);
  svr.set_keep_alive_timeout(1);
  impl_->port = svr.bind_to_any_port("127.0.0.1");
  if (impl_->port <= 0) {
    ADD_FAILURE() << "http_stub: cannot bind 127.0.0.1";
    return;
  }
  impl_->thread = std::thread{[self] { self->server.listen_after_bind(); }};
  while (!svr.is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
}

http_stub::~http_stub() {
  impl_->server.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

std::string http_stub::url() const {
  return fmt::format("http://127.0.0.1:{}", impl_->port);
}

int http_stub::port() const {
  return impl_->port;
}

void http_stub::on(std::string method, std::string path_regex,
                   stub_handler handler) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->routes.push_back(
      {std::move(method), std::regex{path_regex}, std::move(handler)});
}

void http_stub::script(std::string method, std::string path_regex,
                       std::vector<stub_reply> replies) {
  struct state {
    std::mutex mtx;
    std::vector<stub_reply> replies;
    size_t next = 0;
  };
  auto st = std::make_shared<state>();
  st->replies = std::move(replies);
  on(std::move(method), std::move(path_regex), [st](const stub_request&) {
    std::lock_guard<std::mutex> guard{st->mtx};
    if (st->replies.empty())
      return stub_reply::api_error(500, "500", "empty script");
    auto i = std::min(st->next++, st->replies.size() - 1);
    return st->replies[i];
  });
}

std::vector<stub_request> http_stub::requests() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->log;
}

std::vector<stub_request>
http_stub::requests(const std::string& path_regex) const {
  std::regex re{path_regex};
  std::vector<stub_request> out;
  for (auto& r : requests())
    if (std::regex_match(r.path, re))
      out.push_back(r);
  return out;
}

size_t http_stub::count(const std::string& path_regex) const {
  return requests(path_regex).size();
}

// -- helpers for stand-in APIs ------------------------------------------------

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

struct bearer_api::state {
  mutable std::mutex mtx;
  std::string accepted = "at-1";
  int issued = 0;
};

bearer_api::bearer_api(http_stub& stub, std::string extra_fields)
    : state_(std::make_shared<state>()) {
  if (!extra_fields.empty())
    extra_fields = ", " + extra_fields;
  stub.on("POST", "/token", [st = state_, extra_fields](const stub_request& r) {
    if (r.param("grant_type") != "refresh_token")
      return stub_reply::json(400, R"({"error": "unsupported_grant_type"})");
    std::lock_guard<std::mutex> guard{st->mtx};
    return stub_reply::json(
        200, fmt::format(R"({{"access_token": "at-{}", "expires_in": 3599,)"
                         R"( "token_type": "Bearer"{}}})",
                         ++st->issued, extra_fields));
  });
}

void bearer_api::accept(std::string token) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->accepted = std::move(token);
}

bool bearer_api::authorized(const stub_request& req) const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return req.header("Authorization") == "Bearer " + state_->accepted;
}

int bearer_api::issued() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->issued;
}

} // namespace mailpipe::test
