#pragma once
// The reporting store's backends (internal to engine): report_store (report_store.cpp) checks
// every argument once (card data, sizes, names, limits) and then calls one backend, which only
// stores and reads: SQLite (report_store_sqlite.cpp) or PostgreSQL (report_store_postgres.cpp).
// Both keep the same tables, constraints and query order, and fail with the same messages.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "toneguard/engine/report_store.h"

namespace toneguard::engine::detail {

/// Operations on checked arguments (report_store.h says what each does). Every failure comes
/// from report_failure, named after the store. One thread at a time (report_store's owner).
class report_backend {
 public:
  virtual ~report_backend() = default;

  [[nodiscard]] virtual outcome<stored> record_call_started(const call_record& call) = 0;
  [[nodiscard]] virtual outcome<stored> record_call_ended(std::string_view call_id,
                                                          std::int64_t ended_at_ms,
                                                          std::string_view reason) = 0;
  [[nodiscard]] virtual outcome<std::int64_t> begin_segment(
      std::string_view call_id, segment_kind kind, std::int64_t started_at_ms,
      std::optional<std::string_view> payment_id) = 0;
  [[nodiscard]] virtual outcome<stored> end_segment(std::int64_t segment_id,
                                                    std::int64_t ended_at_ms,
                                                    std::string_view outcome) = 0;
  [[nodiscard]] virtual outcome<stored> record_payment(const payment_record& payment) = 0;
  /// `query.limit` is 1..100000 here.
  [[nodiscard]] virtual outcome<report_page> query_calls(const report_query& query) = 0;
};

/// "report store NAME: OPERATION: PROBLEM", the one shape of every store message.
[[nodiscard]] failure report_failure(std::string_view name, std::string_view operation,
                                     std::string_view problem);

/// The messages both backends give for the same refusal, so callers see one wording.
inline constexpr std::string_view kCallAlreadyRecorded = "the call is already recorded";
inline constexpr std::string_view kUnknownCall = "unknown call";
inline constexpr std::string_view kCallAlreadyEnded = "the call has already ended";
inline constexpr std::string_view kCallEndsBeforeStart = "the call would end before it started";
inline constexpr std::string_view kPaymentAlreadyRecorded = "the payment is already recorded";
[[nodiscard]] std::string unknown_segment(std::int64_t segment_id);
[[nodiscard]] std::string segment_already_ended(std::int64_t segment_id);
[[nodiscard]] std::string segment_ends_before_start(std::int64_t segment_id);

/// Names read back from a row; nullopt for a name this build does not know.
[[nodiscard]] std::optional<payment_mode> mode_from_name(std::string_view name);
[[nodiscard]] std::optional<payment_outcome> outcome_from_name(std::string_view name);

/// The messages of a row holding a name this build does not know.
inline constexpr std::string_view kUnknownSegmentKind = "a segment has an unknown kind";
inline constexpr std::string_view kUnknownPaymentName = "a payment has an unknown mode or outcome";

// The row readers below take any `Row` with text(column), optional_text(column),
// integer(column) and optional_integer(column): SQLite's statement and PostgreSQL's result read
// the same columns in the same order, so one conversion serves both.

/// The call in a row of `call_id, node, started_at_ms, ended_at_ms, end_reason`.
template <class Row>
[[nodiscard]] call_record call_from_row(const Row& row) {
  call_record call;
  call.call_id = row.text(0);
  call.node = row.text(1);
  call.started_at_ms = row.integer(2);
  call.ended_at_ms = row.optional_integer(3);
  call.end_reason = row.text(4);
  return call;
}

/// The segment in a row of `id, call_id, kind, started_at_ms, ended_at_ms, outcome,
/// payment_id`; nullopt for an unknown kind (kUnknownSegmentKind).
template <class Row>
[[nodiscard]] std::optional<segment_record> segment_from_row(const Row& row) {
  const auto kind = segment_kind_from_name(row.text(2));
  if (!kind) return std::nullopt;
  segment_record seg;
  seg.id = row.integer(0);
  seg.call_id = row.text(1);
  seg.kind = *kind;
  seg.started_at_ms = row.integer(3);
  seg.ended_at_ms = row.optional_integer(4);
  seg.outcome = row.text(5);
  seg.payment_id = row.optional_text(6);
  return seg;
}

/// The payment in a row of `payment_id, call_id, mode, outcome, amount_minor, currency, brand,
/// last_four, transaction_reference, transaction_id, attempts, declines, started_at_ms,
/// finished_at_ms`; nullopt for an unknown mode or outcome (kUnknownPaymentName).
template <class Row>
[[nodiscard]] std::optional<payment_record> payment_from_row(const Row& row) {
  const auto mode = mode_from_name(row.text(2));
  const auto result = outcome_from_name(row.text(3));
  if (!mode || !result) return std::nullopt;
  payment_record p;
  p.payment_id = row.text(0);
  p.call_id = row.text(1);
  p.mode = *mode;
  p.outcome = *result;
  p.amount_minor = row.integer(4);
  p.currency = row.text(5);
  p.brand = brand_from_name(row.text(6));
  p.last_four = row.text(7);
  p.transaction_reference = row.text(8);
  p.transaction_id = row.text(9);
  p.attempts = static_cast<int>(row.integer(10));
  p.declines = static_cast<int>(row.integer(11));
  p.started_at_ms = row.integer(12);
  p.finished_at_ms = row.integer(13);
  return p;
}

/// True for a location report_store::open gives to PostgreSQL: a postgresql:// or postgres://
/// URI.
[[nodiscard]] bool is_postgres_location(std::string_view location) noexcept;

/// The SQLite store at `path` (":memory:" for one in memory), schema created or checked.
[[nodiscard]] outcome<std::unique_ptr<report_backend>> open_sqlite_store(const std::string& path);

/// The PostgreSQL store at `uri` (messages name it as `name`), schema created or checked; a
/// failure when this build has no libpq.
[[nodiscard]] outcome<std::unique_ptr<report_backend>> open_postgres_store(const std::string& uri,
                                                                           const std::string& name);

}  // namespace toneguard::engine::detail
