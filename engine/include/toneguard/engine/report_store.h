#pragma once
/// The reporting store: each call's segments (agent, secure IVR, payment provider) and
/// payments, kept for history (product.md, Reporting) in an embedded SQLite file, the default,
/// or in a PostgreSQL database that every node writes to; queried by time range and call, and
/// exported as CSV or JSON. Both backends keep the same tables and answer the same queries.
///
/// No card data: every text written is refused (an error, nothing stored) when it holds a run
/// of 12 or more digits (spaces or dashes allowed between them) with 12..19 of them in a row
/// passing Luhn, i.e. anything that looks like a card number; a last four longer than four
/// digits is refused too. All times are wall-clock ms since the Unix epoch (UTC).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/payment_dialog.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// Who had the caller during a segment.
enum class segment_kind : std::uint8_t {
  agent,             // talking to the agent (keys masked when DTMF is blocked)
  secure_ivr,        // toneguard's payment dialog
  payment_provider,  // waiting for the payment gateway
};

/// "agent", "secure-ivr", "payment-provider".
[[nodiscard]] std::string_view segment_kind_name(segment_kind k) noexcept;
/// The kind named `name` as segment_kind_name writes it, or nullopt.
[[nodiscard]] std::optional<segment_kind> segment_kind_from_name(std::string_view name) noexcept;

/// One call (a row of `calls`). No phone numbers.
struct call_record {
  /// The call's id (the SIP Call-ID the ng protocol names it by).
  std::string call_id;
  /// The toneguard node that relayed it.
  std::string node;
  /// Wall clock, ms since the Unix epoch.
  std::int64_t started_at_ms = 0;
  /// Wall clock, ms since the Unix epoch; nullopt while the call lasts.
  std::optional<std::int64_t> ended_at_ms;
  /// Why it ended ("deleted", "timeout", ...); empty while the call lasts.
  std::string end_reason;

  friend bool operator==(const call_record&, const call_record&) = default;
};

/// One segment of a call (a row of `segments`).
struct segment_record {
  /// Given by the store, increasing in the order segments begin.
  std::int64_t id = 0;
  std::string call_id;
  segment_kind kind = segment_kind::agent;
  /// Wall clock, ms since the Unix epoch.
  std::int64_t started_at_ms = 0;
  /// Wall clock, ms since the Unix epoch; nullopt while the segment lasts.
  std::optional<std::int64_t> ended_at_ms;
  /// How it ended ("transferred", "returned-to-agent", a payment result name, ...); empty
  /// while the segment lasts.
  std::string outcome;
  /// The payment this segment belongs to (secure IVR, payment provider), if any.
  std::optional<std::string> payment_id;

  friend bool operator==(const segment_record&, const segment_record&) = default;
};

/// One finished payment (a row of `payments`): the payment_result without card data beyond
/// brand and last four.
struct payment_record {
  std::string payment_id;
  std::string call_id;
  payment_mode mode = payment_mode::automated;
  payment_outcome outcome = payment_outcome::internal_error;
  /// Minor units of `currency`.
  std::int64_t amount_minor = 0;
  /// ISO 4217 code, e.g. "USD"; empty when not decided.
  std::string currency;
  card_brand brand = card_brand::unknown;
  /// Empty, or at most four digits.
  std::string last_four;
  std::string transaction_reference;
  std::string transaction_id;
  int attempts = 0;
  int declines = 0;
  /// Wall clock, ms since the Unix epoch.
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;

  friend bool operator==(const payment_record&, const payment_record&) = default;
};

/// A call with its segments (in the order they began) and payments (in the order they started).
struct call_report {
  call_record call;
  std::vector<segment_record> segments;
  std::vector<payment_record> payments;
};

/// The calls a query found, in the order they started.
struct report_page {
  std::vector<call_report> calls;
  /// True when more calls matched than the query's limit.
  bool truncated = false;
};

/// Which calls a query returns: those that started in [from_ms, to_ms) (wall clock, ms since
/// the Unix epoch), only `call_id` when given, at most `limit` (1..100000) of them.
struct report_query {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::optional<std::string> call_id;
  std::size_t limit = 1000;
};

/// What a write returns when it succeeded.
struct stored {};

/// Calls, segments and payments in one of two backends, chosen by the location given to open:
/// - SQLite (any path): a file whose schema is versioned with `PRAGMA user_version`, WAL
///   journal, foreign keys on. Other processes (the sqlite3 shell) may read it meanwhile.
/// - PostgreSQL (a `postgresql://` or `postgres://` URI, libpq's form): tables calls, segments
///   and payments with the same columns and constraints, the version in table
///   toneguard_schema. Many nodes (stores) write to one database at once: calls are keyed by
///   call id, segment ids come from an identity column, each call carries its node's name.
///   A lost connection fails the operation that finds it ("cannot connect: ..."); a later one
///   connects again (at most one attempt a second, each bounded by connect_timeout, 5 s unless
///   the URI gives one), and a server restart between operations loses no write.
/// The schema is created on open; a newer schema version is refused. Every statement is
/// prepared with bound parameters.
///
/// Threads: one report_store belongs to one thread (the daemon runs it on its own thread);
/// it is movable, not copyable, and never used from two threads at once.
class report_store {
 public:
  /// Opens the store at `location`, creating the schema when missing or checking it:
  /// a PostgreSQL URI (see above), or the SQLite file at that path (created when missing;
  /// ":memory:" for an in-memory store). Messages name the location (a URI's password
  /// masked, see report_location_without_password) and the problem, e.g. "report store /x.db:
  /// cannot open: unable to open database file", "report store postgresql://tg:***@db/reports:
  /// record_call_started: cannot connect: ...". A URI in a build without libpq fails with
  /// "built without PostgreSQL support".
  [[nodiscard]] static outcome<report_store> open(const std::string& location);

  report_store(report_store&&) noexcept;
  report_store& operator=(report_store&&) noexcept;
  ~report_store();

  /// The schema version this build writes (SQLite: PRAGMA user_version; PostgreSQL: the row of
  /// toneguard_schema).
  static constexpr int schema_version = 1;

  /// Records a new call. Fails when `call.call_id` is already recorded, a field is refused
  /// (see the file comment), or `call` comes ended.
  [[nodiscard]] outcome<stored> record_call_started(const call_record& call);
  /// Ends a call at `ended_at_ms` (wall clock) with `reason`, and every segment of it still
  /// open with outcome "call-ended". Fails for an unknown or already ended call.
  [[nodiscard]] outcome<stored> record_call_ended(std::string_view call_id,
                                                  std::int64_t ended_at_ms,
                                                  std::string_view reason);
  /// Begins a segment of a recorded call at `started_at_ms` (wall clock); returns its id.
  [[nodiscard]] outcome<std::int64_t> begin_segment(
      std::string_view call_id, segment_kind kind, std::int64_t started_at_ms,
      std::optional<std::string_view> payment_id = std::nullopt);
  /// Ends segment `segment_id` at `ended_at_ms` (wall clock, not before it began) with
  /// `outcome`. Fails for an unknown or already ended segment.
  [[nodiscard]] outcome<stored> end_segment(std::int64_t segment_id, std::int64_t ended_at_ms,
                                            std::string_view outcome);
  /// Records a finished payment of a recorded call. Fails when its payment_id is already
  /// recorded or a field is refused.
  [[nodiscard]] outcome<stored> record_payment(const payment_record& payment);

  /// The calls `query` selects, each with its segments and payments, read in one transaction.
  [[nodiscard]] outcome<report_page> query_calls(const report_query& query);

 private:
  struct impl;
  explicit report_store(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

/// `location` (as report_store::open takes it) fit for logs and messages: a PostgreSQL URI's
/// password, in its user part or a password= parameter, replaced by "***"; a SQLite path as it
/// is. Any thread.
[[nodiscard]] std::string report_location_without_password(std::string_view location);

/// `page` as CSV (RFC 4180: CRLF line ends, fields with a comma, quote, CR or LF quoted with
/// quotes doubled). A header line, then per call a "call" row followed by its "segment" and
/// "payment" rows; columns: record, call_id, node, kind, started_at_ms, ended_at_ms, outcome
/// (end reason, segment outcome or payment result), segment_id, payment_id, mode,
/// amount_minor, currency, brand, last_four, transaction_reference, transaction_id, attempts,
/// declines. Empty fields where a column does not apply. Any thread.
[[nodiscard]] std::string export_csv(const report_page& page);

/// `page` as JSON: {"calls": [{"call_id", "node", "started_at_ms", "ended_at_ms" (null while
/// active), "end_reason", "segments": [{"id", "kind", "started_at_ms", "ended_at_ms",
/// "outcome", "payment_id" (null when none)}], "payments": [{"payment_id", "mode", "outcome",
/// "amount_minor", "currency", "brand", "last_four", "transaction_reference",
/// "transaction_id", "attempts", "declines", "started_at_ms", "finished_at_ms"}]}],
/// "truncated": bool}. Any thread.
[[nodiscard]] std::string export_json(const report_page& page);

}  // namespace toneguard::engine
