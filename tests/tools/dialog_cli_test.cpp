// Complete payment dialogs through toneguard-dialog: the real dialog, the real gateway client and
// the embedded sandbox gateway over HTTPS on loopback, a scripted caller. Every line the program
// prints (actions, masked progress, the result, its log on stderr) is scanned for the card
// numbers, expiry dates, security codes and PINs the caller typed: none may appear.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "support/run_command.h"

namespace toneguard {
namespace {

namespace fs = std::filesystem;

struct dialog_run : toneguard::testing::command_result {
  /// The value of "key":"..." or "key":N in the finish_payment line.
  [[nodiscard]] std::string result_field(const std::string& key) const {
    const auto finish = out.find("\"action\":\"finish_payment\"");
    if (finish == std::string::npos) return "(no result)";
    const std::string line = out.substr(finish, out.find('\n', finish) - finish);
    const std::regex field("\"" + key + "\":(\"([^\"]*)\"|(-?[0-9]+))");
    std::smatch m;
    if (!std::regex_search(line, m, field)) return "(absent)";
    return m[2].matched ? m[2].str() : m[3].str();
  }
};

// Every card value the tests type; none may be printed.
const std::vector<std::string>& secrets() {
  static const std::vector<std::string> all{
      "4111111111111111", "378282246310005", "4000000000000002", "4000000000009995",
      "4000000000005001", "5555555555554444",
      // expiry dates as typed and as they could be written
      "1230", "12/30", "12/2030", "2030-12", "0731", "07/31", "07/2031", "2031-07",
      // security codes and the PIN
      "987", "4321", "1234"};
  return all;
}

dialog_run run_dialog(const std::string& args) {
  return {toneguard::testing::run_command(std::string(TONEGUARD_BIN_DIR) +
                                          "/toneguard-dialog --today 2026-11-24 " + args)};
}

// The secrets found in `text`: each where it stands alone, not inside a longer run of digits.
std::vector<std::string> card_data_in(const std::string& text) {
  std::vector<std::string> found;
  for (const std::string& secret : secrets()) {
    if (std::regex_search(text, std::regex("(^|[^0-9])" + secret + "($|[^0-9])"))) {
      found.push_back(secret);
    }
  }
  return found;
}

void expect_no_card_data(const dialog_run& r) {
  EXPECT_TRUE(card_data_in(r.out).empty()) << "card data on stdout";
  EXPECT_TRUE(card_data_in(r.err).empty()) << "card data on stderr";
}

TEST(dialog_cli, the_card_data_scan_finds_what_it_looks_for) {
  EXPECT_EQ(card_data_in("{\"pan\":\"4111111111111111\"}"),
            std::vector<std::string>{"4111111111111111"});
  EXPECT_EQ(card_data_in("expiry 12/30 cvv 987"), (std::vector<std::string>{"12/30", "987"}));
  EXPECT_TRUE(card_data_in("t_ms 19870 last four 1111 ref 41111111111111112").empty());
}

TEST(dialog_cli, an_automated_visa_payment_succeeds_with_its_reference_and_last_four) {
  const dialog_run r =
      run_dialog("--amount 19.99 --payment-id visa-1 --keys 4111111111111111#,1,1230,1,987");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "success") << r.out;
  EXPECT_EQ(r.result_field("brand"), "visa");
  EXPECT_EQ(r.result_field("last_four"), "1111");
  EXPECT_EQ(r.result_field("amount"), "19.99");
  EXPECT_EQ(r.result_field("transaction_id"), "visa-1-1");
  EXPECT_NE(r.result_field("transaction_reference"), "");
  expect_no_card_data(r);
}

TEST(dialog_cli, an_amex_card_completes_at_15_digits_and_takes_a_4_digit_code) {
  const dialog_run r =
      run_dialog("--amount 250 --mode agent-assisted --keys 378282246310005,1,0731,1,4321");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "success") << r.out;
  EXPECT_EQ(r.result_field("brand"), "amex");
  EXPECT_NE(r.out.find("\"action\":\"return_to_agent\""), std::string::npos) << r.out;
  expect_no_card_data(r);
}

TEST(dialog_cli, a_declined_card_is_followed_by_another_card_in_a_new_attempt) {
  const dialog_run r = run_dialog(
      "--amount 10 --payment-id decl-1 --keys "
      "4000000000000002#,1,1230,1,987,5555555555554444#,1,1230,1,987");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "success") << r.out;
  EXPECT_EQ(r.result_field("declines"), "1");
  EXPECT_EQ(r.result_field("attempts"), "2");
  EXPECT_EQ(r.result_field("transaction_id"), "decl-1-2");
  EXPECT_EQ(r.result_field("brand"), "mastercard");
  expect_no_card_data(r);
}

TEST(dialog_cli, declines_up_to_the_maximum_end_the_payment) {
  std::string keys;
  for (int i = 0; i < 3; ++i) keys += std::string(i ? "," : "") + "4000000000009995#,1,1230,1,987";
  const dialog_run r = run_dialog("--amount 10 --keys " + keys);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "too-many-failed-attempts") << r.out;
  EXPECT_EQ(r.result_field("declines"), "3");
  EXPECT_NE(r.out.find("\"action\":\"transfer_call\""), std::string::npos) << r.out;
  expect_no_card_data(r);
}

TEST(dialog_cli, a_gateway_server_error_ends_in_payment_connector_error) {
  const dialog_run r = run_dialog("--amount 10 --keys 4000000000005001#,1,1230,1,987");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "payment-connector-error") << r.out;
  expect_no_card_data(r);
}

TEST(dialog_cli, star_cancels_and_hang_up_ends_the_payment) {
  const dialog_run star = run_dialog("--amount 10 --keys 4111111111111111#,1,1230,1,*");
  ASSERT_EQ(star.status, 0) << star.err;
  EXPECT_EQ(star.result_field("outcome"), "caller-interrupted-with-star") << star.out;
  expect_no_card_data(star);
  const dialog_run hangup = run_dialog("--amount 10 --keys 4111111111111111#,hangup");
  ASSERT_EQ(hangup.status, 0) << hangup.err;
  EXPECT_EQ(hangup.result_field("outcome"), "caller-hung-up") << hangup.out;
  expect_no_card_data(hangup);
}

TEST(dialog_cli, an_unidentified_caller_is_verified_by_pin_and_pays_the_full_balance) {
  // Sandbox account 23456789 / PIN 2468 (no balance); 12345678 / 1234 has 125.50 USD.
  const dialog_run r =
      run_dialog("--unidentified --keys 12345678#,1234#,1,1,4111111111111111#,1,1230,1,987");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "success") << r.out;
  EXPECT_EQ(r.result_field("amount"), "125.50");
  EXPECT_EQ(r.result_field("customer_id"), "cust_12345678");
  expect_no_card_data(r);
}

TEST(dialog_cli, the_caller_enters_the_amount_with_star_as_decimal_point) {
  const dialog_run r = run_dialog("--keys 25*50#,1,4111111111111111#,1,1230,1,987");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "success") << r.out;
  EXPECT_EQ(r.result_field("amount"), "25.50");
  expect_no_card_data(r);
}

TEST(dialog_cli, silence_re_prompts_and_then_fails_the_field) {
  const dialog_run r = run_dialog("--amount 10 --keys -,-,-");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "too-many-failed-attempts") << r.out;
  EXPECT_EQ(r.result_field("failed_field"), "card-number");
}

TEST(dialog_cli, the_caller_hears_the_prompts_rendered_from_the_default_english_set) {
  const fs::path set = TONEGUARD_PROMPTS_DIR;
  if (!fs::exists(set / "manifest.tsv")) GTEST_SKIP() << "no default prompt set (espeak-ng)";
  const fs::path wav = fs::temp_directory_path() / "tg_dialog_caller.wav";
  const dialog_run r = run_dialog("--amount 19.99 --prompts " + set.string() + " --audio-out " +
                                  wav.string() + " --keys 4111111111111111#,1,1230,1,987");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "success") << r.out;
  // 8 kHz 16-bit mono: about 44 bytes of header, 16 bytes per ms. The dialog lasts as long as
  // its prompts and the caller's keys (see the last line's t_ms).
  const std::int64_t duration_ms = std::stoll(r.result_field("duration_ms"));
  EXPECT_GT(duration_ms, 20'000);
  EXPECT_NEAR(static_cast<double>(fs::file_size(wav)) / 16.0, static_cast<double>(duration_ms),
              2'000.0);
  fs::remove(wav);
  expect_no_card_data(r);
}

TEST(dialog_cli, a_configured_gateway_is_used_with_its_certificate_and_credentials) {
  // The standalone sandbox as if it were the merchant's gateway: its own certificate, trusted
  // through ca-file, and credentials other than the defaults.
  const fs::path dir = fs::temp_directory_path() / ("tg_dialog_gw_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string start = std::string(TONEGUARD_BIN_DIR) +
                            "/toneguard-sandbox-gateway --listen 127.0.0.1:0 --user merchant "
                            "--password s3cret --cert-out " +
                            (dir / "cert.pem").string() + " >" + (dir / "log").string() +
                            " 2>&1 & echo $!";
  FILE* pipe = ::popen(start.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char pid_text[32] = {};
  ASSERT_NE(std::fgets(pid_text, sizeof pid_text, pipe), nullptr);
  ::pclose(pipe);
  const pid_t sandbox = static_cast<pid_t>(std::stol(pid_text));
  std::string url;
  std::string text;
  for (int i = 0; i < 100 && url.empty(); ++i) {
    ::usleep(50'000);
    std::ifstream log(dir / "log");
    text.assign(std::istreambuf_iterator<char>(log), {});
    std::smatch m;
    if (std::regex_search(text, m, std::regex("listening on (https://[^ ]+/charge)"))) url = m[1];
  }
  ASSERT_FALSE(url.empty()) << "the sandbox did not start: " << text;
  std::ofstream(dir / "payment.toml")
      << "[payment]\n[payment.gateway]\nurl = \"" << url << "\"\nidentify-url = \""
      << url.substr(0, url.size() - 6) << "identify\"\n"
      << "username = \"merchant\"\npassword = \"s3cret\"\nca-file = \""
      << (dir / "cert.pem").string() << "\"\n";
  const dialog_run r = run_dialog("--config " + (dir / "payment.toml").string() +
                                  " --amount 5 --keys 4111111111111111#,1,1230,1,987");
  ::kill(sandbox, SIGTERM);
  for (int i = 0; i < 100 && ::kill(sandbox, 0) == 0; ++i) ::usleep(20'000);
  std::ifstream log(dir / "log");
  const std::string sandbox_log((std::istreambuf_iterator<char>(log)), {});
  fs::remove_all(dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.result_field("outcome"), "success") << r.out << r.err;
  EXPECT_NE(sandbox_log.find("1 charges"), std::string::npos) << sandbox_log;
  EXPECT_TRUE(card_data_in(sandbox_log).empty()) << "card data in the sandbox's log";
  expect_no_card_data(r);
}

TEST(dialog_cli, bad_options_and_configs_are_refused_with_exit_status_2) {
  EXPECT_EQ(run_dialog("--amount abc").status, 2);
  EXPECT_EQ(run_dialog("--keys 41x1").status, 2);
  EXPECT_EQ(run_dialog("--no-such-option 1").status, 2);
  const fs::path config = fs::temp_directory_path() / "tg_dialog_bad_config.toml";
  std::ofstream(config) << "[payment]\nmax-declines = 0\n";
  const dialog_run r = run_dialog("--config " + config.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("max-declines"), std::string::npos) << r.err;
  fs::remove(config);
}

}  // namespace
}  // namespace toneguard
