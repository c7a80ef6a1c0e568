// toneguard-dialog: one payment dialog run end to end without a call. A scripted caller types
// keys after each question, the dialog's actions are executed for real (the gateway client
// against the embedded sandbox gateway over HTTPS, or the configured gateway; prompts rendered
// from a prompt set), and time is simulated, so a two-minute dialog takes a moment. Every action
// and progress event is printed as one JSON line on stdout, masked as the API will show it; the
// result is the last line. Used by the tests to run complete dialogs and scan all output for
// card data.

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/dsp/prompt_audio.h"
#include "toneguard/dsp/wav.h"
#include "toneguard/engine/card_data.h"
#include "toneguard/engine/gateway_client.h"
#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/payment_dialog.h"
#include "toneguard/engine/prompt_plan.h"
#include "toneguard/engine/prompt_set.h"
#include "toneguard/engine/sandbox_gateway.h"

namespace {

namespace engine = toneguard::engine;
namespace dsp = toneguard::dsp;
namespace json = boost::json;

constexpr const char* usage_text = R"(usage: toneguard-dialog [OPTION]...
Runs one secure payment dialog without a call: a scripted caller answers each question, the
gateway is really called (the embedded sandbox gateway over HTTPS unless the config names
another), time is simulated. Prints one JSON line per action and progress event on stdout, the
result last; never a digit of card data.

  --config FILE         payment config (TOML, [payment] table); default: built-in defaults
  --keys SCRIPT         the caller's answers, one group per question, separated by ','; a
                        group is typed after the question's prompt ends. "-" answers nothing
                        (the timer runs out), "hangup" hangs up there. Example:
                        "4111111111111111#,1,1230,1,123"
  --key-interval MS     time between two keys of a group (default 300)
  --payment-id ID       (default dialog-1)
  --account ID          customer or account id
  --amount DECIMAL      the amount to charge ("19.99"); absent: the caller enters it
  --balance DECIMAL     the outstanding balance the caller may pay in full
  --reference TEXT      payment reference
  --mode MODE           automated or agent-assisted (default: the config's)
  --treatment T         removed or stay-on-line (default: the config's)
  --unidentified        the caller must be identified first (default: identified)
  --today YYYY-MM-DD    the caller's date, for expiry checks (default: today)
  --prompts DIR         a prompt set (manifest.tsv) to time and render prompts with; without
                        it every phrase lasts 500 ms
  --audio-out FILE      with --prompts: write what the caller hears as an 8 kHz WAV (a
                        read-back of card data stays silent in it)
  --help                this text

Exit status: 0 when the dialog finished (whatever its result), 2 on bad options or config.
)";

[[noreturn]] void fail_usage(const std::string& message) {
  std::fprintf(stderr, "toneguard-dialog: %s\n", message.c_str());
  std::exit(2);
}

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) fail_usage("cannot open " + path);
  std::string text;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
  std::fclose(f);
  return text;
}

struct options {
  std::string config_file;
  std::vector<std::string> key_groups;
  int key_interval_ms = 300;
  engine::payment_request request;
  std::string amount_text;
  std::string balance_text;
  engine::calendar_date today;
  std::string prompts_dir;
  std::string audio_out;
};

engine::calendar_date today_local() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return {local.tm_year + 1900, local.tm_mon + 1, local.tm_mday};
}

std::vector<std::string> split_groups(std::string_view script) {
  std::vector<std::string> groups;
  std::size_t start = 0;
  while (start <= script.size()) {
    const std::size_t comma = std::min(script.find(',', start), script.size());
    groups.emplace_back(script.substr(start, comma - start));
    start = comma + 1;
  }
  for (const std::string& g : groups) {
    if (g == "-" || g == "hangup") continue;
    if (g.empty() || g.find_first_not_of("0123456789*#ABCD") != std::string::npos) {
      fail_usage("--keys: group \"" + std::string(g.size() > 24 ? "(long)" : "") +
                 "\" must be keys 0-9 * # A-D, \"-\" or \"hangup\"");
    }
  }
  return groups;
}

options parse_options(int argc, char** argv) {
  options o;
  o.request.payment_id = "dialog-1";
  o.request.identified = true;
  o.today = today_local();
  for (int i = 1; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (name == "--help") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    }
    if (name == "--unidentified") {
      o.request.identified = false;
      continue;
    }
    if (i + 1 >= argc) fail_usage("option " + std::string(name) + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (name == "--config") {
      o.config_file = value;
    } else if (name == "--keys") {
      o.key_groups = split_groups(value);
    } else if (name == "--key-interval") {
      o.key_interval_ms = std::atoi(value.c_str());
      if (o.key_interval_ms < 1 || o.key_interval_ms > 60'000) {
        fail_usage("--key-interval: expected 1..60000 ms");
      }
    } else if (name == "--payment-id") {
      o.request.payment_id = value;
    } else if (name == "--account") {
      o.request.account_id = value;
    } else if (name == "--amount") {
      o.amount_text = value;
    } else if (name == "--balance") {
      o.balance_text = value;
    } else if (name == "--reference") {
      o.request.reference = value;
    } else if (name == "--mode") {
      if (value == "automated") {
        o.request.mode = engine::payment_mode::automated;
      } else if (value == "agent-assisted") {
        o.request.mode = engine::payment_mode::agent_assisted;
      } else {
        fail_usage("--mode: expected automated or agent-assisted");
      }
    } else if (name == "--treatment") {
      if (value == "removed") {
        o.request.treatment = engine::agent_treatment::removed;
      } else if (value == "stay-on-line") {
        o.request.treatment = engine::agent_treatment::stay_on_line;
      } else {
        fail_usage("--treatment: expected removed or stay-on-line");
      }
    } else if (name == "--today") {
      engine::calendar_date d{};
      if (std::sscanf(value.c_str(), "%4d-%2d-%2d", &d.year, &d.month, &d.day) != 3 ||
          d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31) {
        fail_usage("--today: expected YYYY-MM-DD");
      }
      o.today = d;
    } else if (name == "--prompts") {
      o.prompts_dir = value;
    } else if (name == "--audio-out") {
      o.audio_out = value;
    } else {
      fail_usage("unknown option " + std::string(name) + " (see --help)");
    }
  }
  if (!o.audio_out.empty() && o.prompts_dir.empty()) fail_usage("--audio-out needs --prompts");
  return o;
}

// --- output ---------------------------------------------------------------------------------

void print_line(std::int64_t t_ms, json::object fields) {
  fields.emplace("t_ms", t_ms);
  std::puts(json::serialize(fields).c_str());
}

json::object context_json(const engine::call_context& context) {
  json::object o;
  for (const auto& [k, v] : context) o.emplace(k, v);
  return o;
}

json::object result_json(const engine::payment_result& r) {
  json::object o;
  o.emplace("outcome", engine::result_name(r.outcome));
  o.emplace("payment_id", r.payment_id);
  o.emplace("transaction_reference", r.transaction_reference);
  o.emplace("transaction_id", r.transaction_id);
  o.emplace("brand", engine::brand_name(r.brand));
  o.emplace("last_four", r.last_four);
  o.emplace("amount", engine::format_decimal({r.amount_minor, r.payment_currency}));
  o.emplace("currency", r.payment_currency.code);
  o.emplace("customer_id", r.customer_id);
  o.emplace("attempts", r.attempts);
  o.emplace("declines", r.declines);
  o.emplace("failed_entries", r.failed_entries);
  if (r.failed_field) o.emplace("failed_field", engine::field_name(*r.failed_field));
  o.emplace("error", r.error);
  o.emplace("duration_ms", r.finished_ms - r.started_ms);
  return o;
}

json::object progress_json(const engine::progress_event& e) {
  json::object o;
  o.emplace("progress", engine::progress_kind_name(e.kind));
  if (e.field) o.emplace("field", engine::field_name(*e.field));
  if (e.kind == engine::progress_kind::digits_entered) o.emplace("digits", e.digits);
  if (e.brand != engine::card_brand::unknown) o.emplace("brand", engine::brand_name(e.brand));
  if (!e.error.empty()) o.emplace("error", e.error);
  if (e.attempt > 0) {
    o.emplace("attempt", e.attempt);
    o.emplace("max_attempts", e.max_attempts);
  }
  if (e.outcome) o.emplace("outcome", engine::result_name(*e.outcome));
  return o;
}

// --- the simulated call ---------------------------------------------------------------------

/// Runs the dialog in simulated time: events are queued by time and delivered in order.
class dialog_run {
 public:
  dialog_run(engine::payment_dialog& dialog, const engine::gateway_client& gateway,
             const dsp::prompt_audio* audio, const options& o)
      : dialog_(dialog), gateway_(gateway), audio_(audio), options_(o) {}

  /// Runs to the finish; returns the result.
  engine::payment_result run() {
    execute(dialog_.start(now_), now_);
    while (!dialog_.finished()) {
      // The next thing that happens: a queued event, or the dialog's own deadline.
      std::optional<std::int64_t> deadline = dialog_.next_deadline_ms();
      const bool event_first = !queue_.empty() && (!deadline || queue_.top().at_ms <= *deadline);
      if (!event_first && !deadline) {
        // Nothing can happen any more: the dialog waits for something the caller never does.
        std::fputs("toneguard-dialog: the dialog is stuck (nothing queued, no deadline)\n", stderr);
        break;
      }
      if (event_first) {
        queued_event next = queue_.top();
        queue_.pop();
        now_ = std::max(now_, next.at_ms);
        execute(dialog_.on_event(next.event, now_), now_);
        on_delivered(next.event, now_);
      } else {
        now_ = std::max(now_, *deadline);
        execute(dialog_.on_event(engine::timer_expired{}, now_), now_);
      }
    }
    if (!options_.audio_out.empty()) write_audio();
    return dialog_.result().value_or(engine::payment_result{});
  }

 private:
  struct queued_event {
    std::int64_t at_ms;
    std::uint64_t order;  // FIFO among events of the same time
    engine::dialog_event event;
  };
  struct later {
    bool operator()(const queued_event& a, const queued_event& b) const {
      return a.at_ms != b.at_ms ? a.at_ms > b.at_ms : a.order > b.order;
    }
  };

  void post(std::int64_t at_ms, engine::dialog_event e) {
    queue_.push({at_ms, ++order_, std::move(e)});
  }

  std::int64_t prompt_length_ms(const engine::prompt_plan& plan) const {
    if (audio_ == nullptr) return 500 * static_cast<std::int64_t>(plan.phrases.size());
    std::size_t samples = 0;
    for (const std::string& id : plan.phrases) samples += audio_->find(id).size();
    return static_cast<std::int64_t>(samples * 1000 / dsp::prompt_audio::sample_rate_hz);
  }

  // The caller answers the current question once its prompt has played: the next key group
  // goes out then.
  void answer_when_ready(std::int64_t now) {
    if (!answer_due_ || prompt_playing_) return;
    answer_due_ = false;
    if (next_group_ >= options_.key_groups.size()) return;  // the caller stays silent
    const std::string& group = options_.key_groups[next_group_++];
    if (group == "-") return;
    if (group == "hangup") {
      post(now + options_.key_interval_ms, engine::caller_hung_up{});
      return;
    }
    std::int64_t at = now;
    for (char key : group) {
      at += options_.key_interval_ms;
      post(at, engine::key_pressed{key});
    }
  }

  void execute(const std::vector<engine::dialog_action>& actions, std::int64_t now) {
    for (const engine::dialog_action& action : actions)
      std::visit([&](const auto& a) { on(a, now); }, action);
    answer_when_ready(now);
  }

  void on(const engine::play_prompt& a, std::int64_t now) {
    // One channel toward the caller: a prompt given while another plays follows it.
    const std::int64_t start = std::max(now, channel_free_at_);
    const std::int64_t length = prompt_length_ms(a.plan);
    channel_free_at_ = start + length;
    json::object line{
        {"action", "play_prompt"}, {"id", a.id}, {"barge_in", a.barge_in}, {"length_ms", length}};
    if (a.plan.reads_card_data) {
      line.emplace("phrases", "[reads card data: not shown]");
    } else {
      json::array phrases;
      for (const std::string& p : a.plan.phrases) phrases.emplace_back(p);
      line.emplace("phrases", std::move(phrases));
    }
    print_line(now, std::move(line));
    playing_id_ = a.id;
    prompt_playing_ = true;
    // A read-back of card data is spoken to the caller only: the file keeps silence there, as a
    // recording must.
    if (audio_ != nullptr && !options_.audio_out.empty() && !a.plan.reads_card_data) {
      if (auto pcm = audio_->render(a.plan.phrases)) place_audio(start, pcm.value());
    }
    post(start + length, engine::prompt_finished{a.id});
  }

  void on(const engine::stop_prompt& a, std::int64_t now) {
    print_line(now, {{"action", "stop_prompt"}, {"id", a.id}});
    if (a.id == playing_id_) prompt_playing_ = false;
    // Barge-in silences the channel: what was still to play of it is not heard.
    channel_free_at_ = now;
    track_.resize(std::min(track_.size(), static_cast<std::size_t>(now) * 8));
  }

  void on(const engine::collect_field& a, std::int64_t now) {
    print_line(now, {{"action", "collect_field"},
                     {"field", engine::field_name(a.field)},
                     {"confirmation", a.confirmation},
                     {"min_keys", a.min_keys},
                     {"max_keys", a.max_keys},
                     {"attempt", a.attempt},
                     {"max_attempts", a.max_attempts}});
    answer_due_ = true;
  }

  void on(const engine::set_masking& a, std::int64_t now) {
    print_line(now,
               {{"action", "set_masking"}, {"on", a.on}, {"mode", engine::masking_name(a.mode)}});
  }

  void on(const engine::remove_agent&, std::int64_t now) {
    print_line(now, {{"action", "remove_agent"}});
  }

  void on(const engine::call_gateway& a, std::int64_t now) {
    print_line(now, {{"action", "call_gateway"},
                     {"transaction_id", a.request.transaction_id},
                     {"amount", engine::format_decimal(a.request.amount)},
                     {"currency", a.request.amount.code.code}});
    // The client copies the card values before it returns; the reply takes real time, which
    // the simulated clock then skips.
    const engine::gateway_reply reply = gateway_.charge(a.request, dialog_.card());
    std::fprintf(stderr, "toneguard-dialog: gateway replied %s in %lld ms\n",
                 reply.outcome == engine::gateway_outcome::approved   ? "approved"
                 : reply.outcome == engine::gateway_outcome::declined ? "declined"
                                                                      : "error",
                 static_cast<long long>(reply.latency_ms));
    post(now + std::max<std::int64_t>(reply.latency_ms, 1),
         engine::gateway_replied{a.request.transaction_id, reply});
  }

  void on(const engine::verify_identity& a, std::int64_t now) {
    print_line(now, {{"action", "verify_identity"}, {"request_id", a.request.request_id}});
    const engine::identity_reply reply = gateway_.identify(a.request, dialog_.card());
    post(now + std::max<std::int64_t>(reply.latency_ms, 1),
         engine::identity_replied{a.request.request_id, reply});
  }

  void on(const engine::transfer_call& a, std::int64_t now) {
    const bool for_identification = a.purpose == engine::transfer_purpose::identification;
    print_line(now, {{"action", "transfer_call"},
                     {"purpose", for_identification ? "identification" : "exit-queue"},
                     {"target", a.target},
                     {"context", context_json(a.context)}});
    if (for_identification) {
      // The identification application identifies the caller and hands the call back.
      engine::identity_reply back;
      back.outcome = engine::identity_outcome::verified;
      back.customer_id = "identified-by-transfer";
      post(now + 5'000, engine::identity_replied{"", back});
    }
  }

  void on(const engine::return_to_agent& a, std::int64_t now) {
    print_line(now, {{"action", "return_to_agent"}, {"context", context_json(a.context)}});
  }

  void on(const engine::return_to_ivr& a, std::int64_t now) {
    print_line(now, {{"action", "return_to_ivr"}, {"context", context_json(a.context)}});
  }

  void on(const engine::finish_payment& a, std::int64_t now) {
    json::object line{{"action", "finish_payment"}};
    line.emplace("result", result_json(a.result));
    print_line(now, std::move(line));
  }

  void on(const engine::report_progress& a, std::int64_t now) {
    print_line(now, progress_json(a.event));
  }

  // prompt_finished is queued for every prompt; once the latest prompt has finished, the
  // caller may answer.
  void on_delivered(const engine::dialog_event& e, std::int64_t now) {
    if (const auto* f = std::get_if<engine::prompt_finished>(&e); f && f->id == playing_id_) {
      prompt_playing_ = false;
      answer_when_ready(now);
    }
  }

  // The caller-side audio track: each prompt placed at its start time, cut where stopped.
  void place_audio(std::int64_t now, const std::vector<std::int16_t>& pcm) {
    const std::size_t at = static_cast<std::size_t>(now) * 8;
    if (track_.size() < at + pcm.size()) track_.resize(at + pcm.size(), 0);
    std::copy(pcm.begin(), pcm.end(), track_.begin() + static_cast<std::ptrdiff_t>(at));
  }

  void write_audio() {
    if (auto error = dsp::write_wav_file(options_.audio_out, 8000, track_)) {
      std::fprintf(stderr, "toneguard-dialog: %s\n", error->c_str());
    }
  }

  engine::payment_dialog& dialog_;
  const engine::gateway_client& gateway_;
  const dsp::prompt_audio* audio_;
  const options& options_;
  std::priority_queue<queued_event, std::vector<queued_event>, later> queue_;
  std::uint64_t order_ = 0;
  std::int64_t now_ = 0;
  std::uint64_t playing_id_ = 0;
  std::int64_t channel_free_at_ = 0;
  bool prompt_playing_ = false;
  bool answer_due_ = false;
  std::size_t next_group_ = 0;
  std::vector<std::int16_t> track_;
};

}  // namespace

int main(int argc, char** argv) {
  engine::make_process_undumpable();
  options o = parse_options(argc, argv);

  engine::payment_config config = engine::default_payment_config();
  if (!o.config_file.empty()) {
    auto parsed = engine::parse_payment_config(read_file(o.config_file), o.config_file);
    if (!parsed) fail_usage(parsed.message());
    config = std::move(parsed).value();
  }
  const engine::currency& money_unit = config.payment_currency;
  if (!o.amount_text.empty()) {
    o.request.amount_minor = engine::parse_decimal_amount(o.amount_text, money_unit);
    if (!o.request.amount_minor)
      fail_usage("--amount: not an amount in " + std::string(money_unit.code));
  }
  if (!o.balance_text.empty()) {
    o.request.balance_minor = engine::parse_decimal_amount(o.balance_text, money_unit);
    if (!o.request.balance_minor)
      fail_usage("--balance: not an amount in " + std::string(money_unit.code));
  }

  const engine::prompt_language* language = engine::find_language(config.language);
  if (language == nullptr) fail_usage("no prompt language '" + config.language + "'");
  std::optional<dsp::prompt_audio> audio;
  if (!o.prompts_dir.empty()) {
    auto set = engine::load_prompt_set(o.prompts_dir);
    if (!set) fail_usage(set.message());
    if (auto missing = engine::check_complete(set.value(), *language)) fail_usage(missing->message);
    std::vector<dsp::prompt_file> files;
    for (auto& [id, path] : set.value().files()) files.push_back({id, path});
    auto loaded = dsp::prompt_audio::load(files);
    if (!loaded) fail_usage(loaded.error_message());
    audio.emplace(std::move(loaded).value());
  }

  // The gateway: the embedded sandbox over HTTPS on loopback, trusted by its own certificate,
  // unless the config names a real one.
  std::unique_ptr<engine::sandbox_gateway> sandbox;
  engine::gateway_settings gateway_settings = config.gateway;
  if (gateway_settings.url == "sandbox" || gateway_settings.identify_url == "sandbox") {
    engine::sandbox_settings s;
    s.delay_scale = 0.01;
    auto started = engine::sandbox_gateway::start(s);
    if (!started) fail_usage("sandbox gateway: " + started.message());
    sandbox = std::move(started).value();
    if (gateway_settings.url == "sandbox") gateway_settings.url = sandbox->url();
    if (gateway_settings.identify_url == "sandbox")
      gateway_settings.identify_url = sandbox->identify_url();
    gateway_settings.username = s.username;
    gateway_settings.password = s.password;
    gateway_settings.ca_pem = sandbox->certificate_pem();
  }
  boost::asio::io_context io;
  auto client = engine::gateway_client::create(io, gateway_settings);
  if (!client) fail_usage("gateway: " + client.message());

  engine::payment_dialog dialog(config, o.request, *language, o.today);
  dialog_run run(dialog, client.value(), audio ? &*audio : nullptr, o);
  const engine::payment_result result = run.run();
  if (sandbox) sandbox->stop();
  std::fflush(stdout);
  std::fprintf(stderr, "toneguard-dialog: %s\n",
               std::string(engine::result_name(result.outcome)).c_str());
  return 0;
}
