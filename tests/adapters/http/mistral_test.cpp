// The Mistral adapter's request (JSON mode, the body cut on a UTF-8 boundary)
// and its field-by-field check of the model's reply.

#include <gtest/gtest.h>
#include <simdjson.h>

#include "adapters/http/mistral.hpp"
#include "tests/support/http_stub.hpp"

using namespace mailpipe;

namespace {

std::string reply_with(const std::string& content) {
  return R"({"choices":[{"index":0,"message":{"role":"assistant","content":)"
         + test::json_quote(content) + R"(},"finish_reason":"stop"}]})";
}

const std::string good =
    R"({"summary":"Weekly digest.","topics":["ai","chips"],"language":"fr",)"
    R"("category":"technology","is_newsletter":false})";

} // namespace

TEST(mistral, asks_for_a_json_object_with_the_cut_body) {
  std::string body(mistral::max_body_bytes - 1, 'a');
  body += "\xC3\xA9tail"; // an é straddling the limit is left out whole
  auto req =
      mistral::request_body("mistral-small-latest", "Hello", "a@b.test", body);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(req).get(doc)) << "not JSON";
  std::string_view type, model, role, user;
  ASSERT_FALSE(doc["response_format"]["type"].get(type));
  EXPECT_EQ(type, "json_object");
  ASSERT_FALSE(doc["model"].get(model));
  EXPECT_EQ(model, "mistral-small-latest");
  ASSERT_FALSE(doc["messages"].at(0)["role"].get(role));
  EXPECT_EQ(role, "system");
  ASSERT_FALSE(doc["messages"].at(1)["content"].get(user));
  EXPECT_EQ(user.substr(0, 33), "Subject: Hello\nFrom: a@b.test\n\naa");
  EXPECT_EQ(user.back(), 'a');
  EXPECT_EQ(user.find("tail"), std::string_view::npos);
}

TEST(mistral, reads_a_reply_field_by_field) {
  auto a = mistral::parse_reply(reply_with(good));
  ASSERT_TRUE(a) << render(a.error());
  EXPECT_EQ(a->summary, "Weekly digest.");
  EXPECT_EQ(a->topics, (std::vector<std::string>{"ai", "chips"}));
  EXPECT_EQ(a->language, "fr");
  EXPECT_EQ(a->category, "technology");
  EXPECT_FALSE(a->is_newsletter);
  EXPECT_EQ(mistral::to_json(*a), good);
}

TEST(mistral, refuses_what_is_not_the_json_asked_for) {
  struct bad_case {
    std::string reply;
    std::string names;
  };
  auto with = [](std::string field_json) { return reply_with(field_json); };
  for (auto& bad : std::vector<bad_case>{
           {"not json", "body"},
           {R"({"choices":[]})", "choices[0].message.content"},
           {with("Here you go: {"), "content"},
           {with(R"({"topics":[],"language":"en","category":"news",)"
                 R"("is_newsletter":true})"),
            "summary"},
           {with(R"({"summary":"s","topics":[1],"language":"en",)"
                 R"("category":"news","is_newsletter":true})"),
            "topics"},
           {with(R"({"summary":"s","topics":[],"language":"english",)"
                 R"("category":"news","is_newsletter":true})"),
            "language"},
           {with(R"({"summary":"s","topics":[],"language":"en",)"
                 R"("category":"gossip","is_newsletter":true})"),
            "category"},
           {with(R"({"summary":"s","topics":[],"language":"en",)"
                 R"("category":"news","is_newsletter":"yes"})"),
            "is_newsletter"}}) {
    auto a = mistral::parse_reply(bad.reply);
    ASSERT_FALSE(a) << bad.reply;
    EXPECT_TRUE(is(a.error(), ec::parse_error)) << render(a.error());
    EXPECT_NE(render(a.error()).find("Mistral reply: " + bad.names),
              std::string::npos)
        << render(a.error());
  }
}
