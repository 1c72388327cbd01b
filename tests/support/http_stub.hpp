#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailpipe::test {

/// One request as a stand-in server received it.
struct stub_request {
  /// GET, POST, ...
  std::string method;
  /// The path without the query.
  std::string path;
  /// Query parameters (and form fields of a url-encoded body), decoded.
  std::multimap<std::string, std::string> params;
  /// Request headers (names as sent).
  std::multimap<std::string, std::string> headers;
  /// The raw body.
  std::string body;

  /// The first value of a query or form parameter, "" when absent.
  std::string param(const std::string& name) const;

  /// The first value of a header (case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
};

/// What a stand-in server answers.
struct stub_reply {
  /// HTTP status.
  int status = 200;
  /// Response body.
  std::string body;
  /// Its media type.
  std::string content_type = "application/json";
  /// Extra response headers, e.g. Retry-After.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Time the handler waits before answering (to provoke client timeouts).
  std::chrono::milliseconds delay{0};

  /// A JSON reply.
  static stub_reply json(int status, std::string body);

  /// The documented error shape of Google and Microsoft: `{"error": {"code",
  /// "message"}}`.
  static stub_reply api_error(int status, std::string code,
                              std::string message);

  /// Adds a response header.
  stub_reply&& with_header(std::string name, std::string value) &&;

  /// Makes the handler wait before answering.
  stub_reply&& after(std::chrono::milliseconds wait) &&;
};

/// Computes a reply from a request.
using stub_handler = std::function<stub_reply(const stub_request&)>;

/// A cpp-httplib server on 127.0.0.1 and a free port, running in its own
/// thread, that records every request and answers from routes the test sets up.
/// Reusable for any HTTP service the project talks to (Gmail, Graph, OAuth2,
/// Discord, Mistral, MeiliSearch). Routes match method and the whole path (an
/// ECMAScript regex); the newest route wins. Unrouted requests get a 404 in the
/// Google/Microsoft error shape.
class http_stub {
public:
  /// Binds and starts serving; fails the current test if binding fails.
  http_stub();

  /// Stops the server and joins its thread.
  ~http_stub();

  http_stub(const http_stub&) = delete;
  http_stub& operator=(const http_stub&) = delete;

  /// `http://127.0.0.1:PORT`.
  std::string url() const;

  /// The bound port.
  int port() const;

  /// Answers `method` requests whose path matches `path_regex` with `handler`.
  void on(std::string method, std::string path_regex, stub_handler handler);

  /// Answers with `replies` in order, one per request; the last one repeats.
  void script(std::string method, std::string path_regex,
              std::vector<stub_reply> replies);

  /// Every request received so far, oldest first.
  std::vector<stub_request> requests() const;

  /// The requests whose path matches `path_regex`.
  std::vector<stub_request> requests(const std::string& path_regex) const;

  /// How many requests matched `path_regex`.
  size_t count(const std::string& path_regex) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Quotes `text` as a JSON string literal (for building documented response
/// bodies).
std::string json_quote(std::string_view text);

/// The OAuth2 side of a stand-in API: a token endpoint at `/token` on `stub`
/// that answers every refresh-token grant with the next token `at-1`, `at-2`,
/// ... (RFC 6749 section 5.1 shape), and a check that a request carries the
/// bearer token the API accepts now.
class bearer_api {
public:
  /// Serves `/token` on `stub`; `extra_fields` (JSON members, e.g. `"scope":
  /// "x"`) are added to every token response. The API accepts `at-1` at first.
  explicit bearer_api(http_stub& stub, std::string extra_fields = "");

  /// Makes the API accept only `token` from now on (e.g. "at-2" revokes
  /// "at-1").
  void accept(std::string token);

  /// True when `req` carries `Authorization: Bearer <accepted token>`.
  bool authorized(const stub_request& req) const;

  /// How many tokens the endpoint handed out.
  int issued() const;

private:
  struct state;
  std::shared_ptr<state> state_;
};

} // namespace mailpipe::test
