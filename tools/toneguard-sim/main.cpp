// toneguard-sim: the call simulator and load generator. Runs --total calls, --calls at a time,
// against a running toneguard (ng + RTP on loopback, payments through the API), and prints
// one JSON report. Exit status: 0 when every call finished, nothing leaked and every payment
// ended as expected; 1 otherwise; 2 for a bad option. Never prints card data.

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "audio_library.h"
#include "ng_client.h"
#include "sim_call.h"
#include "sim_options.h"
#include "sim_report.h"

namespace {

namespace asio = boost::asio;
using namespace toneguard::sim;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Holds the call until it has run: a coroutine's parameters live in its frame (a lambda's
// captures would not).
asio::awaitable<void> run_call(std::shared_ptr<sim_call> call) {
  co_await call->run();
}

// The run: starts calls as slots free up, drives every call's media from one fine-grained
// tick, and draws the progress bar.
class sim_run {
 public:
  explicit sim_run(sim_shared& shared) : shared_(shared), tick_(shared.io), bar_(shared.io) {}

  void start() {
    asio::co_spawn(shared_.io, launch(), asio::detached);
    do_tick();
    show_progress_ = shared_.options.progress && ::isatty(STDERR_FILENO) == 1;
    if (show_progress_) do_progress();
  }

  void stop_early() {
    shared_.stopping = true;
    launched_all_ = true;
  }

 private:
  asio::awaitable<void> launch() {
    const sim_options& o = shared_.options;
    asio::steady_timer wait(shared_.io);
    for (int i = 0; i < o.total_calls && !shared_.stopping; ++i) {
      while (static_cast<int>(live_calls()) >= o.concurrent_calls && !shared_.stopping) {
        wait.expires_after(10ms);
        boost::system::error_code ec;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (shared_.stopping) break;
      auto call = std::make_shared<sim_call>(shared_, i);
      calls_.push_back(call);
      asio::co_spawn(shared_.io, run_call(call), asio::detached);
      if (o.call_interval_ms > 0 && i + 1 < o.total_calls) {
        wait.expires_after(std::chrono::milliseconds(o.call_interval_ms));
        boost::system::error_code ec;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    launched_all_ = true;
  }

  std::size_t live_calls() {
    // A call is done once its record is in the totals; handlers still pending hold it after.
    std::erase_if(calls_, [](const std::shared_ptr<sim_call>& c) { return c->done(); });
    return calls_.size();
  }

  void do_tick() {
    // 2 ms: each call sends on its own 20 ms phase, so packets are spread over the period.
    tick_.expires_after(2ms);
    tick_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      const auto now = clock_type::now();
      for (const auto& call : calls_) call->tick(now);
      auto& bucket = shared_.totals.bucket(now);
      bucket.active_calls = std::max(bucket.active_calls, shared_.totals.active_calls);
      if (launched_all_ && live_calls() == 0) {
        finish();
        return;
      }
      do_tick();
    });
  }

  void do_progress() {
    bar_.expires_after(250ms);
    bar_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      draw_progress(false);
      do_progress();
    });
  }

  void draw_progress(bool last) {
    const sim_options& o = shared_.options;
    const auto done = shared_.totals.calls.size();
    constexpr int width = 30;
    const int filled =
        static_cast<int>(static_cast<double>(done) * width / std::max(1, o.total_calls));
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r[%s] %zu/%d calls  active %d  payments ok %d failed %d  leaks %d%s",
                 bar.c_str(), done, o.total_calls, shared_.totals.active_calls,
                 shared_.totals.payments_succeeded, shared_.totals.payments_failed,
                 shared_.totals.leaks, last ? "\n" : "  ");
    std::fflush(stderr);
  }

  void finish() {
    if (show_progress_) draw_progress(true);
    bar_.cancel();
    shared_.ng.close();
    shared_.io.stop();
  }

  sim_shared& shared_;
  asio::steady_timer tick_;
  asio::steady_timer bar_;
  std::vector<std::shared_ptr<sim_call>> calls_;
  bool launched_all_ = false;
  bool show_progress_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_sim_options(argc, argv);
  if (std::holds_alternative<sim_help>(parsed)) {
    std::fputs(sim_usage(), stdout);
    return 0;
  }
  if (const auto* message = std::get_if<std::string>(&parsed)) {
    std::fprintf(stderr, "toneguard-sim: %s\n", message->c_str());
    return 2;
  }
  const sim_options options = std::get<sim_options>(std::move(parsed));

  speech_library speech;
  if (options.speech_dir != "none") {
    auto loaded = speech_library::load(options.speech_dir);
    if (const auto* message = std::get_if<std::string>(&loaded)) {
      std::fprintf(stderr, "toneguard-sim: %s\n", message->c_str());
      return 2;
    }
    speech = std::get<speech_library>(std::move(loaded));
  }
  const key_tones tones(options.tone_ms, options.key_level_dbm0);

  asio::io_context io(1);
  boost::system::error_code ec;
  const auto ng_address = asio::ip::make_address(options.ng_host, ec);
  if (ec) {
    std::fprintf(stderr, "toneguard-sim: --ng: bad address\n");
    return 2;
  }
  ng_client ng(io, asio::ip::udp::endpoint(ng_address, options.ng_port));
  sim_totals totals;
  sim_shared shared{io,
                    options,
                    ng,
                    speech,
                    tones,
                    totals,
                    api_endpoint{options.api_host, options.api_port, options.token},
                    ng_address.is_v4() ? asio::ip::address(asio::ip::address_v4::loopback())
                                       : asio::ip::address(asio::ip::address_v6::loopback())};

  const double cpu_before = own_cpu_seconds();
  const auto daemon_before =
      options.daemon_pid > 0 ? process_cpu_seconds(options.daemon_pid) : std::nullopt;
  const auto started = clock_type::now();

  sim_run run(shared);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code wait_ec, int) {
    if (!wait_ec) run.stop_early();
  });
  run.start();
  io.run();

  cpu_usage cpu;
  cpu.sim_seconds = own_cpu_seconds() - cpu_before;
  if (daemon_before) {
    if (const auto after = process_cpu_seconds(options.daemon_pid)) {
      cpu.daemon_seconds = *after - *daemon_before;
    }
  }
  const double wall = std::chrono::duration<double>(clock_type::now() - started).count();
  const std::string report = report_json(options, totals, cpu, wall);
  if (options.json_path.empty()) {
    std::fputs(report.c_str(), stdout);
  } else {
    std::ofstream out(options.json_path);
    out << report;
    if (!out) {
      std::fprintf(stderr, "toneguard-sim: cannot write %s\n", options.json_path.c_str());
      return 1;
    }
  }
  if (!options.plot_path.empty()) {
    if (auto problem = write_plot(options.plot_path, totals)) {
      std::fprintf(stderr, "toneguard-sim: %s\n", problem->c_str());
      return 1;
    }
  }
  for (const call_record& c : totals.calls) {
    if (!c.error.empty()) {
      std::fprintf(stderr, "toneguard-sim: call %s: %s\n", c.call_id.c_str(), c.error.c_str());
    }
  }
  return run_passed(options, totals) ? 0 : 1;
}
