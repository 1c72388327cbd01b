#pragma once

// Seed mailboxes on the harness's Dovecot (tools/dev-services): fresh users
// appended to its passwd-file, and messages delivered with `doveadm save`.

#include <cstdint>
#include <string>
#include <vector>

namespace mailpipe::test {

/// A user of the harness's Dovecot.
struct seed_user {
  /// The address (also the login).
  std::string email;
  /// Its password.
  std::string password;
};

/// The harness's Dovecot: where it listens and how to add users and mail.
class dovecot {
public:
  /// Reads MAILPIPE_TEST_IMAP_* and MAILPIPE_TEST_DOVECOT_CONF; `ok()` is false
  /// (and a failure recorded) when they are missing.
  dovecot();

  /// True when the harness's variables were found.
  bool ok() const { return ok_; }

  /// The plain-IMAP port.
  uint16_t port() const { return port_; }

  /// `n` new users with random names and passwords, appended in one write;
  /// returns once Dovecot knows the last of them.
  std::vector<seed_user> add_users(std::size_t n);

  /// Saves `message` into `folder` ("INBOX", "Junk") of `user`; false on
  /// failure.
  bool deliver(const seed_user& user, const std::string& folder,
               const std::string& message);

private:
  bool ok_ = false;
  uint16_t port_ = 0;
  std::string users_file_;
  std::string conf_;
};

/// A lower-case random hexadecimal string of `n` characters.
std::string random_hex(std::size_t n);

/// A message carrying `test_id` in X-Mailpipe-Test-Id, the rest from a file
/// under tests/data/messages (e.g. "gmx_inbox.eml").
std::string sample_message(const std::string& test_id,
                           const std::string& sample);

} // namespace mailpipe::test
