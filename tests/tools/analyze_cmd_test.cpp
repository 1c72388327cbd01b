// `mailpipe analyze` run as a child process: JSON fields scripts rely on, exit
// codes.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/support/env.hpp"

using namespace mailpipe::test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

} // namespace

TEST(analyze_cmd, prints_the_documented_json_fields) {
  auto file = source_path("tests/data/messages/outlook_m365_junk.eml");
  auto r =
      run_process({mailpipe_binary(), "analyze", file, "--provider", "outlook",
                   "--folder", "junkemail", "--labels", "other"});
  ASSERT_EQ(r.status, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  EXPECT_EQ(std::string_view{doc["placement"]}, "spam");
  EXPECT_EQ(std::string_view{doc["test_ids"].at(0)}, "mp-Z9y8X7w6V5u4");
  auto auth = doc["auth"];
  EXPECT_EQ(std::string_view{auth["spf"]["result"]}, "fail");
  EXPECT_EQ(std::string_view{auth["spf"]["domain"]}, "bank.example");
  EXPECT_EQ(std::string_view{auth["dkim"].at(0)["result"]}, "none");
  EXPECT_TRUE(auth["dkim"].at(0)["domain"].is_null());
  EXPECT_TRUE(auth["dkim"].at(0)["selector"].is_null());
  EXPECT_EQ(std::string_view{auth["dmarc"]["result"]}, "fail");
  EXPECT_TRUE(auth["dmarc"]["policy"].is_null());
  EXPECT_EQ(std::string_view{auth["dmarc"]["header_from"]}, "bank.example");
  EXPECT_TRUE(auth["arc"]["result"].is_null());
  EXPECT_EQ(std::string_view{auth["compauth"]["result"]}, "fail");
  EXPECT_EQ(std::string_view{auth["compauth"]["reason"]}, "000");
  auto first = auth["results"].at(0);
  EXPECT_EQ(std::string_view{first["header"]}, "Authentication-Results");
  EXPECT_EQ(std::string_view{first["authserv_id"]}, "");
  EXPECT_TRUE(bool{first["trusted"]});
  EXPECT_EQ(std::string_view{first["method"]}, "spf");
  EXPECT_EQ(std::string_view{first["result"]}, "fail");
  EXPECT_TRUE(first["reason"].is_null());
  EXPECT_EQ(std::string_view{first["properties"]["smtp.mailfrom"]},
            "bank.example");
  auto f = doc["filters"].at(0);
  EXPECT_EQ(std::string_view{f["name"]}, "Microsoft EOP");
  EXPECT_EQ(std::string_view{f["verdict"]}, "spam");
  EXPECT_EQ(double{f["score"]}, 5.0);
  EXPECT_EQ(double{f["threshold"]}, 5.0);
  EXPECT_EQ(std::string_view{f["rules"].at(0)}, "SCL:5");
  EXPECT_EQ(simdjson::dom::array{doc["defects"]}.size(), 0u);
  EXPECT_EQ(std::string_view{doc["location"]["focused"]}, "other");
}

TEST(analyze_cmd, reads_stdin_and_placement_is_null_without_location) {
  auto msg = slurp(source_path("tests/data/messages/gmail_promotions.eml"));
  auto r =
      run_process({mailpipe_binary(), "analyze", "-", "--compact"}, {}, msg);
  ASSERT_EQ(r.status, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  EXPECT_TRUE(doc["placement"].is_null());
  EXPECT_EQ(std::string_view{doc["auth"]["dkim"].at(1)["selector"]}, "smtpapi");
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1); // one line
}

TEST(analyze_cmd, unreadable_input_is_exit_1_with_a_clear_error) {
  auto r =
      run_process({mailpipe_binary(), "analyze", "/nonexistent/message.eml"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot open /nonexistent/message.eml"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty());
  auto dir = run_process({mailpipe_binary(), "analyze", "/"});
  EXPECT_EQ(dir.status, 1) << dir.err;
  auto empty = run_process({mailpipe_binary(), "analyze", "-"}, {}, "");
  EXPECT_EQ(empty.status, 1);
  EXPECT_NE(empty.err.find("empty"), std::string::npos);
}

TEST(analyze_cmd, usage_and_config_errors_are_exit_2) {
  auto file = source_path("tests/data/messages/gmail_promotions.eml");
  auto bad_provider =
      run_process({mailpipe_binary(), "analyze", file, "--provider", "aol"});
  EXPECT_EQ(bad_provider.status, 2);
  auto no_file = run_process({mailpipe_binary(), "analyze"});
  EXPECT_EQ(no_file.status, 2);
  auto cfg = ::testing::TempDir() + "mailpipe_analyze_bad.toml";
  {
    std::ofstream out{cfg};
    out << "[analysis]\nsignatures_file = \"/nonexistent/sig.toml\"\n";
  }
  auto bad_cfg =
      run_process({mailpipe_binary(), "--config", cfg, "analyze", file});
  EXPECT_EQ(bad_cfg.status, 2);
  EXPECT_NE(bad_cfg.err.find("/nonexistent/sig.toml"), std::string::npos)
      << bad_cfg.err;
  std::remove(cfg.c_str());
}

TEST(analyze_cmd, operator_signature_file_is_used_without_rebuilding) {
  auto dir = ::testing::TempDir();
  auto sig = dir + "mailpipe_sig_extra.toml";
  {
    std::ofstream out{sig};
    out << "[[filter]]\nname = \"Acme\"\ndetect = [\"X-Acme\"]\n";
  }
  auto cfg = dir + "mailpipe_analyze_sig.toml";
  {
    std::ofstream out{cfg};
    out << "[analysis]\nsignatures_file = \"" << sig << "\"\n";
  }
  auto r = run_process(
      {mailpipe_binary(), "--config", cfg, "analyze", "-", "--compact"}, {},
      "X-Acme: on\r\nSubject: x\r\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("{\"name\":\"Acme\",\"verdict\":\"scanned\""),
            std::string::npos)
      << r.out;
  std::remove(sig.c_str());
  std::remove(cfg.c_str());
}
