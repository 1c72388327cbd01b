// The IMAP session hints an account keeps in `sync_state.imap_hints`, so that a
// `process` started by cron makes one-round-trip passes too.

#include <gtest/gtest.h>

#include "actors/fetcher.hpp"

using namespace mailpipe;

namespace {

imap::session_hints learned() {
  imap::session_hints h;
  h.greeting_capabilities = std::make_shared<const imap::capability_list>(
      "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE AUTH=PLAIN");
  h.capabilities = std::make_shared<const imap::capability_list>(
      "IMAP4rev1 SASL-IR ID ENABLE IDLE SORT \"QUOTED\" UIDPLUS");
  h.junk_folder = "Junk";
  h.known = true;
  return h;
}

} // namespace

TEST(session_hints, round_trip_through_sync_state) {
  auto json = hints_json(learned());
  auto state = "{\"history_id\":\"42\",\"imap_hints\":" + json + "}";
  auto back = hints_of(state);
  ASSERT_TRUE(back.complete());
  EXPECT_EQ(back.greeting_capabilities->text(),
            learned().greeting_capabilities->text());
  EXPECT_EQ(back.capabilities->text(), learned().capabilities->text());
  EXPECT_TRUE(back.capabilities->has("uidplus"));
  EXPECT_EQ(back.junk_folder, "Junk");
  EXPECT_EQ(hints_json(back), json);
}

TEST(session_hints, none_or_malformed_give_empty_hints) {
  for (auto state : {"{}", "", "not json", "{\"imap_hints\":{}}",
                     "{\"imap_hints\":{\"greeting\":1,\"capabilities\":\"x\","
                     "\"junk\":\"\"}}",
                     "{\"imap_hints\":{\"greeting\":\"\",\"capabilities\":\"\","
                     "\"junk\":\"\"}}"})
    EXPECT_FALSE(hints_of(state).known) << state;
}

TEST(session_hints, a_server_without_a_junk_folder_is_kept_too) {
  auto h = learned();
  h.junk_folder = "";
  auto back = hints_of("{\"imap_hints\":" + hints_json(h) + "}");
  EXPECT_TRUE(back.complete());
  EXPECT_EQ(back.junk_folder, "");
}

TEST(session_hints, only_what_changed_is_written) {
  EXPECT_EQ(hints_json(imap::session_hints{}), "");
  auto json = hints_json(learned());
  EXPECT_EQ(hints_to_keep("{}", learned()), json);
  EXPECT_EQ(hints_to_keep("{\"imap_hints\":" + json + "}", learned()), "");
  auto moved = learned();
  moved.junk_folder = "Spam";
  EXPECT_EQ(hints_to_keep("{\"imap_hints\":" + json + "}", moved),
            hints_json(moved));
  // Incomplete hints (a failed first contact) never overwrite kept ones.
  EXPECT_EQ(
      hints_to_keep("{\"imap_hints\":" + json + "}", imap::session_hints{}),
      "");
}
