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

constexpr std::array<std::string_view, 8> string_keys{
    "call-id", "from-tag",           "to-tag",       "via-branch", "sdp",
    "ICE",     "transport-protocol", "DTMF-security"};
constexpr std::array<std::string_view, 4> list_keys{"flags", "replace", "direction", "rtcp-mux"};

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

void split_items(std::string_view s, std::vector<std::string_view>& out) {
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
}

struct failure_info {
  ng_error_kind kind;
  std::string message;
};

// Checks the keys ng_request has accessors for; nullopt when all are well-typed.
std::optional<failure_info> check_keys(const bencode_dictionary& dict) {
  for (std::string_view key : string_keys) {
    const bencode_value* v = dict.find(key);
    if (v != nullptr && !v->is_string()) {
      return failure_info{ng_error_kind::bad_key_type, "ng: key \"" + std::string(key) + "\" is " +
                                                           kind_noun(*v) + ", not a byte string"};
    }
  }
  for (std::string_view key : list_keys) {
    const bencode_value* v = dict.find(key);
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
  if (const std::string* mode = dict.string_at("DTMF-security")) {
    if (!parse_dtmf_security(*mode)) {
      return failure_info{ng_error_kind::bad_key_value,
                          "ng: unknown DTMF-security mode " + quoted(*mode) +
                              " (expected drop, silence, tone, random, zero, DTMF or off)"};
    }
  }
  if (const bencode_value* v = dict.find("delay-buffer")) {
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

std::optional<std::string_view> ng_request::string_key(std::string_view key) const {
  if (const std::string* s = body.string_at(key)) return std::string_view(*s);
  return std::nullopt;
}

std::vector<std::string_view> ng_request::list_key(std::string_view key) const {
  std::vector<std::string_view> out;
  const bencode_value* v = body.find(key);
  if (v == nullptr) return out;
  if (const std::string* s = v->if_string()) {
    split_items(*s, out);
  } else if (const bencode_list* l = v->if_list()) {
    out.reserve(l->size());
    for (const auto& item : *l) {
      if (const std::string* text = item.if_string()) out.push_back(*text);
    }
  }
  return out;
}

bool ng_request::has_flag(std::string_view flag) const {
  for (std::string_view f : flags()) {
    if (f == flag) return true;
  }
  return false;
}

std::optional<ng_dtmf_security> ng_request::dtmf_security() const {
  if (const std::string* s = body.string_at("DTMF-security")) return parse_dtmf_security(*s);
  return std::nullopt;
}

std::optional<std::int64_t> ng_request::delay_buffer_ms() const {
  if (const bencode_value* v = body.find("delay-buffer")) return integer_or_decimal(*v);
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
