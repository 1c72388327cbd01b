// The IMAP client against the real Dovecot that tools/dev-services starts.

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "adapters/imap/client.hpp"
#include "messages/error.hpp"
#include "tests/support/env.hpp"

using namespace mailpipe;
using namespace mailpipe::imap;
using namespace std::chrono_literals;

namespace {

// -- fixture ------------------------------------------------------------------

std::string random_hex(std::size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  while (out.size() < n)
    out += fmt::format("{:016x}", rng());
  out.resize(n);
  return out;
}

/// A fresh account on the harness's Dovecot, appended to its passwd-file.
struct test_account {
  std::string user;
  std::string password;
};

class imap_dovecot : public ::testing::Test {
protected:
  void SetUp() override {
    host_ = test::env("MAILPIPE_TEST_IMAP_HOST");
    auto port = test::env("MAILPIPE_TEST_IMAP_PORT");
    auto imaps = test::env("MAILPIPE_TEST_IMAPS_PORT");
    ca_ = test::env("MAILPIPE_TEST_IMAP_CA");
    other_ca_ = test::env("MAILPIPE_TEST_IMAP_OTHER_CA");
    users_ = test::env("MAILPIPE_TEST_IMAP_USERS");
    conf_ = test::env("MAILPIPE_TEST_DOVECOT_CONF");
    if (host_.empty() || port.empty() || imaps.empty() || ca_.empty()
        || other_ca_.empty() || users_.empty() || conf_.empty())
      GTEST_FAIL() << "MAILPIPE_TEST_IMAP_* is not set: run the tests with "
                      "tools/test or source the dev-services env file";
    port_ = static_cast<uint16_t>(std::stoi(port));
    imaps_port_ = static_cast<uint16_t>(std::stoi(imaps));
    cfg_.allow_plaintext = true;
    cfg_.ca_file = ca_;
    cfg_.connect_timeout = 5s;
    cfg_.command_timeout = 10s;
  }

  /// Adds a user with a random name and password (one line, O_APPEND).
  test_account make_account() {
    std::ifstream in{users_};
    std::string first;
    std::getline(in, first);
    // user:{PLAIN}pw:UID:GID::HOME:: -> reuse UID, GID and the home's parent.
    std::vector<std::string> f;
    std::size_t start = 0;
    for (;;) {
      auto c = first.find(':', start);
      f.push_back(first.substr(start, c - start));
      if (c == std::string::npos)
        break;
      start = c + 1;
    }
    EXPECT_GE(f.size(), 6u) << first;
    auto home_parent = f[5].substr(0, f[5].rfind('/'));
    auto local = "t" + random_hex(12);
    test_account acct{local + "@mailpipe.test", "pw-" + random_hex(16)};
    auto line = fmt::format("{}:{{PLAIN}}{}:{}:{}::{}/{}::\n", acct.user,
                            acct.password, f[2], f[3], home_parent, local);
    int fd = ::open(users_.c_str(), O_WRONLY | O_APPEND);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, line.data(), line.size()),
              static_cast<ssize_t>(line.size()));
    ::close(fd);
    // Dovecot re-reads the passwd-file at most once a second: wait until the
    // new user is known.
    for (int i = 0; i < 40; ++i) {
      auto r = test::run_process(
          {"/usr/bin/doveadm", "-c", conf_, "user", acct.user});
      if (r.status == 0)
        break;
      std::this_thread::sleep_for(100ms);
    }
    return acct;
  }

  /// Delivers a message carrying `test_id` into `folder` with doveadm save.
  void deliver(const test_account& acct, const std::string& folder,
               const std::string& test_id,
               const std::string& header = "X-Mailpipe-Test-Id") {
    auto msg =
        fmt::format("From: sender@example.com\r\nTo: {}\r\n"
                    "Subject: placement test {}\r\n"
                    "Message-ID: <{}@example.com>\r\n{}: {}\r\n"
                    "\r\nHello.\r\n",
                    acct.user, random_hex(6), random_hex(16), header, test_id);
    auto r = test::run_process({"/usr/bin/doveadm", "-c", conf_, "save", "-u",
                                acct.user, "-m", folder},
                               {}, msg);
    ASSERT_EQ(r.status, 0) << r.err;
  }

  /// Expects `session::open` to fail with `code`.
  void expect_open_fails(const endpoint& ep, const settings& cfg, ec code) {
    auto s = session::open(ep, cfg);
    ASSERT_FALSE(s);
    EXPECT_TRUE(is(s.error(), code)) << render(s.error());
  }

  endpoint plain() const { return {host_, port_, security::plain, "", ""}; }
  endpoint tls() const {
    return {host_, imaps_port_, security::implicit_tls, "", ""};
  }
  /// A loopback address of its own: Dovecot delays every login from an
  /// address that failed one, so failing tests must not share 127.0.0.1.
  static std::string penalty_box() {
    static thread_local std::mt19937 rng{std::random_device{}()};
    return fmt::format("127.{}.{}.{}", 1 + rng() % 250, rng() % 256,
                       1 + rng() % 250);
  }

  credentials creds(const test_account& a) const {
    return {a.user, a.password, credentials::method::automatic};
  }

  std::string host_, ca_, other_ca_, users_, conf_;
  uint16_t port_ = 0, imaps_port_ = 0;
  settings cfg_;
};

/// Opens an IMAPS session, reads the greeting (and so the TLS 1.3 tickets the
/// server sends first) and logs out; returns whether the handshake resumed.
bool open_and_close(const endpoint& ep, const settings& cfg) {
  auto s = session::open(ep, cfg);
  EXPECT_TRUE(s) << render(s.error());
  if (!s)
    return false;
  auto reused = s->tls_session_reused();
  EXPECT_FALSE(s->logout());
  return reused;
}

const found_message* find(const std::vector<found_message>& xs,
                          const std::string& id) {
  for (const auto& x : xs)
    if (x.test_id == id)
      return &x;
  return nullptr;
}

} // namespace

// -- connecting and logging in ------------------------------------------------

TEST_F(imap_dovecot, login_over_plain_and_tls) {
  auto acct = make_account();
  for (auto ep : {plain(), tls()}) {
    auto s = session::open(ep, cfg_);
    ASSERT_TRUE(s) << render(s.error());
    EXPECT_TRUE(s->has_capability("IMAP4rev1"));
    ASSERT_FALSE(s->authenticate(creds(acct)));
    EXPECT_TRUE(s->has_capability("SPECIAL-USE")); // post-login capabilities
    EXPECT_FALSE(s->logout());
  }
}

TEST_F(imap_dovecot, login_and_plain_mechanisms) {
  auto acct = make_account();
  for (auto mech : {credentials::method::login, credentials::method::plain}) {
    auto s = session::open(tls(), cfg_);
    ASSERT_TRUE(s) << render(s.error());
    auto c = creds(acct);
    c.mechanism = mech;
    auto err = s->authenticate(c);
    EXPECT_FALSE(err) << render(err);
  }
}

TEST_F(imap_dovecot, password_with_odd_characters_uses_literal) {
  auto acct = make_account();
  // A quote and a backslash go out quoted-escaped through LOGIN.
  auto ep = plain();
  ep.source_address = penalty_box();
  auto s = session::open(ep, cfg_);
  ASSERT_TRUE(s);
  auto c = creds(acct);
  c.mechanism = credentials::method::login;
  c.secret = "wrong\"\\pass";
  auto err = s->authenticate(c);
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, ec::auth_failed)) << render(err);
}

TEST_F(imap_dovecot, starttls_upgrades_the_plain_port) {
  auto acct = make_account();
  auto ep = plain();
  ep.mode = security::starttls;
  auto s = session::open(ep, cfg_);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_FALSE(s->has_capability("STARTTLS")); // fresh list after TLS
  EXPECT_FALSE(s->authenticate(creds(acct)));
}

TEST_F(imap_dovecot, wrong_password_is_auth_failed_without_the_secret) {
  auto acct = make_account();
  for (auto mech : {credentials::method::login, credentials::method::plain}) {
    auto c = creds(acct);
    c.secret = "not-the-password-" + random_hex(8);
    c.mechanism = mech;
    auto ep = tls();
    ep.source_address = penalty_box();
    auto r = find_test_messages(ep, c, {"mp-whatever1"}, {}, cfg_);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), ec::auth_failed)) << render(r.error());
    EXPECT_EQ(classify(r.error()), failure_class::auth);
    EXPECT_EQ(render(r.error()).find(c.secret), std::string::npos);
    EXPECT_NE(render(r.error()).find("failed"), std::string::npos)
        << render(r.error()); // the server's words are kept
  }
}

TEST_F(imap_dovecot, wrong_ca_is_refused) {
  auto cfg = cfg_;
  cfg.ca_file = other_ca_;
  expect_open_fails(tls(), cfg, ec::tls_failed);
}

TEST_F(imap_dovecot, system_store_refuses_the_test_ca) {
  auto cfg = cfg_;
  cfg.ca_file = "";
  expect_open_fails(tls(), cfg, ec::tls_failed);
}

TEST_F(imap_dovecot, host_name_mismatch_is_refused) {
  auto ep = tls();
  ep.server_name = "imap.example.org";
  expect_open_fails(ep, cfg_, ec::tls_failed);
  // The certificate names localhost: that name passes.
  ep.server_name = "localhost";
  auto ok = session::open(ep, cfg_);
  EXPECT_TRUE(ok) << render(ok.error());
}

TEST_F(imap_dovecot, plaintext_needs_permission) {
  auto cfg = cfg_;
  cfg.allow_plaintext = false;
  expect_open_fails(plain(), cfg, ec::invalid_config);
}

TEST_F(imap_dovecot, connection_refused_is_network) {
  auto ep = tls();
  ep.port = 1; // nothing listens there
  expect_open_fails(ep, cfg_, ec::network);
}

// -- folders ------------------------------------------------------------------

TEST_F(imap_dovecot, list_finds_the_junk_folder) {
  auto acct = make_account();
  auto s = session::open(tls(), cfg_);
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->authenticate(creds(acct)));
  auto boxes = s->list();
  ASSERT_TRUE(boxes) << render(boxes.error());
  auto junk = find_junk(*boxes);
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->name, "Junk");
}

TEST_F(imap_dovecot, missing_folder_is_mailbox_not_found) {
  auto acct = make_account();
  auto s = session::open(plain(), cfg_);
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->authenticate(creds(acct)));
  auto st = s->examine("No Such Folder");
  ASSERT_FALSE(st);
  EXPECT_TRUE(is(st.error(), ec::mailbox_not_found)) << render(st.error());
  EXPECT_EQ(classify(st.error()), failure_class::mailbox);
  // Through the whole pass too.
  find_options opts;
  opts.folders = {"INBOX", "Nope-" + random_hex(4)};
  auto r = find_test_messages(plain(), creds(acct), {"mp-x1"}, opts, cfg_);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), ec::mailbox_not_found)) << render(r.error());
}

// -- the find pass ------------------------------------------------------------

TEST_F(imap_dovecot, finds_messages_in_inbox_and_junk) {
  auto acct = make_account();
  auto in_inbox = "mp-" + random_hex(16);
  auto in_junk = "mp-" + random_hex(16);
  auto missing = "mp-" + random_hex(16);
  deliver(acct, "INBOX", in_inbox);
  deliver(acct, "Junk", in_junk, "X-Test-ID");
  deliver(acct, "INBOX", "mp-unrelated" + random_hex(8));
  for (auto ep : {plain(), tls()}) {
    auto r = find_test_messages(ep, creds(acct), {in_inbox, in_junk, missing},
                                {}, cfg_);
    ASSERT_TRUE(r) << render(r.error());
    ASSERT_EQ(r->size(), 2u);
    auto a = find(*r, in_inbox);
    auto b = find(*r, in_junk);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->folder, "INBOX");
    EXPECT_EQ(b->folder, "Junk");
    EXPECT_EQ(b->labels, std::vector<std::string>{"\\Junk"});
    EXPECT_NE(a->header_block.find("X-Mailpipe-Test-Id: " + in_inbox + "\r\n"),
              std::string::npos);
    EXPECT_EQ(a->header_block.substr(0, 25), "From: sender@example.com\r");
    EXPECT_EQ(a->header_block.substr(a->header_block.size() - 4), "\r\n\r\n");
    EXPECT_EQ(a->header_block.find("Hello."), std::string::npos);
    EXPECT_FALSE(a->provider_id.empty());
    EXPECT_FALSE(find(*r, missing));
  }
}

TEST_F(imap_dovecot, hints_make_the_second_pass_agree) {
  auto acct = make_account();
  auto id = "mp-" + random_hex(16);
  deliver(acct, "Junk", id);
  session_hints hints;
  find_options opts;
  opts.hints = &hints;
  auto cold = find_test_messages(plain(), creds(acct), {id}, opts, cfg_);
  ASSERT_TRUE(cold) << render(cold.error());
  EXPECT_TRUE(hints.known);
  EXPECT_EQ(hints.junk_folder, "Junk");
  ASSERT_TRUE(hints.capabilities);
  EXPECT_TRUE(hints.capabilities->has("SEARCHRES"));
  auto warm = find_test_messages(plain(), creds(acct), {id}, opts, cfg_);
  ASSERT_TRUE(warm) << render(warm.error());
  ASSERT_EQ(warm->size(), 1u);
  EXPECT_EQ(warm->front().folder, "Junk");
  EXPECT_EQ(*cold, *warm);
  // Stale hints (a renamed junk folder) fall back to a cold pass.
  hints.junk_folder = "Spam";
  auto stale = find_test_messages(plain(), creds(acct), {id}, opts, cfg_);
  ASSERT_TRUE(stale) << render(stale.error());
  ASSERT_EQ(stale->size(), 1u);
  EXPECT_EQ(hints.junk_folder, "Junk");
}

TEST_F(imap_dovecot, several_ids_in_one_search) {
  auto acct = make_account();
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back("mp-" + random_hex(16));
    deliver(acct, i % 2 ? "Junk" : "INBOX", ids.back());
  }
  auto s = session::open(plain(), cfg_);
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->authenticate(creds(acct)));
  ASSERT_TRUE(s->examine("INBOX"));
  auto crit = search_criteria(ids, {"X-Mailpipe-Test-Id", "X-Test-ID"}, false);
  ASSERT_TRUE(crit);
  auto uids = s->uid_search(*crit);
  ASSERT_TRUE(uids) << render(uids.error());
  EXPECT_EQ(uids->size(), 3u);
  auto r = find_test_messages(plain(), creds(acct), ids, {}, cfg_);
  ASSERT_TRUE(r) << render(r.error());
  EXPECT_EQ(r->size(), 6u);
}

TEST_F(imap_dovecot, token_in_the_subject_is_found_a_near_miss_is_not) {
  auto acct = make_account();
  auto id = "mp-" + random_hex(16);
  for (auto subject : {fmt::format("hello {} there", id),
                       fmt::format("hello {}0 there", id)}) {
    auto msg = fmt::format("From: a@example.com\r\nSubject: {}\r\n"
                           "\r\nbody\r\n",
                           subject);
    auto r = test::run_process({"/usr/bin/doveadm", "-c", conf_, "save", "-u",
                                acct.user, "-m", "INBOX"},
                               {}, msg);
    ASSERT_EQ(r.status, 0) << r.err;
  }
  // SUBJECT matches both (a substring search); only the whole token counts.
  auto found = find_test_messages(plain(), creds(acct), {id}, {}, cfg_);
  ASSERT_TRUE(found) << render(found.error());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->front().folder, "INBOX");
  EXPECT_NE(found->front().header_block.find("hello " + id + " there"),
            std::string::npos);
}

TEST_F(imap_dovecot, bad_test_id_pattern_is_refused_before_connecting) {
  find_options opts;
  opts.test_id_pattern = "mp-(a|b)";
  auto r = find_test_messages({"127.0.0.1", 1, security::plain, "", ""},
                              {"u", "p", credentials::method::automatic},
                              {"mp-a"}, opts, cfg_);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), ec::invalid_config)) << render(r.error());
}

TEST_F(imap_dovecot, examine_leaves_seen_unset) {
  auto acct = make_account();
  auto id = "mp-" + random_hex(16);
  deliver(acct, "INBOX", id);
  auto r = find_test_messages(tls(), creds(acct), {id}, {}, cfg_);
  ASSERT_TRUE(r) << render(r.error());
  ASSERT_EQ(r->size(), 1u);
  auto s = session::open(plain(), cfg_);
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->authenticate(creds(acct)));
  ASSERT_TRUE(s->examine("INBOX"));
  auto unseen = s->uid_search("UNSEEN");
  ASSERT_TRUE(unseen);
  ASSERT_EQ(unseen->size(), 1u);
  EXPECT_EQ(std::to_string(unseen->front()), r->front().provider_id);
  auto seen = s->uid_search("SEEN");
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->empty());
}

TEST_F(imap_dovecot, idle_sees_a_new_delivery) {
  auto acct = make_account();
  auto s = session::open(plain(), cfg_);
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->authenticate(creds(acct)));
  auto st = s->examine("INBOX");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->exists, 0u);
  // Nothing arrives: IDLE returns after the wait without an error.
  auto t0 = std::chrono::steady_clock::now();
  auto quiet = s->idle(300ms);
  ASSERT_TRUE(quiet) << render(quiet.error());
  EXPECT_FALSE(*quiet);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  std::thread later{[&] {
    std::this_thread::sleep_for(300ms);
    deliver(acct, "INBOX", "mp-" + random_hex(16));
  }};
  auto news = s->idle(20s);
  later.join();
  ASSERT_TRUE(news) << render(news.error());
  ASSERT_TRUE(*news);
  EXPECT_EQ(**news, 1u);
  // The session is usable after IDLE.
  auto uids = s->uid_search("ALL");
  ASSERT_TRUE(uids);
  EXPECT_EQ(uids->size(), 1u);
}

TEST_F(imap_dovecot, pipelined_batch_answers_in_order) {
  auto acct = make_account();
  deliver(acct, "Junk", "mp-" + random_hex(16));
  auto s = session::open(plain(), cfg_);
  ASSERT_TRUE(s);
  std::vector<command> cmds{s->auth_command(creds(acct)),
                            {{"EXAMINE Junk"}, "EXAMINE"},
                            {{"UID SEARCH ALL"}, "UID SEARCH"},
                            {{"EXAMINE Missing"}, "EXAMINE"},
                            {{"NOOP"}, "NOOP"}};
  auto reps = s->run(cmds);
  ASSERT_TRUE(reps) << render(reps.error());
  ASSERT_EQ(reps->size(), 5u);
  EXPECT_TRUE((*reps)[0].ok());
  EXPECT_TRUE((*reps)[1].ok());
  EXPECT_TRUE((*reps)[2].ok());
  bool saw_search = false;
  for (const auto& u : (*reps)[2].untagged)
    saw_search = saw_search || (u.keyword == "SEARCH" && u.data.size() == 1);
  EXPECT_TRUE(saw_search);
  EXPECT_EQ((*reps)[3].done.state, status::no);
  EXPECT_TRUE((*reps)[4].ok());
}

// -- TLS session resumption ---------------------------------------------------

// The harness Dovecot runs two imap-login processes, each with its own ticket
// key: a ticket works when the connection reaches the process that issued it,
// about every second time. Every try offers one ticket (they are used once),
// so the loops below try until one resumes.

TEST_F(imap_dovecot, tls_session_resumes_on_a_later_connection) {
  connection::clear_tls_sessions();
  const tls_options opts{ca_, "", false, true};
  EXPECT_FALSE(open_and_close(tls(), cfg_));
  EXPECT_GE(connection::cached_tls_sessions(host_, imaps_port_, opts), 1u);
  auto acct = make_account();
  deliver(acct, "Junk", "mp-" + random_hex(16));
  auto before = connection::tls_stats();
  // Each imap-login process of Dovecot has its own ticket key, so a ticket
  // resumes only on the process that issued it; after tests that spread load
  // over many such processes, that may take many connections.
  bool resumed = false;
  for (int i = 0; i < 200 && !resumed; ++i) {
    auto s = session::open(tls(), cfg_);
    ASSERT_TRUE(s) << render(s.error());
    resumed = s->tls_session_reused();
    // Resumed or not, the session works.
    ASSERT_FALSE(s->authenticate(creds(acct)));
    ASSERT_TRUE(s->examine("Junk"));
    auto uids = s->uid_search("ALL");
    ASSERT_TRUE(uids);
    EXPECT_EQ(uids->size(), 1u);
  }
  EXPECT_TRUE(resumed);
  auto after = connection::tls_stats();
  EXPECT_GT(after.resumed, before.resumed);
  EXPECT_GE(after.offered - before.offered, after.resumed - before.resumed);
}

TEST_F(imap_dovecot, tls_session_is_not_offered_under_other_parameters) {
  connection::clear_tls_sessions();
  const tls_options opts{ca_, "", false, true};
  for (int i = 0; i < 3; ++i)
    open_and_close(tls(), cfg_);
  auto kept = connection::cached_tls_sessions(host_, imaps_port_, opts);
  ASSERT_GE(kept, 2u);
  // Another CA file: the handshake checks the certificate and fails (had a
  // session been offered, half of these would have resumed without a check).
  auto other = cfg_;
  other.ca_file = other_ca_;
  for (int i = 0; i < 4; ++i)
    expect_open_fails(tls(), other, ec::tls_failed);
  // Another server name that the certificate does not carry: refused too.
  auto wrong_name = tls();
  wrong_name.server_name = "imap.example.org";
  for (int i = 0; i < 4; ++i)
    expect_open_fails(wrong_name, cfg_, ec::tls_failed);
  // The same CA under another path, and a name the certificate does carry:
  // both verify afresh and resume nothing on their first connection.
  auto copy = std::filesystem::temp_directory_path()
              / ("mailpipe-ca-copy-" + random_hex(8) + ".crt");
  std::filesystem::copy_file(ca_, copy);
  auto copied = cfg_;
  copied.ca_file = copy.string();
  EXPECT_FALSE(open_and_close(tls(), copied));
  auto named = tls();
  named.server_name = "localhost";
  EXPECT_FALSE(open_and_close(named, cfg_));
  EXPECT_GE(connection::cached_tls_sessions(host_, imaps_port_,
                                            {copy.string(), "", false, true}),
            1u);
  EXPECT_GE(connection::cached_tls_sessions(host_, imaps_port_,
                                            {ca_, "localhost", false, true}),
            1u);
  std::filesystem::remove(copy);
  // Nothing was taken from the first endpoint's sessions.
  EXPECT_EQ(connection::cached_tls_sessions(host_, imaps_port_, opts), kept);
  // Another port is another endpoint: the plain port's STARTTLS starts
  // without a session.
  auto starttls = plain();
  starttls.mode = security::starttls;
  auto s = session::open(starttls, cfg_);
  ASSERT_TRUE(s) << render(s.error());
  EXPECT_FALSE(s->tls_session_reused());
  EXPECT_EQ(connection::cached_tls_sessions(host_, imaps_port_, opts), kept);
}

TEST_F(imap_dovecot, failed_or_unverified_handshake_keeps_no_session) {
  connection::clear_tls_sessions();
  auto other = cfg_;
  other.ca_file = other_ca_;
  expect_open_fails(tls(), other, ec::tls_failed);
  EXPECT_EQ(connection::cached_tls_sessions(host_, imaps_port_,
                                            {other_ca_, "", false, true}),
            0u);
  auto wrong_name = tls();
  wrong_name.server_name = "imap.example.org";
  expect_open_fails(wrong_name, cfg_, ec::tls_failed);
  EXPECT_EQ(connection::cached_tls_sessions(
                host_, imaps_port_, {ca_, "imap.example.org", false, true}),
            0u);
  // A connection that skips verification may not keep what it got either,
  // though the server sends it tickets (read with the greeting).
  auto deadline = clock::now() + 5s;
  auto conn = connection::open(host_, imaps_port_, deadline);
  ASSERT_TRUE(conn) << render(conn.error());
  ASSERT_FALSE(conn->start_tls(host_, {other_ca_, "", true, true}, deadline));
  char buf[512];
  auto n = conn->read_some(buf, sizeof(buf), deadline);
  ASSERT_TRUE(n) << render(n.error());
  EXPECT_EQ(std::string_view(buf, *n).substr(0, 4), "* OK");
  conn->close();
  EXPECT_EQ(connection::cached_tls_sessions(host_, imaps_port_,
                                            {other_ca_, "", false, true}),
            0u);
  EXPECT_EQ(connection::cached_tls_sessions(host_, imaps_port_,
                                            {other_ca_, "", true, true}),
            0u);
}

TEST_F(imap_dovecot, tls_session_resumption_can_be_turned_off) {
  connection::clear_tls_sessions();
  auto cfg = cfg_;
  cfg.tls_session_resumption = false;
  auto before = connection::tls_stats();
  for (int i = 0; i < 4; ++i)
    EXPECT_FALSE(open_and_close(tls(), cfg));
  EXPECT_EQ(connection::cached_tls_sessions(host_, imaps_port_,
                                            {ca_, "", false, true}),
            0u);
  auto after = connection::tls_stats();
  EXPECT_EQ(after.handshakes - before.handshakes, 4u);
  EXPECT_EQ(after.offered, before.offered);
}
