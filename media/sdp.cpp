#include "toneguard/media/sdp.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>

namespace toneguard::media {
namespace {

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim_right(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return trim_right(s);
}

// Fields separated by runs of spaces or tabs.
std::vector<std::string_view> fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// A decimal number of at most 10 digits, no sign, not above `max`.
std::optional<std::uint32_t> parse_uint(std::string_view s, std::uint32_t max) noexcept {
  if (s.empty() || s.size() > 10) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string quoted(std::string_view s) {
  constexpr std::size_t max = 40;
  std::string out = "'";
  out += s.substr(0, max);
  if (s.size() > max) out += "...";
  out += "'";
  return out;
}

std::optional<address_type> parse_addrtype(std::string_view s) noexcept {
  if (s == "IP4") return address_type::ip4;
  if (s == "IP6") return address_type::ip6;
  return std::nullopt;
}

bool valid_address(address_type t, std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return false;
  const std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(t == address_type::ip4 ? AF_INET : AF_INET6, s.c_str(), buf) == 1;
}

// "<nettype> <addrtype> <address>" as in c= and a=rtcp; `what` names the line for messages.
result<network_address> parse_net_addr(std::string_view what, std::string_view nettype,
                                       std::string_view addrtype, std::string_view address) {
  if (nettype != "IN") {
    return error{std::string(what) + " nettype " + quoted(nettype) + " is not IN"};
  }
  const auto type = parse_addrtype(addrtype);
  if (!type) {
    return error{std::string(what) + " addrtype " + quoted(addrtype) + " is not IP4 or IP6"};
  }
  if (!valid_address(*type, address)) {
    return error{std::string(what) + " address " + quoted(address) + " is not an " +
                 (*type == address_type::ip4 ? "IPv4" : "IPv6") + " address"};
  }
  return network_address{*type, std::string(address)};
}

result<network_address> parse_connection(std::string_view value) {
  const auto f = fields(value);
  if (f.size() != 3) return error{"c= needs '<nettype> <addrtype> <address>'"};
  return parse_net_addr("c=", f[0], f[1], f[2]);
}

result<sdp_origin> parse_origin(std::string_view value) {
  const auto f = fields(value);
  if (f.size() != 6) {
    return error{"o= needs '<username> <sess-id> <sess-version> <nettype> <addrtype> <address>'"};
  }
  if (f[3] != "IN") return error{"o= nettype " + quoted(f[3]) + " is not IN"};
  const auto type = parse_addrtype(f[4]);
  if (!type) return error{"o= addrtype " + quoted(f[4]) + " is not IP4 or IP6"};
  return sdp_origin{std::string(f[0]), std::string(f[1]), std::string(f[2]), *type,
                    std::string(f[5])};
}

// Splits an a= value into name and value (after ':'); trailing whitespace removed.
std::pair<std::string_view, std::string_view> split_attribute(std::string_view v) noexcept {
  v = trim_right(v);
  const auto colon = v.find(':');
  if (colon == std::string_view::npos) return {v, {}};
  return {v.substr(0, colon), v.substr(colon + 1)};
}

result<sdp_rtcp> parse_rtcp(std::string_view value) {
  const auto f = fields(value);
  if (f.size() != 1 && f.size() != 4) {
    return error{"a=rtcp needs '<port> [IN <addrtype> <address>]'"};
  }
  const auto port = parse_uint(f[0], 65535);
  if (!port) return error{"a=rtcp port " + quoted(f[0]) + " is not a number 0-65535"};
  sdp_rtcp r;
  r.port = static_cast<std::uint16_t>(*port);
  if (f.size() == 4) {
    auto a = parse_net_addr("a=rtcp", f[1], f[2], f[3]);
    if (!a) return error{a.error_message()};
    r.address = std::move(a).value();
  }
  return r;
}

result<sdp_rtpmap> parse_rtpmap(std::string_view value) {
  const auto f = fields(value);
  if (f.size() != 2) return error{"a=rtpmap needs '<payload type> <encoding>/<clock rate>'"};
  const auto pt = parse_uint(f[0], 127);
  if (!pt) return error{"a=rtpmap payload type " + quoted(f[0]) + " is not a number 0-127"};
  const std::string_view spec = f[1];
  const auto slash1 = spec.find('/');
  if (slash1 == 0 || slash1 == std::string_view::npos) {
    return error{"a=rtpmap " + quoted(spec) + " is not <encoding>/<clock rate>"};
  }
  const std::string_view rest = spec.substr(slash1 + 1);
  const auto slash2 = rest.find('/');
  const auto rate = parse_uint(rest.substr(0, slash2), 0xFFFFFFFF);
  if (!rate || *rate == 0) {
    return error{"a=rtpmap clock rate " + quoted(rest.substr(0, slash2)) +
                 " is not a positive number"};
  }
  sdp_rtpmap r;
  r.payload_type = static_cast<std::uint8_t>(*pt);
  r.encoding = std::string(spec.substr(0, slash1));
  r.clock_rate = *rate;
  if (slash2 != std::string_view::npos) {
    const auto ch = parse_uint(rest.substr(slash2 + 1), 0xFFFFFFFF);
    if (!ch || *ch == 0) {
      return error{"a=rtpmap channels " + quoted(rest.substr(slash2 + 1)) +
                   " is not a positive number"};
    }
    r.channels = *ch;
  }
  return r;
}

result<sdp_crypto> parse_crypto(std::string_view value) {
  value = trim(value);
  const auto f = fields(value);
  if (f.size() < 3) return error{"a=crypto needs '<tag> <suite> inline:<key>'"};
  const auto tag = parse_uint(f[0], 999999999);
  if (!tag || f[0].size() > 9) return error{"a=crypto tag " + quoted(f[0]) + " is not a number"};
  if (f[2].substr(0, 7) != "inline:" || f[2].size() == 7) {
    return error{"a=crypto key params " + quoted(f[2]) + " do not start with inline:<key>"};
  }
  sdp_crypto c;
  c.tag = *tag;
  c.suite = std::string(f[1]);
  c.key_params = std::string(f[2]);
  const std::size_t after = static_cast<std::size_t>(f[2].data() + f[2].size() - value.data());
  c.session_params = std::string(trim(value.substr(after)));
  return c;
}

std::string connection_value(const network_address& a) {
  return "IN " + std::string(to_string(a.type)) + " " + a.address;
}

std::optional<media_direction> find_direction(const std::vector<sdp_line>& lines) {
  for (const auto& l : lines) {
    if (l.type != 'a') continue;
    const auto v = trim_right(l.value);
    if (v == "sendrecv") return media_direction::sendrecv;
    if (v == "sendonly") return media_direction::sendonly;
    if (v == "recvonly") return media_direction::recvonly;
    if (v == "inactive") return media_direction::inactive;
  }
  return std::nullopt;
}

std::size_t remove_attrs(std::vector<sdp_line>& lines, std::span<const std::string_view> names) {
  const auto before = lines.size();
  std::erase_if(lines, [&](const sdp_line& l) {
    if (l.type != 'a') return false;
    const std::string_view name = split_attribute(l.value).first;
    return std::find(names.begin(), names.end(), name) != names.end();
  });
  return before - lines.size();
}

// Validates one non-m= line's typed content; returns an error message or nullopt.
std::optional<std::string> check_line(const sdp_line& l) {
  if (l.type == 'o') {
    auto o = parse_origin(l.value);
    if (!o) return o.error_message();
  } else if (l.type == 'c') {
    auto c = parse_connection(l.value);
    if (!c) return c.error_message();
  } else if (l.type == 'a') {
    const auto [name, value] = split_attribute(l.value);
    if (name == "rtcp") {
      auto r = parse_rtcp(value);
      if (!r) return r.error_message();
    } else if (name == "rtpmap") {
      auto r = parse_rtpmap(value);
      if (!r) return r.error_message();
    } else if (name == "crypto") {
      auto r = parse_crypto(value);
      if (!r) return r.error_message();
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(address_type t) noexcept {
  return t == address_type::ip4 ? "IP4" : "IP6";
}

result<network_address> network_address::from_string(std::string_view text) {
  if (valid_address(address_type::ip4, text)) {
    return network_address{address_type::ip4, std::string(text)};
  }
  if (valid_address(address_type::ip6, text)) {
    return network_address{address_type::ip6, std::string(text)};
  }
  return error{"address " + quoted(text) + " is neither IPv4 nor IPv6"};
}

network_address network_address::unspecified(address_type type) {
  return network_address{type, type == address_type::ip4 ? "0.0.0.0" : "::"};
}

bool network_address::is_unspecified() const {
  if (address.empty() || address.size() > INET6_ADDRSTRLEN) return false;
  unsigned char buf[sizeof(in6_addr)] = {};
  const int family = type == address_type::ip4 ? AF_INET : AF_INET6;
  if (inet_pton(family, address.c_str(), buf) != 1) return false;
  const std::size_t n = type == address_type::ip4 ? sizeof(in_addr) : sizeof(in6_addr);
  return std::all_of(buf, buf + n, [](unsigned char b) { return b == 0; });
}

std::string_view sdp_crypto::key() const noexcept {
  std::string_view k = key_params;
  if (k.substr(0, 7) != "inline:") return {};
  k.remove_prefix(7);
  return k.substr(0, k.find_first_of("|;"));
}

std::string sdp_crypto::to_value() const {
  std::string v = std::to_string(tag) + " " + suite + " " + key_params;
  if (!session_params.empty()) v += " " + session_params;
  return v;
}

bool media_description::is_rtp() const noexcept {
  return proto_.find("RTP/") != std::string::npos;
}

std::vector<std::uint8_t> media_description::payload_types() const {
  std::vector<std::uint8_t> out;
  if (!is_rtp()) return out;
  for (const auto& f : formats_) {
    if (auto pt = parse_uint(f, 127)) out.push_back(static_cast<std::uint8_t>(*pt));
  }
  return out;
}

std::optional<network_address> media_description::connection() const {
  for (const auto& l : lines_) {
    if (l.type != 'c') continue;
    auto c = parse_connection(l.value);
    if (c) return std::move(c).value();
  }
  return std::nullopt;
}

std::vector<sdp_rtpmap> media_description::rtpmaps() const {
  std::vector<sdp_rtpmap> out;
  for (const auto& l : lines_) {
    if (l.type != 'a') continue;
    const auto [name, value] = split_attribute(l.value);
    if (name != "rtpmap") continue;
    auto r = parse_rtpmap(value);
    if (r) out.push_back(std::move(r).value());
  }
  return out;
}

std::optional<sdp_rtpmap> media_description::rtpmap(std::uint8_t payload_type) const {
  for (auto& r : rtpmaps()) {
    if (r.payload_type == payload_type) return r;
  }
  return std::nullopt;
}

std::optional<std::string> media_description::fmtp(std::uint8_t payload_type) const {
  for (const auto& l : lines_) {
    if (l.type != 'a') continue;
    const auto [name, value] = split_attribute(l.value);
    if (name != "fmtp") continue;
    const auto space = value.find_first_of(" \t");
    const auto pt = parse_uint(value.substr(0, space), 127);
    if (!pt || *pt != payload_type) continue;
    return space == std::string_view::npos ? std::string() : std::string(trim(value.substr(space)));
  }
  return std::nullopt;
}

std::optional<sdp_rtcp> media_description::rtcp() const {
  for (const auto& l : lines_) {
    if (l.type != 'a') continue;
    const auto [name, value] = split_attribute(l.value);
    if (name != "rtcp") continue;
    auto r = parse_rtcp(value);
    if (r) return std::move(r).value();
  }
  return std::nullopt;
}

bool media_description::rtcp_mux() const {
  return attribute("rtcp-mux").has_value();
}

std::vector<sdp_crypto> media_description::crypto() const {
  std::vector<sdp_crypto> out;
  for (const auto& l : lines_) {
    if (l.type != 'a') continue;
    const auto [name, value] = split_attribute(l.value);
    if (name != "crypto") continue;
    auto c = parse_crypto(value);
    if (c) out.push_back(std::move(c).value());
  }
  return out;
}

std::optional<std::uint32_t> media_description::ptime() const {
  const auto v = attribute("ptime");
  if (!v) return std::nullopt;
  return parse_uint(trim(*v), 0xFFFFFFFF);
}

std::optional<media_direction> media_description::direction() const {
  return find_direction(lines_);
}

std::vector<std::uint8_t> media_description::telephone_event_payload_types() const {
  std::vector<std::uint8_t> out;
  const auto maps = rtpmaps();
  for (auto pt : payload_types()) {
    for (const auto& r : maps) {
      if (r.payload_type == pt && iequals(r.encoding, "telephone-event") && r.clock_rate == 8000) {
        out.push_back(pt);
        break;
      }
    }
  }
  return out;
}

std::vector<g711_payload> media_description::g711_payload_types() const {
  std::vector<g711_payload> out;
  const auto maps = rtpmaps();
  for (auto pt : payload_types()) {
    const auto m = std::find_if(maps.begin(), maps.end(),
                                [pt](const sdp_rtpmap& r) { return r.payload_type == pt; });
    if (m != maps.end()) {
      if (m->clock_rate != 8000 || m->channels != 1) continue;
      if (iequals(m->encoding, "PCMU")) out.push_back({pt, g711_law::mu_law});
      if (iequals(m->encoding, "PCMA")) out.push_back({pt, g711_law::a_law});
    } else if (pt == 0) {
      out.push_back({pt, g711_law::mu_law});
    } else if (pt == 8) {
      out.push_back({pt, g711_law::a_law});
    }
  }
  return out;
}

std::optional<std::string> media_description::attribute(std::string_view name) const {
  for (const auto& l : lines_) {
    if (l.type != 'a') continue;
    const auto [n, value] = split_attribute(l.value);
    if (n == name) return std::string(value);
  }
  return std::nullopt;
}

void media_description::set_connection(const network_address& address) {
  for (auto& l : lines_) {
    if (l.type == 'c') {
      l.value = connection_value(address);
      return;
    }
  }
  std::size_t pos = 0;
  while (pos < lines_.size() && lines_[pos].type == 'i') ++pos;
  lines_.insert(lines_.begin() + static_cast<std::ptrdiff_t>(pos),
                sdp_line{'c', connection_value(address)});
}

void media_description::set_rtcp(std::uint16_t port,
                                 const std::optional<network_address>& address) {
  std::string value = "rtcp:" + std::to_string(port);
  if (address) value += " " + connection_value(*address);
  for (auto& l : lines_) {
    if (l.type == 'a' && split_attribute(l.value).first == "rtcp") {
      l.value = std::move(value);
      return;
    }
  }
  lines_.push_back({'a', std::move(value)});
}

void media_description::set_rtcp_mux(bool on) {
  if (!on) {
    remove_attributes("rtcp-mux");
  } else if (!rtcp_mux()) {
    lines_.push_back({'a', "rtcp-mux"});
  }
}

void media_description::set_crypto(std::span<const sdp_crypto> crypto) {
  std::size_t pos = lines_.size();
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    if (lines_[i].type == 'a' && split_attribute(lines_[i].value).first == "crypto") {
      pos = i;
      break;
    }
  }
  remove_attributes("crypto");
  pos = std::min(pos, lines_.size());
  std::vector<sdp_line> added;
  for (const auto& c : crypto) added.push_back({'a', "crypto:" + c.to_value()});
  lines_.insert(lines_.begin() + static_cast<std::ptrdiff_t>(pos), added.begin(), added.end());
}

std::size_t media_description::remove_attributes(std::string_view name) {
  return remove_attrs(lines_, std::span<const std::string_view>(&name, 1));
}

std::size_t media_description::remove_attributes(std::span<const std::string_view> names) {
  return remove_attrs(lines_, names);
}

result<session_description> session_description::parse(std::string_view text) {
  if (text.empty()) return error{"sdp: empty input"};
  if (text.size() > sdp_max_size) {
    return error{"sdp: input of " + std::to_string(text.size()) + " bytes exceeds the " +
                 std::to_string(sdp_max_size) + "-byte limit"};
  }
  // Split into lines (LF or CRLF), dropping blank lines at the end.
  std::vector<std::string_view> raw;
  for (std::size_t start = 0; start < text.size();) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    raw.push_back(line);
    if (raw.size() > sdp_max_lines + 16) break;  // enough to report the limit
    start = nl + 1;
  }
  while (!raw.empty() && trim(raw.back()).empty()) raw.pop_back();
  if (raw.empty()) return error{"sdp: empty input"};
  if (raw.size() > sdp_max_lines) {
    return error{"sdp: more than " + std::to_string(sdp_max_lines) + " lines"};
  }

  session_description sd;
  media_description* current = nullptr;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const std::string_view line = raw[i];
    const std::string where = "sdp: line " + std::to_string(i + 1) + ": ";
    for (char c : line) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", u);
        return error{where + "control character " + hex};
      }
    }
    if (line.size() < 2 || line[0] < 'a' || line[0] > 'z' || line[1] != '=') {
      return error{where + quoted(line) + " is not of the form <letter>=<value>"};
    }
    const char type = line[0];
    const std::string_view value = line.substr(2);
    if (i == 0) {
      if (type != 'v' || trim(value) != "0") return error{where + "expected v=0 first"};
      continue;
    }
    if (type == 'v') return error{where + "v= only allowed on the first line"};
    if (type == 'm') {
      if (sd.media_.size() >= sdp_max_media) {
        return error{where + "more than " + std::to_string(sdp_max_media) + " media sections"};
      }
      const auto f = fields(value);
      if (f.size() < 3) return error{where + "m= needs '<media> <port> <proto> <format>...'"};
      if (f.size() == 3) return error{where + "m= has no formats"};
      media_description m;
      m.media_ = std::string(f[0]);
      const auto slash = f[1].find('/');
      const auto port = parse_uint(f[1].substr(0, slash), 65535);
      if (!port) {
        return error{where + "m= port " + quoted(f[1].substr(0, slash)) +
                     " is not a number 0-65535"};
      }
      m.port_ = static_cast<std::uint16_t>(*port);
      if (slash != std::string_view::npos) {
        const auto count = parse_uint(f[1].substr(slash + 1), 65535);
        if (!count || *count == 0) {
          return error{where + "m= port count " + quoted(f[1].substr(slash + 1)) +
                       " is not a number 1-65535"};
        }
        m.port_count_ = *count;
      }
      m.proto_ = std::string(f[2]);
      for (std::size_t k = 3; k < f.size(); ++k) m.formats_.emplace_back(f[k]);
      sd.media_.push_back(std::move(m));
      current = &sd.media_.back();
      continue;
    }
    sdp_line l{type, std::string(value)};
    if (auto problem = check_line(l)) return error{where + *problem};
    (current ? current->lines_ : sd.lines_).push_back(std::move(l));
  }
  return sd;
}

std::string session_description::serialize() const {
  std::string out = "v=0\r\n";
  auto put = [&out](const sdp_line& l) {
    out += l.type;
    out += '=';
    out += l.value;
    out += "\r\n";
  };
  for (const auto& l : lines_) put(l);
  for (const auto& m : media_) {
    out += "m=" + m.media_ + " " + std::to_string(m.port_);
    if (m.port_count_) out += "/" + std::to_string(*m.port_count_);
    out += " " + m.proto_;
    for (const auto& f : m.formats_) out += " " + f;
    out += "\r\n";
    for (const auto& l : m.lines_) put(l);
  }
  return out;
}

std::optional<sdp_origin> session_description::origin() const {
  for (const auto& l : lines_) {
    if (l.type != 'o') continue;
    auto o = parse_origin(l.value);
    if (o) return std::move(o).value();
  }
  return std::nullopt;
}

std::optional<network_address> session_description::connection() const {
  for (const auto& l : lines_) {
    if (l.type != 'c') continue;
    auto c = parse_connection(l.value);
    if (c) return std::move(c).value();
  }
  return std::nullopt;
}

std::optional<media_direction> session_description::direction() const {
  return find_direction(lines_);
}

std::optional<network_address> session_description::connection_of(
    const media_description& m) const {
  if (auto c = m.connection()) return c;
  return connection();
}

media_direction session_description::direction_of(const media_description& m) const {
  if (auto d = m.direction()) return *d;
  return direction().value_or(media_direction::sendrecv);
}

bool session_description::set_origin_address(const network_address& address) {
  for (auto& l : lines_) {
    if (l.type != 'o') continue;
    auto o = parse_origin(l.value);
    if (!o) continue;
    const auto& v = o.value();
    l.value =
        v.username + " " + v.session_id + " " + v.session_version + " " + connection_value(address);
    return true;
  }
  return false;
}

void session_description::set_connection(const network_address& address) {
  for (auto& l : lines_) {
    if (l.type == 'c') {
      l.value = connection_value(address);
      return;
    }
  }
  const auto pos = std::find_if(lines_.begin(), lines_.end(), [](const sdp_line& l) {
    return std::string_view("btrzka").find(l.type) != std::string_view::npos;
  });
  lines_.insert(pos, sdp_line{'c', connection_value(address)});
}

std::size_t session_description::remove_attributes(std::string_view name) {
  return remove_attrs(lines_, std::span<const std::string_view>(&name, 1));
}

std::size_t session_description::remove_attributes(std::span<const std::string_view> names) {
  return remove_attrs(lines_, names);
}

}  // namespace toneguard::media
