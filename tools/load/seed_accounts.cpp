#include "tools/load/seed_accounts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace mailpipe::load {

namespace {

// -- messages -----------------------------------------------------------------

/// A newsletter-like message to `to`; with `test_id`, it carries it in `header`.
std::string message_text(const std::string& to, std::size_t n,
                         const std::string& test_id,
                         const std::string& header) {
  std::string out = fmt::format(
      "Return-Path: <news{0}@example.net>\r\n"
      "Received: from mx{0}.example.net (mx{0}.example.net [192.0.2.{1}])\r\n"
      "\tby mail.mailpipe.test with ESMTPS; Sun, 22 Nov 2026 03:00:{2:02} "
      "+0000\r\n"
      "Authentication-Results: mail.mailpipe.test; spf=pass "
      "smtp.mailfrom=example.net; dkim=pass header.d=example.net\r\n"
      "From: Newsletter {0} <news{0}@example.net>\r\n"
      "To: {3}\r\n"
      "Subject: Weekly letter number {0}\r\n"
      "Date: Sun, 22 Nov 2026 03:00:{2:02} +0000\r\n"
      "Message-ID: <{0}.{4}@example.net>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n",
      n, n % 250 + 1, n % 60, to, test_id.empty() ? "plain" : test_id);
  if (!test_id.empty())
    out += fmt::format("{}: {}\r\n", header, test_id);
  out += "\r\n";
  for (int i = 0; i < 20; ++i)
    out += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
           "eiusmod tempor.\r\n";
  return out;
}

// -- maildirs -----------------------------------------------------------------

/// Writes one maildir message straight into `dir/cur` (unseen: no S flag).
void write_mail(const fs::path& dir, const std::string& name,
                const std::string& text) {
  std::ofstream out{dir / "cur" / (name + ":2,"), std::ios::binary};
  out << text;
}

void make_maildir(const fs::path& dir) {
  for (auto sub : {"cur", "new", "tmp"})
    fs::create_directories(dir / sub);
}

void chown_tree(const fs::path& root, uid_t uid, gid_t gid) {
  ::chown(root.c_str(), uid, gid);
  for (auto& e : fs::recursive_directory_iterator(root))
    ::chown(e.path().c_str(), uid, gid);
}

// -- the manifest and the passwd-file -----------------------------------------

fs::path manifest_path(const seed_spec& spec) {
  return fs::path{spec.mail_dir} / fmt::format("{}-manifest.tsv", spec.prefix);
}

std::vector<load_account> read_manifest(const fs::path& path) {
  std::vector<load_account> accts;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields{line};
    load_account a;
    std::getline(fields, a.user, '\t');
    std::getline(fields, a.password, '\t');
    std::getline(fields, a.test_id, '\t');
    std::getline(fields, a.folder, '\t');
    accts.push_back(std::move(a));
  }
  return accts;
}

void write_manifest(const fs::path& path,
                    const std::vector<load_account>& accts) {
  std::ofstream out{path, std::ios::trunc};
  for (const auto& a : accts)
    out << a.user << '\t' << a.password << '\t' << a.test_id << '\t' << a.folder
        << '\n';
}

/// The uid and gid of the passwd-file's first user (every home belongs to them).
std::pair<uid_t, gid_t> mail_owner(const std::string& users_file) {
  std::ifstream users{users_file};
  std::string first;
  std::getline(users, first);
  std::vector<std::string> f;
  std::stringstream ss{first};
  for (std::string x; std::getline(ss, x, ':');)
    f.push_back(x);
  if (f.size() < 4)
    throw std::runtime_error("cannot read the passwd-file " + users_file);
  return {static_cast<uid_t>(std::stoul(f[2])),
          static_cast<gid_t>(std::stoul(f[3]))};
}

/// Appends `lines` in one write: Dovecot re-reads the passwd-file when it changes.
void append_users(const std::string& users_file, const std::string& lines) {
  int fd = ::open(users_file.c_str(), O_WRONLY | O_APPEND);
  if (fd < 0
      || ::write(fd, lines.data(), lines.size())
             != static_cast<ssize_t>(lines.size()))
    throw std::runtime_error("cannot append to " + users_file);
  ::close(fd);
  // Dovecot checks the passwd-file for changes at most once a second.
  std::this_thread::sleep_for(std::chrono::milliseconds{1200});
}

} // namespace

// -- seeding ------------------------------------------------------------------

std::vector<load_account> seed_accounts(const seed_spec& spec) {
  auto manifest = manifest_path(spec);
  auto accts = read_manifest(manifest);
  if (!spec.shared_test_id.empty())
    for (const auto& a : accts)
      if (a.test_id != spec.shared_test_id)
        throw std::runtime_error(fmt::format(
            "{} lists accounts with their own test ids: use another --prefix",
            manifest.string()));
  if (accts.size() >= spec.accounts) {
    accts.resize(spec.accounts);
    return accts;
  }
  auto [uid, gid] = mail_owner(spec.users_file);
  std::mt19937_64 rng{42};
  std::string lines;
  for (auto i = accts.size(); i < spec.accounts; ++i) {
    load_account a;
    auto local = fmt::format("{}{}", spec.prefix, i);
    a.user = local + "@mailpipe.test";
    a.password = fmt::format("pw-{}-{:08x}", local, rng() & 0xffffffff);
    a.test_id = fmt::format("mp-{}{:016x}", local, rng());
    if (!spec.shared_test_id.empty())
      a.test_id = spec.shared_test_id;
    a.folder = (rng() % 2) ? "Junk" : "INBOX";
    fs::path home = fs::path{spec.mail_dir} / local;
    fs::path md = home / "Maildir";
    fs::path junk = md / ".Junk";
    make_maildir(md);
    make_maildir(junk);
    auto tag = fmt::format("{}.M{}P{}.load", 1795300000 + i, i, ::getpid());
    for (std::size_t m = 0; m < spec.messages; ++m) {
      // Ordinary mail: some with other test ids (earlier tests).
      auto other =
          m % 5 == 0 ? fmt::format("mp-old{:012x}", rng()) : std::string{};
      write_mail(m % 6 == 5 ? junk : md, fmt::format("{}{}", tag, m),
                 message_text(a.user, m, other, "X-Mailpipe-Test-Id"));
    }
    write_mail(a.folder == "Junk" ? junk : md, tag + "t",
               message_text(a.user, 999, a.test_id,
                            i % 3 == 0 ? "X-Test-ID" : "X-Mailpipe-Test-Id"));
    chown_tree(home, uid, gid);
    lines += fmt::format("{}:{{PLAIN}}{}:{}:{}::{}::\n", a.user, a.password,
                         uid, gid, home.string());
    accts.push_back(std::move(a));
  }
  append_users(spec.users_file, lines);
  write_manifest(manifest, accts);
  return accts;
}

} // namespace mailpipe::load
