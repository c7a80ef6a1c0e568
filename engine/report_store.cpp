#include "toneguard/engine/report_store.h"

#include <sqlite3.h>

#include <array>
#include <boost/json.hpp>
#include <cstring>
#include <utility>

namespace toneguard::engine {

namespace {

// --- SQLite handles ---------------------------------------------------------------------------

struct database_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using database = std::unique_ptr<sqlite3, database_closer>;

struct statement_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using statement = std::unique_ptr<sqlite3_stmt, statement_finalizer>;

// One use of a prepared statement: reset and unbound when the use ends, however it ends, so
// the next use starts clean and no read transaction is held open by a half-stepped statement.
class statement_use {
 public:
  explicit statement_use(const statement& s) noexcept : s_(s.get()) {}
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;
  ~statement_use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  [[nodiscard]] sqlite3_stmt* get() const noexcept { return s_; }

  // Binders return the SQLite result code; SQLITE_OK on success.
  int bind(int index, std::int64_t v) noexcept { return sqlite3_bind_int64(s_, index, v); }
  int bind(int index, std::string_view v) noexcept {
    return sqlite3_bind_text64(s_, index, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  int bind(int index, std::optional<std::int64_t> v) noexcept {
    return v ? bind(index, *v) : sqlite3_bind_null(s_, index);
  }
  int bind(int index, std::optional<std::string_view> v) noexcept {
    return v ? bind(index, *v) : sqlite3_bind_null(s_, index);
  }

  [[nodiscard]] std::int64_t integer(int column) const noexcept {
    return sqlite3_column_int64(s_, column);
  }
  [[nodiscard]] std::optional<std::int64_t> optional_integer(int column) const noexcept {
    if (sqlite3_column_type(s_, column) == SQLITE_NULL) return std::nullopt;
    return integer(column);
  }
  [[nodiscard]] std::string text(int column) const {
    const auto* p = sqlite3_column_text(s_, column);
    if (p == nullptr) return {};
    return {reinterpret_cast<const char*>(p),
            static_cast<std::size_t>(sqlite3_column_bytes(s_, column))};
  }
  [[nodiscard]] std::optional<std::string> optional_text(int column) const {
    if (sqlite3_column_type(s_, column) == SQLITE_NULL) return std::nullopt;
    return text(column);
  }

 private:
  sqlite3_stmt* s_;
};

// --- the schema -------------------------------------------------------------------------------

// Version 1. A change adds a migration step from the previous version and bumps
// report_store::schema_version.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE calls (
  call_id TEXT PRIMARY KEY NOT NULL,
  node TEXT NOT NULL,
  started_at_ms INTEGER NOT NULL,
  ended_at_ms INTEGER CHECK (ended_at_ms IS NULL OR ended_at_ms >= started_at_ms),
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_by_start ON calls (started_at_ms, call_id);
CREATE TABLE segments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('agent', 'secure-ivr', 'payment-provider')),
  started_at_ms INTEGER NOT NULL,
  ended_at_ms INTEGER CHECK (ended_at_ms IS NULL OR ended_at_ms >= started_at_ms),
  outcome TEXT NOT NULL DEFAULT '',
  payment_id TEXT
);
CREATE INDEX segments_by_call ON segments (call_id, started_at_ms, id);
CREATE TABLE payments (
  payment_id TEXT PRIMARY KEY NOT NULL,
  call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
  mode TEXT NOT NULL CHECK (mode IN ('automated', 'agent-assisted')),
  outcome TEXT NOT NULL CHECK (outcome IN ('success', 'too-many-failed-attempts',
    'payment-connector-error', 'caller-interrupted-with-star', 'caller-hung-up',
    'validation-error', 'identification-failed', 'internal-error', 'cancelled')),
  amount_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  brand TEXT NOT NULL,
  last_four TEXT NOT NULL CHECK (length(last_four) <= 4),
  transaction_reference TEXT NOT NULL,
  transaction_id TEXT NOT NULL,
  attempts INTEGER NOT NULL CHECK (attempts >= 0),
  declines INTEGER NOT NULL CHECK (declines >= 0),
  started_at_ms INTEGER NOT NULL,
  finished_at_ms INTEGER NOT NULL
);
CREATE INDEX payments_by_call ON payments (call_id, started_at_ms, payment_id);
PRAGMA user_version = 1;
)sql";

// --- card data refused -----------------------------------------------------------------------

// Text longer than this is refused: ids, names and reasons are short, and a bound keeps the
// card-number scan below cheap.
constexpr std::size_t kMaxText = 1024;

// True when `s` holds a run of 12 or more digits (spaces and dashes between digits allowed)
// in which 12..19 digits in a row pass Luhn: a card number, possibly inside a longer number.
bool looks_like_card_number(std::string_view s) {
  std::string run;
  const auto check = [&run] {
    bool pan = false;
    for (std::size_t start = 0; !pan && start + 12 <= run.size(); ++start) {
      for (std::size_t len = 12; len <= 19 && start + len <= run.size(); ++len) {
        if (luhn_valid(std::string_view(run).substr(start, len))) {
          pan = true;
          break;
        }
      }
    }
    run.clear();
    return pan;
  };
  for (const char c : s) {
    if (c >= '0' && c <= '9') {
      run += c;
    } else if ((c == ' ' || c == '-') && !run.empty()) {
      continue;
    } else if (check()) {
      return true;
    }
  }
  return check();
}

// Runs a statement that returns no rows; the SQLite result code of its step.
int run_once(const statement& s) {
  statement_use use(s);
  return sqlite3_step(use.get());
}

// A write transaction: rolled back unless committed.
class write_transaction {
 public:
  write_transaction(const statement& begin, const statement& commit, const statement& rollback)
      : begin_(begin), commit_(commit), rollback_(rollback) {}
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;
  ~write_transaction() {
    if (open_) run_once(rollback_);
  }
  [[nodiscard]] bool begin() {
    open_ = run_once(begin_) == SQLITE_DONE;
    return open_;
  }
  [[nodiscard]] bool commit() {
    if (run_once(commit_) != SQLITE_DONE) return false;
    open_ = false;
    return true;
  }

 private:
  const statement& begin_;
  const statement& commit_;
  const statement& rollback_;
  bool open_ = false;
};

// --- names -----------------------------------------------------------------------------------

constexpr std::array<std::string_view, 3> kSegmentKinds{"agent", "secure-ivr", "payment-provider"};

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

std::string optional_number(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : std::string();
}

}  // namespace

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

// --- the store --------------------------------------------------------------------------------

struct report_store::impl {
  std::string path;
  database db;
  statement begin_read;
  statement begin_write;
  statement commit;
  statement rollback;
  statement insert_call;
  statement end_call;
  statement end_open_segments;
  statement call_ended_at;
  statement insert_segment;
  statement end_segment;
  statement segment_state;
  statement insert_payment;
  statement select_calls;
  statement select_segments;
  statement select_payments;

  [[nodiscard]] failure fail(std::string_view operation, std::string_view problem) const {
    return failure{"report store " + path + ": " + std::string(operation) + ": " +
                   std::string(problem)};
  }
  [[nodiscard]] failure sqlite_fail(std::string_view operation) const {
    return fail(operation, sqlite3_errmsg(db.get()));
  }

  // SQLITE_OK, or the error of preparing `sql` into `out`.
  int prepare(statement& out, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    out.reset(raw);
    return rc;
  }

  // The card-data and size checks of one text field; nullopt when it may be stored.
  [[nodiscard]] std::optional<failure> refuse_text(std::string_view operation,
                                                   std::string_view field,
                                                   std::string_view value) const {
    if (value.size() > kMaxText) {
      return fail(operation, std::string(field) + " is longer than " + std::to_string(kMaxText) +
                                 " bytes; nothing stored");
    }
    if (looks_like_card_number(value)) {
      return fail(operation, std::string(field) + " looks like a card number; nothing stored");
    }
    return std::nullopt;
  }
};

report_store::report_store(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
report_store::report_store(report_store&&) noexcept = default;
report_store& report_store::operator=(report_store&&) noexcept = default;
report_store::~report_store() = default;

outcome<report_store> report_store::open(const std::string& path) {
  auto s = std::make_unique<impl>();
  s->path = path;
  sqlite3* raw = nullptr;
  // NOMUTEX: one thread owns the store (see the header), so SQLite's own locking is not needed.
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  s->db.reset(raw);
  if (rc != SQLITE_OK) {
    std::string problem = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    // SQLite's "unable to open database file" does not say why; the OS error does.
    const int os_error = raw != nullptr ? sqlite3_system_errno(raw) : 0;
    if (os_error != 0) problem += " (" + std::string(std::strerror(os_error)) + ")";
    return s->fail("cannot open", problem);
  }
  sqlite3_extended_result_codes(raw, 1);
  // A reader (the sqlite3 shell, a backup) may hold the file briefly.
  sqlite3_busy_timeout(raw, 5000);

  // The pragmas are fixed text: nothing is ever built into SQL.
  if (sqlite3_exec(raw, "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return s->sqlite_fail("cannot open");
  }
  {
    statement journal;
    if (s->prepare(journal, "PRAGMA journal_mode = WAL") != SQLITE_OK) {
      return s->sqlite_fail("cannot open");
    }
    statement_use use(journal);
    if (sqlite3_step(use.get()) != SQLITE_ROW) return s->sqlite_fail("cannot open");
    const std::string mode = use.text(0);
    if (mode != "wal" && path != ":memory:") {
      return s->fail("cannot open", "cannot use the WAL journal (journal mode '" + mode + "')");
    }
  }
  if (sqlite3_exec(raw, "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return s->sqlite_fail("cannot open");
  }

  int version = 0;
  {
    statement user_version;
    if (s->prepare(user_version, "PRAGMA user_version") != SQLITE_OK) {
      return s->sqlite_fail("cannot open");
    }
    statement_use use(user_version);
    if (sqlite3_step(use.get()) != SQLITE_ROW) return s->sqlite_fail("cannot open");
    version = static_cast<int>(use.integer(0));
  }
  if (version > schema_version) {
    return s->fail("cannot open", "schema version " + std::to_string(version) +
                                      " is newer than this toneguard's (" +
                                      std::to_string(schema_version) + ")");
  }
  if (version == 0) {
    if (sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return s->sqlite_fail("cannot create the schema");
    }
    if (sqlite3_exec(raw, kSchemaV1, nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      auto f = s->sqlite_fail("cannot create the schema");
      sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr);
      return f;
    }
  }

  const std::pair<statement*, const char*> statements[] = {
      {&s->begin_read, "BEGIN DEFERRED"},
      {&s->begin_write, "BEGIN IMMEDIATE"},
      {&s->commit, "COMMIT"},
      {&s->rollback, "ROLLBACK"},
      {&s->insert_call,
       "INSERT INTO calls (call_id, node, started_at_ms, ended_at_ms, end_reason) "
       "VALUES (?1, ?2, ?3, NULL, '')"},
      {&s->end_call,
       "UPDATE calls SET ended_at_ms = ?2, end_reason = ?3 "
       "WHERE call_id = ?1 AND ended_at_ms IS NULL"},
      {&s->end_open_segments,
       "UPDATE segments SET ended_at_ms = max(?2, started_at_ms), outcome = 'call-ended' "
       "WHERE call_id = ?1 AND ended_at_ms IS NULL"},
      {&s->call_ended_at, "SELECT started_at_ms, ended_at_ms FROM calls WHERE call_id = ?1"},
      {&s->insert_segment,
       "INSERT INTO segments (call_id, kind, started_at_ms, ended_at_ms, outcome, payment_id) "
       "VALUES (?1, ?2, ?3, NULL, '', ?4)"},
      {&s->end_segment,
       "UPDATE segments SET ended_at_ms = ?2, outcome = ?3 "
       "WHERE id = ?1 AND ended_at_ms IS NULL AND started_at_ms <= ?2"},
      {&s->segment_state, "SELECT started_at_ms, ended_at_ms FROM segments WHERE id = ?1"},
      {&s->insert_payment,
       "INSERT INTO payments (payment_id, call_id, mode, outcome, amount_minor, currency, brand, "
       "last_four, transaction_reference, transaction_id, attempts, declines, started_at_ms, "
       "finished_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"},
      {&s->select_calls,
       "SELECT call_id, node, started_at_ms, ended_at_ms, end_reason FROM calls "
       "WHERE started_at_ms >= ?1 AND started_at_ms < ?2 AND (?3 IS NULL OR call_id = ?3) "
       "ORDER BY started_at_ms, call_id LIMIT ?4"},
      {&s->select_segments,
       "SELECT id, call_id, kind, started_at_ms, ended_at_ms, outcome, payment_id "
       "FROM segments WHERE call_id = ?1 ORDER BY started_at_ms, id"},
      {&s->select_payments,
       "SELECT payment_id, call_id, mode, outcome, amount_minor, currency, brand, last_four, "
       "transaction_reference, transaction_id, attempts, declines, started_at_ms, "
       "finished_at_ms FROM payments WHERE call_id = ?1 ORDER BY started_at_ms, payment_id"},
  };
  for (const auto& [target, sql] : statements) {
    if (s->prepare(*target, sql) != SQLITE_OK) return s->sqlite_fail("cannot prepare statements");
  }
  return report_store(std::move(s));
}

outcome<stored> report_store::record_call_started(const call_record& call) {
  impl& s = *impl_;
  constexpr std::string_view op = "record_call_started";
  if (call.call_id.empty()) return s.fail(op, "empty call_id");
  if (call.ended_at_ms || !call.end_reason.empty()) {
    return s.fail(op, "a call starts without an end (use record_call_ended)");
  }
  const std::pair<std::string_view, std::string_view> texts[] = {{"call_id", call.call_id},
                                                                 {"node", call.node}};
  for (const auto& [field, value] : texts) {
    if (auto refused = s.refuse_text(op, field, value)) return *refused;
  }
  statement_use use(s.insert_call);
  if (use.bind(1, std::string_view(call.call_id)) != SQLITE_OK ||
      use.bind(2, std::string_view(call.node)) != SQLITE_OK ||
      use.bind(3, call.started_at_ms) != SQLITE_OK) {
    return s.sqlite_fail(op);
  }
  const int rc = sqlite3_step(use.get());
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return s.fail(op, "the call is already recorded");
  if (rc != SQLITE_DONE) return s.sqlite_fail(op);
  return stored{};
}

outcome<stored> report_store::record_call_ended(std::string_view call_id, std::int64_t ended_at_ms,
                                                std::string_view reason) {
  impl& s = *impl_;
  constexpr std::string_view op = "record_call_ended";
  if (auto refused = s.refuse_text(op, "call_id", call_id)) return *refused;
  if (auto refused = s.refuse_text(op, "end_reason", reason)) return *refused;

  write_transaction tx(s.begin_write, s.commit, s.rollback);
  if (!tx.begin()) return s.sqlite_fail(op);
  {
    statement_use state(s.call_ended_at);
    if (state.bind(1, call_id) != SQLITE_OK) return s.sqlite_fail(op);
    const int rc = sqlite3_step(state.get());
    if (rc == SQLITE_DONE) return s.fail(op, "unknown call");
    if (rc != SQLITE_ROW) return s.sqlite_fail(op);
    if (state.optional_integer(1)) return s.fail(op, "the call has already ended");
    if (ended_at_ms < state.integer(0)) return s.fail(op, "the call would end before it started");
  }
  {
    statement_use use(s.end_call);
    if (use.bind(1, call_id) != SQLITE_OK || use.bind(2, ended_at_ms) != SQLITE_OK ||
        use.bind(3, reason) != SQLITE_OK || sqlite3_step(use.get()) != SQLITE_DONE) {
      return s.sqlite_fail(op);
    }
  }
  {
    statement_use use(s.end_open_segments);
    if (use.bind(1, call_id) != SQLITE_OK || use.bind(2, ended_at_ms) != SQLITE_OK ||
        sqlite3_step(use.get()) != SQLITE_DONE) {
      return s.sqlite_fail(op);
    }
  }
  if (!tx.commit()) return s.sqlite_fail(op);
  return stored{};
}

outcome<std::int64_t> report_store::begin_segment(std::string_view call_id, segment_kind kind,
                                                  std::int64_t started_at_ms,
                                                  std::optional<std::string_view> payment_id) {
  impl& s = *impl_;
  constexpr std::string_view op = "begin_segment";
  if (auto refused = s.refuse_text(op, "call_id", call_id)) return *refused;
  if (payment_id) {
    if (auto refused = s.refuse_text(op, "payment_id", *payment_id)) return *refused;
  }
  if (static_cast<std::size_t>(kind) >= kSegmentKinds.size()) {
    return s.fail(op, "unknown segment kind");
  }
  statement_use use(s.insert_segment);
  if (use.bind(1, call_id) != SQLITE_OK || use.bind(2, segment_kind_name(kind)) != SQLITE_OK ||
      use.bind(3, started_at_ms) != SQLITE_OK || use.bind(4, payment_id) != SQLITE_OK) {
    return s.sqlite_fail(op);
  }
  const int rc = sqlite3_step(use.get());
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return s.fail(op, "unknown call");
  if (rc != SQLITE_DONE) return s.sqlite_fail(op);
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(s.db.get()));
}

outcome<stored> report_store::end_segment(std::int64_t segment_id, std::int64_t ended_at_ms,
                                          std::string_view outcome_text) {
  impl& s = *impl_;
  constexpr std::string_view op = "end_segment";
  if (auto refused = s.refuse_text(op, "outcome", outcome_text)) return *refused;
  {
    statement_use use(s.end_segment);
    if (use.bind(1, segment_id) != SQLITE_OK || use.bind(2, ended_at_ms) != SQLITE_OK ||
        use.bind(3, outcome_text) != SQLITE_OK || sqlite3_step(use.get()) != SQLITE_DONE) {
      return s.sqlite_fail(op);
    }
  }
  if (sqlite3_changes(s.db.get()) == 1) return stored{};
  // Nothing changed: say why.
  statement_use state(s.segment_state);
  if (state.bind(1, segment_id) != SQLITE_OK) return s.sqlite_fail(op);
  const int rc = sqlite3_step(state.get());
  if (rc == SQLITE_DONE) return s.fail(op, "unknown segment " + std::to_string(segment_id));
  if (rc != SQLITE_ROW) return s.sqlite_fail(op);
  if (state.optional_integer(1)) {
    return s.fail(op, "segment " + std::to_string(segment_id) + " has already ended");
  }
  return s.fail(op, "segment " + std::to_string(segment_id) + " would end before it began");
}

outcome<stored> report_store::record_payment(const payment_record& p) {
  impl& s = *impl_;
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
    if (auto refused = s.refuse_text(op, field, value)) return *refused;
  }
  if (p.last_four.size() > 4) return s.fail(op, "last_four has more than 4 digits; nothing stored");
  for (const char c : p.last_four) {
    if (c < '0' || c > '9') return s.fail(op, "last_four holds a non-digit; nothing stored");
  }
  if (p.attempts < 0 || p.declines < 0) return s.fail(op, "negative attempts or declines");
  if (!mode_from_name(mode_name(p.mode))) return s.fail(op, "unknown payment mode");
  if (!outcome_from_name(result_name(p.outcome))) return s.fail(op, "unknown payment outcome");

  statement_use use(s.insert_payment);
  if (use.bind(1, std::string_view(p.payment_id)) != SQLITE_OK ||
      use.bind(2, std::string_view(p.call_id)) != SQLITE_OK ||
      use.bind(3, mode_name(p.mode)) != SQLITE_OK ||
      use.bind(4, result_name(p.outcome)) != SQLITE_OK ||
      use.bind(5, p.amount_minor) != SQLITE_OK ||
      use.bind(6, std::string_view(p.currency)) != SQLITE_OK ||
      use.bind(7, brand_name(p.brand)) != SQLITE_OK ||
      use.bind(8, std::string_view(p.last_four)) != SQLITE_OK ||
      use.bind(9, std::string_view(p.transaction_reference)) != SQLITE_OK ||
      use.bind(10, std::string_view(p.transaction_id)) != SQLITE_OK ||
      use.bind(11, std::int64_t{p.attempts}) != SQLITE_OK ||
      use.bind(12, std::int64_t{p.declines}) != SQLITE_OK ||
      use.bind(13, p.started_at_ms) != SQLITE_OK || use.bind(14, p.finished_at_ms) != SQLITE_OK) {
    return s.sqlite_fail(op);
  }
  const int rc = sqlite3_step(use.get());
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return s.fail(op, "the payment is already recorded");
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return s.fail(op, "unknown call");
  if (rc != SQLITE_DONE) return s.sqlite_fail(op);
  return stored{};
}

outcome<report_page> report_store::query_calls(const report_query& query) {
  impl& s = *impl_;
  constexpr std::string_view op = "query_calls";
  constexpr std::size_t kMaxLimit = 100000;
  if (query.limit < 1 || query.limit > kMaxLimit) {
    return s.fail(op, "limit must be 1.." + std::to_string(kMaxLimit));
  }
  if (query.call_id) {
    if (auto refused = s.refuse_text(op, "call_id", *query.call_id)) return *refused;
  }

  // One read transaction: the calls and their rows are one snapshot.
  if (run_once(s.begin_read) != SQLITE_DONE) return s.sqlite_fail(op);
  struct end_read {
    impl& s;
    ~end_read() { run_once(s.commit); }
  } reading{s};

  report_page page;
  {
    statement_use use(s.select_calls);
    const std::optional<std::string_view> call_id =
        query.call_id ? std::optional<std::string_view>(*query.call_id) : std::nullopt;
    // One more than the limit, to tell whether the page is truncated.
    if (use.bind(1, query.from_ms) != SQLITE_OK || use.bind(2, query.to_ms) != SQLITE_OK ||
        use.bind(3, call_id) != SQLITE_OK ||
        use.bind(4, static_cast<std::int64_t>(query.limit + 1)) != SQLITE_OK) {
      return s.sqlite_fail(op);
    }
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
      if (page.calls.size() == query.limit) {
        page.truncated = true;
        break;
      }
      call_report r;
      r.call.call_id = use.text(0);
      r.call.node = use.text(1);
      r.call.started_at_ms = use.integer(2);
      r.call.ended_at_ms = use.optional_integer(3);
      r.call.end_reason = use.text(4);
      page.calls.push_back(std::move(r));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return s.sqlite_fail(op);
  }

  for (auto& r : page.calls) {
    {
      statement_use use(s.select_segments);
      if (use.bind(1, std::string_view(r.call.call_id)) != SQLITE_OK) return s.sqlite_fail(op);
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
        segment_record seg;
        seg.id = use.integer(0);
        seg.call_id = use.text(1);
        const auto kind = segment_kind_from_name(use.text(2));
        if (!kind) return s.fail(op, "a segment has an unknown kind");
        seg.kind = *kind;
        seg.started_at_ms = use.integer(3);
        seg.ended_at_ms = use.optional_integer(4);
        seg.outcome = use.text(5);
        seg.payment_id = use.optional_text(6);
        r.segments.push_back(std::move(seg));
      }
      if (rc != SQLITE_DONE) return s.sqlite_fail(op);
    }
    {
      statement_use use(s.select_payments);
      if (use.bind(1, std::string_view(r.call.call_id)) != SQLITE_OK) return s.sqlite_fail(op);
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
        payment_record p;
        p.payment_id = use.text(0);
        p.call_id = use.text(1);
        const auto mode = mode_from_name(use.text(2));
        const auto result = outcome_from_name(use.text(3));
        if (!mode || !result) return s.fail(op, "a payment has an unknown mode or outcome");
        p.mode = *mode;
        p.outcome = *result;
        p.amount_minor = use.integer(4);
        p.currency = use.text(5);
        p.brand = brand_from_name(use.text(6));
        p.last_four = use.text(7);
        p.transaction_reference = use.text(8);
        p.transaction_id = use.text(9);
        p.attempts = static_cast<int>(use.integer(10));
        p.declines = static_cast<int>(use.integer(11));
        p.started_at_ms = use.integer(12);
        p.finished_at_ms = use.integer(13);
        r.payments.push_back(std::move(p));
      }
      if (rc != SQLITE_DONE) return s.sqlite_fail(op);
    }
  }
  return page;
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
