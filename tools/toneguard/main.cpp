// toneguard: the RTP media proxy daemon, the composition root. It reads the options, logs to
// stderr, answers the ng control protocol on --listen-ng with call_control (offer, answer,
// delete, query, list, block/unblock DTMF), relays each answered call's RTP through the media
// plane with its keys found and masked toward the agent, runs secure payments on live calls
// (engine's payment service: the caller's keys drive the call's payment dialog, whose actions
// drive the media), serves the payment API, the agent panel and /metrics, and stops cleanly on
// SIGTERM/SIGINT. Exit status: 0 after a signal, 1 when start-up fails, 2 on a bad option.

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "payment_link.h"
#include "toneguard/engine/agent_panel.h"
#include "toneguard/engine/api_server.h"
#include "toneguard/engine/card_data.h"
#include "toneguard/engine/metrics.h"
#include "toneguard/engine/payment_api.h"
#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/payment_service.h"
#include "toneguard/engine/prompt_set.h"
#include "toneguard/engine/status_callback.h"
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

namespace engine = toneguard::engine;

// The ng key by which an IVR platform starts a fully automated payment on a call: its value
// is the JSON body of POST /v1/calls/{call_id}/payments. Given on the offer or the answer, the
// payment starts when the call is answered.
constexpr std::string_view payment_key = "toneguard-payment";

// The ng handler: call_control answers, then the media plane and the payment service follow
// what changed.
class proxy_handler final : public ng_handler {
 public:
  proxy_handler(call_control& calls, media_plane& media, engine::payment_service& payments,
                const engine::payment_config& config)
      : calls_(calls), media_(media), payments_(payments), config_(config) {}

  bencode_value handle(const ng_request& request) override { return handle(request, "deleted"); }

  /// As handle(); a delete ends the call with `end_reason` in the reports.
  bencode_value handle(const ng_request& request, std::string_view end_reason) {
    calls_.set_time(static_cast<std::int64_t>(std::time(nullptr)));
    bencode_value reply = calls_.handle(request);
    const auto id = request.call_id();
    if (!id) return reply;
    const std::string call_id(*id);
    if (const call* c = calls_.find(call_id)) {
      media_.apply(*c);
      const bool answered = c->agent.has_remote && c->caller.has_remote;
      payments_.call_updated(call_id, answered ? "answered" : "offered",
                             (c->caller.has_remote ? 1 : 0) + (c->agent.has_remote ? 1 : 0));
      if (const auto body = request.string_key(payment_key)) pending_[call_id] = *body;
      if (answered) start_pending(call_id);
    } else if (request.command == ng_command::delete_call) {
      media_.remove(call_id);
      pending_.erase(call_id);
      payments_.call_ended(call_id, end_reason);
    }
    return reply;
  }

 private:
  void start_pending(const std::string& call_id) {
    const auto it = pending_.find(call_id);
    if (it == pending_.end()) return;
    const std::string body = std::move(it->second);
    pending_.erase(it);
    auto parsed = engine::parse_start_payment(body, config_);
    if (!parsed) {
      log_event(log_level::error, "payment not started",
                {{"call-id", call_id}, {"source", "ng"}, {"error", parsed.message()}});
      return;
    }
    engine::payment_request request = std::move(parsed).value().request;
    if (!request.mode) request.mode = engine::payment_mode::automated;
    auto started = payments_.start_payment(call_id, std::move(request));
    if (!started) {
      log_event(log_level::error, "payment not started",
                {{"call-id", call_id}, {"source", "ng"}, {"error", started.failure().message}});
    }
  }

  call_control& calls_;
  media_plane& media_;
  engine::payment_service& payments_;
  const engine::payment_config& config_;
  std::map<std::string, std::string> pending_;  // call-id -> start body (control thread)
};

// Ends a call the media plane reported (timeouts) on the control thread, through the same
// path as an ng delete, so call_control releases its ports and the plane its sockets.
void end_call(proxy_handler& handler, const std::string& call_id, std::string_view reason) {
  const std::string datagram = "toneguard-" + std::string(reason) + " d7:command6:delete7:call-id" +
                               std::to_string(call_id.size()) + ":" + call_id + "e";
  auto request = parse_ng_request(datagram);
  if (!request.ok()) {
    log_event(log_level::error, "ending a call failed",
              {{"call-id", call_id}, {"error", request.error_message()}});
    return;
  }
  handler.handle(request.value(), reason);
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

std::optional<std::string> read_text_file(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open " + path;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return "cannot read " + path;
  text = buffer.str();
  return std::nullopt;
}

// The payment settings: --payment-config's [payment], else the TOML config-file's, else the
// built-in defaults (the embedded sandbox gateway).
engine::outcome<engine::payment_config> load_payment_config(const daemon_options& options) {
  std::string file = options.payment_config_file;
  if (file.empty() && options.payment_in_config_file) file = options.config_file;
  if (file.empty()) return engine::validate_payment_config(engine::default_payment_config());
  std::string text;
  if (auto problem = read_text_file(file, text))
    return engine::failure{"payment config: " + *problem};
  return engine::parse_payment_config(text, file);
}

// The prompt set: --prompts, else prompts/<language> beside the program's directory (the build
// tree's build/prompts/en), else the installed one.
std::filesystem::path prompts_dir(const daemon_options& options, const std::string& language) {
  if (!options.prompts_dir.empty()) return options.prompts_dir;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto beside = exe.parent_path().parent_path() / "prompts" / language;
    if (std::filesystem::exists(beside / "manifest.tsv", ec)) return beside;
  }
  return std::filesystem::path("/usr/share/toneguard/prompts") / language;
}

engine::outcome<toneguard::dsp::prompt_audio> load_prompts(const std::filesystem::path& dir,
                                                           const std::string& language) {
  const engine::prompt_language* lang = engine::find_language(language);
  if (lang == nullptr) return engine::failure{"no prompt language '" + language + "'"};
  auto set = engine::load_prompt_set(dir);
  if (!set) return engine::failure{set.message()};
  if (auto missing = engine::check_complete(set.value(), *lang)) return *missing;
  std::vector<toneguard::dsp::prompt_file> files;
  for (const auto& [id, path] : set.value().files()) files.push_back({id, path});
  auto loaded = toneguard::dsp::prompt_audio::load(files);
  if (!loaded.ok()) return engine::failure{loaded.error_message()};
  return std::move(loaded).value();
}

// --api-token-file (see engine::parse_api_token_file).
engine::outcome<std::vector<engine::api_token>> load_tokens(const std::string& path) {
  std::string text;
  if (auto problem = read_text_file(path, text))
    return engine::failure{"api-token-file: " + *problem};
  return engine::parse_api_token_file(text, path);
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "toneguard";
  return name;
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
            {{"version", TONEGUARD_VERSION},
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
  // Payments: the config, the prompts, the metrics and the payment service.
  auto payment_config = load_payment_config(options);
  if (!payment_config) {
    log_event(log_level::error, "start-up failed", {{"error", payment_config.message()}});
    return 1;
  }
  const engine::payment_config& config = payment_config.value();
  const std::filesystem::path prompt_dir = prompts_dir(options, config.language);
  auto prompts = load_prompts(prompt_dir, config.language);
  if (!prompts) {
    log_event(log_level::error, "start-up failed",
              {{"error", "prompts " + prompt_dir.string() + ": " + prompts.message()}});
    return 1;
  }
  engine::metrics_registry registry;
  auto registered = engine::toneguard_metrics::register_in(registry);
  if (!registered) {
    log_event(log_level::error, "start-up failed", {{"error", registered.message()}});
    return 1;
  }
  engine::toneguard_metrics& metrics = registered.value();
  toneguard::daemon::key_router keys(metrics);
  std::atomic<engine::payment_service*> service_for_prompts{nullptr};

  media_plane_config media_config;
  media_config.local_address = media_address;
  media_config.workers = static_cast<int>(options.num_threads);
  media_config.backend = options.io_backend;
  media_config.coalesce_us = options.io_coalesce_us;
  media_config.default_lookahead_ms = options.delay_buffer_ms;
  media_config.default_mode = mask_mode_named(options.dtmf_security);
  media_config.mask_all_calls = options.mask_all_calls;
  media_config.detect_agent_dtmf = options.detect_agent_dtmf;
  media_config.strict_source = options.strict_source;
  media_config.timeout_s = options.timeout_s;
  media_config.final_timeout_s = options.final_timeout_s;
  media_config.sockets = &ports;
  media_config.on_prompt = [&service_for_prompts](const std::string& call_id, std::uint64_t id,
                                                  prompt_outcome outcome) {
    if (engine::payment_service* service = service_for_prompts.load()) {
      service->prompt_done(call_id, id, outcome == prompt_outcome::finished);
    }
  };
  // Timeouts are found on media workers and handled on the control thread. The mutex keeps a
  // worker from posting to the server while it is being stopped.
  std::mutex control_mutex;
  ng_server* control_server = nullptr;
  proxy_handler* handler_ptr = nullptr;
  // Each call holds two to four sockets: take all the descriptors the hard limit allows
  // (before the workers size their registered-file tables by it).
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  if (options.io_backend == relay_backend::io_uring &&
      relay_worker(relay_backend::automatic).backend() != relay_backend::io_uring) {
    log_event(log_level::error, "start-up failed",
              {{"error", "--io-backend io_uring: io_uring is not available (kernel 6.1+ with "
                         "io_uring enabled needed); use auto or epoll"}});
    return 1;
  }
  media_plane media(media_config, keys, [&](const std::string& call_id, std::string_view reason) {
    std::lock_guard lock(control_mutex);
    if (control_server == nullptr) return;
    control_server->post([&handler_ptr, call_id, reason = std::string(reason)] {
      end_call(*handler_ptr, call_id, reason);
    });
  });
  log_event(log_level::info, "media workers started",
            {{"workers", std::to_string(media.workers())},
             {"io-backend", std::string(backend_name(media.backend()))},
             {"io-coalesce-us", std::to_string(options.io_coalesce_us)}});
  toneguard::daemon::metrics_sync metrics_update(registry, metrics, media);
  toneguard::daemon::media_call media_link(media, prompts.value());

  engine::payment_service_settings service_settings;
  service_settings.config = config;
  service_settings.node = options.node_name.empty() ? host_name() : options.node_name;
  service_settings.report_db = options.report_db.empty() ? ":memory:" : options.report_db;
  service_settings.metrics = &metrics;
  service_settings.log = [](std::string_view level, std::string_view message,
                            std::vector<std::pair<std::string, std::string>> fields) {
    const log_level l = level == "error"  ? log_level::error
                        : level == "warn" ? log_level::warn
                        : level == "info" ? log_level::info
                                          : log_level::debug;
    std::vector<log_field> pairs;
    pairs.reserve(fields.size());
    for (auto& [k, v] : fields) pairs.push_back({k, v});
    log_event(l, message, std::span<const log_field>(pairs));
  };
  auto started = engine::payment_service::start(service_settings, media_link);
  if (!started) {
    log_event(log_level::error, "start-up failed", {{"error", started.message()}});
    return 1;
  }
  std::shared_ptr<engine::payment_service> payments = started.value();
  service_for_prompts.store(payments.get());
  media_link.set_service(payments.get());
  keys.set_service(payments.get());
  log_event(log_level::info, "payments ready",
            {{"language", config.language},
             {"prompts", prompt_dir.string()},
             {"gateway", payments->sandbox_url().empty() ? "configured" : "embedded sandbox"},
             {"report-db",
              engine::report_location_without_password(service_settings.report_db)}});

  proxy_handler handler(calls, media, *payments, config);
  handler_ptr = &handler;
  auto server = ng_server::open(options.listen_ng, handler);
  if (!server.ok()) {
    log_event(log_level::error, "start-up failed", {{"error", server.error_message()}});
    return 1;
  }
  ng_server& ng = *server.value();
  metrics_update.set_ng_server(&ng);
  {
    std::lock_guard lock(control_mutex);
    control_server = &ng;
  }
  log_event(log_level::info, "listening",
            {{"proto", "ng"},
             {"address", ng.local_address()},
             {"port", std::to_string(ng.local_port())}});

  // The API, the agent panel and /metrics: only with tokens, as every route but /healthz and
  // the page itself needs one.
  std::unique_ptr<engine::api_server> api;
  std::unique_ptr<engine::status_callback_sender> callbacks;
  if (!options.api_token_file.empty()) {
    // Payments started with a status_callback URL get their progress and result POSTed there.
    engine::status_callback_settings callback_settings;
    if (!options.callback_secret_file.empty()) {
      std::string text;
      if (auto problem = read_text_file(options.callback_secret_file, text)) {
        log_event(log_level::error, "start-up failed",
                  {{"error", "callback-secret-file: " + *problem}});
        return 1;
      }
      callback_settings.secret = text.substr(0, text.find('\n'));
      if (callback_settings.secret.empty()) {
        log_event(log_level::error, "start-up failed",
                  {{"error", "callback-secret-file " + options.callback_secret_file +
                                 ": the first line is empty"}});
        return 1;
      }
    }
    callback_settings.on_failure = [](const engine::status_callback_failure& f) {
      log_event(log_level::warn, "status callback not delivered",
                {{"host", f.host},
                 {"status", std::to_string(f.http_status)},
                 {"attempts", std::to_string(f.attempts)},
                 {"reason", f.reason},
                 {"delivery", f.delivery_id}});
    };
    auto sender = engine::status_callback_sender::start(std::move(callback_settings));
    if (!sender) {
      log_event(log_level::error, "start-up failed", {{"error", sender.message()}});
      return 1;
    }
    callbacks = std::move(sender).value();
    metrics_update.set_callbacks(callbacks.get());
    auto tokens = load_tokens(options.api_token_file);
    if (!tokens) {
      log_event(log_level::error, "start-up failed", {{"error", tokens.message()}});
      return 1;
    }
    engine::api_server_settings api_settings;
    api_settings.address = options.api_listen.address;
    api_settings.port = options.api_listen.port;
    api_settings.tls = !options.api_tls_cert.empty();
    api_settings.cert_file = options.api_tls_cert;
    api_settings.key_file = options.api_tls_key;
    api_settings.tokens = std::move(tokens).value();
    api_settings.config = config;
    api_settings.on_status_callback = callbacks->hook();
    api_settings.extra_routes.push_back({"/metrics", "text/plain; version=0.0.4; charset=utf-8",
                                         true, [&metrics_update, &registry] {
                                           metrics_update.sync();
                                           return registry.render();
                                         }});
    for (const char* path : {"/", "/panel"}) {
      api_settings.extra_routes.push_back({path, "text/html; charset=utf-8", false,
                                           [] { return std::string(engine::agent_panel_page()); }});
    }
    auto api_started = engine::api_server::start(std::move(api_settings), payments);
    if (!api_started) {
      log_event(log_level::error, "start-up failed", {{"error", api_started.message()}});
      return 1;
    }
    api = std::move(api_started).value();
    log_event(log_level::info, "listening",
              {{"proto", options.api_tls_cert.empty() ? "api" : "api-tls"},
               {"address", options.api_listen.address},
               {"port", std::to_string(api->port())}});
  } else {
    log_event(log_level::info, "payment API off: no api-token-file");
  }

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
  if (api) api->stop();
  if (callbacks) callbacks->stop();
  {
    std::lock_guard lock(control_mutex);
    control_server = nullptr;
  }
  ng.stop();
  control.join();
  const engine::payment_service_totals payment_totals = payments->totals();
  payments->stop();
  service_for_prompts.store(nullptr);
  keys.set_service(nullptr);
  media_link.set_service(nullptr);

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
             {"rtp-generated", std::to_string(totals.generated)},
             {"media-dropped", std::to_string(totals.dropped)},
             {"media-malformed", std::to_string(totals.malformed)},
             {"srtp-failures", std::to_string(totals.srtp_failures)},
             {"keys", std::to_string(totals.keys)},
             {"calls-timed-out", std::to_string(totals.timed_out)},
             {"ports-skipped-in-use", std::to_string(ports.skipped())},
             {"payments-started", std::to_string(payment_totals.payments_started)},
             {"payments-finished", std::to_string(payment_totals.payments_finished)},
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
