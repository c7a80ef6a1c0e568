#include "toneguard/media/bencode.h"

#include <charconv>
#include <limits>
#include <unordered_set>

namespace toneguard::media {

bencode_dictionary::bencode_dictionary() = default;
bencode_dictionary::~bencode_dictionary() = default;
bencode_dictionary::bencode_dictionary(const bencode_dictionary&) = default;
bencode_dictionary::bencode_dictionary(bencode_dictionary&&) noexcept = default;
bencode_dictionary& bencode_dictionary::operator=(const bencode_dictionary&) = default;
bencode_dictionary& bencode_dictionary::operator=(bencode_dictionary&&) noexcept = default;

bool bencode_dictionary::insert(std::string key, bencode_value value) {
  if (find(key) != nullptr) return false;
  entries_.emplace_back(std::move(key), std::move(value));
  return true;
}

void bencode_dictionary::set(std::string key, bencode_value value) {
  for (auto& e : entries_) {
    if (e.first == key) {
      e.second = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

const bencode_value* bencode_dictionary::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.first == key) return &e.second;
  }
  return nullptr;
}

const std::string* bencode_dictionary::string_at(std::string_view key) const {
  const bencode_value* v = find(key);
  return v != nullptr ? v->if_string() : nullptr;
}

std::optional<std::int64_t> bencode_dictionary::integer_at(std::string_view key) const {
  const bencode_value* v = find(key);
  if (v == nullptr || !v->is_integer()) return std::nullopt;
  return *v->if_integer();
}

const bencode_list* bencode_dictionary::list_at(std::string_view key) const {
  const bencode_value* v = find(key);
  return v != nullptr ? v->if_list() : nullptr;
}

const bencode_dictionary* bencode_dictionary::dictionary_at(std::string_view key) const {
  const bencode_value* v = find(key);
  return v != nullptr ? v->if_dictionary() : nullptr;
}

bool operator==(const bencode_dictionary& a, const bencode_dictionary& b) {
  return a.entries_ == b.entries_;
}

const bencode_value* bencode_value::find(std::string_view key) const {
  const bencode_dictionary* d = if_dictionary();
  return d != nullptr ? d->find(key) : nullptr;
}

const std::string* bencode_value::string_at(std::string_view key) const {
  const bencode_dictionary* d = if_dictionary();
  return d != nullptr ? d->string_at(key) : nullptr;
}

std::optional<std::int64_t> bencode_value::integer_at(std::string_view key) const {
  const bencode_dictionary* d = if_dictionary();
  return d != nullptr ? d->integer_at(key) : std::nullopt;
}

const bencode_list* bencode_value::list_at(std::string_view key) const {
  const bencode_dictionary* d = if_dictionary();
  return d != nullptr ? d->list_at(key) : nullptr;
}

const bencode_dictionary* bencode_value::dictionary_at(std::string_view key) const {
  const bencode_dictionary* d = if_dictionary();
  return d != nullptr ? d->dictionary_at(key) : nullptr;
}

namespace {

// Describes one input byte for a message: printable ASCII quoted, anything else in hex.
std::string describe_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  char hex[8];
  auto [end, ec] = std::to_chars(hex, hex + sizeof hex, static_cast<unsigned>(u), 16);
  (void)ec;
  std::string out = "byte 0x";
  if (u < 16) out += '0';
  out.append(hex, end);
  if (u >= 0x20 && u < 0x7f) {
    out += " '";
    out += c;
    out += '\'';
  }
  return out;
}

std::string at(std::size_t offset) {
  return " at offset " + std::to_string(offset);
}

}  // namespace

// A recursive-descent decoder over one input; depth is bounded by bencode_max_depth, so the
// recursion is too. Outside the anonymous namespace: it is bencode_dictionary's friend.
class bencode_decoder {
 public:
  explicit bencode_decoder(std::string_view in) : in_(in) {}

  std::size_t position() const { return pos_; }

  result<bencode_value> value(std::size_t depth) {
    if (pos_ >= in_.size())
      return fail("bencode: input ends where a value should start" + at(pos_));
    const char c = in_[pos_];
    if (c == 'i') return integer();
    if (c >= '0' && c <= '9') {
      auto s = string();
      if (!s.ok()) return error{s.error_message()};
      return bencode_value(std::string(s.value()));
    }
    if (c == 'l' || c == 'd') {
      if (depth + 1 > bencode_max_depth) {
        return fail("bencode: nesting deeper than " + std::to_string(bencode_max_depth) +
                    " levels" + at(pos_));
      }
      return c == 'l' ? list(depth + 1) : dictionary(depth + 1);
    }
    return fail("bencode: unexpected " + describe_byte(c) + at(pos_) +
                " (expected i, l, d or a digit)");
  }

 private:
  static error fail(std::string message) { return error{std::move(message)}; }

  // i0e, or i-?[1-9][0-9]*e within int64.
  result<bencode_value> integer() {
    const std::size_t start = pos_;
    ++pos_;  // 'i'
    bool negative = false;
    if (pos_ < in_.size() && in_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    const std::size_t digits_start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    const std::size_t ndigits = pos_ - digits_start;
    if (pos_ >= in_.size()) return fail("bencode: integer" + at(start) + " has no terminating 'e'");
    if (in_[pos_] != 'e') {
      return fail("bencode: unexpected " + describe_byte(in_[pos_]) + " in integer" + at(start) +
                  " (offset " + std::to_string(pos_) + ")");
    }
    if (ndigits == 0) return fail("bencode: integer" + at(start) + " has no digits");
    if (in_[digits_start] == '0') {
      if (ndigits > 1) return fail("bencode: integer" + at(start) + " has a leading zero");
      if (negative) return fail("bencode: negative zero integer" + at(start));
    }
    // Accumulate toward the sign so that INT64_MIN is representable.
    std::int64_t v = 0;
    constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
    for (std::size_t i = digits_start; i < pos_; ++i) {
      const int d = in_[i] - '0';
      if (negative) {
        if (v < (min + d) / 10) return overflow(start, digits_start - 1);
        v = v * 10 - d;
      } else {
        if (v > (max - d) / 10) return overflow(start, digits_start);
        v = v * 10 + d;
      }
    }
    ++pos_;  // 'e'
    return bencode_value(v);
  }

  error overflow(std::size_t start, std::size_t text_start) const {
    return fail("bencode: integer " + std::string(in_.substr(text_start, pos_ - text_start)) +
                at(start) + " overflows int64");
  }

  // <length>:<bytes>; returns a view into the input.
  result<std::string_view> string() {
    const std::size_t start = pos_;
    const std::size_t digits_start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    const std::size_t ndigits = pos_ - digits_start;
    if (pos_ >= in_.size()) return error{"bencode: string length" + at(start) + " has no ':'"};
    if (in_[pos_] != ':') {
      return error{"bencode: unexpected " + describe_byte(in_[pos_]) + " in string length" +
                   at(start) + " (offset " + std::to_string(pos_) + ")"};
    }
    if (ndigits > 1 && in_[digits_start] == '0') {
      return error{"bencode: string length" + at(start) + " has a leading zero"};
    }
    ++pos_;  // ':'
    const std::size_t left = in_.size() - pos_;
    const std::string_view text = in_.substr(digits_start, ndigits);
    // Inputs are at most bencode_max_input_bytes, so any length with more digits than that
    // bound is too long without parsing it (and cannot overflow the parse below).
    std::uint64_t len = 0;
    if (ndigits > 18) {
      return error{"bencode: string length " + std::string(text) + at(start) + " exceeds the " +
                   std::to_string(left) + " bytes left"};
    }
    for (char ch : text) len = len * 10 + static_cast<std::uint64_t>(ch - '0');
    if (len > left) {
      return error{"bencode: string length " + std::string(text) + at(start) + " exceeds the " +
                   std::to_string(left) + " bytes left"};
    }
    const std::string_view bytes = in_.substr(pos_, static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return bytes;
  }

  result<bencode_value> list(std::size_t depth) {
    const std::size_t start = pos_;
    ++pos_;  // 'l'
    bencode_list items;
    for (;;) {
      if (pos_ >= in_.size()) return fail("bencode: list" + at(start) + " has no terminating 'e'");
      if (in_[pos_] == 'e') break;
      auto item = value(depth);
      if (!item.ok()) return error{item.error_message()};
      items.push_back(std::move(item).value());
    }
    ++pos_;  // 'e'
    return bencode_value(std::move(items));
  }

  result<bencode_value> dictionary(std::size_t depth) {
    const std::size_t start = pos_;
    ++pos_;  // 'd'
    bencode_dictionary dict;
    // Keys are views into the input, so duplicate checks stay O(1) for large dictionaries.
    std::unordered_set<std::string_view> seen;
    for (;;) {
      if (pos_ >= in_.size())
        return fail("bencode: dictionary" + at(start) + " has no terminating 'e'");
      const char c = in_[pos_];
      if (c == 'e') break;
      if (c < '0' || c > '9') {
        const char* what = c == 'i'   ? "an integer"
                           : c == 'l' ? "a list"
                           : c == 'd' ? "a dictionary"
                                      : nullptr;
        if (what != nullptr) {
          return fail("bencode: dictionary key" + at(pos_) + " is " + what + ", not a byte string");
        }
        return fail("bencode: unexpected " + describe_byte(c) + at(pos_) +
                    " where a dictionary key should start");
      }
      const std::size_t key_at = pos_;
      auto key = string();
      if (!key.ok()) return error{key.error_message()};
      if (!seen.insert(key.value()).second) {
        return fail("bencode: duplicate dictionary key \"" + printable(key.value()) + "\"" +
                    at(key_at));
      }
      if (pos_ >= in_.size()) {
        return fail("bencode: dictionary key \"" + printable(key.value()) + "\"" + at(key_at) +
                    " has no value");
      }
      if (in_[pos_] == 'e') {
        return fail("bencode: dictionary key \"" + printable(key.value()) + "\"" + at(key_at) +
                    " has no value");
      }
      auto v = value(depth);
      if (!v.ok()) return error{v.error_message()};
      dict.entries_.emplace_back(std::string(key.value()), std::move(v).value());
    }
    ++pos_;  // 'e'
    return bencode_value(std::move(dict));
  }

  // A key for a message: at most 64 bytes, non-printable bytes as '?'.
  static std::string printable(std::string_view s) {
    std::string out;
    const std::size_t n = s.size() < 64 ? s.size() : 64;
    out.reserve(n + 3);
    for (std::size_t i = 0; i < n; ++i) {
      const auto u = static_cast<unsigned char>(s[i]);
      out += (u >= 0x20 && u < 0x7f && u != '"') ? s[i] : '?';
    }
    if (s.size() > n) out += "...";
    return out;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

result<bencode_value> decode_bencode(std::string_view bytes, std::size_t* consumed) {
  if (bytes.size() > bencode_max_input_bytes) {
    return error{"bencode: input of " + std::to_string(bytes.size()) +
                 " bytes exceeds the limit of " + std::to_string(bencode_max_input_bytes) +
                 " bytes"};
  }
  if (bytes.empty()) return error{"bencode: empty input"};
  bencode_decoder d(bytes);
  auto v = d.value(0);
  if (!v.ok()) return v;
  if (consumed != nullptr) {
    *consumed = d.position();
  } else if (d.position() != bytes.size()) {
    return error{"bencode: " + std::to_string(bytes.size() - d.position()) +
                 " trailing bytes after the value" + at(d.position())};
  }
  return v;
}

void append_bencode(std::string& out, const bencode_value& value) {
  switch (value.type()) {
    case bencode_value::kind::integer:
      out += 'i';
      out += std::to_string(*value.if_integer());
      out += 'e';
      return;
    case bencode_value::kind::string: {
      const std::string& s = *value.if_string();
      out += std::to_string(s.size());
      out += ':';
      out += s;
      return;
    }
    case bencode_value::kind::list:
      out += 'l';
      for (const auto& item : *value.if_list()) append_bencode(out, item);
      out += 'e';
      return;
    case bencode_value::kind::dictionary:
      out += 'd';
      for (const auto& [key, v] : *value.if_dictionary()) {
        out += std::to_string(key.size());
        out += ':';
        out += key;
        append_bencode(out, v);
      }
      out += 'e';
      return;
  }
}

std::string encode_bencode(const bencode_value& value) {
  std::string out;
  append_bencode(out, value);
  return out;
}

}  // namespace toneguard::media
