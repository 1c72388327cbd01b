#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace mailpipe::imap {

/// The clock every deadline of the IMAP client is measured on.
using clock = std::chrono::steady_clock;

/// How a connection verifies the server's certificate.
struct tls_options {
  /// CA bundle (PEM) to trust; "" uses the system store.
  std::string ca_file;
  /// The name the certificate must carry; "" uses the host connected to.
  std::string server_name;
  /// Skip certificate and name checks (never set outside of tests).
  bool insecure_skip_verify = false;
  /// Offer a TLS session kept from an earlier verified handshake with the
  /// same host, port, server name and CA file, and keep the sessions (TLS 1.3
  /// tickets) this server issues. Never with `insecure_skip_verify`.
  bool resume = true;
};

/// Counters of the TLS handshakes of all connections in the process.
struct tls_counters {
  /// Handshakes that completed.
  uint64_t handshakes = 0;
  /// Of those, the ones that offered a cached session.
  uint64_t offered = 0;
  /// Of those, the ones the server resumed (no certificate sent or checked).
  uint64_t resumed = 0;
};

/// A TCP connection, optionally upgraded to TLS, with non-blocking I/O and a
/// deadline on every operation. Not thread-safe; one owner at a time.
class connection {
public:
  /// Creates a closed connection.
  connection();
  ~connection();
  /// Moves the socket and the TLS state.
  connection(connection&&) noexcept;
  /// Moves the socket and the TLS state.
  connection& operator=(connection&&) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Resolves `host` and connects to the first address that answers before
  /// `deadline`, from `source` when not empty (a local IP address to bind).
  /// Errors: `ec::network`, `ec::timeout`.
  static caf::expected<connection> open(const std::string& host, uint16_t port,
                                        clock::time_point deadline,
                                        const std::string& source = {});

  /// Runs the TLS handshake (implicit TLS or after STARTTLS) and verifies the
  /// certificate and the host name. Errors: `ec::tls_failed`, `ec::timeout`.
  caf::error start_tls(const std::string& host, const tls_options& opts,
                       clock::time_point deadline);

  /// Writes all of `bytes`. Errors: `ec::network`, `ec::timeout`.
  caf::error write(std::string_view bytes, clock::time_point deadline);

  /// Reads what is available (at least one byte) into `buf`. A peer that
  /// closes is `ec::network`; no byte before `deadline` is `ec::timeout`.
  caf::expected<std::size_t> read_some(char* buf, std::size_t size,
                                       clock::time_point deadline);

  /// True once `start_tls` succeeded.
  bool encrypted() const;

  /// True when the handshake resumed a cached session.
  bool session_reused() const;

  /// Sessions kept for `host`:`port` under `opts` (tests and diagnostics).
  static std::size_t cached_tls_sessions(const std::string& host, uint16_t port,
                                         const tls_options& opts);

  /// Drops every kept session.
  static void clear_tls_sessions();

  /// Handshake counters since the process started.
  static tls_counters tls_stats();

  /// True while the socket is open.
  bool is_open() const;

  /// The socket (-1 when closed), for another thread to shut it down and end
  /// a blocking read (`::shutdown`, never `::close`: the owner closes it).
  int native_handle() const;

  /// Closes the connection (a TLS close_notify is sent when possible).
  void close();

private:
  /// Socket, SSL object and the shared SSL_CTX.
  struct impl;
  /// Null only after a move.
  std::unique_ptr<impl> impl_;
};

} // namespace mailpipe::imap
