#include "adapters/imap/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

#include <caf/error.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "messages/error.hpp"

namespace mailpipe::imap {

namespace {

// -- helpers ------------------------------------------------------------------

int millis_until(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock::now());
  if (left.count() <= 0)
    return 0;
  return left.count() > 1'000'000 ? 1'000'000 : static_cast<int>(left.count());
}

/// Waits until `fd` is ready for `events`; false on timeout.
caf::expected<bool> wait_for(int fd, short events, clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    auto rc = ::poll(&p, 1, millis_until(deadline));
    if (rc > 0)
      return true;
    if (rc == 0)
      return false;
    if (errno != EINTR)
      return caf::make_error(ec::network,
                             fmt::format("poll: {}", std::strerror(errno)));
  }
}

std::string openssl_errors() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out;
}

bool is_ip_address(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1
         || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// -- TLS session resumption ---------------------------------------------------

/// Sessions kept from verified handshakes, by what they were verified for:
/// the host connected to, the port, the name checked in the certificate and
/// the CA file. A resumed handshake skips the certificate (the client's chain
/// check and the server's signature), so a session is only ever offered under
/// the exact parameters it was verified with. Each session is offered once
/// (RFC 8446 C.4: tickets are not reused across connections); the server
/// sends fresh ones on every handshake. Bounded in endpoints and sessions per
/// endpoint; thread-safe.
class tls_session_cache {
public:
  /// Endpoints kept; the least recently used one goes first.
  static constexpr std::size_t max_endpoints = 256;
  /// Sessions kept per endpoint; the oldest one goes first.
  static constexpr std::size_t max_per_endpoint = 16;

  ~tls_session_cache() { clear(); }

  /// Takes the newest usable session for `key` (the caller owns it), or null.
  SSL_SESSION* take(const std::string& key) {
    std::lock_guard guard{mtx_};
    auto i = slots_.find(key);
    if (i == slots_.end())
      return nullptr;
    auto& q = i->second.sessions;
    i->second.used = ++tick_;
    auto now = static_cast<long>(std::time(nullptr));
    while (!q.empty()) {
      auto* sess = q.back();
      q.pop_back();
      if (SSL_SESSION_is_resumable(sess) == 1
          && SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess) > now)
        return sess;
      SSL_SESSION_free(sess);
    }
    return nullptr;
  }

  /// Keeps `sess` (owned from now on) for `key`.
  void put(const std::string& key, SSL_SESSION* sess) {
    std::lock_guard guard{mtx_};
    auto i = slots_.find(key);
    if (i == slots_.end()) {
      if (slots_.size() >= max_endpoints)
        evict_oldest_slot();
      i = slots_.emplace(key, slot{}).first;
    }
    auto& q = i->second.sessions;
    i->second.used = ++tick_;
    q.push_back(sess);
    while (q.size() > max_per_endpoint) {
      SSL_SESSION_free(q.front());
      q.pop_front();
    }
  }

  /// Sessions kept for `key`.
  std::size_t count(const std::string& key) {
    std::lock_guard guard{mtx_};
    auto i = slots_.find(key);
    return i == slots_.end() ? 0 : i->second.sessions.size();
  }

  /// Frees every session.
  void clear() {
    std::lock_guard guard{mtx_};
    for (auto& [key, sl] : slots_)
      for (auto* sess : sl.sessions)
        SSL_SESSION_free(sess);
    slots_.clear();
  }

private:
  /// The sessions of one endpoint.
  struct slot {
    /// Oldest first.
    std::deque<SSL_SESSION*> sessions;
    /// `tick_` at the last use.
    uint64_t used = 0;
  };

  void evict_oldest_slot() {
    auto oldest = slots_.begin();
    for (auto i = slots_.begin(); i != slots_.end(); ++i)
      if (i->second.used < oldest->second.used)
        oldest = i;
    for (auto* sess : oldest->second.sessions)
      SSL_SESSION_free(sess);
    slots_.erase(oldest);
  }

  std::mutex mtx_;
  std::unordered_map<std::string, slot> slots_;
  uint64_t tick_ = 0;
};

tls_session_cache& session_cache() {
  static tls_session_cache cache;
  return cache;
}

std::atomic<uint64_t> handshakes{0};
std::atomic<uint64_t> offered{0};
std::atomic<uint64_t> resumed{0};

/// What the new-session callback needs to know about its connection; the SSL
/// object's app data points here.
struct resumption_state {
  /// Cache key; empty when this connection's sessions must not be kept.
  std::string key;
};

/// The cache key of a verified connection: NUL cannot occur in any part.
std::string cache_key(const std::string& host, uint16_t port,
                      const std::string& name, const tls_options& opts) {
  std::string key = host;
  key += '\0';
  key += std::to_string(port);
  key += '\0';
  key += name;
  key += '\0';
  key += opts.ca_file;
  return key;
}

/// OpenSSL hands over every new session here (at the end of a TLS 1.2
/// handshake, with each TLS 1.3 ticket). Only a verified connection's
/// sessions are kept; returning 1 keeps OpenSSL's reference.
int on_new_session(SSL* ssl, SSL_SESSION* sess) {
  auto* st = static_cast<resumption_state*>(SSL_get_app_data(ssl));
  if (!st || st->key.empty())
    return 0;
  if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0
      || SSL_get_verify_result(ssl) != X509_V_OK
      || SSL_get0_peer_certificate(ssl) == nullptr
      || SSL_SESSION_is_resumable(sess) != 1)
    return 0;
  session_cache().put(st->key, sess);
  return 1;
}

/// One SSL_CTX per CA file: loading a trust store costs milliseconds, a
/// handshake should not pay it again.
std::shared_ptr<SSL_CTX> context_for(const std::string& ca_file,
                                     caf::error& err) {
  static std::mutex mtx;
  static std::map<std::string, std::shared_ptr<SSL_CTX>> cache;
  std::lock_guard guard{mtx};
  if (auto i = cache.find(ca_file); i != cache.end())
    return i->second;
  std::shared_ptr<SSL_CTX> ctx{SSL_CTX_new(TLS_client_method()), SSL_CTX_free};
  if (!ctx) {
    err = caf::make_error(ec::tls_failed, "SSL_CTX_new: " + openssl_errors());
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE
                                  | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whatever the socket holds, not a record header and then its body:
  // a pass's answers arrive as a burst of records, and each read is a system
  // call. Safe with the poll waits below: they only follow an SSL call that
  // asked for more bytes than OpenSSL has buffered.
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  // Sessions go to `session_cache` only, never to OpenSSL's own store.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT
                                                | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx.get(), on_new_session);
  int ok =
      ca_file.empty()
          ? SSL_CTX_set_default_verify_paths(ctx.get())
          : SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
  if (ok != 1) {
    err = caf::make_error(ec::tls_failed,
                          fmt::format("cannot load CA file \"{}\": {}", ca_file,
                                      openssl_errors()));
    return nullptr;
  }
  cache.emplace(ca_file, ctx);
  return ctx;
}

} // namespace

// -- state --------------------------------------------------------------------

struct connection::impl {
  int fd = -1;
  /// The port connected to (part of the session cache key).
  uint16_t port = 0;
  SSL* ssl = nullptr;
  std::shared_ptr<SSL_CTX> ctx;
  /// Where this connection's new sessions go.
  resumption_state resumption;

  ~impl() { shut(); }

  void shut() {
    if (ssl) {
      SSL_shutdown(ssl); // best effort, non-blocking
      SSL_free(ssl);
      ssl = nullptr;
    }
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
  }

  /// Maps an SSL_ERROR_WANT_* to a poll wait; false when the call failed.
  caf::error wait_ssl(int rc, const char* what, clock::time_point deadline) {
    auto code = SSL_get_error(ssl, rc);
    short events;
    if (code == SSL_ERROR_WANT_READ)
      events = POLLIN;
    else if (code == SSL_ERROR_WANT_WRITE)
      events = POLLOUT;
    else if (code == SSL_ERROR_ZERO_RETURN)
      return caf::make_error(
          ec::network,
          fmt::format("{}: connection closed by the server", what));
    else if (code == SSL_ERROR_SYSCALL) {
      auto e = errno;
      return caf::make_error(
          ec::network,
          fmt::format("{}: connection closed by the server{}", what,
                      e ? fmt::format(" ({})", std::strerror(e))
                        : std::string{}));
    } else
      return caf::make_error(ec::network,
                             fmt::format("{}: {}", what, openssl_errors()));
    auto ready = wait_for(fd, events, deadline);
    if (!ready)
      return std::move(ready.error());
    if (!*ready)
      return caf::make_error(ec::timeout,
                             fmt::format("{}: no answer in time", what));
    return {};
  }
};

connection::connection() : impl_(std::make_unique<impl>()) {}
connection::~connection() = default;
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;

bool connection::encrypted() const {
  return impl_ && impl_->ssl != nullptr;
}

bool connection::session_reused() const {
  return impl_ && impl_->ssl != nullptr && SSL_session_reused(impl_->ssl) == 1;
}

std::size_t connection::cached_tls_sessions(const std::string& host,
                                            uint16_t port,
                                            const tls_options& opts) {
  const auto& name = opts.server_name.empty() ? host : opts.server_name;
  return session_cache().count(cache_key(host, port, name, opts));
}

void connection::clear_tls_sessions() {
  session_cache().clear();
}

tls_counters connection::tls_stats() {
  return {handshakes.load(), offered.load(), resumed.load()};
}

bool connection::is_open() const {
  return impl_ && impl_->fd >= 0;
}

int connection::native_handle() const {
  return impl_ ? impl_->fd : -1;
}

void connection::close() {
  if (impl_)
    impl_->shut();
}

// -- connect ------------------------------------------------------------------

caf::expected<connection> connection::open(const std::string& host,
                                           uint16_t port,
                                           clock::time_point deadline,
                                           const std::string& source) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  // getaddrinfo has no timeout; numeric hosts (the common case) never block.
  if (auto rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return caf::make_error(ec::network, fmt::format("cannot resolve {}: {}",
                                                    host, gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard{res, freeaddrinfo};
  caf::error last =
      caf::make_error(ec::network, fmt::format("no address for {}", host));
  for (auto ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 ai->ai_protocol);
    if (fd < 0) {
      last = caf::make_error(ec::network,
                             fmt::format("socket: {}", std::strerror(errno)));
      continue;
    }
    connection conn;
    conn.impl_->fd = fd;
    conn.impl_->port = port;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!source.empty()) {
      sockaddr_storage local{};
      socklen_t local_len = 0;
      if (ai->ai_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&local);
        a->sin_family = AF_INET;
        local_len = sizeof(sockaddr_in);
        if (inet_pton(AF_INET, source.c_str(), &a->sin_addr) != 1)
          local_len = 0;
      } else if (ai->ai_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&local);
        a->sin6_family = AF_INET6;
        local_len = sizeof(sockaddr_in6);
        if (inet_pton(AF_INET6, source.c_str(), &a->sin6_addr) != 1)
          local_len = 0;
      }
      if (local_len == 0
          || ::bind(fd, reinterpret_cast<sockaddr*>(&local), local_len) != 0) {
        last = caf::make_error(
            ec::network,
            fmt::format("cannot bind to source address {}", source));
        continue;
      }
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
      return conn;
    if (errno != EINPROGRESS) {
      last =
          caf::make_error(ec::network, fmt::format("connect to {}:{}: {}", host,
                                                   port, std::strerror(errno)));
      continue;
    }
    auto ready = wait_for(fd, POLLOUT, deadline);
    if (!ready)
      return std::move(ready.error());
    if (!*ready)
      return caf::make_error(
          ec::timeout,
          fmt::format("connect to {}:{}: no answer in time", host, port));
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error == 0)
      return conn;
    last = caf::make_error(ec::network,
                           fmt::format("connect to {}:{}: {}", host, port,
                                       std::strerror(so_error)));
  }
  return last;
}

caf::error connection::start_tls(const std::string& host,
                                 const tls_options& opts,
                                 clock::time_point deadline) {
  if (!is_open())
    return caf::make_error(ec::network, "TLS on a closed connection");
  caf::error err;
  auto ctx = context_for(opts.ca_file, err);
  if (!ctx)
    return err;
  auto& st = *impl_;
  st.ctx = ctx;
  st.ssl = SSL_new(ctx.get());
  if (!st.ssl)
    return caf::make_error(ec::tls_failed, "SSL_new: " + openssl_errors());
  SSL_set_fd(st.ssl, st.fd);
  const auto& name = opts.server_name.empty() ? host : opts.server_name;
  if (opts.insecure_skip_verify) {
    SSL_set_verify(st.ssl, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_set_verify(st.ssl, SSL_VERIFY_PEER, nullptr);
    if (is_ip_address(name)) {
      auto* param = SSL_get0_param(st.ssl);
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      SSL_set_hostflags(st.ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(st.ssl, name.c_str());
    }
  }
  if (!is_ip_address(name))
    SSL_set_tlsext_host_name(st.ssl, name.c_str());
  // Sessions are kept and offered only for verified connections, under the
  // parameters they were verified with.
  bool was_offered = false;
  if (opts.resume && !opts.insecure_skip_verify) {
    st.resumption.key = cache_key(host, st.port, name, opts);
    SSL_set_app_data(st.ssl, &st.resumption);
    if (auto* sess = session_cache().take(st.resumption.key)) {
      was_offered = SSL_set_session(st.ssl, sess) == 1;
      SSL_SESSION_free(sess); // SSL_set_session holds its own reference
    }
  }
  ERR_clear_error();
  for (;;) {
    auto rc = SSL_connect(st.ssl);
    if (rc == 1) {
      ++handshakes;
      if (was_offered)
        ++offered;
      if (SSL_session_reused(st.ssl) == 1)
        ++resumed;
      return {};
    }
    auto verdict = SSL_get_verify_result(st.ssl);
    if (verdict != X509_V_OK)
      return caf::make_error(
          ec::tls_failed, fmt::format("certificate of {} refused: {}", name,
                                      X509_verify_cert_error_string(verdict)));
    auto code = SSL_get_error(st.ssl, rc);
    if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE) {
      auto detail = openssl_errors();
      return caf::make_error(
          ec::tls_failed,
          fmt::format("TLS handshake with {} failed: {}", name,
                      detail.empty() ? "connection closed" : detail));
    }
    if (auto e = st.wait_ssl(rc, "TLS handshake", deadline))
      return e;
  }
}

// -- I/O ----------------------------------------------------------------------

caf::error connection::write(std::string_view bytes,
                             clock::time_point deadline) {
  if (!is_open())
    return caf::make_error(ec::network, "write on a closed connection");
  auto& st = *impl_;
  while (!bytes.empty()) {
    if (st.ssl) {
      ERR_clear_error();
      auto rc = SSL_write(st.ssl, bytes.data(), static_cast<int>(bytes.size()));
      if (rc > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(rc));
        continue;
      }
      if (auto e = st.wait_ssl(rc, "write", deadline))
        return e;
      continue;
    }
    auto rc = ::send(st.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (rc > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(rc));
      continue;
    }
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto ready = wait_for(st.fd, POLLOUT, deadline);
      if (!ready)
        return std::move(ready.error());
      if (!*ready)
        return caf::make_error(ec::timeout, "write: the server does not read");
      continue;
    }
    return caf::make_error(ec::network,
                           fmt::format("write: {}", std::strerror(errno)));
  }
  return {};
}

caf::expected<std::size_t> connection::read_some(char* buf, std::size_t size,
                                                 clock::time_point deadline) {
  if (!is_open())
    return caf::make_error(ec::network, "read on a closed connection");
  auto& st = *impl_;
  for (;;) {
    if (st.ssl) {
      ERR_clear_error();
      auto rc = SSL_read(st.ssl, buf, static_cast<int>(size));
      if (rc > 0)
        return static_cast<std::size_t>(rc);
      if (auto e = st.wait_ssl(rc, "read", deadline))
        return e;
      continue;
    }
    auto rc = ::recv(st.fd, buf, size, 0);
    if (rc > 0)
      return static_cast<std::size_t>(rc);
    if (rc == 0)
      return caf::make_error(ec::network,
                             "read: connection closed by the server");
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      auto ready = wait_for(st.fd, POLLIN, deadline);
      if (!ready)
        return std::move(ready.error());
      if (!*ready)
        return caf::make_error(ec::timeout, "read: no answer in time");
      continue;
    }
    return caf::make_error(ec::network,
                           fmt::format("read: {}", std::strerror(errno)));
  }
}

} // namespace mailpipe::imap
