// The reporting store's SQLite backend (report_store_backend.h): an embedded file, the default.

#include <sqlite3.h>

#include <cstring>
#include <utility>

#include "report_store_backend.h"

namespace toneguard::engine::detail {

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

class sqlite_store final : public report_backend {
 public:
  explicit sqlite_store(std::string path) : path_(std::move(path)) {}

  outcome<stored> open();

  outcome<stored> record_call_started(const call_record& call) override;
  outcome<stored> record_call_ended(std::string_view call_id, std::int64_t ended_at_ms,
                                    std::string_view reason) override;
  outcome<std::int64_t> begin_segment(std::string_view call_id, segment_kind kind,
                                      std::int64_t started_at_ms,
                                      std::optional<std::string_view> payment_id) override;
  outcome<stored> end_segment(std::int64_t segment_id, std::int64_t ended_at_ms,
                              std::string_view outcome_text) override;
  outcome<stored> record_payment(const payment_record& p) override;
  outcome<report_page> query_calls(const report_query& query) override;

 private:
  [[nodiscard]] failure fail(std::string_view operation, std::string_view problem) const {
    return report_failure(path_, operation, problem);
  }
  [[nodiscard]] failure sqlite_fail(std::string_view operation) const {
    return fail(operation, sqlite3_errmsg(db_.get()));
  }

  // SQLITE_OK, or the error of preparing `sql` into `out`.
  int prepare(statement& out, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    out.reset(raw);
    return rc;
  }

  std::string path_;
  database db_;
  statement begin_read_;
  statement begin_write_;
  statement commit_;
  statement rollback_;
  statement insert_call_;
  statement end_call_;
  statement end_open_segments_;
  statement call_ended_at_;
  statement insert_segment_;
  statement end_segment_;
  statement segment_state_;
  statement insert_payment_;
  statement select_calls_;
  statement select_segments_;
  statement select_payments_;
};

outcome<stored> sqlite_store::open() {
  sqlite3* raw = nullptr;
  // NOMUTEX: one thread owns the store (see report_store.h), so SQLite's own locking is not
  // needed.
  const int rc =
      sqlite3_open_v2(path_.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    std::string problem = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    // SQLite's "unable to open database file" does not say why; the OS error does.
    const int os_error = raw != nullptr ? sqlite3_system_errno(raw) : 0;
    if (os_error != 0) problem += " (" + std::string(std::strerror(os_error)) + ")";
    return fail("cannot open", problem);
  }
  sqlite3_extended_result_codes(raw, 1);
  // A reader (the sqlite3 shell, a backup) may hold the file briefly.
  sqlite3_busy_timeout(raw, 5000);

  // The pragmas are fixed text: nothing is ever built into SQL.
  if (sqlite3_exec(raw, "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return sqlite_fail("cannot open");
  }
  {
    statement journal;
    if (prepare(journal, "PRAGMA journal_mode = WAL") != SQLITE_OK) {
      return sqlite_fail("cannot open");
    }
    statement_use use(journal);
    if (sqlite3_step(use.get()) != SQLITE_ROW) return sqlite_fail("cannot open");
    const std::string mode = use.text(0);
    if (mode != "wal" && path_ != ":memory:") {
      return fail("cannot open", "cannot use the WAL journal (journal mode '" + mode + "')");
    }
  }
  if (sqlite3_exec(raw, "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return sqlite_fail("cannot open");
  }

  int version = 0;
  {
    statement user_version;
    if (prepare(user_version, "PRAGMA user_version") != SQLITE_OK) {
      return sqlite_fail("cannot open");
    }
    statement_use use(user_version);
    if (sqlite3_step(use.get()) != SQLITE_ROW) return sqlite_fail("cannot open");
    version = static_cast<int>(use.integer(0));
  }
  if (version > report_store::schema_version) {
    return fail("cannot open", "schema version " + std::to_string(version) +
                                   " is newer than this toneguard's (" +
                                   std::to_string(report_store::schema_version) + ")");
  }
  if (version == 0) {
    if (sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return sqlite_fail("cannot create the schema");
    }
    if (sqlite3_exec(raw, kSchemaV1, nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      auto f = sqlite_fail("cannot create the schema");
      sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr);
      return f;
    }
  }

  const std::pair<statement*, const char*> statements[] = {
      {&begin_read_, "BEGIN DEFERRED"},
      {&begin_write_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&insert_call_,
       "INSERT INTO calls (call_id, node, started_at_ms, ended_at_ms, end_reason) "
       "VALUES (?1, ?2, ?3, NULL, '')"},
      {&end_call_,
       "UPDATE calls SET ended_at_ms = ?2, end_reason = ?3 "
       "WHERE call_id = ?1 AND ended_at_ms IS NULL"},
      {&end_open_segments_,
       "UPDATE segments SET ended_at_ms = max(?2, started_at_ms), outcome = 'call-ended' "
       "WHERE call_id = ?1 AND ended_at_ms IS NULL"},
      {&call_ended_at_, "SELECT started_at_ms, ended_at_ms FROM calls WHERE call_id = ?1"},
      {&insert_segment_,
       "INSERT INTO segments (call_id, kind, started_at_ms, ended_at_ms, outcome, payment_id) "
       "VALUES (?1, ?2, ?3, NULL, '', ?4)"},
      {&end_segment_,
       "UPDATE segments SET ended_at_ms = ?2, outcome = ?3 "
       "WHERE id = ?1 AND ended_at_ms IS NULL AND started_at_ms <= ?2"},
      {&segment_state_, "SELECT started_at_ms, ended_at_ms FROM segments WHERE id = ?1"},
      {&insert_payment_,
       "INSERT INTO payments (payment_id, call_id, mode, outcome, amount_minor, currency, brand, "
       "last_four, transaction_reference, transaction_id, attempts, declines, started_at_ms, "
       "finished_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"},
      {&select_calls_,
       "SELECT call_id, node, started_at_ms, ended_at_ms, end_reason FROM calls "
       "WHERE started_at_ms >= ?1 AND started_at_ms < ?2 AND (?3 IS NULL OR call_id = ?3) "
       "ORDER BY started_at_ms, call_id LIMIT ?4"},
      {&select_segments_,
       "SELECT id, call_id, kind, started_at_ms, ended_at_ms, outcome, payment_id "
       "FROM segments WHERE call_id = ?1 ORDER BY started_at_ms, id"},
      {&select_payments_,
       "SELECT payment_id, call_id, mode, outcome, amount_minor, currency, brand, last_four, "
       "transaction_reference, transaction_id, attempts, declines, started_at_ms, "
       "finished_at_ms FROM payments WHERE call_id = ?1 ORDER BY started_at_ms, payment_id"},
  };
  for (const auto& [target, sql] : statements) {
    if (prepare(*target, sql) != SQLITE_OK) return sqlite_fail("cannot prepare statements");
  }
  return stored{};
}

outcome<stored> sqlite_store::record_call_started(const call_record& call) {
  constexpr std::string_view op = "record_call_started";
  statement_use use(insert_call_);
  if (use.bind(1, std::string_view(call.call_id)) != SQLITE_OK ||
      use.bind(2, std::string_view(call.node)) != SQLITE_OK ||
      use.bind(3, call.started_at_ms) != SQLITE_OK) {
    return sqlite_fail(op);
  }
  const int rc = sqlite3_step(use.get());
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return fail(op, kCallAlreadyRecorded);
  if (rc != SQLITE_DONE) return sqlite_fail(op);
  return stored{};
}

outcome<stored> sqlite_store::record_call_ended(std::string_view call_id, std::int64_t ended_at_ms,
                                                std::string_view reason) {
  constexpr std::string_view op = "record_call_ended";
  write_transaction tx(begin_write_, commit_, rollback_);
  if (!tx.begin()) return sqlite_fail(op);
  {
    statement_use state(call_ended_at_);
    if (state.bind(1, call_id) != SQLITE_OK) return sqlite_fail(op);
    const int rc = sqlite3_step(state.get());
    if (rc == SQLITE_DONE) return fail(op, kUnknownCall);
    if (rc != SQLITE_ROW) return sqlite_fail(op);
    if (state.optional_integer(1)) return fail(op, kCallAlreadyEnded);
    if (ended_at_ms < state.integer(0)) return fail(op, kCallEndsBeforeStart);
  }
  {
    statement_use use(end_call_);
    if (use.bind(1, call_id) != SQLITE_OK || use.bind(2, ended_at_ms) != SQLITE_OK ||
        use.bind(3, reason) != SQLITE_OK || sqlite3_step(use.get()) != SQLITE_DONE) {
      return sqlite_fail(op);
    }
  }
  {
    statement_use use(end_open_segments_);
    if (use.bind(1, call_id) != SQLITE_OK || use.bind(2, ended_at_ms) != SQLITE_OK ||
        sqlite3_step(use.get()) != SQLITE_DONE) {
      return sqlite_fail(op);
    }
  }
  if (!tx.commit()) return sqlite_fail(op);
  return stored{};
}

outcome<std::int64_t> sqlite_store::begin_segment(std::string_view call_id, segment_kind kind,
                                                  std::int64_t started_at_ms,
                                                  std::optional<std::string_view> payment_id) {
  constexpr std::string_view op = "begin_segment";
  statement_use use(insert_segment_);
  if (use.bind(1, call_id) != SQLITE_OK || use.bind(2, segment_kind_name(kind)) != SQLITE_OK ||
      use.bind(3, started_at_ms) != SQLITE_OK || use.bind(4, payment_id) != SQLITE_OK) {
    return sqlite_fail(op);
  }
  const int rc = sqlite3_step(use.get());
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return fail(op, kUnknownCall);
  if (rc != SQLITE_DONE) return sqlite_fail(op);
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_.get()));
}

outcome<stored> sqlite_store::end_segment(std::int64_t segment_id, std::int64_t ended_at_ms,
                                          std::string_view outcome_text) {
  constexpr std::string_view op = "end_segment";
  {
    statement_use use(end_segment_);
    if (use.bind(1, segment_id) != SQLITE_OK || use.bind(2, ended_at_ms) != SQLITE_OK ||
        use.bind(3, outcome_text) != SQLITE_OK || sqlite3_step(use.get()) != SQLITE_DONE) {
      return sqlite_fail(op);
    }
  }
  if (sqlite3_changes(db_.get()) == 1) return stored{};
  // Nothing changed: say why.
  statement_use state(segment_state_);
  if (state.bind(1, segment_id) != SQLITE_OK) return sqlite_fail(op);
  const int rc = sqlite3_step(state.get());
  if (rc == SQLITE_DONE) return fail(op, unknown_segment(segment_id));
  if (rc != SQLITE_ROW) return sqlite_fail(op);
  if (state.optional_integer(1)) return fail(op, segment_already_ended(segment_id));
  return fail(op, segment_ends_before_start(segment_id));
}

outcome<stored> sqlite_store::record_payment(const payment_record& p) {
  constexpr std::string_view op = "record_payment";
  statement_use use(insert_payment_);
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
    return sqlite_fail(op);
  }
  const int rc = sqlite3_step(use.get());
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return fail(op, kPaymentAlreadyRecorded);
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return fail(op, kUnknownCall);
  if (rc != SQLITE_DONE) return sqlite_fail(op);
  return stored{};
}

outcome<report_page> sqlite_store::query_calls(const report_query& query) {
  constexpr std::string_view op = "query_calls";
  // One read transaction: the calls and their rows are one snapshot.
  if (run_once(begin_read_) != SQLITE_DONE) return sqlite_fail(op);
  struct end_read {
    const statement& commit;
    ~end_read() { run_once(commit); }
  } reading{commit_};

  report_page page;
  {
    statement_use use(select_calls_);
    const std::optional<std::string_view> call_id =
        query.call_id ? std::optional<std::string_view>(*query.call_id) : std::nullopt;
    // One more than the limit, to tell whether the page is truncated.
    if (use.bind(1, query.from_ms) != SQLITE_OK || use.bind(2, query.to_ms) != SQLITE_OK ||
        use.bind(3, call_id) != SQLITE_OK ||
        use.bind(4, static_cast<std::int64_t>(query.limit + 1)) != SQLITE_OK) {
      return sqlite_fail(op);
    }
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
      if (page.calls.size() == query.limit) {
        page.truncated = true;
        break;
      }
      call_report r;
      r.call = call_from_row(use);
      page.calls.push_back(std::move(r));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(op);
  }

  for (auto& r : page.calls) {
    {
      statement_use use(select_segments_);
      if (use.bind(1, std::string_view(r.call.call_id)) != SQLITE_OK) return sqlite_fail(op);
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
        auto seg = segment_from_row(use);
        if (!seg) return fail(op, kUnknownSegmentKind);
        r.segments.push_back(std::move(*seg));
      }
      if (rc != SQLITE_DONE) return sqlite_fail(op);
    }
    {
      statement_use use(select_payments_);
      if (use.bind(1, std::string_view(r.call.call_id)) != SQLITE_OK) return sqlite_fail(op);
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
        auto p = payment_from_row(use);
        if (!p) return fail(op, kUnknownPaymentName);
        r.payments.push_back(std::move(*p));
      }
      if (rc != SQLITE_DONE) return sqlite_fail(op);
    }
  }
  return page;
}

}  // namespace

outcome<std::unique_ptr<report_backend>> open_sqlite_store(const std::string& path) {
  auto store = std::make_unique<sqlite_store>(path);
  if (auto opened = store->open(); !opened) return failure{opened.message()};
  return std::unique_ptr<report_backend>(std::move(store));
}

}  // namespace toneguard::engine::detail
