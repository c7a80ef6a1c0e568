#include "toneguard/media/ng_message.h"

#include <array>
#include <charconv>
#include <utility>

namespace toneguard::media {

namespace {

constexpr std::array<std::pair<ng_command, std::string_view>, 8> command_names{{
    {ng_command::ping, "ping"},
    {ng_command::offer, "offer"},
    {ng_command::answer, "answer"},
    {ng_command::delete_call, "delete"},
    {ng_command::query, "query"},
    {ng_command::list, "list"},
    {ng_command::block_dtmf, "block DTMF"},
    {ng_command::unblock_dtmf, "unblock DTMF"},
}};

constexpr std::array<std::pair<ng_dtmf_security, std::string_view>, 7> dtmf_security_names{{
    {ng_dtmf_security::drop, "drop"},
    {ng_dtmf_security::silence, "silence"},
    {ng_dtmf_security::tone, "tone"},
    {ng_dtmf_security::random, "random"},
    {ng_dtmf_security::zero, "zero"},
    {ng_dtmf_security::dtmf, "DTMF"},
    {ng_dtmf_security::off, "off"},
}};

constexpr std::array<std::string_view, 10> string_keys{
    "call-id", "from-tag",           "to-tag",        "via-branch", "sdp",
    "ICE",     "transport-protocol", "DTMF-security", "label",      "record-call"};
constexpr std::array<std::string_view, 5> list_keys{"flags", "replace", "direction", "rtcp-mux",
                                                    "received-from"};
constexpr std::array<std::string_view, 4> rtp_profiles{"RTP/AVP", "RTP/AVPF", "RTP/SAVP",
                                                       "RTP/SAVPF"};

char fold(char c) noexcept {
  if (c == '_' || c == ' ') return '-';
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The exact key first, so that a request holding two spellings of a key ("received-from" and
// "received from") means the canonical one whatever their order.
const bencode_value* find_in(const bencode_dictionary& dict, std::string_view key) {
  if (const bencode_value* v = dict.find(key)) return v;
  for (const auto& [k, v] : dict) {
    if (ng_name_equal(k, key)) return &v;
  }
  return nullptr;
}

void split_items(std::string_view s, std::vector<std::string_view>& out) {
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
}

std::vector<std::string_view> items_of(const bencode_value& v) {
  std::vector<std::string_view> out;
  if (const std::string* s = v.if_string()) {
    split_items(*s, out);
  } else if (const bencode_list* l = v.if_list()) {
    out.reserve(l->size());
    for (const auto& item : *l) {
      if (const std::string* text = item.if_string()) out.push_back(*text);
    }
  }
  return out;
}

std::optional<address_type> parse_family(std::string_view s) {
  if (iequals(s, "IP4")) return address_type::ip4;
  if (iequals(s, "IP6")) return address_type::ip6;
  return std::nullopt;
}

// received-from: ["IP4"|"IP6", address]; nullopt when it is not that.
std::optional<network_address> parse_received_from(const bencode_value& v) {
  const auto items = items_of(v);
  if (items.size() != 2) return std::nullopt;
  const auto family = parse_family(items[0]);
  if (!family) return std::nullopt;
  auto address = network_address::from_string(items[1]);
  if (!address.ok() || address.value().type != *family) return std::nullopt;
  return std::move(address).value();
}

std::optional<ng_dtmf_security> parse_dtmf_security(std::string_view s) {
  for (const auto& [mode, name] : dtmf_security_names) {
    if (name == s) return mode;
  }
  return std::nullopt;
}

const char* kind_noun(const bencode_value& v) {
  switch (v.type()) {
    case bencode_value::kind::integer:
      return "an integer";
    case bencode_value::kind::string:
      return "a byte string";
    case bencode_value::kind::list:
      return "a list";
    case bencode_value::kind::dictionary:
      return "a dictionary";
  }
  return "a value";
}

// Cut and sanitize peer-supplied text before it goes into a message (logs, error-reason).
std::string quoted(std::string_view s) {
  std::string out = "\"";
  const std::size_t n = s.size() < 64 ? s.size() : 64;
  for (std::size_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    out += (u >= 0x20 && u < 0x7f && u != '"') ? s[i] : '?';
  }
  if (s.size() > n) out += "...";
  out += '"';
  return out;
}

// delay-buffer: a bencode integer or a decimal string; nullopt when neither parses.
std::optional<std::int64_t> integer_or_decimal(const bencode_value& v) {
  if (const std::int64_t* i = v.if_integer()) return *i;
  if (const std::string* s = v.if_string()) {
    std::int64_t out = 0;
    const char* first = s->data();
    const char* last = first + s->size();
    auto [ptr, ec] = std::from_chars(first, last, out);
    if (ec == std::errc{} && ptr == last && !s->empty()) return out;
  }
  return std::nullopt;
}

struct failure_info {
  ng_error_kind kind;
  std::string message;
};

// Checks the keys ng_request has accessors for; nullopt when all are well-typed.
std::optional<failure_info> check_keys(const bencode_dictionary& dict) {
  for (std::string_view key : string_keys) {
    const bencode_value* v = find_in(dict, key);
    if (v != nullptr && !v->is_string()) {
      return failure_info{ng_error_kind::bad_key_type, "ng: key \"" + std::string(key) + "\" is " +
                                                           kind_noun(*v) + ", not a byte string"};
    }
  }
  for (std::string_view key : list_keys) {
    const bencode_value* v = find_in(dict, key);
    if (v == nullptr || v->is_string()) continue;
    const bencode_list* l = v->if_list();
    if (l == nullptr) {
      return failure_info{ng_error_kind::bad_key_type, "ng: key \"" + std::string(key) + "\" is " +
                                                           kind_noun(*v) +
                                                           ", not a list or a byte string"};
    }
    for (std::size_t i = 0; i < l->size(); ++i) {
      if (!(*l)[i].is_string()) {
        return failure_info{ng_error_kind::bad_key_type,
                            "ng: item " + std::to_string(i) + " of key \"" + std::string(key) +
                                "\" is " + kind_noun((*l)[i]) + ", not a byte string"};
      }
    }
  }
  if (const bencode_value* v = find_in(dict, "transport-protocol")) {
    const std::string& proto = *v->if_string();
    if (!ng_rtp_profile(proto)) {
      const bool dtls = proto.find("TLS") != std::string::npos;
      return failure_info{ng_error_kind::bad_key_value,
                          "ng: transport-protocol " + quoted(proto) + " is not supported" +
                              (dtls ? " (toneguard does not do DTLS-SRTP;" : " (") +
                              " expected RTP/AVP, RTP/AVPF, RTP/SAVP or RTP/SAVPF)"};
    }
  }
  if (const bencode_value* v = find_in(dict, "received-from")) {
    if (!parse_received_from(*v)) {
      return failure_info{ng_error_kind::bad_key_value,
                          "ng: received-from is not [\"IP4\"|\"IP6\", <address of that family>]"};
    }
  }
  if (const bencode_value* v = find_in(dict, "DTMF-security")) {
    const std::string* mode = v->if_string();
    if (!parse_dtmf_security(*mode)) {
      return failure_info{ng_error_kind::bad_key_value,
                          "ng: unknown DTMF-security mode " + quoted(*mode) +
                              " (expected drop, silence, tone, random, zero, DTMF or off)"};
    }
  }
  if (const bencode_value* v = find_in(dict, "delay-buffer")) {
    if (!v->is_integer() && !v->is_string()) {
      return failure_info{ng_error_kind::bad_key_type, std::string("ng: key \"delay-buffer\" is ") +
                                                           kind_noun(*v) + ", not an integer"};
    }
    const auto ms = integer_or_decimal(*v);
    if (!ms) {
      return failure_info{
          ng_error_kind::bad_key_value,
          "ng: delay-buffer " + quoted(*v->if_string()) + " is not a decimal integer"};
    }
    if (*ms < 0 || *ms > ng_max_delay_buffer_ms) {
      return failure_info{ng_error_kind::bad_key_value,
                          "ng: delay-buffer " + std::to_string(*ms) + " ms is outside 0.." +
                              std::to_string(ng_max_delay_buffer_ms) + " ms"};
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view ng_command_name(ng_command command) noexcept {
  for (const auto& [c, name] : command_names) {
    if (c == command) return name;
  }
  return "?";
}

std::optional<ng_command> parse_ng_command(std::string_view name) noexcept {
  for (const auto& [c, n] : command_names) {
    if (n == name) return c;
  }
  return std::nullopt;
}

std::string_view ng_error_kind_name(ng_error_kind kind) noexcept {
  switch (kind) {
    case ng_error_kind::malformed_datagram:
      return "malformed_datagram";
    case ng_error_kind::malformed_bencode:
      return "malformed_bencode";
    case ng_error_kind::not_a_dictionary:
      return "not_a_dictionary";
    case ng_error_kind::missing_command:
      return "missing_command";
    case ng_error_kind::unknown_command:
      return "unknown_command";
    case ng_error_kind::bad_key_type:
      return "bad_key_type";
    case ng_error_kind::bad_key_value:
      return "bad_key_value";
  }
  return "?";
}

std::string_view ng_dtmf_security_name(ng_dtmf_security mode) noexcept {
  for (const auto& [m, name] : dtmf_security_names) {
    if (m == mode) return name;
  }
  return "?";
}

bool ng_name_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> ng_rtp_profile(std::string_view name) noexcept {
  for (std::string_view p : rtp_profiles) {
    if (iequals(p, name)) return p;
  }
  return std::nullopt;
}

const bencode_value* ng_request::find_key(std::string_view key) const {
  const bencode_dictionary* dict = body.if_dictionary();
  return dict == nullptr ? nullptr : find_in(*dict, key);
}

std::optional<std::string_view> ng_request::string_key(std::string_view key) const {
  const bencode_value* v = find_key(key);
  if (const std::string* s = v == nullptr ? nullptr : v->if_string()) return std::string_view(*s);
  return std::nullopt;
}

std::vector<std::string_view> ng_request::list_key(std::string_view key) const {
  const bencode_value* v = find_key(key);
  return v == nullptr ? std::vector<std::string_view>{} : items_of(*v);
}

bool ng_request::has_flag(std::string_view flag) const {
  for (std::string_view f : flags()) {
    if (ng_name_equal(f, flag)) return true;
  }
  return false;
}

bool ng_request::replaces(std::string_view what) const {
  for (std::string_view r : replace()) {
    if (ng_name_equal(r, what)) return true;
  }
  for (std::string_view f : flags()) {
    if (f.size() == 8 + what.size() && ng_name_equal(f.substr(0, 8), "replace-") &&
        ng_name_equal(f.substr(8), what)) {
      return true;
    }
  }
  return false;
}

bool ng_request::has_rtcp_mux(std::string_view item) const {
  for (std::string_view r : rtcp_mux()) {
    if (ng_name_equal(r, item)) return true;
  }
  for (std::string_view f : flags()) {
    if (f.size() == 9 + item.size() && ng_name_equal(f.substr(0, 9), "rtcp-mux-") &&
        ng_name_equal(f.substr(9), item)) {
      return true;
    }
  }
  return false;
}

std::optional<std::string_view> ng_request::transport_protocol() const {
  if (const auto key = string_key("transport-protocol")) return ng_rtp_profile(*key);
  std::optional<std::string_view> out;
  for (std::string_view f : flags()) {
    if (const auto p = ng_rtp_profile(f)) out = p;
  }
  return out;
}

std::optional<network_address> ng_request::received_from() const {
  const bencode_value* v = find_key("received-from");
  return v == nullptr ? std::nullopt : parse_received_from(*v);
}

bool ng_request::trust_address() const {
  bool trust = true;
  for (std::string_view f : flags()) {
    if (ng_name_equal(f, "trust-address")) trust = true;
    if (ng_name_equal(f, "SIP-source-address")) trust = false;
  }
  return trust;
}

bool ng_request::asymmetric() const {
  bool asymmetric = false;
  for (std::string_view f : flags()) {
    if (ng_name_equal(f, "symmetric")) asymmetric = false;
    if (ng_name_equal(f, "asymmetric")) asymmetric = true;
  }
  return asymmetric;
}

std::optional<ng_dtmf_security> ng_request::dtmf_security() const {
  if (const auto s = string_key("DTMF-security")) return parse_dtmf_security(*s);
  return std::nullopt;
}

std::optional<std::int64_t> ng_request::delay_buffer_ms() const {
  if (const bencode_value* v = find_key("delay-buffer")) return integer_or_decimal(*v);
  return std::nullopt;
}

result<ng_request> parse_ng_request(std::string_view datagram, ng_parse_failure* failure) {
  auto fail = [&](ng_error_kind kind, std::string_view cookie,
                  std::string message) -> result<ng_request> {
    if (failure != nullptr) *failure = ng_parse_failure{kind, cookie};
    return error{std::move(message)};
  };

  const std::size_t space = datagram.find(' ');
  if (space == std::string_view::npos) {
    return fail(ng_error_kind::malformed_datagram, {},
                "ng: datagram of " + std::to_string(datagram.size()) +
                    " bytes has no space after the cookie");
  }
  if (space == 0)
    return fail(ng_error_kind::malformed_datagram, {},
                "ng: datagram starts with a space (empty cookie)");
  const std::string_view cookie = datagram.substr(0, space);
  const std::string_view body = datagram.substr(space + 1);
  if (body.empty())
    return fail(ng_error_kind::malformed_datagram, cookie, "ng: no bencode body after the cookie");

  auto decoded = decode_bencode(body);
  if (!decoded.ok())
    return fail(ng_error_kind::malformed_bencode, cookie, "ng: " + decoded.error_message());
  const bencode_dictionary* dict = decoded.value().if_dictionary();
  if (dict == nullptr) {
    return fail(ng_error_kind::not_a_dictionary, cookie,
                std::string("ng: body is ") + kind_noun(decoded.value()) + ", not a dictionary");
  }
  const bencode_value* command_value = dict->find("command");
  if (command_value == nullptr)
    return fail(ng_error_kind::missing_command, cookie, "ng: no \"command\" key");
  const std::string* command_name = command_value->if_string();
  if (command_name == nullptr) {
    return fail(
        ng_error_kind::bad_key_type, cookie,
        std::string("ng: key \"command\" is ") + kind_noun(*command_value) + ", not a byte string");
  }
  const auto command = parse_ng_command(*command_name);
  if (!command) {
    return fail(ng_error_kind::unknown_command, cookie,
                "ng: unknown command " + quoted(*command_name));
  }
  if (auto bad = check_keys(*dict)) return fail(bad->kind, cookie, std::move(bad->message));

  ng_request request;
  request.cookie = std::string(cookie);
  request.command = *command;
  request.body = std::move(decoded).value();
  return request;
}

std::string encode_ng_reply(std::string_view cookie, const bencode_value& reply) {
  std::string out;
  out.reserve(cookie.size() + 64);
  out.append(cookie);
  out += ' ';
  append_bencode(out, reply);
  return out;
}

bencode_value ng_pong_reply() {
  bencode_dictionary d;
  d.insert("result", "pong");
  return d;
}

bencode_value ng_ok_reply(const bencode_dictionary& extra) {
  bencode_dictionary d;
  d.insert("result", "ok");
  for (const auto& [key, value] : extra) {
    if (key != "result") d.insert(key, value);
  }
  return d;
}

bencode_value ng_error_reply(std::string_view reason) {
  bencode_dictionary d;
  d.insert("result", "error");
  d.insert("error-reason", reason);
  return d;
}

ng_reply_cache::ng_reply_cache(std::size_t max_entries, std::size_t max_bytes,
                               std::chrono::milliseconds time_to_live)
    : max_entries_(max_entries), max_bytes_(max_bytes), time_to_live_(time_to_live) {}

void ng_reply_cache::erase(std::list<entry>::iterator it) {
  bytes_ -= it->cookie.size() + it->reply.size();
  index_.erase(std::string_view(it->cookie));
  entries_.erase(it);
}

void ng_reply_cache::evict_expired(clock::time_point now) {
  while (!entries_.empty() && now - entries_.front().stored_at >= time_to_live_)
    erase(entries_.begin());
}

std::optional<std::string> ng_reply_cache::lookup(std::string_view cookie, clock::time_point now) {
  evict_expired(now);
  const auto found = index_.find(cookie);
  if (found == index_.end()) return std::nullopt;
  // Entries are evicted oldest first; with a non-decreasing `now` this check is redundant,
  // but keeps a stale reply from being served if the caller's clock steps back.
  if (now - found->second->stored_at >= time_to_live_) return std::nullopt;
  return found->second->reply;
}

void ng_reply_cache::store(std::string_view cookie, std::string reply, clock::time_point now) {
  if (const auto found = index_.find(cookie); found != index_.end()) erase(found->second);
  evict_expired(now);
  const std::size_t size = cookie.size() + reply.size();
  if (max_entries_ == 0 || size > max_bytes_) return;
  while (!entries_.empty() && (entries_.size() >= max_entries_ || bytes_ + size > max_bytes_)) {
    erase(entries_.begin());
  }
  entries_.push_back(entry{std::string(cookie), std::move(reply), now});
  const auto it = std::prev(entries_.end());
  index_.emplace(std::string_view(it->cookie), it);
  bytes_ += size;
}

}  // namespace toneguard::media
