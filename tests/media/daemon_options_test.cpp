// The daemon's options: defaults, every option on the command line and in TOML and YAML config
// files, command line over config, and rejections that name the option or key.

#include "toneguard/media/daemon_options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

namespace toneguard::media {
namespace {

namespace fs = std::filesystem;

result<daemon_options> parse(std::initializer_list<std::string> args) {
  std::vector<std::string> storage{"toneguard"};
  storage.insert(storage.end(), args);
  std::vector<const char*> argv;
  for (const auto& s : storage) argv.push_back(s.c_str());
  return parse_daemon_options(static_cast<int>(argv.size()), argv.data());
}

std::string rejection(std::initializer_list<std::string> args) {
  auto r = parse(args);
  EXPECT_FALSE(r.ok());
  return r.ok() ? std::string() : r.error_message();
}

result<daemon_options> toml(std::string_view text) {
  return parse_daemon_config_text(text, config_format::toml, "test.toml", daemon_options{});
}

result<daemon_options> yaml(std::string_view text) {
  return parse_daemon_config_text(text, config_format::yaml, "test.yaml", daemon_options{});
}

class daemon_options_files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tg_options_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

TEST(daemon_options, defaults_run_on_loopback) {
  auto r = parse({});
  ASSERT_TRUE(r.ok()) << r.error_message();
  const auto& o = r.value();
  EXPECT_EQ(o.interfaces, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(o.listen_ng, (ip_endpoint{"127.0.0.1", 2223}));
  EXPECT_EQ(o.port_min, 30000);
  EXPECT_EQ(o.port_max, 39999);
  EXPECT_EQ(o.level, log_level::info);
  EXPECT_EQ(o.num_threads, std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_TRUE(o.config_file.empty());
  EXPECT_FALSE(o.help);
}

TEST(daemon_options, every_option_on_the_command_line) {
  auto r = parse({"--interface", "10.0.0.1", "--interface=::1", "--listen-ng", "[::1]:5000",
                  "--port-min", "20000", "--port-max=20100", "--log-level", "debug",
                  "--num-threads", "3"});
  ASSERT_TRUE(r.ok()) << r.error_message();
  const auto& o = r.value();
  EXPECT_EQ(o.interfaces, (std::vector<std::string>{"10.0.0.1", "::1"}));
  EXPECT_EQ(o.listen_ng, (ip_endpoint{"::1", 5000}));
  EXPECT_EQ(o.port_min, 20000);
  EXPECT_EQ(o.port_max, 20100);
  EXPECT_EQ(o.level, log_level::debug);
  EXPECT_EQ(o.num_threads, 3u);
}

TEST(daemon_options, payment_service_options) {
  const auto defaults = parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.value().api_listen, (ip_endpoint{"127.0.0.1", 2280}));
  EXPECT_TRUE(defaults.value().api_token_file.empty());
  EXPECT_TRUE(defaults.value().report_db.empty());

  const auto o =
      parse({"--api-listen", "[::1]:8443", "--api-token-file", "/etc/t", "--api-tls-cert", "c.pem",
             "--api-tls-key", "k.pem", "--payment-config", "p.toml", "--prompts", "/p/en",
             "--report-db", "r.db", "--node-name", "node-2", "--callback-secret-file", "s"});
  ASSERT_TRUE(o.ok()) << o.error_message();
  EXPECT_EQ(o.value().api_listen, (ip_endpoint{"::1", 8443}));
  EXPECT_EQ(o.value().api_token_file, "/etc/t");
  EXPECT_EQ(o.value().api_tls_cert, "c.pem");
  EXPECT_EQ(o.value().api_tls_key, "k.pem");
  EXPECT_EQ(o.value().payment_config_file, "p.toml");
  EXPECT_EQ(o.value().prompts_dir, "/p/en");
  EXPECT_EQ(o.value().report_db, "r.db");
  EXPECT_EQ(o.value().node_name, "node-2");
  EXPECT_EQ(o.value().callback_secret_file, "s");

  const auto bad = parse({"--api-listen", "localhost:80"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error_message().find("--api-listen"), std::string::npos) << bad.error_message();
  EXPECT_FALSE(parse({"--report-db", ""}).ok());
}

TEST(daemon_options, a_toml_payment_table_is_left_to_the_payment_config) {
  const auto o =
      parse_daemon_config_text("listen-ng = \"127.0.0.1:2999\"\n[payment]\nmax-declines = 2\n",
                               config_format::toml, "t.toml", default_daemon_options());
  ASSERT_TRUE(o.ok()) << o.error_message();
  EXPECT_TRUE(o.value().payment_in_config_file);
  EXPECT_EQ(o.value().listen_ng.port, 2999);
  // Any other table is still an unknown key.
  EXPECT_FALSE(parse_daemon_config_text("[api]\nx = 1\n", config_format::toml, "t.toml",
                                        default_daemon_options())
                   .ok());
}

TEST(daemon_options, help_is_a_flag) {
  auto r = parse({"--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().help);
  const std::string usage = daemon_usage();
  for (const char* name : {"--config-file", "--interface", "--listen-ng", "--port-min",
                           "--port-max", "--log-level", "--num-threads", "--help"})
    EXPECT_NE(usage.find(name), std::string::npos) << name;
}

TEST(daemon_options, log_level_takes_names_and_syslog_numbers) {
  EXPECT_EQ(parse({"--log-level", "error"}).value().level, log_level::error);
  EXPECT_EQ(parse({"--log-level", "warn"}).value().level, log_level::warn);
  EXPECT_EQ(parse({"--log-level", "info"}).value().level, log_level::info);
  EXPECT_EQ(parse({"--log-level", "3"}).value().level, log_level::error);
  EXPECT_EQ(parse({"--log-level", "4"}).value().level, log_level::warn);
  EXPECT_EQ(parse({"--log-level", "6"}).value().level, log_level::info);
  EXPECT_EQ(parse({"--log-level", "7"}).value().level, log_level::debug);
  EXPECT_NE(rejection({"--log-level", "8"}).find("--log-level"), std::string::npos);
  EXPECT_NE(rejection({"--log-level", "loud"}).find("'loud'"), std::string::npos);
}

TEST(daemon_options, listen_ng_accepts_ipv4_and_bracketed_ipv6) {
  EXPECT_EQ(parse({"--listen-ng", "127.0.0.1:0"}).value().listen_ng, (ip_endpoint{"127.0.0.1", 0}));
  EXPECT_EQ(parse({"--listen-ng", "[::]:2223"}).value().listen_ng, (ip_endpoint{"::", 2223}));
  EXPECT_EQ(parse({"--listen-ng", "[fe80::1]:65535"}).value().listen_ng,
            (ip_endpoint{"fe80::1", 65535}));
  for (const char* bad : {"::1:2223", "127.0.0.1", "[::1]", "[::1]2223", "127.0.0.1:65536",
                          "localhost:2223", "127.0.0.1:x", "[127.0.0.1]:1", ":2223"}) {
    EXPECT_NE(rejection({"--listen-ng", bad}).find("--listen-ng"), std::string::npos) << bad;
  }
}

TEST(daemon_options, interface_takes_ipv4_and_ipv6_literals) {
  auto r = parse({"--interface", "192.0.2.7", "--interface", "2001:db8::5"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().interfaces, (std::vector<std::string>{"192.0.2.7", "2001:db8::5"}));
  const auto message = rejection({"--interface", "eth0"});
  EXPECT_NE(message.find("--interface"), std::string::npos);
  EXPECT_NE(message.find("'eth0'"), std::string::npos);
  EXPECT_NE(rejection({"--interface", "[::1]"}).find("--interface"), std::string::npos);
}

TEST(daemon_options, addresses_with_embedded_nul_are_rejected) {
  using namespace std::string_literals;
  EXPECT_FALSE(is_ip_literal("::1\0junk"s));
  EXPECT_FALSE(parse_ip_endpoint("[::1\0]:2223"s).ok());
  EXPECT_FALSE(parse_ip_endpoint("127.0.0.1\0:2223"s).ok());
  EXPECT_FALSE(yaml("listen-ng: \"[::1\\0]:2223\"").ok());
  EXPECT_FALSE(toml("interface = \"127.0.0.1\\u0000\"").ok());
}

TEST(daemon_options, port_range_is_checked) {
  EXPECT_NE(rejection({"--port-min", "1023"}).find("--port-min"), std::string::npos);
  EXPECT_NE(rejection({"--port-max", "65536"}).find("--port-max"), std::string::npos);
  EXPECT_NE(rejection({"--port-min", "-5"}).find("--port-min"), std::string::npos);
  const auto inverted = rejection({"--port-min", "40000", "--port-max", "30000"});
  EXPECT_NE(inverted.find("--port-min"), std::string::npos);
  EXPECT_NE(inverted.find("--port-max"), std::string::npos);
  EXPECT_TRUE(parse({"--port-min", "30000", "--port-max", "30000"}).ok());
}

TEST(daemon_options, num_threads_is_checked) {
  EXPECT_NE(rejection({"--num-threads", "0"}).find("--num-threads"), std::string::npos);
  EXPECT_NE(rejection({"--num-threads", "many"}).find("--num-threads"), std::string::npos);
  EXPECT_NE(rejection({"--num-threads", "2x"}).find("--num-threads"), std::string::npos);
}

TEST(daemon_options, io_backend_and_coalescing_are_checked) {
  EXPECT_EQ(parse({}).value().io_backend, relay_backend::automatic);
  EXPECT_EQ(parse({}).value().io_coalesce_us, default_coalesce_us);
  const auto epoll = parse({"--io-backend", "epoll", "--io-coalesce-us", "0"});
  ASSERT_TRUE(epoll.ok());
  EXPECT_EQ(epoll.value().io_backend, relay_backend::epoll);
  EXPECT_EQ(epoll.value().io_coalesce_us, 0);
  EXPECT_EQ(parse({"--io-backend=io_uring"}).value().io_backend, relay_backend::io_uring);
  const auto bad = rejection({"--io-backend", "poll"});
  EXPECT_NE(bad.find("--io-backend"), std::string::npos) << bad;
  EXPECT_NE(bad.find("'poll'"), std::string::npos) << bad;
  EXPECT_NE(rejection({"--io-coalesce-us", "5001"}).find("--io-coalesce-us"), std::string::npos);
  EXPECT_NE(rejection({"--io-coalesce-us", "-1"}).find("--io-coalesce-us"), std::string::npos);
}

TEST(daemon_options, unknown_option_is_named) {
  const auto message = rejection({"--bogus"});
  EXPECT_NE(message.find("'--bogus'"), std::string::npos) << message;
  const auto typo = rejection({"--listen_ng", "127.0.0.1:1"});
  EXPECT_NE(typo.find("did you mean '--listen-ng'"), std::string::npos) << typo;
  EXPECT_NE(rejection({"stray"}).find("'stray'"), std::string::npos);
  EXPECT_NE(rejection({"-i", "127.0.0.1"}).find("'-i'"), std::string::npos);
}

TEST(daemon_options, missing_value_is_named) {
  EXPECT_NE(rejection({"--port-min"}).find("--port-min: missing value"), std::string::npos);
  EXPECT_NE(rejection({"--help=yes"}).find("--help"), std::string::npos);
}

TEST(daemon_options, toml_config_sets_every_option) {
  auto r = toml(R"(
interface = ["127.0.0.1", "::1"]
listen-ng = "[::1]:2300"
port-min = 31000
port-max = 31999
log-level = "warn"
num-threads = 2
)");
  ASSERT_TRUE(r.ok()) << r.error_message();
  const auto& o = r.value();
  EXPECT_EQ(o.interfaces, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(o.listen_ng, (ip_endpoint{"::1", 2300}));
  EXPECT_EQ(o.port_min, 31000);
  EXPECT_EQ(o.port_max, 31999);
  EXPECT_EQ(o.level, log_level::warn);
  EXPECT_EQ(o.num_threads, 2u);
  EXPECT_EQ(toml("interface = \"10.1.1.1\"").value().interfaces,
            std::vector<std::string>{"10.1.1.1"});
  EXPECT_EQ(toml("log-level = 7").value().level, log_level::debug);
}

TEST(daemon_options, yaml_config_sets_every_option) {
  auto r = yaml(R"(
interface:
  - 127.0.0.1
  - "::1"
listen-ng: "127.0.0.2:2400"
port-min: 32000
port-max: 32999
log-level: 4
num-threads: 5
)");
  ASSERT_TRUE(r.ok()) << r.error_message();
  const auto& o = r.value();
  EXPECT_EQ(o.interfaces, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(o.listen_ng, (ip_endpoint{"127.0.0.2", 2400}));
  EXPECT_EQ(o.port_min, 32000);
  EXPECT_EQ(o.port_max, 32999);
  EXPECT_EQ(o.level, log_level::warn);
  EXPECT_EQ(o.num_threads, 5u);
  EXPECT_TRUE(yaml("").ok());
  EXPECT_TRUE(yaml("# only a comment\n").ok());
}

TEST(daemon_options, config_rejections_name_the_key) {
  const auto unknown = toml("listen_ng = \"127.0.0.1:1\"");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error_message(),
            "config test.toml: unknown key 'listen_ng' (did you mean 'listen-ng'?)");

  const auto wrong_type = toml("port-min = \"30000\"");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.error_message().find("key 'port-min'"), std::string::npos);
  EXPECT_NE(wrong_type.error_message().find("expected an integer"), std::string::npos);

  for (const char* text :
       {"interface = [1, 2]", "interface = 5", "listen-ng = 2223", "num-threads = 1.5",
        "log-level = true", "port-max = 70000", "[listen-ng]\nport = 1"}) {
    const auto r = toml(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error_message().find("config test.toml: key '"), std::string::npos)
        << r.error_message();
  }
  EXPECT_NE(toml("config-file = \"x.toml\"").error_message().find("only allowed on the command"),
            std::string::npos);
  const auto syntax = toml("listen-ng = ");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.error_message().find("config test.toml: line 1"), std::string::npos)
      << syntax.error_message();
  EXPECT_FALSE(toml("port-min = 30000\nport-min = 30002").ok());

  for (const char* text : {"bogus: 1", "port-min: abc", "interface: {a: 1}",
                           "listen-ng:", "port-min: 30000\nport-min: 30002"}) {
    const auto r = yaml(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error_message().find("config test.yaml: "), std::string::npos);
  }
  EXPECT_NE(yaml("bogus: 1").error_message().find("unknown key 'bogus'"), std::string::npos);
  EXPECT_NE(yaml("- a\n- b").error_message().find("mapping"), std::string::npos);
  EXPECT_NE(yaml("a: [1").error_message().find("line"), std::string::npos);
}

TEST_F(daemon_options_files, config_file_by_extension_and_command_line_overrides_it) {
  const auto toml_path = write("a.toml",
                               "listen-ng = \"127.0.0.1:2500\"\nport-min = 31000\n"
                               "interface = [\"127.0.0.3\"]\nlog-level = \"error\"\n");
  auto r = parse({"--config-file", toml_path, "--port-min", "31002", "--interface", "::1"});
  ASSERT_TRUE(r.ok()) << r.error_message();
  EXPECT_EQ(r.value().config_file, toml_path);
  EXPECT_EQ(r.value().listen_ng, (ip_endpoint{"127.0.0.1", 2500}));
  EXPECT_EQ(r.value().port_min, 31002);
  EXPECT_EQ(r.value().interfaces, std::vector<std::string>{"::1"});
  EXPECT_EQ(r.value().level, log_level::error);

  // The config file applies before the command line wherever --config-file appears.
  const auto yml_path = write("b.yml", "log-level: debug\nnum-threads: 7\n");
  auto y = parse({"--num-threads", "2", "--config-file=" + yml_path});
  ASSERT_TRUE(y.ok()) << y.error_message();
  EXPECT_EQ(y.value().level, log_level::debug);
  EXPECT_EQ(y.value().num_threads, 2u);

  EXPECT_TRUE(parse({"--config-file", write("c.yaml", "port-max: 39000\n")}).ok());
}

TEST_F(daemon_options_files, config_file_problems_are_named) {
  const auto bad = write("bad.toml", "listen_ng = \"127.0.0.1:1\"\n");
  const auto message = rejection({"--config-file", bad});
  EXPECT_NE(message.find("config " + bad), std::string::npos) << message;
  EXPECT_NE(message.find("'listen_ng'"), std::string::npos) << message;

  EXPECT_NE(rejection({"--config-file", write("x.ini", "")}).find("extension"), std::string::npos);
  EXPECT_NE(rejection({"--config-file", (dir_ / "missing.toml").string()}).find("cannot open"),
            std::string::npos);
  // The range is checked after the file and the command line are merged.
  const auto range = write("range.toml", "port-min = 35000\n");
  EXPECT_NE(rejection({"--config-file", range, "--port-max", "34000"}).find("--port-max"),
            std::string::npos);
}

TEST(daemon_options, media_policy_options_on_the_command_line) {
  const auto defaults = parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.value().timeout_s, 60);
  EXPECT_EQ(defaults.value().final_timeout_s, 0);
  EXPECT_EQ(defaults.value().delay_buffer_ms, 15);
  EXPECT_EQ(defaults.value().dtmf_security, "silence");
  EXPECT_FALSE(defaults.value().mask_all_calls);
  EXPECT_FALSE(defaults.value().detect_agent_dtmf);
  EXPECT_FALSE(defaults.value().strict_source);

  const auto o =
      parse({"--timeout", "30", "--final-timeout=7200", "--delay-buffer", "20", "--dtmf-security",
             "random", "--mask-all-calls", "--detect-agent-dtmf=yes", "--strict-source=no"});
  ASSERT_TRUE(o.ok()) << o.error_message();
  EXPECT_EQ(o.value().timeout_s, 30);
  EXPECT_EQ(o.value().final_timeout_s, 7200);
  EXPECT_EQ(o.value().delay_buffer_ms, 20);
  EXPECT_EQ(o.value().dtmf_security, "random");
  EXPECT_TRUE(o.value().mask_all_calls);
  EXPECT_TRUE(o.value().detect_agent_dtmf);
  EXPECT_FALSE(o.value().strict_source);
}

TEST(daemon_options, a_look_ahead_at_which_keys_leak_is_refused) {
  EXPECT_NE(rejection({"--delay-buffer", "5"}).find("--delay-buffer"), std::string::npos);
  EXPECT_NE(rejection({"--delay-buffer", "5"}).find("10..200"), std::string::npos);
  EXPECT_NE(rejection({"--dtmf-security", "loud"}).find("'loud'"), std::string::npos);
  EXPECT_NE(rejection({"--timeout", "-1"}).find("--timeout"), std::string::npos);
  EXPECT_NE(rejection({"--mask-all-calls=perhaps"}).find("yes or no"), std::string::npos);
}

TEST(daemon_options, media_policy_options_in_config_files) {
  const auto t = toml(
      "timeout = 10\ndelay-buffer = 12\ndtmf-security = \"tone\"\nmask-all-calls = true\n"
      "strict-source = true\n");
  ASSERT_TRUE(t.ok()) << t.error_message();
  EXPECT_EQ(t.value().timeout_s, 10);
  EXPECT_EQ(t.value().delay_buffer_ms, 12);
  EXPECT_EQ(t.value().dtmf_security, "tone");
  EXPECT_TRUE(t.value().mask_all_calls);
  EXPECT_TRUE(t.value().strict_source);
  const auto y = yaml("detect-agent-dtmf: yes\nfinal-timeout: 60\n");
  ASSERT_TRUE(y.ok()) << y.error_message();
  EXPECT_TRUE(y.value().detect_agent_dtmf);
  EXPECT_EQ(y.value().final_timeout_s, 60);
  const auto wrong = toml("mask-all-calls = \"yes\"\n");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error_message().find("expected a boolean"), std::string::npos)
      << wrong.error_message();
}

}  // namespace
}  // namespace toneguard::media
