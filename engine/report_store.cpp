#include "toneguard/engine/report_store.h"

#include <array>
#include <boost/json.hpp>
#include <utility>

#include "digit_runs.h"
#include "report_store_backend.h"

namespace toneguard::engine {

namespace {

// --- card data refused -----------------------------------------------------------------------

// Text longer than this is refused: ids, names and reasons are short, and a bound keeps the
// card-number scan below cheap.
constexpr std::size_t kMaxText = 1024;

// True when `s` holds a run of 12 or more digits (spaces and dashes between digits allowed)
// in which 12..19 digits in a row pass Luhn: a card number, possibly inside a longer number.
bool looks_like_card_number(std::string_view s) {
  return detail::any_digit_run(s, [](std::string_view run) {
    for (std::size_t start = 0; start + 12 <= run.size(); ++start) {
      for (std::size_t len = 12; len <= 19 && start + len <= run.size(); ++len) {
        if (luhn_valid(run.substr(start, len))) return true;
      }
    }
    return false;
  });
}

// --- names -----------------------------------------------------------------------------------

constexpr std::array<std::string_view, 3> kSegmentKinds{"agent", "secure-ivr", "payment-provider"};

std::string optional_number(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : std::string();
}

// The card-data and size checks of one text field; nullopt when it may be stored. Both
// backends store only what passed here.
std::optional<failure> refuse_text(std::string_view name, std::string_view operation,
                                   std::string_view field, std::string_view value) {
  if (value.size() > kMaxText) {
    return detail::report_failure(name, operation,
                                  std::string(field) + " is longer than " +
                                      std::to_string(kMaxText) + " bytes; nothing stored");
  }
  if (looks_like_card_number(value)) {
    return detail::report_failure(name, operation,
                                  std::string(field) + " looks like a card number; nothing stored");
  }
  // PostgreSQL's text cannot hold a NUL byte; refused in both stores so they keep the same rows.
  if (value.find('\0') != std::string_view::npos) {
    return detail::report_failure(name, operation,
                                  std::string(field) + " holds a NUL byte; nothing stored");
  }
  return std::nullopt;
}

}  // namespace

namespace detail {

failure report_failure(std::string_view name, std::string_view operation,
                       std::string_view problem) {
  std::string message = "report store ";
  message += name;
  message += ": ";
  message += operation;
  message += ": ";
  message += problem;
  return failure{std::move(message)};
}

std::string unknown_segment(std::int64_t segment_id) {
  return "unknown segment " + std::to_string(segment_id);
}
std::string segment_already_ended(std::int64_t segment_id) {
  return "segment " + std::to_string(segment_id) + " has already ended";
}
std::string segment_ends_before_start(std::int64_t segment_id) {
  return "segment " + std::to_string(segment_id) + " would end before it began";
}

std::optional<payment_mode> mode_from_name(std::string_view name) {
  for (const auto m : {payment_mode::automated, payment_mode::agent_assisted}) {
    if (mode_name(m) == name) return m;
  }
  return std::nullopt;
}

std::optional<payment_outcome> outcome_from_name(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(payment_outcome::cancelled); ++i) {
    const auto o = static_cast<payment_outcome>(i);
    if (result_name(o) == name) return o;
  }
  return std::nullopt;
}

bool is_postgres_location(std::string_view location) noexcept {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

#ifndef TONEGUARD_HAVE_LIBPQ
outcome<std::unique_ptr<report_backend>> open_postgres_store(const std::string&,
                                                             const std::string& name) {
  return report_failure(name, "cannot open", "built without PostgreSQL support");
}
#endif

}  // namespace detail

std::string report_location_without_password(std::string_view location) {
  if (!detail::is_postgres_location(location)) return std::string(location);
  // postgresql://[user[:password]@][hosts][/dbname][?param=value&...]
  const std::size_t authority = location.find("://") + 3;
  const std::size_t authority_end = location.find_first_of("/?", authority);
  const std::string_view hosts = location.substr(authority, authority_end == std::string_view::npos
                                                                ? std::string_view::npos
                                                                : authority_end - authority);
  std::string out(location.substr(0, authority));
  if (const std::size_t at = hosts.rfind('@'); at != std::string_view::npos) {
    const std::string_view user = hosts.substr(0, at);
    const std::size_t colon = user.find(':');
    out += user.substr(0, colon);
    if (colon != std::string_view::npos) out += ":***";
    out += hosts.substr(at);
  } else {
    out += hosts;
  }
  if (authority_end == std::string_view::npos) return out;
  const std::size_t query = location.find('?', authority_end);
  out += location.substr(authority_end, query == std::string_view::npos ? std::string_view::npos
                                                                        : query - authority_end);
  if (query == std::string_view::npos) return out;
  // Each parameter kept, the password's value masked.
  std::string_view params = location.substr(query + 1);
  out += '?';
  bool first = true;
  while (true) {
    const std::size_t amp = params.find('&');
    const std::string_view param = params.substr(0, amp);
    if (!first) out += '&';
    first = false;
    if (param.starts_with("password=")) {
      out += "password=***";
    } else {
      out += param;
    }
    if (amp == std::string_view::npos) break;
    params.remove_prefix(amp + 1);
  }
  return out;
}

std::string_view segment_kind_name(segment_kind k) noexcept {
  const auto i = static_cast<std::size_t>(k);
  return i < kSegmentKinds.size() ? kSegmentKinds[i] : "agent";
}

std::optional<segment_kind> segment_kind_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kSegmentKinds.size(); ++i) {
    if (kSegmentKinds[i] == name) return static_cast<segment_kind>(i);
  }
  return std::nullopt;
}

// --- the store: arguments checked here, once, then handed to its backend --------------------

struct report_store::impl {
  // The location as messages name it (no password).
  std::string name;
  std::unique_ptr<detail::report_backend> backend;

  [[nodiscard]] failure fail(std::string_view operation, std::string_view problem) const {
    return detail::report_failure(name, operation, problem);
  }
  [[nodiscard]] std::optional<failure> refuse(std::string_view operation, std::string_view field,
                                              std::string_view value) const {
    return refuse_text(name, operation, field, value);
  }
};

report_store::report_store(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
report_store::report_store(report_store&&) noexcept = default;
report_store& report_store::operator=(report_store&&) noexcept = default;
report_store::~report_store() = default;

outcome<report_store> report_store::open(const std::string& location) {
  auto s = std::make_unique<impl>();
  s->name = report_location_without_password(location);
  auto backend = detail::is_postgres_location(location)
                     ? detail::open_postgres_store(location, s->name)
                     : detail::open_sqlite_store(location);
  if (!backend) return failure{backend.message()};
  s->backend = std::move(backend).value();
  return report_store(std::move(s));
}

outcome<stored> report_store::record_call_started(const call_record& call) {
  const impl& s = *impl_;
  constexpr std::string_view op = "record_call_started";
  if (call.call_id.empty()) return s.fail(op, "empty call_id");
  if (call.ended_at_ms || !call.end_reason.empty()) {
    return s.fail(op, "a call starts without an end (use record_call_ended)");
  }
  const std::pair<std::string_view, std::string_view> texts[] = {{"call_id", call.call_id},
                                                                 {"node", call.node}};
  for (const auto& [field, value] : texts) {
    if (auto refused = s.refuse(op, field, value)) return *refused;
  }
  return s.backend->record_call_started(call);
}

outcome<stored> report_store::record_call_ended(std::string_view call_id, std::int64_t ended_at_ms,
                                                std::string_view reason) {
  const impl& s = *impl_;
  constexpr std::string_view op = "record_call_ended";
  if (auto refused = s.refuse(op, "call_id", call_id)) return *refused;
  if (auto refused = s.refuse(op, "end_reason", reason)) return *refused;
  return s.backend->record_call_ended(call_id, ended_at_ms, reason);
}

outcome<std::int64_t> report_store::begin_segment(std::string_view call_id, segment_kind kind,
                                                  std::int64_t started_at_ms,
                                                  std::optional<std::string_view> payment_id) {
  const impl& s = *impl_;
  constexpr std::string_view op = "begin_segment";
  if (auto refused = s.refuse(op, "call_id", call_id)) return *refused;
  if (payment_id) {
    if (auto refused = s.refuse(op, "payment_id", *payment_id)) return *refused;
  }
  if (static_cast<std::size_t>(kind) >= kSegmentKinds.size()) {
    return s.fail(op, "unknown segment kind");
  }
  return s.backend->begin_segment(call_id, kind, started_at_ms, payment_id);
}

outcome<stored> report_store::end_segment(std::int64_t segment_id, std::int64_t ended_at_ms,
                                          std::string_view outcome_text) {
  const impl& s = *impl_;
  if (auto refused = s.refuse("end_segment", "outcome", outcome_text)) return *refused;
  return s.backend->end_segment(segment_id, ended_at_ms, outcome_text);
}

outcome<stored> report_store::record_payment(const payment_record& p) {
  const impl& s = *impl_;
  constexpr std::string_view op = "record_payment";
  if (p.payment_id.empty()) return s.fail(op, "empty payment_id");
  const std::pair<std::string_view, std::string_view> texts[] = {
      {"payment_id", p.payment_id},
      {"call_id", p.call_id},
      {"currency", p.currency},
      {"last_four", p.last_four},
      {"transaction_reference", p.transaction_reference},
      {"transaction_id", p.transaction_id},
  };
  for (const auto& [field, value] : texts) {
    if (auto refused = s.refuse(op, field, value)) return *refused;
  }
  if (p.last_four.size() > 4) return s.fail(op, "last_four has more than 4 digits; nothing stored");
  for (const char c : p.last_four) {
    if (c < '0' || c > '9') return s.fail(op, "last_four holds a non-digit; nothing stored");
  }
  if (p.attempts < 0 || p.declines < 0) return s.fail(op, "negative attempts or declines");
  if (!detail::mode_from_name(mode_name(p.mode))) return s.fail(op, "unknown payment mode");
  if (!detail::outcome_from_name(result_name(p.outcome))) {
    return s.fail(op, "unknown payment outcome");
  }
  return s.backend->record_payment(p);
}

outcome<report_page> report_store::query_calls(const report_query& query) {
  const impl& s = *impl_;
  constexpr std::string_view op = "query_calls";
  constexpr std::size_t kMaxLimit = 100000;
  if (query.limit < 1 || query.limit > kMaxLimit) {
    return s.fail(op, "limit must be 1.." + std::to_string(kMaxLimit));
  }
  if (query.call_id) {
    if (auto refused = s.refuse(op, "call_id", *query.call_id)) return *refused;
  }
  return s.backend->query_calls(query);
}

// --- export ---------------------------------------------------------------------------------

namespace {

void append_csv_field(std::string& out, std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += v;
    return;
  }
  out += '"';
  for (const char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_csv_row(std::string& out, std::initializer_list<std::string_view> fields) {
  bool first = true;
  for (const auto f : fields) {
    if (!first) out += ',';
    first = false;
    append_csv_field(out, f);
  }
  out += "\r\n";
}

boost::json::value optional_json(const std::optional<std::int64_t>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

}  // namespace

std::string export_csv(const report_page& page) {
  std::string out;
  append_csv_row(
      out, {"record", "call_id", "node", "kind", "started_at_ms", "ended_at_ms", "outcome",
            "segment_id", "payment_id", "mode", "amount_minor", "currency", "brand", "last_four",
            "transaction_reference", "transaction_id", "attempts", "declines"});
  for (const auto& r : page.calls) {
    const auto& c = r.call;
    append_csv_row(out, {"call", c.call_id, c.node, "", std::to_string(c.started_at_ms),
                         optional_number(c.ended_at_ms), c.end_reason, "", "", "", "", "", "", "",
                         "", "", "", ""});
    for (const auto& seg : r.segments) {
      append_csv_row(out, {"segment", seg.call_id, "", segment_kind_name(seg.kind),
                           std::to_string(seg.started_at_ms), optional_number(seg.ended_at_ms),
                           seg.outcome, std::to_string(seg.id), seg.payment_id.value_or(""), "", "",
                           "", "", "", "", "", "", ""});
    }
    for (const auto& p : r.payments) {
      append_csv_row(
          out, {"payment", p.call_id, "", "", std::to_string(p.started_at_ms),
                std::to_string(p.finished_at_ms), result_name(p.outcome), "", p.payment_id,
                mode_name(p.mode), std::to_string(p.amount_minor), p.currency, brand_name(p.brand),
                p.last_four, p.transaction_reference, p.transaction_id, std::to_string(p.attempts),
                std::to_string(p.declines)});
    }
  }
  return out;
}

std::string export_json(const report_page& page) {
  boost::json::array calls;
  for (const auto& r : page.calls) {
    boost::json::array segments;
    for (const auto& seg : r.segments) {
      segments.push_back(boost::json::object{
          {"id", seg.id},
          {"kind", segment_kind_name(seg.kind)},
          {"started_at_ms", seg.started_at_ms},
          {"ended_at_ms", optional_json(seg.ended_at_ms)},
          {"outcome", seg.outcome},
          {"payment_id",
           seg.payment_id ? boost::json::value(*seg.payment_id) : boost::json::value(nullptr)},
      });
    }
    boost::json::array payments;
    for (const auto& p : r.payments) {
      payments.push_back(boost::json::object{
          {"payment_id", p.payment_id},
          {"mode", mode_name(p.mode)},
          {"outcome", result_name(p.outcome)},
          {"amount_minor", p.amount_minor},
          {"currency", p.currency},
          {"brand", brand_name(p.brand)},
          {"last_four", p.last_four},
          {"transaction_reference", p.transaction_reference},
          {"transaction_id", p.transaction_id},
          {"attempts", p.attempts},
          {"declines", p.declines},
          {"started_at_ms", p.started_at_ms},
          {"finished_at_ms", p.finished_at_ms},
      });
    }
    calls.push_back(boost::json::object{
        {"call_id", r.call.call_id},
        {"node", r.call.node},
        {"started_at_ms", r.call.started_at_ms},
        {"ended_at_ms", optional_json(r.call.ended_at_ms)},
        {"end_reason", r.call.end_reason},
        {"segments", std::move(segments)},
        {"payments", std::move(payments)},
    });
  }
  return boost::json::serialize(
      boost::json::object{{"calls", std::move(calls)}, {"truncated", page.truncated}});
}

}  // namespace toneguard::engine
