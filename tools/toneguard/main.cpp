// toneguard: the RTP media proxy daemon, the composition root. It reads the options, logs to
// stderr, answers the ng control protocol on --listen-ng with call_control (offer, answer,
// delete, query, list, block/unblock DTMF), relays each answered call's RTP through the media
// plane with its keys found and masked toward the agent, and stops cleanly on SIGTERM/SIGINT.
// Exit status: 0 after a signal, 1 when start-up fails, 2 on a bad option.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <exception>
#include <string>
#include <thread>

#include "toneguard/media/call_control.h"
#include "toneguard/media/daemon_options.h"
#include "toneguard/media/digits.h"
#include "toneguard/media/log.h"
#include "toneguard/media/media_plane.h"
#include "toneguard/media/ng_message.h"
#include "toneguard/media/ng_server.h"

namespace {

using namespace toneguard::media;

// The ng handler: call_control answers, then the media plane follows what changed.
class proxy_handler final : public ng_handler {
 public:
  proxy_handler(call_control& calls, media_plane& media) : calls_(calls), media_(media) {}
  bencode_value handle(const ng_request& request) override {
    calls_.set_time(static_cast<std::int64_t>(std::time(nullptr)));
    bencode_value reply = calls_.handle(request);
    if (const auto id = request.call_id()) {
      const std::string call_id(*id);
      if (const call* c = calls_.find(call_id)) {
        media_.apply(*c);
      } else if (request.command == ng_command::delete_call) {
        media_.remove(call_id);
      }
    }
    return reply;
  }

 private:
  call_control& calls_;
  media_plane& media_;
};

// Until the payment engine is joined here (issue 5), keys are only logged, and never their
// value: a key is card data while a payment runs.
class logged_keys final : public digit_sink {
 public:
  void on_digit(std::string_view call_id, leg from, const digit_event& event) override {
    log_event(log_level::info,
              event.what == digit_event::phase::start ? "key pressed" : "key released",
              {{"call-id", std::string(call_id)},
               {"leg", from == leg::caller ? "caller" : "agent"},
               {"source", event.source == digit_source::in_band           ? "in-band"
                          : event.source == digit_source::telephone_event ? "rfc4733"
                                                                          : "both"}});
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

  const std::string media_address =
      options.interfaces.empty() ? "127.0.0.1" : options.interfaces.front();
  auto advertised = network_address::from_string(media_address);
  if (!advertised.ok()) {
    log_event(log_level::error, "start-up failed", {{"error", advertised.error_message()}});
    return 1;
  }
  range_port_allocator ports(options.port_min, options.port_max);
  call_control calls(advertised.value(), ports);
  logged_keys keys;
  media_plane media(media_address, keys, 15, options.num_threads);
  proxy_handler handler(calls, media);
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
             {"ng-cached-replies", std::to_string(stats.cached_replies)},
             {"rtp-forwarded", std::to_string(media.forwarded())}});
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
