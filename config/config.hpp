#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailpipe {

/// Durations in the config file are strings with a unit: "500ms", "30s", "10m", "1h", "1h30m", "7d".
using duration = std::chrono::milliseconds;

/// `[node]`: this process in the cluster.
struct node_config {
  /// Unique name of the node in the cluster; default: the host name.
  std::string name;
  /// Where the console attaches (CAF middleman); loopback by default.
  std::string inspect_listen = "127.0.0.1:4270";
  /// How often the node writes its heartbeat to `nodes`.
  duration heartbeat_interval = std::chrono::seconds{5};
  /// A node whose heartbeat is older than this is dead; its leases may be taken.
  duration dead_after = std::chrono::seconds{30};
  /// How long shutdown waits for actors before killing them.
  duration shutdown_grace = std::chrono::seconds{10};
};

/// `[database]`: the PostgreSQL system of record.
struct database_config {
  /// libpq URL; `MAILPIPE_DATABASE_URL` overrides it.
  std::string url = "postgresql://mailpipe@127.0.0.1:5432/mailpipe";
  /// Connections in the node's pool of database workers.
  int64_t pool_size = 4;
  /// Timeout of a connection attempt.
  duration connect_timeout = std::chrono::seconds{5};
  /// `statement_timeout` set on every connection.
  duration statement_timeout = std::chrono::seconds{30};
};

/// `[processing]`: the scheduled processing run.
struct processing_config {
  /// Time between two runs (runs never overlap).
  duration interval = std::chrono::minutes{1};
  /// Accounts processed at once.
  int64_t parallel = 4;
  /// Time limit for one account.
  duration account_timeout = std::chrono::seconds{300};
  /// Wait before a failed account is tried again.
  duration retry_after = std::chrono::minutes{10};
  /// Consecutive failures after which an account is disabled.
  int64_t max_failures = 3;
  /// How long a node holds an account it works on.
  duration lease = std::chrono::minutes{5};
};

/// `[jobs]`: the durable queues.
struct jobs_config {
  /// Worker actors per node.
  int64_t workers = 4;
  /// How many of a node's workers may claim jobs, or record their successes,
  /// at once (the others wait their turn; their handlers do not).
  int64_t store_slots = 4;
  /// Attempts before a job is dead.
  int64_t max_attempts = 3;
  /// First retry delay; doubles at each attempt.
  duration backoff = std::chrono::seconds{30};
  /// How long a worker holds a job before another node may take it.
  duration lease = std::chrono::minutes{5};
  /// Workers wake on LISTEN/NOTIFY when a job is enqueued; they also look
  /// this often (delayed jobs, jobs of other nodes' retries, a lost
  /// notification).
  duration poll_interval = std::chrono::seconds{5};
};

/// `[log]`: spdlog output.
struct log_config {
  /// Folder of the daily log files; "" logs to stderr only.
  std::string dir = "";
  /// trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  /// Daily files kept.
  int64_t retention_days = 7;
};

/// `[http]`: the node's HTTP endpoint (docs/http.md): /healthz, /readyz,
/// /metrics, push notifications and the REST API.
struct http_config {
  /// Address of the HTTP endpoint; loopback by default, "" disables it.
  std::string listen = "127.0.0.1:8025";
  /// Bearer token of the REST API under /api/v1/ (secret); "" turns it off.
  std::string api_token = "";
  /// The `token` query parameter of the Gmail Pub/Sub push subscription
  /// (secret); "" turns Gmail push off.
  std::string gmail_push_token = "";
  /// The `clientState` of the Microsoft Graph subscriptions (secret); ""
  /// turns Graph notifications off.
  std::string graph_client_state = "";
};

/// `[imap]`: defaults of IMAP seed accounts.
struct imap_config {
  /// CA bundle to verify servers with; "" uses the system store.
  std::string ca_file = "";
  /// Allow unencrypted IMAP (only for loopback test servers).
  bool allow_plaintext = false;
  /// TCP + TLS connect timeout.
  duration connect_timeout = std::chrono::seconds{10};
  /// Timeout of one command.
  duration command_timeout = std::chrono::seconds{30};
  /// Resume TLS sessions with servers already verified (skips the
  /// certificate on later connections to the same host, port and name).
  bool tls_session_resumption = true;
  /// How long one IDLE of a push account waits before it is renewed (the
  /// junk folder is looked at in between; RFC 2177 asks for at most 29 min).
  duration idle_interval = std::chrono::seconds{10};
};

/// `[gmail]`: the Gmail API.
struct gmail_config {
  /// Base URL of the API.
  std::string api_url = "https://gmail.googleapis.com";
  /// OAuth2 token endpoint.
  std::string token_url = "https://oauth2.googleapis.com/token";
  /// OAuth2 client id.
  std::string client_id = "";
  /// OAuth2 client secret (secret).
  std::string client_secret = "";
  /// Scopes sent with the refresh-token grant; "" keeps the grant's (Google's default).
  std::string scope = "";
  /// Time limit of one API or token request.
  duration request_timeout = std::chrono::seconds{30};
  /// Gmail quota units one user may spend per second (Google's per-user limit is 250;
  /// messages.list and messages.get cost 5, history.list 2).
  int64_t user_quota_per_second = 250;
  /// Attempts of one call in all, when it is rate-limited or the service fails.
  int64_t max_attempts = 3;
  /// A Retry-After longer than this is not waited for; the account is retried later.
  duration max_retry_wait = std::chrono::seconds{60};
};

/// `[outlook]`: Microsoft Graph.
struct outlook_config {
  /// Base URL of the API.
  std::string api_url = "https://graph.microsoft.com/v1.0";
  /// OAuth2 token endpoint.
  std::string token_url =
      "https://login.microsoftonline.com/common/oauth2/v2.0/token";
  /// OAuth2 client id.
  std::string client_id = "";
  /// OAuth2 client secret (secret).
  std::string client_secret = "";
  /// Scopes sent with the refresh-token grant (Microsoft wants them on every refresh).
  std::string scope = "offline_access https://graph.microsoft.com/Mail.Read";
  /// Time limit of one API or token request.
  duration request_timeout = std::chrono::seconds{30};
  /// Requests one mailbox may receive per second (Graph's Outlook limit is
  /// 10,000 per 10 minutes per app and mailbox, about 16 per second).
  int64_t user_requests_per_second = 16;
  /// Attempts of one call in all, when it is rate-limited or the service fails.
  int64_t max_attempts = 3;
  /// A Retry-After longer than this is not waited for; the account is retried later.
  duration max_retry_wait = std::chrono::seconds{60};
};

/// `[analysis]`: how messages are matched and judged.
struct analysis_config {
  /// Headers that carry the test id.
  std::vector<std::string> test_id_headers = {"X-Mailpipe-Test-Id",
                                              "X-Test-ID"};
  /// Regular expression of a test id token in the subject or first body part.
  std::string test_id_pattern = "mp-[A-Za-z0-9]{8,64}";
  /// authserv-ids whose Authentication-Results are trusted, per provider (RFC 8601 §5:
  /// only the receiving side's own results count). Globs (`*`); "" stands for a header
  /// without authserv-id, the form Exchange Online / Outlook.com write.
  std::vector<std::string> trusted_gmail = {"mx.google.com"};
  std::vector<std::string> trusted_outlook = {"", "protection.outlook.com",
                                              "*.protection.outlook.com"};
  /// For IMAP seeds: the big IMAP providers' receiving hosts (Yahoo/AOL, iCloud's
  /// per-method ids, GMX/WEB.DE, Zoho, Fastmail); add your own servers' ids.
  std::vector<std::string> trusted_imap = {"*.mail.*.yahoo.com",
                                           "mx.aol.com",
                                           "spf.icloud.com",
                                           "dkim-verifier.icloud.com",
                                           "dmarc.icloud.com",
                                           "arc.icloud.com",
                                           "bimi.icloud.com",
                                           "gmx.net",
                                           "web.de",
                                           "mx.zohomail.com",
                                           "*.messagingengine.com"};
  /// Extra placement rules (TOML) merged over the built-in ones; "" for none.
  std::string placement_file = "";
  /// Extra spam-filter signatures (TOML) merged over the built-in ones; "" for none.
  std::string signatures_file = "";
  /// Bytes of a header block parsed at most.
  int64_t max_header_bytes = 262144;
};

/// `[alerts]`: Discord and admin alerts.
struct alerts_config {
  /// Discord webhook URL (secret); "" disables Discord.
  std::string discord_webhook_url = "";
  /// Errors of one kind within `window` that fire an alert.
  int64_t threshold = 10;
  /// The sliding window.
  duration window = std::chrono::minutes{5};
  /// Quiet time after an alert of the same kind.
  duration cooldown = std::chrono::minutes{15};
};

/// `[notifications]`: what the `send_notifications` queue sends.
struct notifications_config {
  /// Key of the HMAC-SHA256 signature every outgoing webhook carries (secret);
  /// "" refuses webhook jobs (they are dead at once, with an alert).
  std::string webhook_secret = "";
  /// A delivery without a 2xx answer within this is a failure (retried).
  duration timeout = std::chrono::seconds{10};
};

/// `[smtp]`: email (the `email` channel of send_notifications, and the admin's
/// copy of a dead job's alert).
struct smtp_config {
  /// smtp://host:port (STARTTLS) or smtps://host:port; "" sends no email.
  std::string url = "";
  /// Login; "" sends none.
  std::string username = "";
  /// Password (secret).
  std::string password = "";
  /// The sender's address.
  std::string from = "mailpipe@localhost";
  /// Addresses ("a@b, c@d") that get an email when a job is dead; "" none.
  std::string admin_to = "";
  /// smtp:// must upgrade to TLS (STARTTLS); false allows plain text, for a
  /// relay on the same host.
  bool require_tls = true;
  /// One email's whole exchange.
  duration timeout = std::chrono::seconds{30};
};

/// `[mistral]`: LLM content analysis.
struct mistral_config {
  /// Base URL of the API.
  std::string api_url = "https://api.mistral.ai";
  /// API key (secret); "" disables content analysis.
  std::string api_key = "";
  /// Model name.
  std::string model = "mistral-small-latest";
  /// Request timeout.
  duration timeout = std::chrono::seconds{60};
};

/// `[search]`: newsletter indexing.
struct search_config {
  /// MeiliSearch URL; "" uses PostgreSQL full-text search.
  std::string meilisearch_url = "";
  /// MeiliSearch API key (secret).
  std::string meilisearch_api_key = "";
};

/// `[crypto]`: encryption of stored secrets.
struct crypto_config {
  /// Name of the environment variable holding the base64 256-bit key.
  std::string key_env = "MAILPIPE_SECRET_KEY";
  /// File holding the key, used when the variable is unset; "" for none.
  std::string key_file = "";
};

/// The whole config file, every value with its default.
struct config {
  node_config node;
  database_config database;
  processing_config processing;
  jobs_config jobs;
  log_config log;
  http_config http;
  imap_config imap;
  gmail_config gmail;
  outlook_config outlook;
  analysis_config analysis;
  alerts_config alerts;
  notifications_config notifications;
  smtp_config smtp;
  mistral_config mistral;
  search_config search;
  crypto_config crypto;
  /// The file this was loaded from ("" for built-in defaults).
  std::string source;
};

/// One mistake in a config file, with where it is.
struct config_error {
  /// The file ("" for defaults or the environment).
  std::string file;
  /// 1-based line and column, 0 if unknown.
  int line = 0;
  int column = 0;
  /// The dotted key, e.g. `processing.interval`.
  std::string key;
  /// What is wrong.
  std::string message;
};

/// `FILE:LINE:COLUMN: key 'a.b': message`.
std::string to_string(const config_error& err);

/// Looks up an environment variable; returns nullopt when unset.
using env_lookup = std::function<std::optional<std::string>(std::string_view)>;

/// The process environment.
env_lookup process_env();

/// The outcome of loading: the config (defaults where a key is absent or wrong) and every mistake.
struct config_result {
  config cfg;
  std::vector<config_error> errors;
  /// True when there is no error.
  bool ok() const { return errors.empty(); }
};

/// Parses TOML text; `source` names it in errors.
config_result load_config_string(std::string_view text, std::string source,
                                 const env_lookup& env = process_env());

/// Reads and parses a file.
config_result load_config_file(const std::string& path,
                               const env_lookup& env = process_env());

/// The defaults, with the environment overrides (`MAILPIPE_DATABASE_URL`) applied.
config_result default_config(const env_lookup& env = process_env());

/// The effective config as TOML; secrets (passwords in URLs, keys, tokens) masked when `mask`.
std::string render_config(const config& cfg, bool mask = true);

/// Parses "500ms", "30s", "10m", "1h", "7d", sums like "1h30m", and "0"; nullopt if malformed.
std::optional<duration> parse_duration(std::string_view text);

/// Formats a duration the way parse_duration reads it ("90s" -> "1m30s").
std::string format_duration(duration d);

} // namespace mailpipe
