// The reporting store's tests. Each requirement of the store is one TEST_P that runs on both
// backends, SQLite and PostgreSQL (a throwaway server on loopback, tests/support/
// postgres_cluster.h), so both keep the same schema and answer the same queries; the tests of
// one backend's own parts (SQLite's file, PostgreSQL's connections and nodes) follow them.

#include "toneguard/engine/report_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback.h"
#include "support/postgres_cluster.h"

namespace toneguard::engine {
namespace {

namespace fs = std::filesystem;
using toneguard::testing::postgres_cluster;

// A card number (Visa test card) and spellings of it that must never be stored.
constexpr std::string_view kPan = "4111111111111111";

enum class backend { sqlite, postgres };

void PrintTo(backend b, std::ostream* out) {
  *out << (b == backend::sqlite ? "SQLite" : "PostgreSQL");
}

std::string backend_name(const ::testing::TestParamInfo<backend>& info) {
  return info.param == backend::sqlite ? "SQLite" : "PostgreSQL";
}

// The temporary directory of a test, removed after it.
class temporary_directory {
 public:
  temporary_directory() {
    std::string pattern = (fs::temp_directory_path() / "toneguard-report-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~temporary_directory() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  temporary_directory(const temporary_directory&) = delete;
  temporary_directory& operator=(const temporary_directory&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The store's rows, whatever keeps them.
class report_store_fixture {
 protected:
  static call_record call(std::string id, std::int64_t started_at_ms) {
    return {std::move(id), "node-1", started_at_ms, std::nullopt, ""};
  }

  static payment_record payment(std::string payment_id, std::string call_id) {
    payment_record p;
    p.payment_id = std::move(payment_id);
    p.call_id = std::move(call_id);
    p.mode = payment_mode::agent_assisted;
    p.outcome = payment_outcome::success;
    p.amount_minor = 1999;
    p.currency = "USD";
    p.brand = card_brand::visa;
    p.last_four = "1111";
    p.transaction_reference = "ch_42";
    p.transaction_id = p.payment_id + "-1";
    p.attempts = 1;
    p.declines = 0;
    p.started_at_ms = 1'700'000'010'000;
    p.finished_at_ms = 1'700'000'070'000;
    return p;
  }

  static report_page query_all(report_store& store) {
    auto page = store.query_calls({0, INT64_MAX, std::nullopt, 1000});
    EXPECT_TRUE(page.ok()) << page.message();
    return page.ok() ? std::move(page).value() : report_page{};
  }

  temporary_directory dir_;
};

// PostgreSQL's URI as the store's messages name it: the password masked.
std::string masked(const std::string& uri, const std::string& password) {
  std::string out = uri;
  if (const auto at = out.find(":" + password + "@"); at != std::string::npos) {
    out.replace(at + 1, password.size(), "***");
  }
  return out;
}

// True when this build has no libpq (engine/CMakeLists.txt): a URI is refused at once.
bool built_without_postgres() {
  static const bool without = [] {
    const auto refused = report_store::open("postgresql://127.0.0.1:1/none?connect_timeout=1");
    return !refused.ok() && refused.message().ends_with("built without PostgreSQL support");
  }();
  return without;
}

// The test process's PostgreSQL cluster, or a skip (no server binaries here, or a build without
// libpq) or a failure.
#define TG_NEED_POSTGRES(cluster)                                                      \
  do {                                                                                 \
    if (built_without_postgres()) GTEST_SKIP() << "built without PostgreSQL support";  \
    postgres_cluster::unavailable why;                                                 \
    cluster = postgres_cluster::shared(why);                                           \
    if (cluster == nullptr && why.no_server) GTEST_SKIP() << why.reason;               \
    ASSERT_NE(cluster, nullptr) << "cannot start a PostgreSQL server: " << why.reason; \
  } while (false)

// Every requirement on both backends. `location()` is the test's own store: an in-memory SQLite
// store (a file for `file_location()`), or a new PostgreSQL database (the same for both).
class ReportStore : public report_store_fixture, public ::testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    if (GetParam() == backend::sqlite) return;
    TG_NEED_POSTGRES(cluster_);
    uri_ = cluster_->create_database("report");
    ASSERT_FALSE(uri_.empty()) << "createdb failed";
  }

  [[nodiscard]] std::string location() const {
    return GetParam() == backend::sqlite ? ":memory:" : uri_;
  }
  [[nodiscard]] std::string file_location() const {
    return GetParam() == backend::sqlite ? (dir_.path() / "report.db").string() : uri_;
  }
  // How messages name location() ("report store NAME: ...").
  [[nodiscard]] std::string name() const {
    return GetParam() == backend::sqlite ? ":memory:" : masked(uri_, cluster_->password());
  }
  [[nodiscard]] std::string file_name() const {
    return GetParam() == backend::sqlite ? file_location() : name();
  }

  report_store open_store() const {
    auto store = report_store::open(location());
    EXPECT_TRUE(store.ok()) << store.message();
    return std::move(store).value();
  }

  // Runs `sql` on the store at file_location() with the backend's own shell (sqlite3 with
  // foreign keys on, or psql).
  toneguard::testing::command_result run_sql(const std::string& sql) const {
    if (GetParam() == backend::postgres) return cluster_->sql(uri_, sql);
    std::string quoted = "'";
    for (const char c : "PRAGMA foreign_keys = ON; " + sql) {
      quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return toneguard::testing::run_command("sqlite3 -bail '" + file_location() + "' " + quoted +
                                           "'");
  }

  // Leaves the schema version of the store at file_location() as a newer toneguard would.
  void set_schema_version(int version) {
    if (GetParam() == backend::sqlite) {
      // user_version: the big-endian 32-bit value at offset 60 of the SQLite header.
      std::fstream f(file_location(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(60);
      const char v[4] = {0, 0, 0, static_cast<char>(version)};
      f.write(v, 4);
      return;
    }
    const auto r =
        cluster_->sql(uri_, "UPDATE toneguard_schema SET version = " + std::to_string(version));
    ASSERT_EQ(r.status, 0) << r.err;
  }

  postgres_cluster* cluster_ = nullptr;
  std::string uri_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ReportStore,
                         ::testing::Values(backend::sqlite, backend::postgres), backend_name);

// The 100-byte SQLite header: bytes 18 and 19 are 2 in WAL mode; user_version is the
// big-endian 32-bit value at offset 60.
std::array<unsigned char, 100> sqlite_header(const std::string& path) {
  std::array<unsigned char, 100> header{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(header.data()), header.size());
  return header;
}

TEST_P(ReportStore, SchemaIsCreatedOnOpenAndVersioned) {
  {
    auto store = report_store::open(file_location());
    ASSERT_TRUE(store.ok()) << store.message();
    // The tables are there: a call with a segment and a payment can be recorded.
    ASSERT_TRUE(store.value().record_call_started(call("c1", 1000)).ok());
    ASSERT_TRUE(store.value().begin_segment("c1", segment_kind::agent, 1000).ok());
    ASSERT_TRUE(store.value().record_payment(payment("p1", "c1")).ok());
  }
  if (GetParam() == backend::sqlite) {
    // WAL, and the version in PRAGMA user_version.
    const auto header = sqlite_header(file_location());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(header.data()), 15), "SQLite format 3");
    EXPECT_EQ(header[18], 2);  // WAL
    EXPECT_EQ(header[19], 2);
    const std::uint32_t user_version = (std::uint32_t{header[60]} << 24) |
                                       (std::uint32_t{header[61]} << 16) |
                                       (std::uint32_t{header[62]} << 8) | header[63];
    EXPECT_EQ(user_version, static_cast<std::uint32_t>(report_store::schema_version));
  } else {
    // The version is the one row of toneguard_schema; the rows are where SQL finds them.
    const auto version = cluster_->sql(uri_, "SELECT version FROM toneguard_schema");
    ASSERT_EQ(version.status, 0) << version.err;
    EXPECT_EQ(version.out, std::to_string(report_store::schema_version));
    const auto rows =
        cluster_->sql(uri_,
                      "SELECT c.call_id, c.node, s.kind, p.outcome, p.last_four FROM calls c "
                      "JOIN segments s USING (call_id) JOIN payments p USING (call_id)");
    ASSERT_EQ(rows.status, 0) << rows.err;
    EXPECT_EQ(rows.out, "c1|node-1|agent|success|1111");
  }
}

TEST_P(ReportStore, ConstraintsRefuseWhatTheStoreNeverWrites) {
  // The same CHECKs and keys in both schemas: another writer (or a bug) cannot put an unknown
  // kind or outcome, a long last four or an orphan row into the tables.
  if (GetParam() == backend::sqlite &&
      toneguard::testing::run_command("sqlite3 -version").status != 0) {
    GTEST_SKIP() << "no sqlite3 shell";
  }
  { ASSERT_TRUE(report_store::open(file_location()).ok()); }
  ASSERT_EQ(
      run_sql("INSERT INTO calls (call_id, node, started_at_ms) VALUES ('c1', 'n', 1000)").status,
      0);
  const char* refused[] = {
      "INSERT INTO segments (call_id, kind, started_at_ms) VALUES ('c1', 'lunch', 1000)",
      "INSERT INTO segments (call_id, kind, started_at_ms) VALUES ('nobody', 'agent', 1000)",
      "UPDATE calls SET ended_at_ms = 999",
      "INSERT INTO payments VALUES ('p1', 'c1', 'automated', 'great', 1, 'USD', 'visa', '1111', "
      "'', '', 0, 0, 1, 2)",
      "INSERT INTO payments VALUES ('p1', 'c1', 'by-post', 'success', 1, 'USD', 'visa', '1111', "
      "'', '', 0, 0, 1, 2)",
      "INSERT INTO payments VALUES ('p1', 'c1', 'automated', 'success', 1, 'USD', 'visa', "
      "'11111', '', '', 0, 0, 1, 2)",
      "INSERT INTO payments VALUES ('p1', 'c1', 'automated', 'success', 1, 'USD', 'visa', "
      "'1111', '', '', -1, 0, 1, 2)",
  };
  for (const char* sql : refused) {
    SCOPED_TRACE(sql);
    EXPECT_NE(run_sql(sql).status, 0);
  }
  EXPECT_EQ(run_sql("INSERT INTO payments VALUES ('p1', 'c1', 'automated', 'cancelled', 1, "
                    "'USD', 'visa', '1111', '', '', 0, 0, 1, 2)")
                .status,
            0);
}

TEST_P(ReportStore, ForeignKeysRefuseRowsOfAnUnknownCall) {
  auto store = open_store();
  const auto segment = store.begin_segment("nobody", segment_kind::agent, 1000);
  ASSERT_FALSE(segment.ok());
  EXPECT_EQ(segment.message(), "report store " + name() + ": begin_segment: unknown call");
  const auto paid = store.record_payment(payment("p1", "nobody"));
  ASSERT_FALSE(paid.ok());
  EXPECT_EQ(paid.message(), "report store " + name() + ": record_payment: unknown call");
}

TEST_P(ReportStore, ReopenKeepsData) {
  {
    auto store = report_store::open(file_location());
    ASSERT_TRUE(store.ok()) << store.message();
    ASSERT_TRUE(store.value().record_call_started(call("c1", 1000)).ok());
    const auto seg = store.value().begin_segment("c1", segment_kind::secure_ivr, 1500, "p1");
    ASSERT_TRUE(seg.ok());
    ASSERT_TRUE(store.value().end_segment(seg.value(), 1800, "success").ok());
    ASSERT_TRUE(store.value().record_payment(payment("p1", "c1")).ok());
    ASSERT_TRUE(store.value().record_call_ended("c1", 2000, "deleted").ok());
  }
  auto reopened = report_store::open(file_location());
  ASSERT_TRUE(reopened.ok()) << reopened.message();
  const report_page page = query_all(reopened.value());
  ASSERT_EQ(page.calls.size(), 1u);
  const call_report& r = page.calls[0];
  EXPECT_EQ(r.call, (call_record{"c1", "node-1", 1000, 2000, "deleted"}));
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].kind, segment_kind::secure_ivr);
  EXPECT_EQ(r.segments[0].ended_at_ms, 1800);
  EXPECT_EQ(r.segments[0].outcome, "success");
  EXPECT_EQ(r.segments[0].payment_id, "p1");
  ASSERT_EQ(r.payments.size(), 1u);
  EXPECT_EQ(r.payments[0], payment("p1", "c1"));
  // Still writable after reopening.
  EXPECT_TRUE(reopened.value().record_call_started(call("c2", 3000)).ok());
}

TEST_P(ReportStore, SegmentsOfACallComeInOrderAndCloseWithTheCall) {
  auto store = open_store();
  ASSERT_TRUE(store.record_call_started(call("c1", 1000)).ok());
  const auto agent = store.begin_segment("c1", segment_kind::agent, 1000);
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(store.end_segment(agent.value(), 5000, "secure-payment").ok());
  const auto ivr = store.begin_segment("c1", segment_kind::secure_ivr, 5000, "p1");
  ASSERT_TRUE(ivr.ok());
  const auto provider = store.begin_segment("c1", segment_kind::payment_provider, 9000, "p1");
  ASSERT_TRUE(provider.ok());
  ASSERT_TRUE(store.end_segment(provider.value(), 9700, "approved").ok());
  ASSERT_TRUE(store.end_segment(ivr.value(), 10000, "success").ok());
  const auto back = store.begin_segment("c1", segment_kind::agent, 10000);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(store.record_call_ended("c1", 20000, "deleted").ok());

  const report_page page = query_all(store);
  ASSERT_EQ(page.calls.size(), 1u);
  const auto& segments = page.calls[0].segments;
  ASSERT_EQ(segments.size(), 4u);
  EXPECT_EQ(segments[0], (segment_record{agent.value(), "c1", segment_kind::agent, 1000, 5000,
                                         "secure-payment", std::nullopt}));
  EXPECT_EQ(segments[1], (segment_record{ivr.value(), "c1", segment_kind::secure_ivr, 5000, 10000,
                                         "success", "p1"}));
  EXPECT_EQ(segments[2], (segment_record{provider.value(), "c1", segment_kind::payment_provider,
                                         9000, 9700, "approved", "p1"}));
  // The segment still open when the call ended is closed with it.
  EXPECT_EQ(segments[3], (segment_record{back.value(), "c1", segment_kind::agent, 10000, 20000,
                                         "call-ended", std::nullopt}));
  EXPECT_LT(agent.value(), ivr.value());
  EXPECT_LT(ivr.value(), provider.value());
}

TEST_P(ReportStore, EndingTwiceOrUnknownIsAnError) {
  auto store = open_store();
  ASSERT_TRUE(store.record_call_started(call("c1", 1000)).ok());
  EXPECT_FALSE(store.record_call_started(call("c1", 1000)).ok());
  const auto seg = store.begin_segment("c1", segment_kind::agent, 1000);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(store.end_segment(seg.value(), 900, "x").message(),
            "report store " + name() + ": end_segment: segment " + std::to_string(seg.value()) +
                " would end before it began");
  ASSERT_TRUE(store.end_segment(seg.value(), 2000, "x").ok());
  EXPECT_FALSE(store.end_segment(seg.value(), 2000, "x").ok());
  EXPECT_FALSE(store.end_segment(seg.value() + 100, 2000, "x").ok());
  EXPECT_EQ(store.record_call_ended("c9", 3000, "deleted").message(),
            "report store " + name() + ": record_call_ended: unknown call");
  EXPECT_FALSE(store.record_call_ended("c1", 500, "deleted").ok());
  ASSERT_TRUE(store.record_call_ended("c1", 3000, "deleted").ok());
  EXPECT_EQ(store.record_call_ended("c1", 4000, "deleted").message(),
            "report store " + name() + ": record_call_ended: the call has already ended");
  EXPECT_TRUE(store.record_payment(payment("p1", "c1")).ok());
  EXPECT_FALSE(store.record_payment(payment("p1", "c1")).ok());
}

TEST_P(ReportStore, QueryByTimeRangeAndCall) {
  auto store = open_store();
  for (const auto& [id, at] : std::vector<std::pair<std::string, std::int64_t>>{
           {"c-early", 1000}, {"c-mid-a", 2000}, {"c-mid-b", 2000}, {"c-late", 3000}}) {
    ASSERT_TRUE(store.record_call_started(call(id, at)).ok());
  }
  ASSERT_TRUE(store.begin_segment("c-mid-b", segment_kind::agent, 2000).ok());

  // [from, to): 2000 is in, 3000 is out; same start time: by call id.
  auto page = store.query_calls({2000, 3000, std::nullopt, 1000});
  ASSERT_TRUE(page.ok()) << page.message();
  ASSERT_EQ(page.value().calls.size(), 2u);
  EXPECT_EQ(page.value().calls[0].call.call_id, "c-mid-a");
  EXPECT_EQ(page.value().calls[1].call.call_id, "c-mid-b");
  EXPECT_EQ(page.value().calls[1].segments.size(), 1u);
  EXPECT_FALSE(page.value().truncated);

  auto one = store.query_calls({0, 10000, std::string("c-late"), 1000});
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.value().calls.size(), 1u);
  EXPECT_EQ(one.value().calls[0].call.call_id, "c-late");

  auto outside = store.query_calls({0, 2000, std::string("c-late"), 1000});
  ASSERT_TRUE(outside.ok());
  EXPECT_TRUE(outside.value().calls.empty());
}

TEST_P(ReportStore, QueryReturnsAtMostItsLimitDefault1000) {
  auto store = open_store();
  for (int i = 0; i < 1001; ++i) {
    ASSERT_TRUE(store.record_call_started(call("c" + std::to_string(i), 1000 + i)).ok());
  }
  report_query all{0, INT64_MAX, std::nullopt};
  EXPECT_EQ(all.limit, 1000u);
  auto page = store.query_calls(all);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page.value().calls.size(), 1000u);
  EXPECT_TRUE(page.value().truncated);
  EXPECT_EQ(page.value().calls.back().call.call_id, "c999");

  auto three = store.query_calls({0, INT64_MAX, std::nullopt, 3});
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three.value().calls.size(), 3u);
  EXPECT_TRUE(three.value().truncated);

  auto exact = store.query_calls({0, INT64_MAX, std::nullopt, 1001});
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact.value().calls.size(), 1001u);
  EXPECT_FALSE(exact.value().truncated);

  EXPECT_FALSE(store.query_calls({0, INT64_MAX, std::nullopt, 0}).ok());
}

TEST_P(ReportStore, CardNumberLookingTextIsRefusedAndNothingStored) {
  auto store = open_store();
  ASSERT_TRUE(store.record_call_started(call("c1", 1000)).ok());
  const std::string pan(kPan);
  const std::vector<std::string> spellings = {
      pan,
      "call-" + pan,
      "4111 1111 1111 1111",
      "4111-1111-1111-1111",
      "100000000008",         // 12 digits passing Luhn
      "99" + pan + "123456",  // inside a longer number
  };
  for (const auto& bad : spellings) {
    SCOPED_TRACE(bad);
    const auto started = store.record_call_started(call(bad, 1000));
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.message().find(bad), std::string::npos);
    EXPECT_NE(started.message().find("looks like a card number"), std::string::npos);

    call_record node = call("c2", 1000);
    node.node = bad;
    EXPECT_FALSE(store.record_call_started(node).ok());
    EXPECT_FALSE(store.begin_segment("c1", segment_kind::secure_ivr, 1000, bad).ok());
    EXPECT_FALSE(store.record_call_ended("c1", 2000, bad).ok());
    for (auto field : {&payment_record::payment_id, &payment_record::transaction_reference,
                       &payment_record::transaction_id, &payment_record::currency}) {
      payment_record p = payment("p1", "c1");
      p.*field = bad;
      EXPECT_FALSE(store.record_payment(p).ok());
    }
  }
  const auto seg = store.begin_segment("c1", segment_kind::agent, 1000);
  ASSERT_TRUE(seg.ok());
  EXPECT_FALSE(store.end_segment(seg.value(), 2000, "ended " + pan).ok());

  payment_record long_four = payment("p1", "c1");
  long_four.last_four = "11111";
  const auto refused = store.record_payment(long_four);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(),
            "report store " + name() +
                ": record_payment: last_four has more than 4 digits; nothing stored");

  // Nothing of it was stored: one call, still open, one open segment, no payment.
  const report_page page = query_all(store);
  ASSERT_EQ(page.calls.size(), 1u);
  EXPECT_EQ(page.calls[0].call, call("c1", 1000));
  ASSERT_EQ(page.calls[0].segments.size(), 1u);
  EXPECT_FALSE(page.calls[0].segments[0].ended_at_ms.has_value());
  EXPECT_TRUE(page.calls[0].payments.empty());
  EXPECT_EQ(export_csv(page).find("1111 1111"), std::string::npos);

  // Ordinary numbers are kept: short ones, and a long one with no Luhn-valid run of 12..19.
  EXPECT_TRUE(store.record_call_ended("c1", 2000, "order 12345 / 0411442694208093").ok());
}

TEST_P(ReportStore, NewerSchemaIsRefused) {
  {
    auto store = report_store::open(file_location());
    ASSERT_TRUE(store.ok()) << store.message();
  }
  set_schema_version(2);
  const auto newer = report_store::open(file_location());
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.message(), "report store " + file_name() +
                                 ": cannot open: schema version 2 is newer than this "
                                 "toneguard's (1)");
}

// --- SQLite's own ------------------------------------------------------------------------------

class ReportStoreSqlite : public report_store_fixture, public ::testing::Test {
 protected:
  [[nodiscard]] std::string db_path() const { return (dir_.path() / "report.db").string(); }
};

TEST_F(ReportStoreSqlite, UnwritablePathIsAnErrorNamingIt) {
  const std::string missing_dir = (dir_.path() / "no-such-dir" / "report.db").string();
  const auto missing = report_store::open(missing_dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), "report store " + missing_dir +
                                   ": cannot open: unable to open database file (No such file or "
                                   "directory)");

  // Not even root can create a file in /proc.
  const auto proc = report_store::open("/proc/toneguard-report.db");
  ASSERT_FALSE(proc.ok());
  EXPECT_EQ(proc.message().rfind("report store /proc/toneguard-report.db: ", 0), 0u);

  const auto directory = report_store::open(dir_.path().string());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.message().rfind("report store " + dir_.path().string() + ": ", 0), 0u);
}

TEST_F(ReportStoreSqlite, NotADatabaseIsRefused) {
  {
    std::ofstream(db_path()) << "this is not a database, just some text long enough to matter."
                             << std::string(200, 'x');
  }
  const auto garbage = report_store::open(db_path());
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.message().rfind("report store " + db_path() + ": cannot open: ", 0), 0u);
}

report_page export_sample() {
  report_page page;
  call_report r;
  r.call = {"c1,x", "node-1", 1000, 2000, "bye, \"normal\"\nend"};
  r.segments.push_back({7, "c1,x", segment_kind::secure_ivr, 1100, std::nullopt, "", "p1"});
  payment_record p;
  p.payment_id = "p1";
  p.call_id = "c1,x";
  p.mode = payment_mode::automated;
  p.outcome = payment_outcome::caller_interrupted_with_star;
  p.amount_minor = 1250;
  p.currency = "EUR";
  p.brand = card_brand::mastercard;
  p.last_four = "4444";
  p.transaction_reference = "";
  p.transaction_id = "p1-1";
  p.attempts = 1;
  p.declines = 1;
  p.started_at_ms = 1100;
  p.finished_at_ms = 1900;
  r.payments.push_back(p);
  page.calls.push_back(r);
  return page;
}

TEST(ReportExport, CsvExportQuotesFieldsPerRfc4180) {
  EXPECT_EQ(export_csv(export_sample()),
            "record,call_id,node,kind,started_at_ms,ended_at_ms,outcome,segment_id,payment_id,"
            "mode,amount_minor,currency,brand,last_four,transaction_reference,transaction_id,"
            "attempts,declines\r\n"
            "call,\"c1,x\",node-1,,1000,2000,\"bye, \"\"normal\"\"\nend\",,,,,,,,,,,\r\n"
            "segment,\"c1,x\",,secure-ivr,1100,,,7,p1,,,,,,,,,\r\n"
            "payment,\"c1,x\",,,1100,1900,caller-interrupted-with-star,,p1,automated,1250,EUR,"
            "mastercard,4444,,p1-1,1,1\r\n");
  EXPECT_EQ(export_csv(report_page{}).find("\r\n") + 2, export_csv(report_page{}).size());
}

TEST(ReportExport, JsonExportHasCallsWithSegmentsAndPayments) {
  const boost::json::value doc = boost::json::parse(export_json(export_sample()));
  const auto& root = doc.as_object();
  EXPECT_EQ(root.at("truncated"), false);
  const auto& c = root.at("calls").as_array().at(0).as_object();
  EXPECT_EQ(c.at("call_id"), "c1,x");
  EXPECT_EQ(c.at("node"), "node-1");
  EXPECT_EQ(c.at("started_at_ms").as_int64(), 1000);
  EXPECT_EQ(c.at("ended_at_ms").as_int64(), 2000);
  EXPECT_EQ(c.at("end_reason"), "bye, \"normal\"\nend");
  const auto& seg = c.at("segments").as_array().at(0).as_object();
  EXPECT_EQ(seg.at("id").as_int64(), 7);
  EXPECT_EQ(seg.at("kind"), "secure-ivr");
  EXPECT_TRUE(seg.at("ended_at_ms").is_null());
  EXPECT_EQ(seg.at("outcome"), "");
  EXPECT_EQ(seg.at("payment_id"), "p1");
  const auto& pay = c.at("payments").as_array().at(0).as_object();
  EXPECT_EQ(pay.at("payment_id"), "p1");
  EXPECT_EQ(pay.at("mode"), "automated");
  EXPECT_EQ(pay.at("outcome"), "caller-interrupted-with-star");
  EXPECT_EQ(pay.at("amount_minor").as_int64(), 1250);
  EXPECT_EQ(pay.at("currency"), "EUR");
  EXPECT_EQ(pay.at("brand"), "mastercard");
  EXPECT_EQ(pay.at("last_four"), "4444");
  EXPECT_EQ(pay.at("transaction_id"), "p1-1");
  EXPECT_EQ(pay.at("attempts").as_int64(), 1);
  EXPECT_EQ(pay.at("declines").as_int64(), 1);
  EXPECT_EQ(pay.at("finished_at_ms").as_int64(), 1900);
  EXPECT_EQ(pay.size(), 13u);

  const boost::json::value empty = boost::json::parse(export_json(report_page{}));
  EXPECT_TRUE(empty.at("calls").as_array().empty());
}

// --- PostgreSQL's own --------------------------------------------------------------------------

class ReportStorePostgres : public report_store_fixture, public ::testing::Test {
 protected:
  void SetUp() override { TG_NEED_POSTGRES(cluster_); }

  postgres_cluster* cluster_ = nullptr;
};

TEST_F(ReportStorePostgres, TwoNodesWriteOneDatabaseConcurrentlyAndOneQuerySeesBoth) {
  const std::string uri = cluster_->create_database("nodes");
  ASSERT_FALSE(uri.empty());
  constexpr int kCalls = 30;
  // Two nodes, each its own store (connection) on its own thread, open the new database at
  // once (one creates the schema, the other waits for it) and write calls, segments and
  // payments side by side; a call id both record is recorded once.
  std::array<std::vector<std::string>, 2> errors;
  std::array<std::vector<std::int64_t>, 2> segment_ids;
  std::array<int, 2> shared_call_refused{};
  const auto node = [&](int n) {
    auto opened = report_store::open(uri);
    if (!opened) {
      errors[n].push_back(opened.message());
      return;
    }
    report_store& store = opened.value();
    const std::string name = "node-" + std::to_string(n + 1);
    const auto check = [&](const auto& r) {
      if (!r.ok()) errors[n].push_back(r.message());
    };
    for (int i = 0; i < kCalls; ++i) {
      const std::string id = name + "-call-" + std::to_string(i);
      const std::int64_t at = 1000 + i;
      check(store.record_call_started({id, name, at, std::nullopt, ""}));
      const auto agent = store.begin_segment(id, segment_kind::agent, at);
      check(agent);
      if (agent.ok()) segment_ids[n].push_back(agent.value());
      const auto ivr = store.begin_segment(id, segment_kind::secure_ivr, at + 1, id + "-p");
      check(ivr);
      if (ivr.ok()) segment_ids[n].push_back(ivr.value());
      check(store.record_payment(payment(id + "-p", id)));
      check(store.record_call_ended(id, at + 10, "deleted"));
    }
    const auto both = store.record_call_started({"shared-call", name, 5000, std::nullopt, ""});
    if (!both.ok() && both.message().ends_with(": the call is already recorded")) {
      ++shared_call_refused[n];
    }
  };
  std::thread first(node, 0);
  std::thread second(node, 1);
  first.join();
  second.join();
  EXPECT_TRUE(errors[0].empty()) << errors[0].front();
  EXPECT_TRUE(errors[1].empty()) << errors[1].front();
  EXPECT_EQ(shared_call_refused[0] + shared_call_refused[1], 1);

  // A third connection sees both nodes' calls, in start order (same start: by call id).
  auto reader = report_store::open(uri);
  ASSERT_TRUE(reader.ok()) << reader.message();
  const report_page page = query_all(reader.value());
  ASSERT_EQ(page.calls.size(), 2u * kCalls + 1);
  std::array<int, 2> per_node{};
  for (std::size_t i = 0; i + 1 < page.calls.size(); ++i) {
    const call_report& r = page.calls[i];
    ASSERT_TRUE(r.call.node == "node-1" || r.call.node == "node-2") << r.call.node;
    ++per_node[r.call.node == "node-1" ? 0 : 1];
    EXPECT_TRUE(r.call.call_id.starts_with(r.call.node + "-call-"));
    EXPECT_EQ(r.call.ended_at_ms, r.call.started_at_ms + 10);
    ASSERT_EQ(r.segments.size(), 2u);
    EXPECT_EQ(r.segments[0].kind, segment_kind::agent);
    EXPECT_EQ(r.segments[1].outcome, "call-ended");
    ASSERT_EQ(r.payments.size(), 1u);
    EXPECT_EQ(r.payments[0].payment_id, r.call.call_id + "-p");
    const call_report& next = page.calls[i + 1];
    EXPECT_TRUE(
        r.call.started_at_ms < next.call.started_at_ms ||
        (r.call.started_at_ms == next.call.started_at_ms && r.call.call_id < next.call.call_id));
  }
  EXPECT_EQ(per_node[0], kCalls);
  EXPECT_EQ(per_node[1], kCalls);
  EXPECT_EQ(page.calls.back().call.call_id, "shared-call");
  // Segment ids come from one sequence: no two nodes' segments share one.
  std::vector<std::int64_t> ids = segment_ids[0];
  ids.insert(ids.end(), segment_ids[1].begin(), segment_ids[1].end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  EXPECT_EQ(ids.size(), 4u * kCalls);
}

TEST_F(ReportStorePostgres, LostServerIsAnErrorAndTheStoreWorksAgainAfterARestart) {
  // A server of its own: this test stops it.
  postgres_cluster::unavailable why;
  const auto own = postgres_cluster::start(why);
  ASSERT_NE(own, nullptr) << why.reason;
  const std::string uri = own->create_database("restart");
  ASSERT_FALSE(uri.empty());
  auto opened = report_store::open(uri);
  ASSERT_TRUE(opened.ok()) << opened.message();
  report_store& store = opened.value();
  ASSERT_TRUE(store.record_call_started(call("c1", 1000)).ok());

  ASSERT_TRUE(own->stop());
  const auto lost = store.record_call_started(call("c2", 2000));
  ASSERT_FALSE(lost.ok());
  const std::string prefix =
      "report store " + masked(uri, own->password()) + ": record_call_started: cannot connect: ";
  EXPECT_EQ(lost.message().rfind(prefix, 0), 0u) << lost.message();
  EXPECT_NE(lost.message().find("Connection refused"), std::string::npos) << lost.message();
  EXPECT_EQ(lost.message().find(own->password()), std::string::npos);
  EXPECT_EQ(lost.message().find('\n'), std::string::npos);
  // Meanwhile every operation fails the same way, and at once.
  const auto before = std::chrono::steady_clock::now();
  const auto query = store.query_calls({0, INT64_MAX, std::nullopt, 10});
  ASSERT_FALSE(query.ok());
  EXPECT_NE(query.message().find(": query_calls: cannot connect: "), std::string::npos)
      << query.message();
  EXPECT_FALSE(store.begin_segment("c1", segment_kind::agent, 1000).ok());
  EXPECT_FALSE(store.record_call_ended("c1", 3000, "deleted").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(3));

  ASSERT_TRUE(own->restart());
  // The next attempt to connect (at most a second after the last) succeeds; nothing written
  // while the server was away is there.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  outcome<stored> again = failure{"not tried"};
  while (!(again = store.record_call_started(call("c2", 2000))).ok() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(again.ok()) << again.message();
  ASSERT_TRUE(store.record_call_ended("c1", 3000, "deleted").ok());
  const report_page page = query_all(store);
  ASSERT_EQ(page.calls.size(), 2u);
  EXPECT_EQ(page.calls[0].call, (call_record{"c1", "node-1", 1000, 3000, "deleted"}));
  EXPECT_EQ(page.calls[1].call, call("c2", 2000));
  EXPECT_TRUE(page.calls[0].segments.empty());
}

TEST_F(ReportStorePostgres, MessagesNameTheServerButNeverThePassword) {
  const std::string uri = cluster_->create_database("password");
  ASSERT_FALSE(uri.empty());
  const std::string password = cluster_->password();
  const std::string port = std::to_string(cluster_->port());
  const std::string database = uri.substr(uri.rfind('/') + 1);

  std::string wrong = uri;
  wrong.replace(wrong.find(password), password.size(), "wrong-secret-42");
  const auto refused = report_store::open(wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), "report store postgresql://toneguard:***@127.0.0.1:" + port + "/" +
                                   database +
                                   ": cannot open: cannot connect: connection to "
                                   "server at \"127.0.0.1\", port " +
                                   port +
                                   " failed: FATAL: password authentication failed for user "
                                   "\"toneguard\"");

  const std::string as_parameter = "postgres://toneguard@127.0.0.1:" + port + "/" + database +
                                   "?password=wrong-secret-42&connect_timeout=2";
  const auto parameter = report_store::open(as_parameter);
  ASSERT_FALSE(parameter.ok());
  EXPECT_EQ(parameter.message().rfind("report store postgres://toneguard@127.0.0.1:" + port + "/" +
                                          database +
                                          "?password=***&connect_timeout=2: cannot open: "
                                          "cannot connect: ",
                                      0),
            0u)
      << parameter.message();
  EXPECT_EQ(parameter.message().find("wrong-secret-42"), std::string::npos);

  // The right password in a parameter opens it too.
  const auto right = report_store::open("postgresql://toneguard@127.0.0.1:" + port + "/" +
                                        database + "?password=" + password);
  EXPECT_TRUE(right.ok()) << right.message();

  // A malformed URI is libpq's complaint, still without the password.
  const auto malformed = report_store::open(
      "postgresql://toneguard:wrong-secret-42@127.0.0.1:" + port + "/db?sslmode");
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.message().find("wrong-secret-42"), std::string::npos) << malformed.message();
}

// A minimal ng client (the media library's is not the engine tests' to use): offer, answer and
// delete of one call, each a bencoded dictionary.
std::string bencode_string(std::string_view s) {
  return std::to_string(s.size()) + ":" + std::string(s);
}

std::string ng_request(std::string_view cookie, std::string_view command, std::string_view call_id,
                       std::string_view to_tag, std::string_view sdp) {
  std::string d = "d" + bencode_string("call-id") + bencode_string(call_id) +
                  bencode_string("command") + bencode_string(command) + bencode_string("from-tag") +
                  bencode_string("caller-tag");
  if (!sdp.empty()) d += bencode_string("sdp") + bencode_string(sdp);
  if (!to_tag.empty()) d += bencode_string("to-tag") + bencode_string(to_tag);
  return std::string(cookie) + " " + d + "e";
}

std::string pcmu_sdp(std::uint16_t port) {
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
         std::to_string(port) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n";
}

TEST_F(ReportStorePostgres, DaemonRecordsItsCallsWithAPostgresUri) {
  using namespace std::chrono_literals;
  const std::string daemon = std::string(TONEGUARD_BIN_DIR) + "/toneguard";
  if (!fs::exists(daemon)) GTEST_SKIP() << daemon << " is not built";
  const std::string prompts = TONEGUARD_PROMPTS_EN_DIR;
  if (!fs::exists(prompts + "/manifest.tsv")) GTEST_SKIP() << prompts << " is not built";
  const std::string uri = cluster_->create_database("daemon");
  ASSERT_FALSE(uri.empty());
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_NE(port_min, 0);
  toneguard::testing::daemon_process d({"--listen-ng", "127.0.0.1:0", "--port-min",
                                        std::to_string(port_min), "--port-max",
                                        std::to_string(port_min + 99), "--prompts", prompts,
                                        "--report-db", uri, "--node-name", "node-pg"});
  ASSERT_TRUE(d.wait_for_log("msg=listening proto=ng", 20000ms)) << d.err();
  const std::uint16_t ng_port = toneguard::testing::listening_port(d.err(), "ng");
  ASSERT_NE(ng_port, 0) << d.err();

  toneguard::testing::udp_peer control, caller, agent;
  const auto ask = [&](const std::string& request) {
    control.send_to(ng_port, request);
    return control.receive(5000).value_or("");
  };
  EXPECT_NE(
      ask(ng_request("o1", "offer", "pg-call-1", "", pcmu_sdp(caller.port()))).find("m=audio"),
      std::string::npos);
  EXPECT_NE(ask(ng_request("a1", "answer", "pg-call-1", "agent-tag", pcmu_sdp(agent.port())))
                .find("m=audio"),
            std::string::npos);
  EXPECT_NE(ask(ng_request("d1", "delete", "pg-call-1", "", "")).find("2:ok"), std::string::npos);

  // The payment service writes on its own thread: wait for the end to land.
  toneguard::testing::command_result rows;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    rows = cluster_->sql(uri,
                         "SELECT c.call_id, c.node, c.end_reason, s.kind, s.outcome FROM calls c "
                         "JOIN segments s USING (call_id) WHERE c.ended_at_ms IS NOT NULL");
    if (rows.status == 0 && !rows.out.empty()) break;
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(rows.out, "pg-call-1|node-pg|deleted|agent|call-ended") << rows.err << d.err();

  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(10000ms), 0) << d.err();
  EXPECT_EQ(d.err().find(cluster_->password()), std::string::npos);
  EXPECT_EQ(d.err().find("report store write failed"), std::string::npos) << d.err();
}

}  // namespace
}  // namespace toneguard::engine
