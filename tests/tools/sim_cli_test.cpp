// toneguard-sim against the real daemon on loopback: calls set up over ng, both endpoints
// sending RTP at real time, keys typed in-band and as RFC 4733 events, the agent's side
// scanned for leaked keys; payments in both modes through the API and the sandbox gateway;
// bad options. Nothing the simulator prints may carry the card number, CVV or expiry it typed.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "support/loopback.h"
#include "support/run_command.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using toneguard::testing::daemon_process;

using sim_run = toneguard::testing::command_result;

sim_run run_sim(const std::string& args) {
  // `timeout` bounds a run that would hang; the sim's own limits end it well before.
  return toneguard::testing::run_command("timeout -s KILL 240 " + std::string(TONEGUARD_BIN_DIR) +
                                         "/toneguard-sim --no-progress " + args);
}

using toneguard::testing::listening_port;

// Every JSON string (values and keys) of `json`, one per line.
std::string strings_of(const std::string& json) {
  static const std::regex string_token(R"re("((?:[^"\\]|\\.)*)")re");
  std::string all;
  for (std::sregex_iterator it(json.begin(), json.end(), string_token), end; it != end; ++it) {
    all += (*it)[1].str() + "\n";
  }
  return all;
}

// The number at the first `"inner":N` after `"outer":{` (keys of the report are unique) or
// at `"outer":N` when `inner` is empty; -1 when absent. The report is one line of JSON.
long long number_at(const std::string& json, const std::string& outer,
                    const std::string& inner = "") {
  const std::regex at(inner.empty()
                          ? "\"" + outer + "\":(-?[0-9]+)"
                          : "\"" + outer + "\":\\{[\\s\\S]*?\"" + inner + "\":(-?[0-9]+)");
  std::smatch m;
  return std::regex_search(json, m, at) ? std::stoll(m[1].str()) : -1;
}

std::vector<std::string> daemon_args(int port_min) {
  return {"--listen-ng", "127.0.0.1:0",
          "--port-min",  std::to_string(port_min),
          "--port-max",  std::to_string(port_min + 99)};
}

TEST(sim_cli, bad_options_exit_2_with_a_message_naming_the_option) {
  const struct {
    std::string args;
    std::string named;
  } cases[] = {
      {"--no-payment --calls 0", "--calls"},
      {"--no-payment --digits morse", "--digits"},
      {"--no-payment --bogus", "--bogus"},
      {"--no-payment --ng localhost", "--ng"},
      {"--no-payment --gap-ms 250-120", "--gap-ms"},
      {"--calls 1", "--api"},
      {"--api http://127.0.0.1:1 --calls 1", "--token"},
      {"--no-payment --card 12ab", "--card"},
      {"--no-payment --speech /nonexistent-folder", "--speech"},
  };
  for (const auto& c : cases) {
    const sim_run r = run_sim(c.args);
    EXPECT_EQ(r.status, 2) << c.args;
    EXPECT_NE(r.err.find(c.named), std::string::npos) << c.args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
  const sim_run help = run_sim("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--digits"), std::string::npos);
}

TEST(sim_cli, blocked_keys_of_four_calls_never_reach_the_agent) {
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_GT(port_min, 0);
  daemon_process daemon(daemon_args(port_min));
  ASSERT_TRUE(daemon.wait_for_log("proto=ng", 5000ms)) << daemon.err();
  const int ng_port = listening_port(daemon.err(), "ng");
  ASSERT_GT(ng_port, 0);

  const sim_run r = run_sim("--ng 127.0.0.1:" + std::to_string(ng_port) +
                            " --no-payment --block-dtmf --calls 4 --duration 1 --digits both"
                            " --call-interval 20 --seed 7");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  const std::string& o = r.out;
  EXPECT_EQ(number_at(o, "calls", "finished"), 4) << o;
  EXPECT_EQ(number_at(o, "calls", "failed"), 0);
  EXPECT_EQ(number_at(o, "leaks", "count"), 0);
  EXPECT_GE(number_at(o, "leaks", "keys_typed"), 4 * 16);
  EXPECT_GT(number_at(o, "leaks", "key_groups_scanned"), 0);
  EXPECT_EQ(number_at(o, "rfc4733_leaked", "events"), 0);
  EXPECT_EQ(number_at(o, "rfc4733_leaked", "packets"), 0);
  EXPECT_GT(number_at(o, "caller_to_agent", "received"), 0);
  for (const char* field :
       {"\"added_latency_ms\":{", "\"transit_ms\":{", "\"audio_delay_ms\":{", "\"cpu_seconds\":{",
        "\"payments\":{", "\"per_call\":[", "\"p50\":", "\"p99\":", "\"max\":"}) {
    EXPECT_NE(o.find(field), std::string::npos) << field;
  }
  EXPECT_TRUE(std::regex_search(
      o,
      std::regex(
          R"("transit_ms":\{"samples":[1-9][0-9]*,"p50":[0-9.]+,"p99":[0-9.]+,"max":[0-9.]+\})")))
      << o;
  EXPECT_EQ(number_at(o, "per_call", ""), -1);  // an array, not a number
  EXPECT_NE(o.find("\"passed\":true"), std::string::npos);
}

TEST(sim_cli, without_masking_the_scan_finds_the_keys_and_the_run_fails) {
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_GT(port_min, 0);
  daemon_process daemon(daemon_args(port_min));
  ASSERT_TRUE(daemon.wait_for_log("proto=ng", 5000ms)) << daemon.err();
  const int ng_port = listening_port(daemon.err(), "ng");
  ASSERT_GT(ng_port, 0);
  const sim_run r = run_sim("--ng 127.0.0.1:" + std::to_string(ng_port) +
                            " --no-payment --calls 1 --duration 0 --digits inband --speech none");
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_GT(number_at(r.out, "leaks", "count"), 0) << r.out;
  EXPECT_EQ(number_at(r.out, "calls", "finished"), 1);
}

TEST(sim_cli, payments_in_both_modes_succeed_and_no_card_data_is_printed) {
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_GT(port_min, 0);
  const fs::path tokens =
      fs::temp_directory_path() / ("tg_sim_tokens_" + std::to_string(::getpid()));
  const std::string token = "sim-test-token-0123456789abcdef";
  std::ofstream(tokens) << token << "\n";
  std::vector<std::string> args = daemon_args(port_min);
  args.insert(args.end(), {"--api-listen", "127.0.0.1:0", "--api-token-file", tokens.string(),
                           "--prompts", TONEGUARD_PROMPTS_DIR});
  daemon_process daemon(args);
  const bool api = daemon.wait_for_log("proto=api", 5000ms);
  fs::remove(tokens);
  if (!api) GTEST_SKIP() << "this daemon does not serve the payment API yet: " << daemon.err();
  const int ng_port = listening_port(daemon.err(), "ng");
  const int api_port = listening_port(daemon.err(), "api");
  ASSERT_GT(ng_port, 0);
  ASSERT_GT(api_port, 0);

  const fs::path token_file =
      fs::temp_directory_path() / ("tg_sim_token_" + std::to_string(::getpid()));
  std::ofstream(token_file) << token << "\n";
  const sim_run r =
      run_sim("--ng 127.0.0.1:" + std::to_string(ng_port) + " --api http://127.0.0.1:" +
              std::to_string(api_port) + " --token-file " + token_file.string() +
              " --calls 2 --mode both --duration 0.5 --digits inband --card 4111111111111111"
              " --cvv 987 --payment-timeout 150");
  fs::remove(token_file);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  const std::string& report = r.out;
  EXPECT_EQ(number_at(report, "by_outcome", "success"), 2) << report;
  EXPECT_EQ(number_at(report, "by_mode", "automated"), 1);
  EXPECT_EQ(number_at(report, "by_mode", "agent-assisted"), 1);
  EXPECT_EQ(number_at(report, "leaks", "count"), 0);
  EXPECT_EQ(number_at(report, "rfc4733_leaked", "events"), 0);

  // The expiry the sim types: this month, two years ahead.
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  char mm[16];
  char yy[16];
  std::snprintf(mm, sizeof mm, "%02d", local.tm_mon + 1);
  std::snprintf(yy, sizeof yy, "%02d", (local.tm_year + 1900 + 2) % 100);
  const std::string expiry = std::string(mm) + yy;
  // The card number anywhere; the short values in the text the sim prints (stderr, and every
  // string and key of the report), where a count such as "sent":1128 cannot pass for one.
  EXPECT_EQ((r.out + r.err).find("4111111111111111"), std::string::npos);
  const std::string text = r.err + strings_of(report);
  for (const std::string& secret :
       {std::string("987"), expiry, std::string(mm) + "/" + yy, std::string(mm) + "/20" + yy}) {
    EXPECT_FALSE(std::regex_search(text, std::regex("(^|[^0-9])" + secret + "($|[^0-9])")))
        << "printed: " << secret;
  }
  EXPECT_NE(text.find("1111"), std::string::npos);  // the last four, masked, are fine
}

}  // namespace
