#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "adapters/imap/connection.hpp"
#include "adapters/imap/response_parser.hpp"
#include "config/config.hpp"
#include "messages/types.hpp"

namespace mailpipe::imap {

// -- settings -----------------------------------------------------------------

/// How the session is secured.
enum class security : uint8_t {
  /// TLS from the first byte (port 993).
  implicit_tls,
  /// Plain connect, then `STARTTLS` before anything else (port 143).
  starttls,
  /// No encryption at all: refused unless `settings::allow_plaintext`.
  plain,
};

/// Where a seed account's server is.
struct endpoint {
  /// Host name or address to connect to.
  std::string host;
  /// TCP port (993 for implicit TLS, 143 otherwise).
  uint16_t port = 993;
  /// How the connection is secured.
  security mode = security::implicit_tls;
  /// Name the certificate must carry; "" checks `host`.
  std::string server_name;
  /// Local address to connect from ("" lets the system choose), for hosts
  /// with several outgoing addresses.
  std::string source_address;
};

/// How to log in.
struct credentials {
  /// The mechanism to use.
  enum class method : uint8_t {
    /// `AUTHENTICATE PLAIN` when the server offers it, `LOGIN` otherwise.
    automatic,
    /// `LOGIN user password`.
    login,
    /// `AUTHENTICATE PLAIN` (RFC 4616), with SASL-IR when offered.
    plain,
    /// `AUTHENTICATE XOAUTH2` with an OAuth2 access token in `secret`.
    xoauth2,
  };
  /// The user name (usually the address).
  std::string user;
  /// The password or, for XOAUTH2, the access token. Never logged.
  std::string secret;
  /// The mechanism.
  method mechanism = method::automatic;
};

/// Connection-level settings, usually taken from `[imap]` of the config.
struct settings {
  /// CA bundle; "" uses the system store.
  std::string ca_file;
  /// Allow `security::plain` (loopback tests only).
  bool allow_plaintext = false;
  /// TCP + TLS + greeting timeout.
  std::chrono::milliseconds connect_timeout{10'000};
  /// Timeout of one command (the wait for each tagged answer).
  std::chrono::milliseconds command_timeout{30'000};
  /// Resume TLS sessions from earlier verified handshakes with the same
  /// server (see `tls_options::resume`).
  bool tls_session_resumption = true;
  /// Parser limits against hostile servers.
  parser_limits limits;
};

/// Builds `settings` from the `[imap]` section of the config.
settings make_settings(const imap_config& cfg);

// -- replies ------------------------------------------------------------------

/// The answer to one command: its untagged data and its tagged completion.
struct reply {
  /// The command's tag.
  std::string tag;
  /// The tagged completion (`OK`, `NO`, `BAD`).
  response done;
  /// Untagged responses that arrived while this command was the oldest one
  /// in flight.
  std::vector<response> untagged;

  /// True when the command completed with `OK`.
  bool ok() const { return done.state == status::ok; }
};

/// One command to send. `parts` beyond the first wait for a continuation
/// request (`+`) from the server (synchronizing literals, SASL steps).
struct command {
  /// The command without tag and final CRLF, split at continuations.
  std::vector<std::string> parts;
  /// What to call the command in error messages (never holds secrets).
  std::string label;
  /// Commands after this one wait for its answer (XOAUTH2 may answer with a
  /// challenge that the next line would be taken for).
  bool barrier = false;
};

/// A mailbox from `LIST`.
struct mailbox_info {
  /// The name as the server spells it (modified UTF-7).
  std::string name;
  /// The name decoded to UTF-8.
  std::string display_name;
  /// Attributes such as `\Junk`, `\HasNoChildren`.
  std::vector<std::string> attributes;
  /// The hierarchy delimiter ("" when the server has none).
  std::string delimiter;
};

/// What `EXAMINE` reports.
struct mailbox_status {
  /// Messages in the mailbox.
  uint32_t exists = 0;
  /// The UIDVALIDITY of the mailbox.
  uint32_t uid_validity = 0;
  /// The next UID to be assigned.
  uint32_t uid_next = 0;
};

/// A message header block from `UID FETCH`.
struct fetched_header {
  /// The message's UID.
  uint32_t uid = 0;
  /// The raw RFC 5322 header block (up to and including the empty line).
  std::string header_block;
  /// Gmail labels (X-GM-LABELS), when the server has X-GM-EXT-1.
  std::vector<std::string> labels;
};

/// A whole message from `UID FETCH`.
struct fetched_message {
  /// The message's UID.
  uint32_t uid = 0;
  /// The raw RFC 5322 message.
  std::string raw;
};

// -- capabilities -------------------------------------------------------------

/// A capability list as a server announced it: the text, and its words in
/// upper case for lookups. Immutable, so that sessions and hints share one
/// list: a server announces the same list on every connection, and a session
/// that hears the text it already holds has nothing to parse or allocate.
class capability_list {
public:
  /// The empty list.
  capability_list() = default;

  /// The list announced as `text` (words separated by spaces).
  explicit capability_list(std::string text);

  /// The list's text as announced (what later announcements are compared
  /// with).
  const std::string& text() const { return text_; }

  /// The words in upper case, sorted, without duplicates.
  const std::vector<std::string>& words() const { return words_; }

  /// True if `name` was announced (ASCII case-insensitive).
  bool has(std::string_view name) const;

private:
  std::string text_;
  std::vector<std::string> words_;
};

/// A shared, immutable capability list (never null where this API hands one
/// out).
using capability_ptr = std::shared_ptr<const capability_list>;

/// What a previous pass learned about a server; passing it back saves round
/// trips (the whole session then goes out in one write). A pass updates the
/// hints it is given, so concurrent passes each take their own copy (cheap:
/// the capability lists are shared and immutable) or a guarded one.
struct session_hints {
  /// Capabilities announced in the greeting (before login); null until known.
  capability_ptr greeting_capabilities;
  /// Capabilities announced after login; null until known.
  capability_ptr capabilities;
  /// The junk folder's name ("" when the server has none).
  std::string junk_folder;
  /// True once the fields above were filled by a pass.
  bool known = false;

  /// True when a pass may rely on the hints (filled, both lists present).
  bool complete() const {
    return known && greeting_capabilities && capabilities;
  }
};

// -- the session --------------------------------------------------------------

/// One IMAP session over a `connection`. Commands may be pipelined: `run`
/// writes a whole batch in one go and collects the answers in order. Every
/// wait for an answer is bounded by `settings::command_timeout`.
class session {
public:
  /// Connects, reads the greeting, runs STARTTLS when asked. Errors:
  /// `network`, `timeout`, `tls_failed`, `service_unavailable` (BYE greeting),
  /// `invalid_config` (plaintext not allowed). With `hints` from an earlier
  /// session (`complete()`), the greeting is not awaited: its capabilities are
  /// assumed and the greeting is read along with the first answers, so the
  /// first batch goes out with the TCP (and TLS) handshake's last packet; a
  /// list announced later with the same text as the hints' post-login list
  /// is taken from them, not parsed again.
  static caf::expected<session> open(const endpoint& ep, const settings& cfg,
                                     const session_hints* hints = nullptr);

  /// True when the TLS handshake resumed a cached session.
  bool tls_session_reused() const { return conn_.session_reused(); }

  /// The socket (see `connection::native_handle`).
  int native_handle() const { return conn_.native_handle(); }

  /// The capabilities last announced (greeting, login, or `CAPABILITY`).
  const capability_list& capabilities() const { return *caps_; }

  /// The same list, shared (to keep as hints).
  const capability_ptr& shared_capabilities() const { return caps_; }

  /// True if the server announced `name` (case-insensitive).
  bool has_capability(std::string_view name) const;

  /// Builds the authentication command for `cred` given the capabilities.
  command auth_command(const credentials& cred) const;

  /// Logs in. Errors: `auth_failed` (server's words kept, secret masked).
  caf::error authenticate(const credentials& cred);

  /// Sends all commands in one write (continuations permitting) and waits
  /// for every tagged answer. The replies come back in command order; an
  /// error is returned only when the connection fails.
  caf::expected<std::vector<reply>> run(const std::vector<command>& cmds);

  /// Runs one command; a NO or BAD becomes an error classified by
  /// `error_from`, with `fallback` when nothing more specific matches.
  caf::expected<reply> run_checked(const command& cmd, ec fallback);

  /// Asks for CAPABILITY again.
  caf::error refresh_capabilities();

  /// `LIST "" "*"` (with `RETURN (SPECIAL-USE)` when offered).
  caf::expected<std::vector<mailbox_info>> list();

  /// `EXAMINE` (read-only select). Errors: `mailbox_not_found`.
  caf::expected<mailbox_status> examine(const std::string& mailbox);

  /// `UID SEARCH` with raw criteria (build them with `search_criteria`).
  caf::expected<std::vector<uint32_t>> uid_search(const std::string& criteria);

  /// `UID FETCH uids (UID BODY.PEEK[HEADER])`, plus X-GM-LABELS on Gmail.
  caf::expected<std::vector<fetched_header>>
  fetch_headers(const std::vector<uint32_t>& uids);

  /// `UID FETCH uids (UID BODY.PEEK[])`: whole messages, `\Seen` left unset.
  caf::expected<std::vector<fetched_message>>
  fetch_messages(const std::vector<uint32_t>& uids);

  /// Enters IDLE on the selected mailbox and waits up to `wait` for a new
  /// message: an EXISTS above `known_exists` (a server may repeat the count it
  /// has). Returns the new EXISTS count, or nullopt when nothing arrived.
  caf::expected<std::optional<uint32_t>> idle(std::chrono::milliseconds wait,
                                              uint32_t known_exists = 0);

  /// Sends LOGOUT and waits for its answer, then closes.
  caf::error logout();

  /// Adds texts to mask in every error this session reports.
  void add_secrets(const std::vector<std::string>& xs);

  /// Secrets to mask in any text that reaches an error (set by authenticate).
  const std::vector<std::string>& secrets() const { return secrets_; }

  /// Reads the next response (literals included) before `deadline`.
  caf::expected<response> read_response(clock::time_point deadline);

  /// The same, into `out` (parsed in place, its buffers reused).
  caf::error read_response(clock::time_point deadline, response& out);

  /// Writes raw bytes (tests and the IDLE `DONE`).
  caf::error write_raw(std::string_view bytes);

  /// Applies the capabilities a response carries (code or untagged data).
  void note_capabilities(const response& r);

private:
  /// Sessions come from `open`.
  session() = default;

  /// Returns the next command tag (`m1`, `m2`, ...).
  std::string next_tag();

  /// The socket (plain or TLS).
  connection conn_;
  /// Frames and parses what the server sends.
  response_parser parser_;
  /// Timeouts, CA file, limits.
  settings cfg_;
  /// The capabilities in force (never null).
  capability_ptr caps_;
  /// The post-login list of the hints, taken instead of a parse when the
  /// server announces the same text (may be null).
  capability_ptr expected_caps_;
  /// Texts masked in every error (the password or token).
  std::vector<std::string> secrets_;
  /// Counter behind `next_tag`.
  uint32_t tag_counter_ = 0;
  /// True while the greeting of an early-written session is still unread.
  bool greeting_pending_ = false;
  /// Size of `read_buf_` (one TLS record holds at most 16 KiB).
  static constexpr std::size_t read_buf_size = 16384;
  /// Receive buffer, reused across reads, allocated on first use.
  std::unique_ptr<char[]> read_buf_;
};

// -- pure helpers -------------------------------------------------------------

/// Quotes a string for a command: a quoted string when possible; an error for
/// CR, LF or NUL (which only literals could carry).
caf::expected<std::string> quote(std::string_view x);

/// Builds `OR HEADER h1 id1 OR ...` criteria that match any of `ids` in any
/// of `headers` (and in SUBJECT when `subject` is true).
caf::expected<std::string>
search_criteria(const std::vector<std::string>& ids,
                const std::vector<std::string>& headers, bool subject);

/// Turns a NO/BAD/BYE into a classified error: codes AUTHENTICATIONFAILED,
/// NONEXISTENT, OVERQUOTA, LIMIT, UNAVAILABLE and the word THROTTLED win over
/// `fallback`. `secrets` are masked in the server's words.
caf::error error_from(const response& r, ec fallback, std::string_view context,
                      const std::vector<std::string>& secrets = {});

/// The base64 SASL initial response of `mech` (`plain`: RFC 4616
/// `\0user\0secret`; `xoauth2`: `user=...\x01auth=Bearer ...\x01\x01`).
std::string sasl_payload(credentials::method mech, const credentials& cred);

/// The texts that reveal a credential: the secret and its SASL encodings.
std::vector<std::string> secrets_of(const credentials& cred);

/// Replaces every occurrence of each secret with `***`.
std::string mask(std::string text, const std::vector<std::string>& secrets);

/// Parses `LIST` responses into mailboxes.
std::vector<mailbox_info> parse_list(const std::vector<response>& untagged);

/// Picks the junk folder: the `\Junk` attribute first, then well-known names
/// (Junk, Spam, Bulk Mail, [Gmail]/Spam, Junk Email, Courrier indésirable,
/// ...).
std::optional<mailbox_info> find_junk(const std::vector<mailbox_info>& boxes);

/// Returns the values of header `name` in a raw header block (unfolded,
/// trimmed), as `parse_header_block` reads it.
std::vector<std::string> header_values(std::string_view block,
                                       std::string_view name);

// -- the whole pass -----------------------------------------------------------

/// Options of `find_test_messages`.
struct find_options {
  /// Headers that carry the test id (analysis.test_id_headers).
  std::vector<std::string> headers = analysis_config{}.test_id_headers;
  /// The test-id token in the subject (analysis.test_id_pattern).
  std::string test_id_pattern = analysis_config{}.test_id_pattern;
  /// Folders to search instead of INBOX + the junk folder (a missing one is
  /// `mailbox_not_found`).
  std::vector<std::string> folders;
  /// Read and updated when not null.
  session_hints* hints = nullptr;
};

/// Connects, logs in, finds the junk folder, searches INBOX and junk for the
/// ids (in the test-id headers and the Subject), fetches the header blocks and
/// logs out, pipelining all it can. A fetched block is a found message for each
/// id it carries by the test-id rule (`carried_test_ids`); ec::invalid_config
/// for a bad `test_id_pattern`, before connecting.
caf::expected<std::vector<found_message>>
find_test_messages(const endpoint& ep, const credentials& cred,
                   const std::vector<std::string>& test_ids,
                   const find_options& opts, const settings& cfg);

} // namespace mailpipe::imap
