// The reporting store's PostgreSQL backend (report_store_backend.h): one database for the
// reports of every node. The same tables, constraints and query order as the SQLite backend;
// ids from identity columns, so nodes write concurrently; every statement prepared, with bound
// parameters. A lost connection is an error of the operation that found it; the next operation
// reconnects.

#include <libpq-fe.h>

#include <charconv>
#include <chrono>
#include <map>
#include <utility>
#include <vector>

#include "report_store_backend.h"

namespace toneguard::engine::detail {

namespace {

// --- libpq handles ---------------------------------------------------------------------------

struct connection_closer {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using connection = std::unique_ptr<PGconn, connection_closer>;

struct result_clearer {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result = std::unique_ptr<PGresult, result_clearer>;

struct conninfo_freer {
  void operator()(PQconninfoOption* o) const noexcept { PQconninfoFree(o); }
};

// Parameter types of the prepared statements (pg_type OIDs, fixed since PostgreSQL 7).
constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;

// SQLSTATEs told apart.
constexpr std::string_view kUniqueViolation = "23505";
constexpr std::string_view kForeignKeyViolation = "23503";

// The text values of one statement's parameters; nullopt is SQL NULL.
class parameters {
 public:
  parameters& add(std::string_view v) {
    values_.emplace_back(std::string(v));
    return *this;
  }
  parameters& add(const std::string& v) { return add(std::string_view(v)); }
  parameters& add(const std::optional<std::string>& v) {
    values_.push_back(v);
    return *this;
  }
  parameters& add(std::int64_t v) {
    values_.emplace_back(std::to_string(v));
    return *this;
  }
  parameters& add(std::optional<std::string_view> v) {
    values_.emplace_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
    return *this;
  }

  [[nodiscard]] std::vector<const char*> pointers() const {
    std::vector<const char*> p;
    p.reserve(values_.size());
    for (const auto& v : values_) p.push_back(v ? v->c_str() : nullptr);
    return p;
  }

 private:
  std::vector<std::optional<std::string>> values_;
};

// One row of a result in text format, read as report_store_backend.h's row readers read.
class result_row {
 public:
  result_row(const PGresult* r, int row) noexcept : r_(r), row_(row) {}

  [[nodiscard]] std::string text(int column) const {
    return {PQgetvalue(r_, row_, column), static_cast<std::size_t>(PQgetlength(r_, row_, column))};
  }
  [[nodiscard]] std::optional<std::string> optional_text(int column) const {
    if (PQgetisnull(r_, row_, column) != 0) return std::nullopt;
    return text(column);
  }
  [[nodiscard]] std::int64_t integer(int column) const {
    const char* p = PQgetvalue(r_, row_, column);
    std::int64_t v = 0;
    std::from_chars(p, p + PQgetlength(r_, row_, column), v);
    return v;
  }
  [[nodiscard]] std::optional<std::int64_t> optional_integer(int column) const {
    if (PQgetisnull(r_, row_, column) != 0) return std::nullopt;
    return integer(column);
  }

 private:
  const PGresult* r_;
  int row_;
};

// libpq's messages on one line: its "\n\t" continuations become spaces.
std::string one_line(std::string_view message) {
  std::string out;
  bool space = false;
  for (const char c : message) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// --- the schema -------------------------------------------------------------------------------

// Version 1, the tables of report_store_sqlite.cpp's kSchemaV1 in PostgreSQL types: BIGINT
// times, identity segment ids, and byte order ("C") for the ids queries sort by, as SQLite
// sorts. The version is the one row of toneguard_schema. A change adds a migration step in both
// backends and bumps report_store::schema_version.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE toneguard_schema (
  version INTEGER NOT NULL
);
CREATE TABLE calls (
  call_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  node TEXT NOT NULL,
  started_at_ms BIGINT NOT NULL,
  ended_at_ms BIGINT CHECK (ended_at_ms IS NULL OR ended_at_ms >= started_at_ms),
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_by_start ON calls (started_at_ms, call_id);
CREATE TABLE segments (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  call_id TEXT COLLATE "C" NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('agent', 'secure-ivr', 'payment-provider')),
  started_at_ms BIGINT NOT NULL,
  ended_at_ms BIGINT CHECK (ended_at_ms IS NULL OR ended_at_ms >= started_at_ms),
  outcome TEXT NOT NULL DEFAULT '',
  payment_id TEXT COLLATE "C"
);
CREATE INDEX segments_by_call ON segments (call_id, started_at_ms, id);
CREATE TABLE payments (
  payment_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  call_id TEXT COLLATE "C" NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
  mode TEXT NOT NULL CHECK (mode IN ('automated', 'agent-assisted')),
  outcome TEXT NOT NULL CHECK (outcome IN ('success', 'too-many-failed-attempts',
    'payment-connector-error', 'caller-interrupted-with-star', 'caller-hung-up',
    'validation-error', 'identification-failed', 'internal-error', 'cancelled')),
  amount_minor BIGINT NOT NULL,
  currency TEXT NOT NULL,
  brand TEXT NOT NULL,
  last_four TEXT NOT NULL CHECK (char_length(last_four) <= 4),
  transaction_reference TEXT NOT NULL,
  transaction_id TEXT NOT NULL,
  attempts INTEGER NOT NULL CHECK (attempts >= 0),
  declines INTEGER NOT NULL CHECK (declines >= 0),
  started_at_ms BIGINT NOT NULL,
  finished_at_ms BIGINT NOT NULL
);
CREATE INDEX payments_by_call ON payments (call_id, started_at_ms, payment_id);
)sql";

// The prepared statements (named, re-prepared on every new connection).
struct statement_text {
  const char* name;
  const char* sql;
  std::vector<Oid> types;
};

// The calls a query selects, shared by the three reads of query_calls: $1 from, $2 to,
// $3 call id or NULL, $4 limit.
#define TG_SELECTED_CALLS                                                                     \
  "FROM calls WHERE started_at_ms >= $1 AND started_at_ms < $2 AND ($3 IS NULL OR call_id = " \
  "$3) ORDER BY started_at_ms, call_id LIMIT $4"

const std::vector<statement_text>& statements() {
  static const std::vector<statement_text> all = {
      {"tg_insert_call",
       "INSERT INTO calls (call_id, node, started_at_ms, ended_at_ms, end_reason) "
       "VALUES ($1, $2, $3, NULL, '')",
       {kText, kText, kInt8}},
      {"tg_call_ended_at",
       "SELECT started_at_ms, ended_at_ms FROM calls WHERE call_id = $1 FOR UPDATE",
       {kText}},
      {"tg_end_call",
       "UPDATE calls SET ended_at_ms = $2, end_reason = $3 "
       "WHERE call_id = $1 AND ended_at_ms IS NULL",
       {kText, kInt8, kText}},
      {"tg_end_open_segments",
       "UPDATE segments SET ended_at_ms = GREATEST($2, started_at_ms), outcome = 'call-ended' "
       "WHERE call_id = $1 AND ended_at_ms IS NULL",
       {kText, kInt8}},
      {"tg_insert_segment",
       "INSERT INTO segments (call_id, kind, started_at_ms, ended_at_ms, outcome, payment_id) "
       "VALUES ($1, $2, $3, NULL, '', $4) RETURNING id",
       {kText, kText, kInt8, kText}},
      {"tg_end_segment",
       "UPDATE segments SET ended_at_ms = $2, outcome = $3 "
       "WHERE id = $1 AND ended_at_ms IS NULL AND started_at_ms <= $2",
       {kInt8, kInt8, kText}},
      {"tg_segment_state",
       "SELECT started_at_ms, ended_at_ms FROM segments WHERE id = $1",
       {kInt8}},
      {"tg_insert_payment",
       "INSERT INTO payments (payment_id, call_id, mode, outcome, amount_minor, currency, brand, "
       "last_four, transaction_reference, transaction_id, attempts, declines, started_at_ms, "
       "finished_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
       {kText, kText, kText, kText, kInt8, kText, kText, kText, kText, kText, kInt8, kInt8, kInt8,
        kInt8}},
      {"tg_select_calls",
       "SELECT call_id, node, started_at_ms, ended_at_ms, end_reason " TG_SELECTED_CALLS,
       {kInt8, kInt8, kText, kInt8}},
      {"tg_select_segments",
       "SELECT s.id, s.call_id, s.kind, s.started_at_ms, s.ended_at_ms, s.outcome, s.payment_id "
       "FROM segments s JOIN (SELECT call_id " TG_SELECTED_CALLS
       ") c ON s.call_id = c.call_id ORDER BY s.call_id, s.started_at_ms, s.id",
       {kInt8, kInt8, kText, kInt8}},
      {"tg_select_payments",
       "SELECT p.payment_id, p.call_id, p.mode, p.outcome, p.amount_minor, p.currency, p.brand, "
       "p.last_four, p.transaction_reference, p.transaction_id, p.attempts, p.declines, "
       "p.started_at_ms, p.finished_at_ms FROM payments p JOIN (SELECT call_id " TG_SELECTED_CALLS
       ") c ON p.call_id = c.call_id ORDER BY p.call_id, p.started_at_ms, p.payment_id",
       {kInt8, kInt8, kText, kInt8}},
  };
  return all;
}

#undef TG_SELECTED_CALLS

// --- the store --------------------------------------------------------------------------------

class postgres_store final : public report_backend {
 public:
  postgres_store(std::string uri, std::string name)
      : uri_(std::move(uri)), name_(std::move(name)) {}

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
    return report_failure(name_, operation, problem);
  }

  // A libpq message fit for ours: one line, the password (should libpq ever echo it) masked.
  [[nodiscard]] std::string clean(std::string_view message) const {
    std::string out = one_line(message);
    if (password_.empty()) return out;
    for (std::size_t at = out.find(password_); at != std::string::npos;
         at = out.find(password_, at + 3)) {
      out.replace(at, password_.size(), "***");
    }
    return out;
  }

  // The failure of `r` (nullptr: of the connection): the server's primary message, or libpq's.
  [[nodiscard]] failure pg_fail(std::string_view operation, const PGresult* r) const {
    const bool lost = PQstatus(conn_.get()) == CONNECTION_BAD;
    const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    // Only the primary message: a DETAIL may quote the row's values.
    std::string problem = clean(primary != nullptr ? primary : PQerrorMessage(conn_.get()));
    if (problem.empty()) problem = "unknown error";
    return fail(operation, lost ? "lost the connection: " + problem : problem);
  }

  [[nodiscard]] static std::string_view sqlstate(const PGresult* r) {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s != nullptr ? std::string_view(s) : std::string_view();
  }

  // Runs prepared statement `name`; the result, whatever its status.
  [[nodiscard]] result run(const char* name, const parameters& params) {
    const auto values = params.pointers();
    return result(PQexecPrepared(conn_.get(), name, static_cast<int>(values.size()), values.data(),
                                 nullptr, nullptr, 0));
  }
  // Runs fixed text (no values in it).
  [[nodiscard]] result run(const char* sql) { return result(PQexec(conn_.get(), sql)); }

  [[nodiscard]] static bool ok(const result& r) {
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  }

  // Connects (open) or reconnects (after the connection was lost) and, once the schema is
  // there, prepares the statements; the problem, or nullopt when connected.
  std::optional<std::string> connect();
  std::optional<std::string> prepare_statements();
  // The connection, made again when it was lost. After a failed attempt the next one waits
  // kRetryInterval, failing at once meanwhile: a server gone from the network then costs the
  // daemon (which writes under its lock) one connect_timeout per interval, not per write.
  outcome<stored> ensure_connected(std::string_view operation) {
    if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return stored{};
    const auto now = std::chrono::steady_clock::now();
    if (!last_connect_error_.empty() && now - last_connect_attempt_ < kRetryInterval) {
      return fail(operation, last_connect_error_ + " (next attempt within 1 s)");
    }
    last_connect_attempt_ = now;
    last_connect_error_ = connect().value_or(std::string());
    if (!last_connect_error_.empty()) return fail(operation, last_connect_error_);
    return stored{};
  }

  // Runs `body` in one transaction begun with `begin` (fixed text), rolled back unless `body`
  // succeeds. A BEGIN that fails on a lost connection ran nothing, so the operation then
  // reconnects and begins once more: a server restart between operations loses no write.
  template <class T, class Body>
  outcome<T> in_transaction(std::string_view operation, const char* begin, Body&& body) {
    for (int attempt = 0;; ++attempt) {
      if (auto connected = ensure_connected(operation); !connected) {
        return failure{connected.message()};
      }
      const result begun = run(begin);
      if (ok(begun)) break;
      if (attempt > 0 || PQstatus(conn_.get()) != CONNECTION_BAD) {
        return pg_fail(operation, begun.get());
      }
    }
    outcome<T> done = body();
    if (!done) {
      if (PQstatus(conn_.get()) == CONNECTION_OK &&
          PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
        (void)run("ROLLBACK");
      }
      return done;
    }
    const result committed = run("COMMIT");
    if (!ok(committed)) return pg_fail(operation, committed.get());
    return done;
  }

  std::string uri_;
  std::string name_;
  std::string password_;  // from uri_, masked in messages
  connection conn_;
  static constexpr std::chrono::seconds kRetryInterval{1};
  std::chrono::steady_clock::time_point last_connect_attempt_;
  // The problem of the last failed attempt to connect; empty after one worked.
  std::string last_connect_error_;
  // The schema is there: (re)connections prepare the statements.
  bool opened_ = false;
};

std::optional<std::string> postgres_store::connect() {
  if (conn_) {
    PQreset(conn_.get());
  } else {
    // Defaults first: the URI's own parameters (expanded from dbname) override them.
    // connect_timeout bounds a connection attempt; the keepalives and the TCP user timeout
    // notice a server gone from the network instead of waiting on it for ever.
    const std::pair<const char*, const char*> given[] = {
        {"connect_timeout", "5"},      {"keepalives_idle", "10"},
        {"keepalives_interval", "5"},  {"keepalives_count", "3"},
        {"tcp_user_timeout", "15000"}, {"application_name", "toneguard"},
        {"client_encoding", "UTF8"},   {"dbname", uri_.c_str()},
    };
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [key, value] : given) {
      keys.push_back(key);
      values.push_back(value);
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_.reset(PQconnectdbParams(keys.data(), values.data(), 1));
    if (!conn_) return "cannot connect: out of memory";
  }
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    return "cannot connect: " + clean(PQerrorMessage(conn_.get()));
  }
  // open() prepares once the schema is there; a reconnection prepares at once.
  if (!opened_) return std::nullopt;
  auto problem = prepare_statements();
  // Half prepared is no use: the next attempt starts on a new connection.
  if (problem) conn_.reset();
  return problem;
}

std::optional<std::string> postgres_store::prepare_statements() {
  for (const auto& s : statements()) {
    const result prepared(
        PQprepare(conn_.get(), s.name, s.sql, static_cast<int>(s.types.size()), s.types.data()));
    if (!ok(prepared)) {
      const char* primary =
          prepared ? PQresultErrorField(prepared.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
      return "cannot prepare statements: " +
             clean(primary != nullptr ? primary : PQerrorMessage(conn_.get()));
    }
  }
  return std::nullopt;
}

outcome<stored> postgres_store::open() {
  constexpr std::string_view op = "cannot open";
  {
    char* error = nullptr;
    const std::unique_ptr<PQconninfoOption, conninfo_freer> options(
        PQconninfoParse(uri_.c_str(), &error));
    if (!options) {
      std::string problem = error != nullptr ? error : "out of memory";
      PQfreemem(error);
      return fail(op, clean(problem));
    }
    for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
      if (std::string_view(o->keyword) == "password" && o->val != nullptr) password_ = o->val;
    }
  }
  if (auto problem = connect()) return fail(op, *problem);

  // Nodes starting together against a new database: one creates the schema, the others wait
  // for it (the advisory lock ends with the transaction). PostgreSQL's DDL is transactional.
  if (const result begun = run("BEGIN"); !ok(begun)) return pg_fail(op, begun.get());
  const result locked = run("SELECT pg_advisory_xact_lock(7400631127093559667)");
  if (!ok(locked)) return pg_fail(op, locked.get());
  const result exists = run("SELECT to_regclass('toneguard_schema') IS NOT NULL");
  if (!ok(exists) || PQntuples(exists.get()) != 1) return pg_fail(op, exists.get());
  if (result_row(exists.get(), 0).text(0) == "t") {
    const result version = run("SELECT coalesce(max(version), 0) FROM toneguard_schema");
    if (!ok(version) || PQntuples(version.get()) != 1) return pg_fail(op, version.get());
    const std::int64_t v = result_row(version.get(), 0).integer(0);
    if (v > report_store::schema_version) {
      return fail(op, "schema version " + std::to_string(v) + " is newer than this toneguard's (" +
                          std::to_string(report_store::schema_version) + ")");
    }
  } else {
    constexpr std::string_view create = "cannot create the schema";
    if (const result schema = run(kSchemaV1); !ok(schema)) return pg_fail(create, schema.get());
    const std::string version = std::to_string(report_store::schema_version);
    const char* const values[] = {version.c_str()};
    const Oid types[] = {kInt8};
    const result versioned(PQexecParams(conn_.get(),
                                        "INSERT INTO toneguard_schema (version) VALUES ($1)", 1,
                                        types, values, nullptr, nullptr, 0));
    if (!ok(versioned)) return pg_fail(create, versioned.get());
  }
  if (const result committed = run("COMMIT"); !ok(committed)) {
    return pg_fail(op, committed.get());
  }
  // A failed open drops the connection (and with it the transaction): nothing to roll back.
  opened_ = true;
  if (auto problem = prepare_statements()) return fail(op, *problem);
  return stored{};
}

outcome<stored> postgres_store::record_call_started(const call_record& call) {
  constexpr std::string_view op = "record_call_started";
  return in_transaction<stored>(op, "BEGIN", [&]() -> outcome<stored> {
    const result r = run("tg_insert_call",
                         parameters().add(call.call_id).add(call.node).add(call.started_at_ms));
    if (ok(r)) return stored{};
    if (sqlstate(r.get()) == kUniqueViolation) return fail(op, kCallAlreadyRecorded);
    return pg_fail(op, r.get());
  });
}

outcome<stored> postgres_store::record_call_ended(std::string_view call_id,
                                                  std::int64_t ended_at_ms,
                                                  std::string_view reason) {
  constexpr std::string_view op = "record_call_ended";
  return in_transaction<stored>(op, "BEGIN", [&]() -> outcome<stored> {
    {
      const result state = run("tg_call_ended_at", parameters().add(call_id));
      if (!ok(state)) return pg_fail(op, state.get());
      if (PQntuples(state.get()) == 0) return fail(op, kUnknownCall);
      const result_row row(state.get(), 0);
      if (row.optional_integer(1)) return fail(op, kCallAlreadyEnded);
      if (ended_at_ms < row.integer(0)) return fail(op, kCallEndsBeforeStart);
    }
    const result ended = run("tg_end_call", parameters().add(call_id).add(ended_at_ms).add(reason));
    if (!ok(ended)) return pg_fail(op, ended.get());
    const result segments = run("tg_end_open_segments", parameters().add(call_id).add(ended_at_ms));
    if (!ok(segments)) return pg_fail(op, segments.get());
    return stored{};
  });
}

outcome<std::int64_t> postgres_store::begin_segment(std::string_view call_id, segment_kind kind,
                                                    std::int64_t started_at_ms,
                                                    std::optional<std::string_view> payment_id) {
  constexpr std::string_view op = "begin_segment";
  return in_transaction<std::int64_t>(op, "BEGIN", [&]() -> outcome<std::int64_t> {
    const result r = run(
        "tg_insert_segment",
        parameters().add(call_id).add(segment_kind_name(kind)).add(started_at_ms).add(payment_id));
    if (sqlstate(r.get()) == kForeignKeyViolation) return fail(op, kUnknownCall);
    if (!ok(r) || PQntuples(r.get()) != 1) return pg_fail(op, r.get());
    return result_row(r.get(), 0).integer(0);
  });
}

outcome<stored> postgres_store::end_segment(std::int64_t segment_id, std::int64_t ended_at_ms,
                                            std::string_view outcome_text) {
  constexpr std::string_view op = "end_segment";
  return in_transaction<stored>(op, "BEGIN", [&]() -> outcome<stored> {
    const result r =
        run("tg_end_segment", parameters().add(segment_id).add(ended_at_ms).add(outcome_text));
    if (!ok(r)) return pg_fail(op, r.get());
    if (std::string_view(PQcmdTuples(r.get())) == "1") return stored{};
    // Nothing changed: say why.
    const result state = run("tg_segment_state", parameters().add(segment_id));
    if (!ok(state)) return pg_fail(op, state.get());
    if (PQntuples(state.get()) == 0) return fail(op, unknown_segment(segment_id));
    if (result_row(state.get(), 0).optional_integer(1)) {
      return fail(op, segment_already_ended(segment_id));
    }
    return fail(op, segment_ends_before_start(segment_id));
  });
}

outcome<stored> postgres_store::record_payment(const payment_record& p) {
  constexpr std::string_view op = "record_payment";
  return in_transaction<stored>(op, "BEGIN", [&]() -> outcome<stored> {
    const result r = run("tg_insert_payment", parameters()
                                                  .add(p.payment_id)
                                                  .add(p.call_id)
                                                  .add(mode_name(p.mode))
                                                  .add(result_name(p.outcome))
                                                  .add(p.amount_minor)
                                                  .add(p.currency)
                                                  .add(brand_name(p.brand))
                                                  .add(p.last_four)
                                                  .add(p.transaction_reference)
                                                  .add(p.transaction_id)
                                                  .add(std::int64_t{p.attempts})
                                                  .add(std::int64_t{p.declines})
                                                  .add(p.started_at_ms)
                                                  .add(p.finished_at_ms));
    if (ok(r)) return stored{};
    if (sqlstate(r.get()) == kUniqueViolation) return fail(op, kPaymentAlreadyRecorded);
    if (sqlstate(r.get()) == kForeignKeyViolation) return fail(op, kUnknownCall);
    return pg_fail(op, r.get());
  });
}

outcome<report_page> postgres_store::query_calls(const report_query& query) {
  constexpr std::string_view op = "query_calls";
  // One snapshot for the three reads, as SQLite's read transaction gives.
  return in_transaction<report_page>(
      op, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&]() -> outcome<report_page> {
        // One more than the limit, to tell whether the page is truncated.
        parameters selected;
        selected.add(query.from_ms)
            .add(query.to_ms)
            .add(query.call_id)
            .add(static_cast<std::int64_t>(query.limit + 1));

        report_page page;
        std::map<std::string, std::size_t, std::less<>> index;  // call id -> page.calls
        {
          const result r = run("tg_select_calls", selected);
          if (!ok(r)) return pg_fail(op, r.get());
          const int rows = PQntuples(r.get());
          for (int i = 0; i < rows; ++i) {
            if (page.calls.size() == query.limit) {
              page.truncated = true;
              break;
            }
            call_report c;
            c.call = call_from_row(result_row(r.get(), i));
            index.emplace(c.call.call_id, page.calls.size());
            page.calls.push_back(std::move(c));
          }
        }
        {
          const result r = run("tg_select_segments", selected);
          if (!ok(r)) return pg_fail(op, r.get());
          const int rows = PQntuples(r.get());
          for (int i = 0; i < rows; ++i) {
            const result_row row(r.get(), i);
            const auto at = index.find(row.text(1));
            if (at == index.end()) continue;  // the call one past the limit
            auto seg = segment_from_row(row);
            if (!seg) return fail(op, kUnknownSegmentKind);
            page.calls[at->second].segments.push_back(std::move(*seg));
          }
        }
        {
          const result r = run("tg_select_payments", selected);
          if (!ok(r)) return pg_fail(op, r.get());
          const int rows = PQntuples(r.get());
          for (int i = 0; i < rows; ++i) {
            const result_row row(r.get(), i);
            const auto at = index.find(row.text(1));
            if (at == index.end()) continue;
            auto p = payment_from_row(row);
            if (!p) return fail(op, kUnknownPaymentName);
            page.calls[at->second].payments.push_back(std::move(*p));
          }
        }
        return page;
      });
}

}  // namespace

outcome<std::unique_ptr<report_backend>> open_postgres_store(const std::string& uri,
                                                             const std::string& name) {
  auto store = std::make_unique<postgres_store>(uri, name);
  if (auto opened = store->open(); !opened) return failure{opened.message()};
  return std::unique_ptr<report_backend>(std::move(store));
}

}  // namespace toneguard::engine::detail
