#include "toneguard/engine/metrics.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

namespace toneguard::engine {
namespace {

TEST(Metrics, TextFormatIsPrometheusExposition004) {
  metrics_registry registry;
  auto calls = registry.add_counter("calls_total", "Calls set up.");
  auto active_a = registry.add_gauge("calls_active", "Calls now.", {{"node", "a"}});
  auto active_b = registry.add_gauge("calls_active", "Calls now.", {{"node", "b"}});
  ASSERT_TRUE(calls.ok() && active_a.ok() && active_b.ok());
  calls.value().add();
  calls.value().add(41);
  active_a.value().set(3);
  active_b.value().add(2);
  active_b.value().sub();

  EXPECT_EQ(registry.render(),
            "# HELP calls_total Calls set up.\n"
            "# TYPE calls_total counter\n"
            "calls_total 42\n"
            "# HELP calls_active Calls now.\n"
            "# TYPE calls_active gauge\n"
            "calls_active{node=\"a\"} 3\n"
            "calls_active{node=\"b\"} 1\n");
}

TEST(Metrics, LabelValuesEscapeBackslashQuoteAndNewline) {
  metrics_registry registry;
  auto c = registry.add_counter("odd_total", "Help with \\ and\nnewline \"kept\".",
                                {{"reason", "a\\b \"q\"\nend"}, {"kind", "x"}});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(registry.render(),
            "# HELP odd_total Help with \\\\ and\\nnewline \"kept\".\n"
            "# TYPE odd_total counter\n"
            "odd_total{reason=\"a\\\\b \\\"q\\\"\\nend\",kind=\"x\"} 0\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  metrics_registry registry;
  const std::array<double, 3> bounds{0.05, 0.5, 2};
  auto h = registry.add_histogram("latency_seconds", "Latency.", bounds, {{"gw", "sandbox"}});
  ASSERT_TRUE(h.ok()) << h.message();
  // Binary-exact values, so the sum is exact; 0.5 and 2 sit on bounds (le is inclusive).
  for (const double v : {0.03125, 0.25, 0.5, 1.5, 2.0, 8.0}) h.value().observe(v);
  EXPECT_EQ(h.value().count(), 6u);

  EXPECT_EQ(registry.render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{gw=\"sandbox\",le=\"0.05\"} 1\n"
            "latency_seconds_bucket{gw=\"sandbox\",le=\"0.5\"} 3\n"
            "latency_seconds_bucket{gw=\"sandbox\",le=\"2\"} 5\n"
            "latency_seconds_bucket{gw=\"sandbox\",le=\"+Inf\"} 6\n"
            "latency_seconds_sum{gw=\"sandbox\"} 12.28125\n"
            "latency_seconds_count{gw=\"sandbox\"} 6\n");
}

TEST(Metrics, ConcurrentIncrementsFromFourThreadsSumExactly) {
  metrics_registry registry;
  auto c = registry.add_counter("hits_total", "Hits.");
  auto g = registry.add_gauge("level", "Level.");
  const std::array<double, 1> bounds{1.0};
  auto h = registry.add_histogram("obs", "Observations.", bounds);
  ASSERT_TRUE(c.ok() && g.ok() && h.ok());
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        c.value().add();
        g.value().add(t % 2 == 0 ? 2 : -1);
        h.value().observe(i % 2 == 0 ? 0.5 : 3.0);
      }
    });
  }
  // Rendering while others count is allowed.
  EXPECT_FALSE(registry.render().empty());
  for (auto& t : threads) t.join();

  EXPECT_EQ(c.value().value(), 4u * kPerThread);
  EXPECT_EQ(g.value().value(), 2 * kPerThread * 2 - 2 * kPerThread);
  EXPECT_EQ(h.value().count(), 4u * kPerThread);
  EXPECT_DOUBLE_EQ(h.value().sum(), 4.0 * (kPerThread / 2) * (0.5 + 3.0));
  const std::string text = registry.render();
  EXPECT_NE(text.find("hits_total 400000\n"), std::string::npos);
  EXPECT_NE(text.find("obs_bucket{le=\"1\"} 200000\n"), std::string::npos);
  EXPECT_NE(text.find("obs_bucket{le=\"+Inf\"} 400000\n"), std::string::npos);
  EXPECT_NE(text.find("obs_count 400000\n"), std::string::npos);
}

TEST(Metrics, RegistrationRefusesBadNamesDuplicatesAndMismatchedFamilies) {
  metrics_registry registry;
  EXPECT_FALSE(registry.add_counter("1bad", "x").ok());
  EXPECT_FALSE(registry.add_counter("bad-name", "x").ok());
  EXPECT_FALSE(registry.add_counter("ok_total", "x", {{"__reserved", "v"}}).ok());
  EXPECT_FALSE(registry.add_counter("ok_total", "x", {{"a", "1"}, {"a", "2"}}).ok());
  const std::array<double, 2> unordered{1.0, 0.5};
  const std::array<double, 1> one{1.0};
  EXPECT_FALSE(registry.add_histogram("h", "x", unordered).ok());
  EXPECT_FALSE(registry.add_histogram("h", "x", {}).ok());
  EXPECT_FALSE(registry.add_histogram("h", "x", one, {{"le", "1"}}).ok());

  ASSERT_TRUE(registry.add_counter("ns:ok_total", "x", {{"a", "1"}}).ok());
  const auto twice = registry.add_counter("ns:ok_total", "x", {{"a", "1"}});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.message(), "metrics: ns:ok_total: this series is already registered");
  EXPECT_FALSE(registry.add_gauge("ns:ok_total", "x", {{"a", "2"}}).ok());
  EXPECT_FALSE(registry.add_counter("ns:ok_total", "other help", {{"a", "2"}}).ok());
  EXPECT_FALSE(registry.add_counter("ns:ok_total", "x", {{"b", "2"}}).ok());
  EXPECT_TRUE(registry.add_counter("ns:ok_total", "x", {{"a", "2"}}).ok());
}

TEST(Metrics, UnregisteredHandlesAreNeverRendered) {
  metrics_registry registry;
  counter c;
  gauge g;
  histogram h;
  c.add();
  g.set(5);
  h.observe(1.0);
  EXPECT_EQ(registry.render(), "");
}

TEST(Metrics, ToneguardMetricsRegistersTheIssuesMetricsAtZero) {
  metrics_registry registry;
  auto m = toneguard_metrics::register_in(registry);
  ASSERT_TRUE(m.ok()) << m.message();
  const std::string text = registry.render();
  for (const char* line : {
           "# TYPE toneguard_calls_active gauge\ntoneguard_calls_active 0\n",
           "# TYPE toneguard_calls_total counter\ntoneguard_calls_total 0\n",
           "toneguard_payments_total{outcome=\"success\"} 0\n",
           "toneguard_payments_total{outcome=\"too-many-failed-attempts\"} 0\n",
           "toneguard_payments_total{outcome=\"cancelled\"} 0\n",
           "toneguard_digits_total{source=\"in-band\"} 0\n",
           "toneguard_digits_total{source=\"rfc4733\"} 0\n",
           "toneguard_masked_milliseconds_total 0\n",
           "# TYPE toneguard_gateway_latency_seconds histogram\n",
           "toneguard_gateway_latency_seconds_bucket{le=\"0.05\"} 0\n",
           "toneguard_gateway_latency_seconds_bucket{le=\"30\"} 0\n",
           "toneguard_gateway_latency_seconds_bucket{le=\"+Inf\"} 0\n",
           "toneguard_packets_received_total 0\n",
           "toneguard_packets_forwarded_total 0\n",
           "toneguard_packets_dropped_total{reason=\"wrong-source\"} 0\n",
           "toneguard_ng_commands_total{command=\"offer\",result=\"ok\"} 0\n",
           "toneguard_ng_commands_total{command=\"block DTMF\",result=\"error\"} 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  // A second registration of the same names is refused.
  EXPECT_FALSE(toneguard_metrics::register_in(registry).ok());
}

TEST(Metrics, ToneguardMetricsHandlesCountUnderTheirLabels) {
  metrics_registry registry;
  auto registered = toneguard_metrics::register_in(registry);
  ASSERT_TRUE(registered.ok());
  auto& m = registered.value();
  m.calls_active.add();
  m.payments(payment_outcome::caller_hung_up).add();
  m.digits("rfc4733").add(3);
  m.dropped("late").add();
  m.ng_command("delete", "error").add(2);
  m.digits("9").add();  // not a source: counts nowhere
  m.gateway_latency_seconds.observe(0.2);
  const std::string text = registry.render();
  for (const char* line : {
           "toneguard_calls_active 1\n",
           "toneguard_payments_total{outcome=\"caller-hung-up\"} 1\n",
           "toneguard_digits_total{source=\"rfc4733\"} 3\n",
           "toneguard_digits_total{source=\"in-band\"} 0\n",
           "toneguard_packets_dropped_total{reason=\"late\"} 1\n",
           "toneguard_ng_commands_total{command=\"delete\",result=\"error\"} 2\n",
           "toneguard_gateway_latency_seconds_bucket{le=\"0.1\"} 0\n",
           "toneguard_gateway_latency_seconds_bucket{le=\"0.25\"} 1\n",
           "toneguard_gateway_latency_seconds_count 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(text.find("\"9\""), std::string::npos);
}

}  // namespace
}  // namespace toneguard::engine
