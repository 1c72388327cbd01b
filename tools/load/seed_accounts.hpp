#pragma once

// Seed accounts of the load tools on the local Dovecot (tools/dev-services): maildirs
// written straight under the mail folder, users appended to the passwd-file, and a
// manifest that lets the next run reuse them.

#include <cstddef>
#include <string>
#include <vector>

namespace mailpipe::load {

/// One seed account of a load run.
struct load_account {
  /// The address (also the login).
  std::string user;
  /// Its password.
  std::string password;
  /// The test id its test message carries.
  std::string test_id;
  /// Where the test message lies: "INBOX" or "Junk".
  std::string folder;
};

/// Which accounts to create (or reuse).
struct seed_spec {
  /// How many.
  std::size_t accounts = 1000;
  /// Ordinary messages per account, besides the test message.
  std::size_t messages = 36;
  /// Dovecot's passwd-file (users are appended to it).
  std::string users_file;
  /// The parent of the accounts' homes; the manifest lies here too.
  std::string mail_dir;
  /// Account names are PREFIX0@mailpipe.test, PREFIX1@...
  std::string prefix = "load";
  /// The test id every account's test message carries (as one `test add --token` names
  /// it); empty: a test id of its own per account.
  std::string shared_test_id;
};

/// Creates the accounts, or reuses those the manifest `MAIL_DIR/PREFIX-manifest.tsv`
/// already lists (it grows when more are asked for). Throws when the passwd-file cannot
/// be read or written.
std::vector<load_account> seed_accounts(const seed_spec& spec);

} // namespace mailpipe::load
