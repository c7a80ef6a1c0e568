#include "toneguard/media/bencode.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace toneguard::media {
namespace {

using namespace std::string_literals;

// The error message of decoding `bytes`, which must fail.
std::string decode_error(std::string_view bytes) {
  auto r = decode_bencode(bytes);
  EXPECT_FALSE(r.ok()) << "decoded: " << bytes;
  return r.ok() ? std::string() : r.error_message();
}

bencode_value decode_ok(std::string_view bytes) {
  auto r = decode_bencode(bytes);
  EXPECT_TRUE(r.ok()) << r.error_message();
  return r.ok() ? r.value() : bencode_value();
}

// The bencode of key "k<i>".
std::string bs_key(int i) {
  const std::string key = "k" + std::to_string(i);
  return std::to_string(key.size()) + ":" + key;
}

void expect_round_trip(std::string_view bytes) {
  const bencode_value v = decode_ok(bytes);
  EXPECT_EQ(encode_bencode(v), bytes);
}

TEST(bencode_decode, integers_decode_zero_positive_and_negative) {
  EXPECT_EQ(decode_ok("i0e"), bencode_value(0));
  EXPECT_EQ(decode_ok("i42e"), bencode_value(42));
  EXPECT_EQ(decode_ok("i-17e"), bencode_value(-17));
}

TEST(bencode_decode, integers_at_the_int64_limits_decode) {
  EXPECT_EQ(decode_ok("i9223372036854775807e"),
            bencode_value(std::numeric_limits<std::int64_t>::max()));
  EXPECT_EQ(decode_ok("i-9223372036854775808e"),
            bencode_value(std::numeric_limits<std::int64_t>::min()));
}

TEST(bencode_decode, integer_with_leading_zero_is_rejected) {
  EXPECT_NE(decode_error("i03e").find("leading zero"), std::string::npos);
  EXPECT_NE(decode_error("i-03e").find("leading zero"), std::string::npos) << decode_error("i-03e");
}

TEST(bencode_decode, negative_zero_is_rejected) {
  EXPECT_NE(decode_error("i-0e").find("negative zero"), std::string::npos);
}

TEST(bencode_decode, empty_integer_is_rejected) {
  EXPECT_NE(decode_error("ie").find("no digits"), std::string::npos);
  EXPECT_NE(decode_error("i-e").find("no digits"), std::string::npos);
}

TEST(bencode_decode, integer_overflowing_int64_is_rejected) {
  const std::string msg = decode_error("i9223372036854775808e");
  EXPECT_NE(msg.find("overflows int64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("9223372036854775808"), std::string::npos) << msg;
  EXPECT_NE(decode_error("i-9223372036854775809e").find("overflows int64"), std::string::npos);
  EXPECT_NE(decode_error("i99999999999999999999999999e").find("overflows int64"),
            std::string::npos);
}

TEST(bencode_decode, integer_without_e_is_rejected) {
  EXPECT_NE(decode_error("i42").find("no terminating 'e'"), std::string::npos);
  EXPECT_NE(decode_error("i4x2e").find("unexpected byte 0x78 'x' in integer"), std::string::npos)
      << decode_error("i4x2e");
}

TEST(bencode_decode, strings_decode_any_bytes) {
  EXPECT_EQ(decode_ok("0:"), bencode_value(""));
  EXPECT_EQ(decode_ok("4:spam"), bencode_value("spam"));
  EXPECT_EQ(decode_ok("3:\0\xff "s), bencode_value("\0\xff "s));
}

TEST(bencode_decode, string_length_with_leading_zero_is_rejected) {
  EXPECT_NE(decode_error("04:spam").find("leading zero"), std::string::npos);
  EXPECT_NE(decode_error("00:").find("leading zero"), std::string::npos);
}

TEST(bencode_decode, string_length_larger_than_input_is_rejected_before_allocating) {
  const std::string msg = decode_error("99999:spam");
  EXPECT_EQ(msg, "bencode: string length 99999 at offset 0 exceeds the 4 bytes left");
  // A length no allocator could satisfy is rejected the same way.
  EXPECT_NE(decode_error("99999999999999999999999999:x").find("exceeds the 1 bytes left"),
            std::string::npos);
}

TEST(bencode_decode, truncated_string_is_rejected) {
  EXPECT_NE(decode_error("5:spam").find("exceeds the 4 bytes left"), std::string::npos);
  EXPECT_NE(decode_error("5").find("has no ':'"), std::string::npos);
  EXPECT_NE(decode_error("l4:spam5:eggs").find("exceeds"), std::string::npos);
}

TEST(bencode_decode, lists_decode_in_order) {
  const bencode_value v = decode_ok("l4:spami42ele4:eggse");
  ASSERT_TRUE(v.is_list());
  const bencode_list& l = *v.if_list();
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0], bencode_value("spam"));
  EXPECT_EQ(l[1], bencode_value(42));
  EXPECT_EQ(l[2], bencode_value(bencode_list{}));
  EXPECT_EQ(l[3], bencode_value("eggs"));
}

TEST(bencode_decode, list_without_e_is_rejected) {
  EXPECT_NE(decode_error("l4:spam").find("list at offset 0 has no terminating 'e'"),
            std::string::npos);
}

TEST(bencode_decode, dictionary_keys_in_any_order_keep_their_order) {
  const bencode_value v = decode_ok("d7:call-id3:abc7:command5:offer4:abcdi1ee");
  ASSERT_TRUE(v.is_dictionary());
  const bencode_dictionary& d = *v.if_dictionary();
  ASSERT_EQ(d.size(), 3u);
  auto it = d.begin();
  EXPECT_EQ(it->first, "call-id");
  EXPECT_EQ((++it)->first, "command");
  EXPECT_EQ((++it)->first, "abcd");
}

TEST(bencode_decode, dictionary_without_e_is_rejected) {
  EXPECT_NE(decode_error("d3:keyi1e").find("dictionary at offset 0 has no terminating 'e'"),
            std::string::npos);
}

TEST(bencode_decode, dictionary_key_without_value_is_rejected) {
  EXPECT_NE(decode_error("d3:keye").find("\"key\" at offset 1 has no value"), std::string::npos);
  EXPECT_NE(decode_error("d3:key").find("has no value"), std::string::npos);
}

TEST(bencode_decode, non_string_dictionary_key_is_rejected) {
  EXPECT_NE(
      decode_error("di1ei2ee").find("dictionary key at offset 1 is an integer, not a byte string"),
      std::string::npos);
  EXPECT_NE(decode_error("dlei2ee").find("is a list, not a byte string"), std::string::npos);
  EXPECT_NE(decode_error("ddei2ee").find("is a dictionary, not a byte string"), std::string::npos);
}

TEST(bencode_decode, duplicate_dictionary_key_is_rejected) {
  const std::string msg = decode_error("d3:fooi1e3:bari2e3:fooi3ee");
  EXPECT_EQ(msg, "bencode: duplicate dictionary key \"foo\" at offset 17");
}

TEST(bencode_decode, nesting_up_to_the_depth_limit_is_accepted) {
  const std::string deep =
      std::string(bencode_max_depth, 'l') + std::string(bencode_max_depth, 'e');
  EXPECT_TRUE(decode_bencode(deep).ok());
}

TEST(bencode_decode, nesting_beyond_the_depth_limit_is_rejected) {
  const std::string too_deep =
      std::string(bencode_max_depth + 1, 'l') + std::string(bencode_max_depth + 1, 'e');
  EXPECT_NE(decode_error(too_deep).find("nesting deeper than 32 levels at offset 32"),
            std::string::npos);
  // Deep dictionaries count too, and a huge nesting does not exhaust the stack.
  std::string dicts;
  for (int i = 0; i < 100000; ++i) dicts += "d1:k";
  EXPECT_NE(decode_error(dicts).find("nesting deeper"), std::string::npos);
}

TEST(bencode_decode, large_dictionary_with_distinct_keys_decodes) {
  // 60000 keys: duplicate checks must not be quadratic for this to finish quickly.
  std::string bytes = "d";
  for (int i = 0; i < 60000; ++i) bytes += bs_key(i) + "i" + std::to_string(i) + "e";
  bytes += "e";
  const bencode_value v = decode_ok(bytes);
  ASSERT_TRUE(v.is_dictionary());
  EXPECT_EQ(v.if_dictionary()->size(), 60000u);
  EXPECT_EQ(v.integer_at("k59999"), 59999);
}

TEST(bencode_decode, trailing_bytes_are_rejected) {
  EXPECT_EQ(decode_error("i1exyz"), "bencode: 3 trailing bytes after the value at offset 3");
}

TEST(bencode_decode, trailing_bytes_are_allowed_when_the_caller_asks_for_consumed) {
  std::size_t consumed = 0;
  auto r = decode_bencode("4:spamrest", &consumed);
  ASSERT_TRUE(r.ok()) << r.error_message();
  EXPECT_EQ(consumed, 6u);
  EXPECT_EQ(r.value(), bencode_value("spam"));
}

TEST(bencode_decode, empty_input_is_rejected) {
  EXPECT_EQ(decode_error(""), "bencode: empty input");
}

TEST(bencode_decode, unexpected_byte_is_rejected) {
  EXPECT_NE(decode_error("x").find("unexpected byte 0x78 'x' at offset 0"), std::string::npos);
  EXPECT_NE(decode_error("l\x01"
                         "e")
                .find("unexpected byte 0x01 at offset 1"),
            std::string::npos);
}

TEST(bencode_decode, input_over_the_size_limit_is_rejected) {
  const std::string big(bencode_max_input_bytes + 1, 'x');
  EXPECT_NE(decode_error(big).find("exceeds the limit"), std::string::npos);
}

TEST(bencode_encode, values_round_trip) {
  expect_round_trip("i0e");
  expect_round_trip("i-9223372036854775808e");
  expect_round_trip("0:");
  expect_round_trip("le");
  expect_round_trip("de");
  expect_round_trip("d7:command5:offer5:flagsl13:trust-addresse12:delay-bufferi40ee");
  expect_round_trip("lli1eeld1:ai2eeee");
}

TEST(bencode_encode, dictionaries_encode_in_insertion_order) {
  bencode_dictionary d;
  EXPECT_TRUE(d.insert("zeta", 1));
  EXPECT_TRUE(d.insert("alpha", "x"));
  EXPECT_EQ(encode_bencode(d), "d4:zetai1e5:alpha1:xe");
}

TEST(bencode_encode, built_values_decode_to_equal_values) {
  bencode_dictionary inner;
  inner.insert("k", bencode_list{1, "two", bencode_list{}});
  bencode_dictionary outer;
  outer.insert("inner", inner);
  outer.insert("n", -5);
  const bencode_value v(outer);
  EXPECT_EQ(decode_ok(encode_bencode(v)), v);
}

TEST(bencode_dictionary, insert_refuses_a_duplicate_key_and_set_replaces_in_place) {
  bencode_dictionary d;
  EXPECT_TRUE(d.insert("a", 1));
  EXPECT_TRUE(d.insert("b", 2));
  EXPECT_FALSE(d.insert("a", 3));
  EXPECT_EQ(d.integer_at("a"), 1);
  d.set("a", 4);
  d.set("c", 5);
  EXPECT_EQ(encode_bencode(d), "d1:ai4e1:bi2e1:ci5ee");
}

TEST(bencode_dictionary, typed_getters_return_the_value_only_for_the_right_type) {
  const bencode_value v = decode_ok("d1:s3:abc1:ii7e1:lli1ee1:dd1:xi0eee");
  ASSERT_NE(v.string_at("s"), nullptr);
  EXPECT_EQ(*v.string_at("s"), "abc");
  EXPECT_EQ(v.integer_at("i"), 7);
  ASSERT_NE(v.list_at("l"), nullptr);
  EXPECT_EQ(v.list_at("l")->size(), 1u);
  ASSERT_NE(v.dictionary_at("d"), nullptr);
  EXPECT_EQ(v.dictionary_at("d")->integer_at("x"), 0);

  EXPECT_EQ(v.string_at("i"), nullptr);
  EXPECT_EQ(v.integer_at("s"), std::nullopt);
  EXPECT_EQ(v.list_at("d"), nullptr);
  EXPECT_EQ(v.dictionary_at("l"), nullptr);
  EXPECT_EQ(v.find("missing"), nullptr);
  // Getters on a value that is not a dictionary find nothing.
  EXPECT_EQ(bencode_value(3).find("s"), nullptr);
}

}  // namespace
}  // namespace toneguard::media
