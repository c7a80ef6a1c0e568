#pragma once
/// Bencode (BEP 3) values and a strict codec, for rtpengine's ng control protocol.
///
/// Decoding never throws on bad input, never reads out of bounds, checks every length
/// against the bytes that remain before allocating, and bounds nesting depth and input size.
/// All functions and types here are plain values: any thread may use its own instances.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "toneguard/media/result.h"

namespace toneguard::media {

/// Deepest nesting of lists and dictionaries that decode_bencode() accepts; a top-level
/// list or dictionary is depth 1.
inline constexpr std::size_t bencode_max_depth = 32;

/// Largest input, in bytes, that decode_bencode() accepts (an ng datagram is at most 64 KiB).
inline constexpr std::size_t bencode_max_input_bytes = std::size_t{1} << 20;

class bencode_value;
class bencode_decoder;

/// A bencode list: values in order.
using bencode_list = std::vector<bencode_value>;

/// A bencode dictionary: byte-string keys, each at most once, kept in insertion order (ng
/// peers such as rtpengine and Kamailio send keys unsorted, and rtpengine accepts any order).
/// Lookup is a linear scan: ng dictionaries hold a handful of keys.
class bencode_dictionary {
 public:
  /// One key and its value.
  using entry = std::pair<std::string, bencode_value>;
  /// Iterates entries in insertion order.
  using const_iterator = std::vector<entry>::const_iterator;

  /// An empty dictionary.
  bencode_dictionary();
  ~bencode_dictionary();
  bencode_dictionary(const bencode_dictionary&);
  bencode_dictionary(bencode_dictionary&&) noexcept;
  bencode_dictionary& operator=(const bencode_dictionary&);
  bencode_dictionary& operator=(bencode_dictionary&&) noexcept;

  /// Appends `key` with `value`; returns false and changes nothing when `key` is already
  /// present.
  bool insert(std::string key, bencode_value value);
  /// Sets `key` to `value`: replaces the value in place when present, else appends.
  void set(std::string key, bencode_value value);

  /// The value of `key`, or nullptr when absent. Valid until the dictionary changes.
  [[nodiscard]] const bencode_value* find(std::string_view key) const;
  /// The byte string at `key`, or nullptr when absent or not a byte string.
  [[nodiscard]] const std::string* string_at(std::string_view key) const;
  /// The integer at `key`, or nullopt when absent or not an integer.
  [[nodiscard]] std::optional<std::int64_t> integer_at(std::string_view key) const;
  /// The list at `key`, or nullptr when absent or not a list.
  [[nodiscard]] const bencode_list* list_at(std::string_view key) const;
  /// The dictionary at `key`, or nullptr when absent or not a dictionary.
  [[nodiscard]] const bencode_dictionary* dictionary_at(std::string_view key) const;

  // Defined after bencode_value, which must be complete first.
  /// Number of entries.
  [[nodiscard]] std::size_t size() const noexcept;
  /// True when there are no entries.
  [[nodiscard]] bool empty() const noexcept;
  /// First entry, in insertion order.
  [[nodiscard]] const_iterator begin() const noexcept;
  /// Past the last entry.
  [[nodiscard]] const_iterator end() const noexcept;

  /// Equal when both hold the same entries in the same order.
  friend bool operator==(const bencode_dictionary& a, const bencode_dictionary& b);

 private:
  // The decoder checks duplicates with a hash set and appends directly, keeping large
  // dictionaries linear to decode.
  friend class bencode_decoder;
  std::vector<entry> entries_;
};

/// One bencode value: an integer (int64), a byte string, a list or a dictionary.
class bencode_value {
 public:
  /// Which of the four kinds a value holds.
  enum class kind { integer, string, list, dictionary };

  /// The integer 0.
  bencode_value() : v_(std::int64_t{0}) {}
  /// An integer (any integral type but bool, converted to int64).
  template <std::integral I>
  requires(!std::same_as<I, bool>) bencode_value(I i)
      : v_(static_cast<std::int64_t>(i)) {}  // NOLINT: implicit on purpose
  /// A byte string (any bytes, not only text).
  bencode_value(std::string s) : v_(std::move(s)) {}  // NOLINT: implicit on purpose
  /// A byte string copied from `s`.
  bencode_value(std::string_view s) : v_(std::string(s)) {}  // NOLINT: implicit on purpose
  /// A byte string copied from the NUL-terminated `s`.
  bencode_value(const char* s) : v_(std::string(s)) {}  // NOLINT: implicit on purpose
  /// A list.
  bencode_value(bencode_list l) : v_(std::move(l)) {}  // NOLINT: implicit on purpose
  /// A dictionary.
  bencode_value(bencode_dictionary d) : v_(std::move(d)) {}  // NOLINT: implicit on purpose

  /// Which kind this value holds.
  [[nodiscard]] kind type() const noexcept { return static_cast<kind>(v_.index()); }
  /// True when this value is an integer.
  [[nodiscard]] bool is_integer() const noexcept { return type() == kind::integer; }
  /// True when this value is a byte string.
  [[nodiscard]] bool is_string() const noexcept { return type() == kind::string; }
  /// True when this value is a list.
  [[nodiscard]] bool is_list() const noexcept { return type() == kind::list; }
  /// True when this value is a dictionary.
  [[nodiscard]] bool is_dictionary() const noexcept { return type() == kind::dictionary; }

  /// The integer, or nullptr when this is not an integer.
  [[nodiscard]] const std::int64_t* if_integer() const noexcept {
    return std::get_if<std::int64_t>(&v_);
  }
  /// The byte string, or nullptr when this is not a byte string.
  [[nodiscard]] const std::string* if_string() const noexcept {
    return std::get_if<std::string>(&v_);
  }
  /// The list, or nullptr when this is not a list.
  [[nodiscard]] const bencode_list* if_list() const noexcept {
    return std::get_if<bencode_list>(&v_);
  }
  /// The list, or nullptr when this is not a list (mutable, for building values).
  [[nodiscard]] bencode_list* if_list() noexcept { return std::get_if<bencode_list>(&v_); }
  /// The dictionary, or nullptr when this is not a dictionary.
  [[nodiscard]] const bencode_dictionary* if_dictionary() const noexcept {
    return std::get_if<bencode_dictionary>(&v_);
  }
  /// The dictionary, or nullptr when this is not a dictionary (mutable, for building values).
  [[nodiscard]] bencode_dictionary* if_dictionary() noexcept {
    return std::get_if<bencode_dictionary>(&v_);
  }

  /// When this is a dictionary: the value at `key`; nullptr when absent or not a dictionary.
  [[nodiscard]] const bencode_value* find(std::string_view key) const;
  /// When this is a dictionary: the byte string at `key`, else nullptr.
  [[nodiscard]] const std::string* string_at(std::string_view key) const;
  /// When this is a dictionary: the integer at `key`, else nullopt.
  [[nodiscard]] std::optional<std::int64_t> integer_at(std::string_view key) const;
  /// When this is a dictionary: the list at `key`, else nullptr.
  [[nodiscard]] const bencode_list* list_at(std::string_view key) const;
  /// When this is a dictionary: the dictionary at `key`, else nullptr.
  [[nodiscard]] const bencode_dictionary* dictionary_at(std::string_view key) const;

  /// Equal when the same kind and the same contents (dictionaries: same entries, same order).
  friend bool operator==(const bencode_value& a, const bencode_value& b) { return a.v_ == b.v_; }

 private:
  std::variant<std::int64_t, std::string, bencode_list, bencode_dictionary> v_;
};

inline std::size_t bencode_dictionary::size() const noexcept {
  return entries_.size();
}
inline bool bencode_dictionary::empty() const noexcept {
  return entries_.empty();
}
inline bencode_dictionary::const_iterator bencode_dictionary::begin() const noexcept {
  return entries_.begin();
}
inline bencode_dictionary::const_iterator bencode_dictionary::end() const noexcept {
  return entries_.end();
}

/// Decodes one bencode value from `bytes`, strictly per BEP 3: integers `i0e` or
/// `i-?[1-9][0-9]*e` within int64; strings `<length>:<bytes>` with no leading zeros in the
/// length; lists `l...e`; dictionaries `d<string key><value>...e` with keys in any order and
/// no duplicates. Rejects nesting deeper than bencode_max_depth and inputs larger than
/// bencode_max_input_bytes.
///
/// When `consumed` is nullptr, bytes after the value are an error; otherwise they are allowed
/// and `*consumed` receives the number of bytes the value took (set only on success).
/// On failure the message names the problem and its byte offset.
[[nodiscard]] result<bencode_value> decode_bencode(std::string_view bytes,
                                                   std::size_t* consumed = nullptr);

/// Encodes `value` as bencode; dictionaries in their insertion order. Recursion follows the
/// value's nesting (values from decode_bencode() are at most bencode_max_depth deep).
[[nodiscard]] std::string encode_bencode(const bencode_value& value);

/// Appends the bencode of `value` to `out`.
void append_bencode(std::string& out, const bencode_value& value);

}  // namespace toneguard::media
