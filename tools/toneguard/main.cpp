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
#include <mutex>
#include <string>
#include <thread>

#include "toneguard/engine/card_data.h"
#include "toneguard/media/bound_ports.h"
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

// Ends a call the media plane reported (timeouts) on the control thread, through the same
// path as an ng delete, so call_control releases its ports and the plane its sockets.
void end_call(ng_handler& handler, const std::string& call_id, std::string_view reason) {
  const std::string datagram = "toneguard-" + std::string(reason) + " d7:command6:delete7:call-id" +
                               std::to_string(call_id.size()) + ":" + call_id + "e";
  auto request = parse_ng_request(datagram);
  if (!request.ok()) {
    log_event(log_level::error, "ending a call failed",
              {{"call-id", call_id}, {"error", request.error_message()}});
    return;
  }
  handler.handle(request.value());
  log_event(log_level::info, "call ended", {{"call-id", call_id}, {"reason", std::string(reason)}});
}

toneguard::dsp::mask_mode mask_mode_named(std::string_view name) {
  if (name == "tone") return toneguard::dsp::mask_mode::flat_tone;
  if (name == "random") return toneguard::dsp::mask_mode::comfort_noise;
  return toneguard::dsp::mask_mode::silence;
}

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

  // Card digits pass through this process's memory: no core dump may carry them, and no
  // other process of this user may attach to read them.
  if (!toneguard::engine::make_process_undumpable()) {
    log_event(log_level::warn, "core dumps could not be turned off");
  }

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
             {"log-level", std::string(log_level_name(options.level))},
             {"timeout", std::to_string(options.timeout_s)},
             {"delay-buffer", std::to_string(options.delay_buffer_ms)},
             {"dtmf-security", options.dtmf_security},
             {"mask-all-calls", options.mask_all_calls ? "yes" : "no"},
             {"detect-agent-dtmf", options.detect_agent_dtmf ? "yes" : "no"},
             {"strict-source", options.strict_source ? "yes" : "no"}});
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
  // Ports are bound when the offer hands them out, so a port someone else holds is skipped
  // then rather than failing the call's media at the answer.
  bound_port_allocator ports(media_address, options.port_min, options.port_max);
  call_control calls(advertised.value(), ports);
  logged_keys keys;
  media_plane_config media_config;
  media_config.local_address = media_address;
  media_config.workers = static_cast<int>(options.num_threads);
  media_config.default_lookahead_ms = options.delay_buffer_ms;
  media_config.default_mode = mask_mode_named(options.dtmf_security);
  media_config.mask_all_calls = options.mask_all_calls;
  media_config.detect_agent_dtmf = options.detect_agent_dtmf;
  media_config.strict_source = options.strict_source;
  media_config.timeout_s = options.timeout_s;
  media_config.final_timeout_s = options.final_timeout_s;
  media_config.sockets = &ports;
  // Timeouts are found on media workers and handled on the control thread. The mutex keeps a
  // worker from posting to the server while it is being stopped.
  std::mutex control_mutex;
  ng_server* control_server = nullptr;
  proxy_handler* handler_ptr = nullptr;
  media_plane media(media_config, keys, [&](const std::string& call_id, std::string_view reason) {
    std::lock_guard lock(control_mutex);
    if (control_server == nullptr) return;
    control_server->post([&handler_ptr, call_id, reason = std::string(reason)] {
      end_call(*handler_ptr, call_id, reason);
    });
  });
  proxy_handler handler(calls, media);
  handler_ptr = &handler;
  auto server = ng_server::open(options.listen_ng, handler);
  if (!server.ok()) {
    log_event(log_level::error, "start-up failed", {{"error", server.error_message()}});
    return 1;
  }
  ng_server& ng = *server.value();
  {
    std::lock_guard lock(control_mutex);
    control_server = &ng;
  }
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
  {
    std::lock_guard lock(control_mutex);
    control_server = nullptr;
  }
  ng.stop();
  control.join();

  const ng_server_stats stats = ng.stats();
  std::uint64_t rejected = 0;
  for (const auto n : stats.errors) rejected += n;
  const media_totals totals = media.totals();
  log_event(log_level::info, "stopped",
            {{"ng-datagrams", std::to_string(stats.datagrams)},
             {"ng-rejected", std::to_string(rejected)},
             {"ng-cached-replies", std::to_string(stats.cached_replies)},
             {"rtp-forwarded", std::to_string(totals.forwarded)},
             {"rtp-received", std::to_string(totals.received)},
             {"media-dropped", std::to_string(totals.dropped)},
             {"media-malformed", std::to_string(totals.malformed)},
             {"srtp-failures", std::to_string(totals.srtp_failures)},
             {"keys", std::to_string(totals.keys)},
             {"calls-timed-out", std::to_string(totals.timed_out)},
             {"ports-skipped-in-use", std::to_string(ports.skipped())},
             {"leaked-samples", std::to_string(totals.leaked_samples)}});
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
