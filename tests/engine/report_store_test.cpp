#include "toneguard/engine/report_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace toneguard::engine {
namespace {

namespace fs = std::filesystem;

// A card number (Visa test card) and spellings of it that must never be stored.
constexpr std::string_view kPan = "4111111111111111";

class ReportStore : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "toneguard-report-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  [[nodiscard]] std::string db_path() const { return (dir_ / "report.db").string(); }

  static report_store open_memory() {
    auto store = report_store::open(":memory:");
    EXPECT_TRUE(store.ok()) << store.message();
    return std::move(store).value();
  }

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

  fs::path dir_;
};

// The 100-byte SQLite header: bytes 18 and 19 are 2 in WAL mode; user_version is the
// big-endian 32-bit value at offset 60.
std::array<unsigned char, 100> sqlite_header(const std::string& path) {
  std::array<unsigned char, 100> header{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(header.data()), header.size());
  return header;
}

TEST_F(ReportStore, SchemaIsCreatedOnOpenVersionedInWalMode) {
  {
    auto store = report_store::open(db_path());
    ASSERT_TRUE(store.ok()) << store.message();
    // The tables are there: a call with a segment and a payment can be recorded.
    ASSERT_TRUE(store.value().record_call_started(call("c1", 1000)).ok());
    ASSERT_TRUE(store.value().begin_segment("c1", segment_kind::agent, 1000).ok());
    ASSERT_TRUE(store.value().record_payment(payment("p1", "c1")).ok());
  }
  const auto header = sqlite_header(db_path());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(header.data()), 15), "SQLite format 3");
  EXPECT_EQ(header[18], 2);  // WAL
  EXPECT_EQ(header[19], 2);
  const std::uint32_t user_version = (std::uint32_t{header[60]} << 24) |
                                     (std::uint32_t{header[61]} << 16) |
                                     (std::uint32_t{header[62]} << 8) | header[63];
  EXPECT_EQ(user_version, static_cast<std::uint32_t>(report_store::schema_version));
}

TEST_F(ReportStore, ForeignKeysRefuseRowsOfAnUnknownCall) {
  auto store = open_memory();
  const auto segment = store.begin_segment("nobody", segment_kind::agent, 1000);
  ASSERT_FALSE(segment.ok());
  EXPECT_EQ(segment.message(), "report store :memory:: begin_segment: unknown call");
  const auto paid = store.record_payment(payment("p1", "nobody"));
  ASSERT_FALSE(paid.ok());
  EXPECT_EQ(paid.message(), "report store :memory:: record_payment: unknown call");
}

TEST_F(ReportStore, ReopenKeepsData) {
  {
    auto store = report_store::open(db_path());
    ASSERT_TRUE(store.ok()) << store.message();
    ASSERT_TRUE(store.value().record_call_started(call("c1", 1000)).ok());
    const auto seg = store.value().begin_segment("c1", segment_kind::secure_ivr, 1500, "p1");
    ASSERT_TRUE(seg.ok());
    ASSERT_TRUE(store.value().end_segment(seg.value(), 1800, "success").ok());
    ASSERT_TRUE(store.value().record_payment(payment("p1", "c1")).ok());
    ASSERT_TRUE(store.value().record_call_ended("c1", 2000, "deleted").ok());
  }
  auto reopened = report_store::open(db_path());
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

TEST_F(ReportStore, SegmentsOfACallComeInOrderAndCloseWithTheCall) {
  auto store = open_memory();
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

TEST_F(ReportStore, EndingTwiceOrUnknownIsAnError) {
  auto store = open_memory();
  ASSERT_TRUE(store.record_call_started(call("c1", 1000)).ok());
  EXPECT_FALSE(store.record_call_started(call("c1", 1000)).ok());
  const auto seg = store.begin_segment("c1", segment_kind::agent, 1000);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(store.end_segment(seg.value(), 900, "x").message(),
            "report store :memory:: end_segment: segment " + std::to_string(seg.value()) +
                " would end before it began");
  ASSERT_TRUE(store.end_segment(seg.value(), 2000, "x").ok());
  EXPECT_FALSE(store.end_segment(seg.value(), 2000, "x").ok());
  EXPECT_FALSE(store.end_segment(seg.value() + 100, 2000, "x").ok());
  EXPECT_EQ(store.record_call_ended("c9", 3000, "deleted").message(),
            "report store :memory:: record_call_ended: unknown call");
  EXPECT_FALSE(store.record_call_ended("c1", 500, "deleted").ok());
  ASSERT_TRUE(store.record_call_ended("c1", 3000, "deleted").ok());
  EXPECT_EQ(store.record_call_ended("c1", 4000, "deleted").message(),
            "report store :memory:: record_call_ended: the call has already ended");
  EXPECT_TRUE(store.record_payment(payment("p1", "c1")).ok());
  EXPECT_FALSE(store.record_payment(payment("p1", "c1")).ok());
}

TEST_F(ReportStore, QueryByTimeRangeAndCall) {
  auto store = open_memory();
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

TEST_F(ReportStore, QueryReturnsAtMostItsLimitDefault1000) {
  auto store = open_memory();
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

TEST_F(ReportStore, CsvExportQuotesFieldsPerRfc4180) {
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

TEST_F(ReportStore, JsonExportHasCallsWithSegmentsAndPayments) {
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

TEST_F(ReportStore, CardNumberLookingTextIsRefusedAndNothingStored) {
  auto store = open_memory();
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
            "report store :memory:: record_payment: last_four has more than 4 digits; nothing "
            "stored");

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

TEST_F(ReportStore, UnwritablePathIsAnErrorNamingIt) {
  const std::string missing_dir = (dir_ / "no-such-dir" / "report.db").string();
  const auto missing = report_store::open(missing_dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), "report store " + missing_dir +
                                   ": cannot open: unable to open database file (No such file or "
                                   "directory)");

  // Not even root can create a file in /proc.
  const auto proc = report_store::open("/proc/toneguard-report.db");
  ASSERT_FALSE(proc.ok());
  EXPECT_EQ(proc.message().rfind("report store /proc/toneguard-report.db: ", 0), 0u);

  const auto directory = report_store::open(dir_.string());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.message().rfind("report store " + dir_.string() + ": ", 0), 0u);
}

TEST_F(ReportStore, NotADatabaseOrANewerSchemaIsRefused) {
  {
    std::ofstream(db_path()) << "this is not a database, just some text long enough to matter."
                             << std::string(200, 'x');
  }
  const auto garbage = report_store::open(db_path());
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.message().rfind("report store " + db_path() + ": cannot open: ", 0), 0u);
  fs::remove(db_path());

  {
    auto store = report_store::open(db_path());
    ASSERT_TRUE(store.ok());
  }
  {
    // user_version 2 (offset 60, big-endian), as a newer toneguard would leave it.
    std::fstream f(db_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);
    const char v[4] = {0, 0, 0, 2};
    f.write(v, 4);
  }
  const auto newer = report_store::open(db_path());
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.message(), "report store " + db_path() +
                                 ": cannot open: schema version 2 is newer than this "
                                 "toneguard's (1)");
}

}  // namespace
}  // namespace toneguard::engine
