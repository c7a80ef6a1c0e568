#include "sim_report.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace toneguard::sim {
namespace {

constexpr double bin_ms = 0.01;
constexpr std::size_t bin_count = 200000;  // 2 s

double round3(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

boost::json::object latency_json(const latency_histogram& h) {
  boost::json::object o;
  o["samples"] = h.count();
  if (h.count() == 0) {
    o["p50"] = nullptr;
    o["p99"] = nullptr;
    o["max"] = nullptr;
  } else {
    o["p50"] = round3(h.quantile(0.5));
    o["p99"] = round3(h.quantile(0.99));
    o["max"] = round3(h.max());
  }
  return o;
}

// Boost.JSON writes doubles as "1.505E1"; the report is for people too: "15.05".
void write_json(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_: {
      char text[64];
      std::snprintf(text, sizeof text, "%.3f", v.get_double());
      std::string number = text;
      while (number.back() == '0') number.pop_back();
      if (number.back() == '.') number.pop_back();
      out += number == "-0" ? "0" : number;
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write_json(out, item);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(boost::json::string(key));
        out += ':';
        write_json(out, item);
      }
      out += '}';
      return;
    }
    default:
      out += boost::json::serialize(v);
  }
}

}  // namespace

latency_histogram::latency_histogram() : bins_(bin_count, 0) {}

void latency_histogram::add(double ms) noexcept {
  if (!(ms > 0.0)) ms = 0.0;
  const auto bin = std::min(static_cast<std::size_t>(ms / bin_ms), bin_count - 1);
  ++bins_[bin];
  ++count_;
  max_ = std::max(max_, ms);
}

double latency_histogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0.0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bins_.size(); ++i) {
    seen += bins_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      return std::min(static_cast<double>(i + 1) * bin_ms, max_);
    }
  }
  return max_;
}

second_bucket& sim_totals::bucket(std::chrono::steady_clock::time_point now) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(now - started).count();
  const auto index = static_cast<std::size_t>(std::max<std::int64_t>(s, 0));
  if (seconds.size() <= index) seconds.resize(index + 1);
  return seconds[index];
}

std::optional<double> process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields count from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  // After ')': state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

bool run_passed(const sim_options& options, const sim_totals& totals) {
  if (static_cast<int>(totals.calls.size()) < options.total_calls) return false;
  for (const call_record& c : totals.calls) {
    if (!c.finished || c.leaks > 0 || c.rfc4733_packets_leaked > 0 || !c.payment_as_expected) {
      return false;
    }
  }
  return true;
}

std::string report_json(const sim_options& options, const sim_totals& totals, const cpu_usage& cpu,
                        double wall_seconds) {
  namespace json = boost::json;
  json::object report;
  int finished = 0;
  std::map<std::string, int> outcomes;
  int payments = 0;
  int unexpected = 0;
  int declined_cards = 0;
  std::map<std::string, int> modes;
  json::object leaks_per_call;
  int leaks = 0;
  int keys = 0;
  int regions = 0;
  int unscanned = 0;
  std::uint64_t rfc_packets = 0;
  std::uint64_t rfc_events = 0;
  std::uint64_t caller_sent = 0;
  std::uint64_t agent_received = 0;
  std::uint64_t lost = 0;
  std::uint64_t agent_sent = 0;
  std::uint64_t caller_received = 0;
  latency_histogram delays;
  json::array calls;
  for (const call_record& c : totals.calls) {
    if (c.finished) ++finished;
    if (c.mode != "none") {
      ++payments;
      ++modes[c.mode];
      ++outcomes[c.outcome.value_or("none")];
      if (!c.payment_as_expected) ++unexpected;
      if (c.declined_card) ++declined_cards;
    }
    leaks += c.leaks;
    if (c.leaks > 0) leaks_per_call[c.call_id] = c.leaks;
    keys += c.keys_typed;
    regions += c.key_regions_scanned;
    unscanned += c.key_regions_unscanned;
    rfc_packets += c.rfc4733_packets_leaked;
    rfc_events += c.rfc4733_events_leaked;
    caller_sent += c.caller_sent;
    agent_received += c.agent_received;
    lost += c.lost;
    agent_sent += c.agent_sent;
    caller_received += c.caller_received;
    if (c.audio_delay_ms) delays.add(*c.audio_delay_ms);

    json::object call;
    call["call_id"] = c.call_id;
    call["finished"] = c.finished;
    call["mode"] = c.mode;
    call["outcome"] = c.outcome ? json::value(*c.outcome) : json::value(nullptr);
    if (c.mode != "none") {
      call["card"] = c.declined_card ? "declined test card" : "approved test card";
      call["as_expected"] = c.payment_as_expected;
      if (!c.brand.empty()) call["brand"] = c.brand;
      if (!c.last_four.empty()) call["card_masked"] = "•••• " + c.last_four;
    }
    if (!c.error.empty()) call["error"] = c.error;
    call["keys"] = c.keys_typed;
    call["leaks"] = c.leaks;
    call["rfc4733_leaked"] = c.rfc4733_events_leaked;
    call["packets_lost"] = c.lost;
    call["audio_delay_ms"] =
        c.audio_delay_ms ? json::value(round3(*c.audio_delay_ms)) : json::value(nullptr);
    calls.push_back(std::move(call));
  }

  json::object calls_summary;
  calls_summary["planned"] = options.total_calls;
  calls_summary["concurrent"] = options.concurrent_calls;
  calls_summary["started"] = totals.calls.size();
  calls_summary["finished"] = finished;
  calls_summary["failed"] = static_cast<int>(totals.calls.size()) - finished;
  report["calls"] = std::move(calls_summary);

  json::object pay;
  pay["started"] = payments;
  json::object by_outcome;
  for (const auto& [name, n] : outcomes) by_outcome[name] = n;
  pay["by_outcome"] = std::move(by_outcome);
  json::object by_mode;
  for (const auto& [name, n] : modes) by_mode[name] = n;
  pay["by_mode"] = std::move(by_mode);
  pay["declined_card_used"] = declined_cards;
  pay["unexpected"] = unexpected;
  report["payments"] = std::move(pay);

  json::object leak;
  leak["count"] = leaks;
  leak["per_call"] = std::move(leaks_per_call);
  leak["keys_typed"] = keys;
  leak["key_groups_scanned"] = regions;
  leak["key_groups_unscanned"] = unscanned;
  report["leaks"] = std::move(leak);

  json::object rfc;
  rfc["events"] = rfc_events;
  rfc["packets"] = rfc_packets;
  report["rfc4733_leaked"] = std::move(rfc);

  report["added_latency_ms"] = latency_json(totals.added);
  report["transit_ms"] = latency_json(totals.transit);
  report["audio_delay_ms"] = latency_json(delays);

  json::object packets;
  packets["sent"] = caller_sent + agent_sent;
  packets["received"] = agent_received + caller_received;
  packets["lost"] = lost;
  json::object c2a;
  c2a["sent"] = caller_sent;
  c2a["received"] = agent_received;
  c2a["lost"] = lost;
  packets["caller_to_agent"] = std::move(c2a);
  json::object a2c;
  a2c["sent"] = agent_sent;
  a2c["received"] = caller_received;
  packets["agent_to_caller"] = std::move(a2c);
  packets["late_frames"] = totals.late_frames;
  report["packets"] = std::move(packets);

  json::object cpu_json;
  cpu_json["sim"] = round3(cpu.sim_seconds);
  cpu_json["daemon"] =
      cpu.daemon_seconds ? json::value(round3(*cpu.daemon_seconds)) : json::value(nullptr);
  report["cpu_seconds"] = std::move(cpu_json);
  report["wall_seconds"] = round3(wall_seconds);

  json::object settings;
  settings["digits"] = digit_transport_name(options.digits);
  settings["codec"] = options.alaw ? "pcma" : "pcmu";
  settings["payments"] = options.payments;
  settings["block_dtmf"] = options.block_dtmf;
  settings["duration_s"] = options.duration_s;
  settings["seed"] = options.seed;
  report["settings"] = std::move(settings);
  report["per_call"] = std::move(calls);
  report["passed"] = run_passed(options, totals);
  std::string text;
  write_json(text, report);
  return text + "\n";
}

std::optional<std::string> write_plot(const std::string& path, const sim_totals& totals) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("toneguard-sim-plot-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return "--plot: cannot create " + dir.string() + ": " + ec.message();
  const fs::path data = dir / "seconds.dat";
  const fs::path script = dir / "plot.gp";
  {
    std::ofstream out(data);
    out << "# second active succeeded failed latency_mean_ms latency_max_ms lost\n";
    for (std::size_t i = 0; i < totals.seconds.size(); ++i) {
      const second_bucket& b = totals.seconds[i];
      const double mean =
          b.latency_count == 0 ? 0.0 : b.latency_sum_ms / static_cast<double>(b.latency_count);
      out << i << ' ' << b.active_calls << ' ' << b.payments_succeeded << ' ' << b.payments_failed
          << ' ' << mean << ' ' << b.latency_max_ms << ' ' << b.lost_packets << '\n';
    }
    if (!out) return "--plot: cannot write " + data.string();
  }
  {
    std::ofstream out(script);
    // gnuplot quotes: single-quoted strings take everything but a single quote literally.
    auto quoted = [](const std::string& s) {
      std::string q = "'";
      for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
      return q + "'";
    };
    out << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
           "  set terminal pngcairo size 1000,900\n"
           "} else {\n"
           "  set terminal png size 1000,900\n"
           "}\n"
        << "set output " << quoted(path) << "\n"
        << "set multiplot layout 3,1 title 'toneguard-sim'\n"
           "set grid\nset key outside right\nset xlabel 'second'\n"
           "set yrange [0:*]\nset offsets 0, 0, graph 0.1, 0\n"
           "set ylabel 'calls / payments'\n"
        << "plot " << quoted(data.string())
        << " using 1:2 with steps title 'active calls', '' using 1:3 with impulses lw 3 "
           "title 'payments ok', '' using 1:4 with impulses lw 3 title 'payments failed'\n"
           "set ylabel 'ms'\n"
        << "plot " << quoted(data.string())
        << " using 1:5 with lines title 'added latency (mean)', '' using 1:6 with lines "
           "title 'added latency (max)'\n"
           "set ylabel 'packets'\n"
        << "plot " << quoted(data.string()) << " using 1:7 with impulses lw 3 title 'lost'\n"
        << "unset multiplot\n";
    if (!out) return "--plot: cannot write " + script.string();
  }
  std::string gp = "gnuplot";
  std::string script_arg = script.string();
  char* argv[] = {gp.data(), script_arg.data(), nullptr};
  pid_t pid = 0;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  // gnuplot warns on stderr about flat series (no loss at all); its exit status is what counts.
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  const int spawned = ::posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  std::optional<std::string> problem;
  if (spawned != 0) {
    problem = "--plot: cannot run gnuplot (Debian package gnuplot-nox)";
  } else {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) problem = "--plot: gnuplot failed";
  }
  fs::remove_all(dir, ec);
  return problem;
}

}  // namespace toneguard::sim
