// toneguard: the RTP media proxy daemon. This first slice of issue 3 reads the options, logs
// to stderr, answers the ng control protocol on --listen-ng (ping), and stops cleanly on
// SIGTERM/SIGINT. Exit status: 0 after a signal, 1 when start-up fails, 2 on a bad option.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "toneguard/media/daemon_options.h"
#include "toneguard/media/log.h"
#include "toneguard/media/ng_message.h"
#include "toneguard/media/ng_server.h"

namespace {

using namespace toneguard::media;

// Answers the call commands until the call logic exists: the call logic (offer, answer,
// delete, query, list, block DTMF, unblock DTMF over calls and legs) comes in the next step of
// issue 3 and replaces this handler.
class calls_not_implemented final : public ng_handler {
 public:
  bencode_value handle(const ng_request& request) override {
    return ng_error_reply(std::string(ng_command_name(request.command)) +
                          ": calls are not implemented yet");
  }
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

int run(int argc, char** argv) {
  auto parsed = parse_daemon_options(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "toneguard: %s\n", parsed.error_message().c_str());
    return 2;
  }
  const daemon_options& options = parsed.value();
  if (options.help) {
    std::fputs(daemon_usage().c_str(), stdout);
    return 0;
  }
  set_log_level(options.level);

  // Signals are taken by sigwait() on the main thread only: block them before any thread
  // starts so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  log_event(log_level::info, "starting",
            {{"version", "0.1.0"},
             {"interfaces", join(options.interfaces)},
             {"port-min", std::to_string(options.port_min)},
             {"port-max", std::to_string(options.port_max)},
             {"num-threads", std::to_string(options.num_threads)},
             {"log-level", std::string(log_level_name(options.level))}});
  if (options.port_min % 2 != 0) {
    log_event(log_level::warn, "port-min is odd: RTP uses even ports, so the first is unused",
              {{"port-min", std::to_string(options.port_min)}});
  }

  calls_not_implemented handler;
  auto server = ng_server::open(options.listen_ng, handler);
  if (!server.ok()) {
    log_event(log_level::error, "start-up failed", {{"error", server.error_message()}});
    return 1;
  }
  ng_server& ng = *server.value();
  log_event(log_level::info, "listening",
            {{"proto", "ng"},
             {"address", ng.local_address()},
             {"port", std::to_string(ng.local_port())}});

  std::thread control([&ng] {
    try {
      ng.run();
    } catch (const std::exception& e) {
      log_event(log_level::error, "control thread failed", {{"what", e.what()}});
    }
  });

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log_event(log_level::info, "stopping", {{"signal", signal_number == SIGTERM ? "TERM" : "INT"}});
  ng.stop();
  control.join();

  const ng_server_stats stats = ng.stats();
  std::uint64_t rejected = 0;
  for (const auto n : stats.errors) rejected += n;
  log_event(log_level::info, "stopped",
            {{"ng-datagrams", std::to_string(stats.datagrams)},
             {"ng-rejected", std::to_string(rejected)},
             {"ng-cached-replies", std::to_string(stats.cached_replies)}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "toneguard: %s\n", e.what());
    return 1;
  }
}
