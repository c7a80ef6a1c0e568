// panel_test_server: the payment API (engine::api_server) serving the agent panel at / and
// /panel, over a simulated backend with two calls, for the panel's browser test
// (panel_browser_test.mjs) and for trying the panel by hand.
//
//   panel_test_server --token TOKEN [--address ADDR] [--port N] [--step-ms MS]
//
// A payment started on a call plays a scripted, masked progress sequence on a timer thread, as
// the daemon's payment dialog would report it for a caller paying by Visa (4111 1111 1111 1111,
// expiry, CVV): call-1@sim.toneguard goes straight through; on call-2@sim.toneguard the caller
// first mistypes the card number (luhn-failed) and then takes a while before the second try.
// Both end approved with last four 1111. Cancelling ends the payment with "cancelled".
//
// Prints "listening port=N" on stdout once the server listens. Runs until stdin closes or
// SIGTERM/SIGINT. Exit status: 0 after a clean stop, 2 bad usage or the server could not start.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "support/fake_payment_backend.h"
#include "toneguard/engine/agent_panel.h"
#include "toneguard/engine/api_server.h"
#include "toneguard/engine/payment_api.h"

namespace {

using namespace toneguard::engine;

constexpr const char* usage =
    "usage: panel_test_server --token TOKEN [--address ADDR] [--port N] [--step-ms MS]\n"
    "Serves the payment API and the agent panel (/ and /panel) over a simulated backend with\n"
    "two calls; a payment plays a masked Visa progress sequence and is approved (last four\n"
    "1111). Prints \"listening port=N\"; runs until stdin closes or SIGTERM/SIGINT.\n"
    "  --token TOKEN   the bearer token the API accepts (16..256 printable characters)\n"
    "  --address ADDR  listening address (default 127.0.0.1)\n"
    "  --port N        listening port (default 0: an ephemeral port)\n"
    "  --step-ms MS    time between two progress events, ms (default 120)\n";

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// One step of a scripted payment: wait `wait_steps` steps, then report `event` (at_ms is set
/// when it is emitted). The script's end is the result.
struct script_step {
  int wait_steps = 1;
  progress_event event;
};

/// What a caller paying by Visa makes the dialog report, as toneguard-dialog prints it for
/// --keys "4111111111111111#,1,1230,1,987". `mistype_first`: a first card entry refused
/// (luhn-failed), then a long pause before the second.
std::vector<script_step> visa_script(bool mistype_first) {
  std::vector<script_step> s;
  const auto add = [&s](int wait, progress_kind kind, std::optional<dialog_field> field = {},
                        int attempt = 1) {
    script_step step;
    step.wait_steps = wait;
    step.event.kind = kind;
    step.event.field = field;
    if (field) {
      step.event.attempt = attempt;
      step.event.max_attempts = 3;
    }
    s.push_back(step);
    return &s.back().event;
  };
  const auto entry = [&add](dialog_field field, int digits, int attempt, bool brand) {
    add(2, progress_kind::field_started, field, attempt);
    for (int d = 1; d <= digits; ++d) {
      add(d == 1 ? 6 : 1, progress_kind::digits_entered, field, attempt)->digits = d;
      if (d == 1 && brand) {
        add(0, progress_kind::brand_detected, field, attempt)->brand = card_brand::visa;
      }
    }
  };
  add(0, progress_kind::session_started);
  int card_attempt = 1;
  if (mistype_first) {
    entry(dialog_field::card_number, 16, card_attempt, true);
    add(2, progress_kind::field_invalid, dialog_field::card_number, card_attempt)->error =
        "luhn-failed";
    ++card_attempt;
  }
  const std::size_t second_try = s.size();
  entry(dialog_field::card_number, 16, card_attempt, true);
  // The caller takes a while before the first key of the second try.
  if (mistype_first) s[second_try + 1].wait_steps = 80;
  add(2, progress_kind::field_valid, dialog_field::card_number, card_attempt);
  add(0, progress_kind::confirmation_started, dialog_field::card_number, card_attempt);
  add(6, progress_kind::field_confirmed, dialog_field::card_number, card_attempt);
  entry(dialog_field::expiry, 4, 1, false);
  add(1, progress_kind::field_valid, dialog_field::expiry);
  add(0, progress_kind::confirmation_started, dialog_field::expiry);
  add(5, progress_kind::field_confirmed, dialog_field::expiry);
  entry(dialog_field::cvv, 3, 1, false);
  add(1, progress_kind::field_valid, dialog_field::cvv);
  auto* pending = add(1, progress_kind::gateway_pending);
  pending->brand = card_brand::visa;
  pending->attempt = 1;
  pending->max_attempts = 3;
  add(8, progress_kind::gateway_approved);
  add(6, progress_kind::finished)->outcome = payment_outcome::success;
  return s;
}

/// The daemon's calls and payment dialogs, simulated. Thread-safe; sinks are called from the
/// payments' timer threads, outside the lock.
class simulated_backend : public toneguard::testing::fake_payment_backend {
 public:
  explicit simulated_backend(int step_ms) : step_ms_(step_ms) {
    const std::int64_t now = unix_ms();
    add_call(call_summary{"call-1@sim.toneguard", now - 95'000, "answered", 2, ""});
    add_call(call_summary{"call-2@sim.toneguard", now - 31'000, "answered", 2, ""});
  }

  ~simulated_backend() override { shutdown(); }
  simulated_backend(const simulated_backend&) = delete;
  simulated_backend& operator=(const simulated_backend&) = delete;

  /// Stops every payment's timer thread (no more updates) and joins them. Idempotent.
  void shutdown() {
    std::vector<std::thread> players;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      players.swap(players_);
    }
    wake_.notify_all();
    for (auto& t : players) t.join();
  }

 private:
  /// What the simulation adds to a payment's status.
  struct playback {
    std::vector<script_step> script;
    std::int64_t started_ms = 0;
    bool cancel_requested = false;
  };

  bool stopping() const override { return stopping_; }

  void on_started(call_summary& call, const payment_status& s) override {
    playback p;
    p.script = visa_script(s.call_id == "call-2@sim.toneguard");
    p.started_ms = steady_ms();
    const std::string id = s.payment_id;
    call.state = "in-payment";
    playbacks_[id] = std::move(p);
    players_.emplace_back([this, id] { play(id); });
    std::fprintf(stderr, "panel_test_server: payment %s started on %s\n", id.c_str(),
                 s.call_id.c_str());
  }

  void on_cancel_requested(const payment_status& s) override {
    playbacks_.at(s.payment_id).cancel_requested = true;
    wake_.notify_all();
  }

  void on_finished(call_summary& call) override { call.state = "answered"; }

  /// The timer thread of payment `id`: its script step by step, then its result.
  void play(const std::string& id) {
    std::size_t next = 0;
    for (;;) {
      std::unique_lock lock(mu_);
      playback& p = playbacks_.at(id);
      if (next == p.script.size()) break;
      const auto wait = std::chrono::milliseconds(step_ms_ * p.script[next].wait_steps);
      const bool woken =
          wake_.wait_for(lock, wait, [&] { return stopping_ || p.cancel_requested; });
      if (stopping_) return;
      if (woken) {
        lock.unlock();
        finish_cancelled(id);
        return;
      }
      progress_event e = p.script[next++].event;
      e.at_ms = steady_ms();
      lock.unlock();
      emit(id, e);
    }
    emit(id, approved_result(id));
  }

  payment_result approved_result(const std::string& id) {
    std::lock_guard lock(mu_);
    payment_result r = base_result(id);
    r.outcome = payment_outcome::success;
    r.transaction_reference = "ch_sim_" + std::to_string(100000 + ++charges_);
    r.transaction_id = id + "-1";
    r.brand = card_brand::visa;
    r.last_four = "1111";
    r.attempts = 1;
    r.failed_entries = payments_.at(id).call_id == "call-2@sim.toneguard" ? 1 : 0;
    return r;
  }

  void finish_cancelled(const std::string& id) {
    progress_event e;
    e.kind = progress_kind::finished;
    e.outcome = payment_outcome::cancelled;
    e.at_ms = steady_ms();
    emit(id, e);
    payment_result r;
    {
      std::lock_guard lock(mu_);
      r = base_result(id);
    }
    r.outcome = payment_outcome::cancelled;
    emit(id, r);
  }

  /// Payment `id`'s result but for its outcome. Called with mu_ held.
  payment_result base_result(const std::string& id) const {
    const payment_status& s = payments_.at(id);
    payment_result r;
    r.payment_id = s.payment_id;
    r.amount_minor = s.request.amount_minor.value_or(0);
    const std::string& code = s.request.currency_code;
    r.payment_currency = (code.empty() ? std::nullopt : find_currency(code))
                             .value_or(default_payment_config().payment_currency);
    r.customer_id = s.request.account_id;
    r.started_ms = playbacks_.at(id).started_ms;
    r.finished_ms = steady_ms();
    return r;
  }

  const int step_ms_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, playback> playbacks_;
  int charges_ = 0;
  std::vector<std::thread> players_;
};

int bad_usage(const char* why) {
  std::fprintf(stderr, "panel_test_server: %s\n%s", why, usage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  api_server_settings settings;
  int step_ms = 120;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", usage);
      return 0;
    }
    const char* v = value();
    if (v == nullptr) return bad_usage("an option needs a value");
    char* end = nullptr;
    if (arg == "--token") {
      settings.tokens.push_back(api_token{v, false});
    } else if (arg == "--address") {
      settings.address = v;
    } else if (arg == "--port") {
      const long port = std::strtol(v, &end, 10);
      if (*end != '\0' || port < 0 || port > 65535) return bad_usage("--port needs 0..65535");
      settings.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--step-ms") {
      step_ms = static_cast<int>(std::strtol(v, &end, 10));
      if (*end != '\0' || step_ms < 1 || step_ms > 10'000) {
        return bad_usage("--step-ms needs 1..10000");
      }
    } else {
      return bad_usage("unknown option");
    }
  }
  if (settings.tokens.empty()) return bad_usage("--token is required");
  for (const char* path : {"/", "/panel"}) {
    api_extra_route route;
    route.path = path;
    route.content_type = "text/html; charset=utf-8";
    route.body = [] { return std::string(agent_panel_page()); };
    settings.extra_routes.push_back(std::move(route));
  }

  // Blocked before any thread exists, so that only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto backend = std::make_shared<simulated_backend>(step_ms);
  auto server = api_server::start(settings, backend);
  if (!server) {
    std::fprintf(stderr, "panel_test_server: %s\n", server.message().c_str());
    return 2;
  }
  std::printf("listening port=%u\n", static_cast<unsigned>(server.value()->port()));
  std::fflush(stdout);

  // End of stdin stops the server as SIGTERM does (the signal waits, blocked, for sigwait).
  std::thread([] {
    char buffer[256];
    while (::read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
    }
    ::kill(::getpid(), SIGTERM);
  }).detach();

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server.value()->stop();
  backend->shutdown();
  std::fprintf(stderr, "panel_test_server: stopped\n");
  return 0;
}
