// Every message type survives CAF's serializer, alone and inside a caf::message (which also
// proves it is registered): a field missing from inspect() fails here.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>
#include <gtest/gtest.h>

#include "messages/fwd.hpp"
#include "tests/support/actor_system.hpp"

using namespace mailpipe;

namespace {

struct system_fixture : test::actor_system_fixture {
  template <class T>
  T round_trip(const T& x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto copy = x;
    if (auto err = sink(copy))
      ADD_FAILURE() << "serialize: " << sys.render(err);
    T y;
    caf::binary_deserializer source{sys, buf};
    if (auto err = source(y))
      ADD_FAILURE() << "deserialize: " << sys.render(err);
    EXPECT_EQ(source.remaining(), 0u);
    return y;
  }

  template <class T>
  T round_trip_message(const T& x) {
    auto msg = caf::make_message(x);
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    if (auto err = sink(msg))
      ADD_FAILURE() << "serialize message: " << sys.render(err);
    caf::message out;
    caf::binary_deserializer source{sys, buf};
    if (auto err = source(out))
      ADD_FAILURE() << "deserialize message: " << sys.render(err);
    if (!out.match_elements<T>()) {
      ADD_FAILURE() << "message lost its type: " << to_string(out);
      return T{};
    }
    return out.get_as<T>(0);
  }
};

found_message sample_found(std::string id) {
  found_message m;
  m.test_id = std::move(id);
  m.folder = "Junk";
  m.labels = {"\\Junk", "CATEGORY_PROMOTIONS"};
  m.header_block = "From: a@example.com\r\nSubject: hi\r\n\r\n";
  m.provider_id = "4711";
  return m;
}

} // namespace

TEST_F(system_fixture, account_round_trips) {
  account x{42, "seed@example.com", provider::outlook, false};
  EXPECT_EQ(round_trip(x), x);
  EXPECT_EQ(round_trip_message(x), x);
}

TEST_F(system_fixture, fetch_request_round_trips) {
  fetch_request x{"2f1c7d5e-0000-4000-8000-000000000001", 7, {"mp-a", "mp-b"}};
  EXPECT_EQ(round_trip(x), x);
  EXPECT_EQ(round_trip_message(x), x);
}

TEST_F(system_fixture, found_message_round_trips) {
  auto x = sample_found("mp-1");
  EXPECT_EQ(round_trip(x), x);
  EXPECT_EQ(round_trip_message(x), x);
}

TEST_F(system_fixture, fetch_result_round_trips) {
  fetch_result x{"run-1", 9, {sample_found("mp-1"), sample_found("mp-2")}};
  EXPECT_EQ(round_trip(x), x);
  EXPECT_EQ(round_trip_message(x), x);
}

TEST_F(system_fixture, account_failure_round_trips) {
  account_failure x{3, failure_class::rate_limited, "429 Too Many Requests", 2,
                    caf::make_timestamp()};
  auto y = round_trip(x);
  EXPECT_EQ(y, x);
  EXPECT_EQ(y.kind, failure_class::rate_limited);
  EXPECT_EQ(round_trip_message(x), x);
}

TEST_F(system_fixture, run_summary_round_trips) {
  run_summary x{"run-2",
                12,
                10,
                2,
                caf::make_timestamp(),
                caf::make_timestamp() + std::chrono::seconds{3}};
  EXPECT_EQ(round_trip(x), x);
  EXPECT_EQ(round_trip_message(x), x);
}

TEST_F(system_fixture, vector_of_accounts_is_registered) {
  std::vector<account> xs{{1, "a@x", provider::imap, true},
                          {2, "b@x", provider::gmail, true}};
  EXPECT_EQ(round_trip_message(xs), xs);
}

TEST_F(system_fixture, project_errors_render_with_context) {
  caf::error err = caf::make_error(ec::auth_failed, "LOGIN refused");
  EXPECT_EQ(render(err), "auth_failed: LOGIN refused");
  EXPECT_EQ(classify(err), failure_class::auth);
  EXPECT_TRUE(is(err, ec::auth_failed));
  EXPECT_EQ(round_trip(err), err);
  EXPECT_NE(sys.render(err).find("LOGIN refused"), std::string::npos);
}

TEST(error_classes, every_code_has_a_name_and_a_class) {
  for (int i = 0; i <= static_cast<int>(ec::shutting_down); ++i) {
    auto code = static_cast<ec>(i);
    EXPECT_EQ(to_string(code).find("ec("), std::string::npos) << i;
  }
  EXPECT_EQ(classify(ec::timeout), failure_class::timeout);
  EXPECT_EQ(classify(ec::tls_failed), failure_class::network);
  EXPECT_EQ(classify(ec::mailbox_not_found), failure_class::mailbox);
  EXPECT_EQ(classify(ec::quota_exceeded), failure_class::quota);
  EXPECT_EQ(classify(ec::parse_error), failure_class::parse);
  EXPECT_EQ(classify(ec::database_error), failure_class::other);
}

TEST(providers, names_parse_back) {
  for (auto p : {provider::imap, provider::gmail, provider::outlook}) {
    provider q;
    ASSERT_TRUE(from_string(to_string(p), q));
    EXPECT_EQ(p, q);
  }
  provider q;
  EXPECT_FALSE(from_string("aol", q));
}
