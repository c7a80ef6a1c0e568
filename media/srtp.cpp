#include "toneguard/media/srtp.h"

#include <srtp2/srtp.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

namespace toneguard::media {
namespace {

constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct suite_info {
  srtp_suite suite;
  std::string_view name;
  std::size_t key_salt_length;
  std::size_t rtp_tag;
  std::size_t rtcp_tag;
};

constexpr suite_info suites[] = {
    {srtp_suite::aes_cm_128_hmac_sha1_80, "AES_CM_128_HMAC_SHA1_80", 30, 10, 10},
    {srtp_suite::aes_cm_128_hmac_sha1_32, "AES_CM_128_HMAC_SHA1_32", 30, 4, 10},
    {srtp_suite::aead_aes_128_gcm, "AEAD_AES_128_GCM", 28, 16, 16},
};

const suite_info& info(srtp_suite suite) noexcept {
  for (const auto& s : suites) {
    if (s.suite == suite) return s;
  }
  return suites[0];
}

// The base64 value of `c`, or -1.
int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t';
}

bool all_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A character for an error message: printable ASCII as itself, anything else as \xNN. Only
// characters outside the base64 alphabet are ever shown, so no key bit is.
std::string shown_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7F) return std::string("'") + c + "'";
  constexpr char hex[] = "0123456789abcdef";
  return std::string("'\\x") + hex[u >> 4] + hex[u & 0xF] + "'";
}

error crypto_error(std::string_view what) {
  return error{"a=crypto: " + std::string(what)};
}

// Decodes the base64 key text of an a=crypto line into `out` (which has `expected` bytes of
// room). Padding is optional; characters outside the standard alphabet are errors.
std::optional<error> decode_key(std::string_view text, srtp_suite suite,
                                std::array<std::uint8_t, 32>& out) {
  const std::size_t expected = srtp_key_salt_length(suite);
  std::size_t data_chars = text.size();
  while (data_chars > 0 && text[data_chars - 1] == '=') --data_chars;
  const std::size_t pad = text.size() - data_chars;
  for (std::size_t i = 0; i < data_chars; ++i) {
    if (text[i] == '=') return crypto_error("key has '=' padding before its end");
    if (base64_value(text[i]) < 0) {
      return crypto_error("key has " + shown_char(text[i]) + " at offset " + std::to_string(i) +
                          ", which is not base64");
    }
  }
  if (data_chars == 0) return crypto_error("key is empty");
  if (data_chars % 4 == 1) return crypto_error("key's base64 length is not valid");
  if (pad > 0 && (pad > 2 || (data_chars + pad) % 4 != 0)) {
    return crypto_error("key's base64 padding is not valid");
  }
  const std::size_t decoded = data_chars / 4 * 3 + (data_chars % 4 == 0 ? 0 : data_chars % 4 - 1);
  if (decoded != expected) {
    return crypto_error("key is " + std::to_string(decoded) + " bytes, " +
                        std::string(srtp_suite_name(suite)) + " takes " + std::to_string(expected) +
                        " (master key and salt)");
  }
  std::uint32_t bits = 0;
  int nbits = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < data_chars; ++i) {
    bits = (bits << 6) | static_cast<std::uint32_t>(base64_value(text[i]));
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out[n++] = static_cast<std::uint8_t>(bits >> nbits);
    }
  }
  // Leftover bits of the last character are ignored (RFC 4648 §3.5 allows either).
  return std::nullopt;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += base64_alphabet[v >> 18];
    out += base64_alphabet[(v >> 12) & 63];
    out += base64_alphabet[(v >> 6) & 63];
    out += base64_alphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    out += base64_alphabet[v >> 18];
    out += base64_alphabet[(v >> 12) & 63];
    out += "==";
  } else if (bytes.size() - i == 2) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
    out += base64_alphabet[v >> 18];
    out += base64_alphabet[(v >> 12) & 63];
    out += base64_alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// The key-info field after the key: a lifetime ("2^n" or decimal) is accepted and ignored.
bool is_lifetime(std::string_view field) noexcept {
  if (field.starts_with("2^")) field.remove_prefix(2);
  return all_digits(field);
}

// Checks one session parameter (RFC 4568 §6.3). Only names are ever put in an error: an
// unknown parameter such as FEC_KEY may carry key material.
std::optional<error> check_session_param(std::string_view param) {
  const std::string_view name = param.substr(0, param.find('='));
  for (std::string_view refused :
       {"UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP"}) {
    if (name == refused) return crypto_error("unsupported session parameter " + std::string(name));
  }
  // A key derivation rate other than 0 would derive other session keys than libsrtp does.
  if (name == "KDR" && param != "KDR=0") {
    return crypto_error("unsupported session parameter KDR (key derivation rate must be 0)");
  }
  return std::nullopt;
}

// The RTP header's length (with CSRCs and extension) if `packet` starts with a version 2
// header that fits in it, else 0.
std::size_t rtp_header_length(std::span<const std::uint8_t> packet) noexcept {
  if (packet.size() < 12 || (packet[0] >> 6) != 2) return 0;
  std::size_t length = 12 + 4 * std::size_t{packet[0] & 0x0Fu};
  if ((packet[0] & 0x10u) != 0) {
    if (packet.size() < length + 4) return 0;
    length += 4 + 4 * ((std::size_t{packet[length + 2]} << 8) | packet[length + 3]);
  }
  return length <= packet.size() ? length : 0;
}

srtp_status status_of(srtp_err_status_t status) noexcept {
  switch (status) {
    case srtp_err_status_ok:
      return srtp_status::ok;
    case srtp_err_status_auth_fail:
      return srtp_status::auth_failed;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return srtp_status::replayed;
    default:
      return srtp_status::malformed;
  }
}

std::string_view libsrtp_error_name(srtp_err_status_t status) noexcept {
  switch (status) {
    case srtp_err_status_ok:
      return "ok";
    case srtp_err_status_fail:
      return "fail";
    case srtp_err_status_bad_param:
      return "bad_param";
    case srtp_err_status_alloc_fail:
      return "alloc_fail";
    case srtp_err_status_init_fail:
      return "init_fail";
    case srtp_err_status_cipher_fail:
      return "cipher_fail";
    case srtp_err_status_algo_fail:
      return "algo_fail";
    case srtp_err_status_no_such_op:
      return "no_such_op";
    default:
      return "error";
  }
}

// Packets longer than this are not RTP over UDP; libsrtp takes an int length.
constexpr std::size_t max_packet = 65535;

}  // namespace

std::string_view srtp_suite_name(srtp_suite suite) noexcept {
  return info(suite).name;
}

std::optional<srtp_suite> srtp_suite_from_name(std::string_view name) noexcept {
  for (const auto& s : suites) {
    if (s.name == name) return s.suite;
  }
  return std::nullopt;
}

std::size_t srtp_key_salt_length(srtp_suite suite) noexcept {
  return info(suite).key_salt_length;
}

std::size_t srtp_rtp_overhead(srtp_suite suite) noexcept {
  return info(suite).rtp_tag;
}

std::size_t srtp_rtcp_overhead(srtp_suite suite) noexcept {
  return 4 + info(suite).rtcp_tag;
}

std::string sdes_key::to_crypto_value() const {
  return std::to_string(tag) + " " + std::string(srtp_suite_name(suite)) +
         " inline:" + base64_encode(std::span(key_salt).first(srtp_key_salt_length(suite)));
}

result<sdes_key> parse_crypto_value(std::string_view value) {
  // Fields are separated by spaces or tabs; a line end left on the value is not a field.
  std::string_view fields[3];
  std::size_t count = 0;
  std::string_view session_params;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (is_space(value[i]) || value[i] == '\r' || value[i] == '\n')) ++i;
    if (i == value.size()) break;
    if (count == 3) {
      session_params = value.substr(i);
      break;
    }
    std::size_t end = i;
    while (end < value.size() && !is_space(value[end]) && value[end] != '\r' &&
           value[end] != '\n') {
      ++end;
    }
    fields[count++] = value.substr(i, end - i);
    i = end;
  }
  if (count < 3) return crypto_error("needs '<tag> <crypto-suite> inline:<key>'");

  sdes_key key;
  if (fields[0].size() > 9 || !all_digits(fields[0])) {
    return crypto_error("tag is not 1 to 9 digits");
  }
  key.tag = 0;
  for (char c : fields[0]) key.tag = key.tag * 10 + static_cast<std::uint32_t>(c - '0');

  const auto suite = srtp_suite_from_name(fields[1]);
  if (!suite) {
    // Only something that looks like a suite name is quoted: a line missing its tag would put
    // the key here.
    bool name_like = fields[1].size() <= 32;
    for (char c : fields[1]) {
      name_like = name_like && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
    }
    if (name_like) {
      return crypto_error("crypto suite " + std::string(fields[1]) + " is not supported");
    }
    return crypto_error("crypto suite is not supported (not a suite name)");
  }
  key.suite = *suite;

  std::string_view key_params = fields[2];
  if (key_params.find(';') != std::string_view::npos) {
    return crypto_error("several keys are not supported");
  }
  constexpr std::string_view method = "inline:";
  if (!key_params.starts_with(method)) return crypto_error("key method is not inline");
  key_params.remove_prefix(method.size());

  const std::string_view key_text = key_params.substr(0, key_params.find('|'));
  std::string_view extra = key_params.substr(key_text.size());
  bool seen_lifetime = false;
  while (!extra.empty()) {
    extra.remove_prefix(1);  // the '|'
    const std::string_view field = extra.substr(0, extra.find('|'));
    extra.remove_prefix(field.size());
    if (field.find(':') != std::string_view::npos) return crypto_error("MKI is not supported");
    if (seen_lifetime || !is_lifetime(field)) {
      return crypto_error("key lifetime is not '2^n' or a decimal number");
    }
    seen_lifetime = true;
  }

  if (auto e = decode_key(key_text, key.suite, key.key_salt)) return std::move(*e);

  std::size_t p = 0;
  while (p < session_params.size()) {
    while (p < session_params.size() && (is_space(session_params[p]) || session_params[p] == '\r' ||
                                         session_params[p] == '\n')) {
      ++p;
    }
    std::size_t end = p;
    while (end < session_params.size() && !is_space(session_params[end]) &&
           session_params[end] != '\r' && session_params[end] != '\n') {
      ++end;
    }
    if (end > p) {
      if (auto e = check_session_param(session_params.substr(p, end - p))) return std::move(*e);
    }
    p = end;
  }
  return key;
}

sdes_key generate_sdes_key(srtp_suite suite, std::uint32_t tag) {
  sdes_key key;
  key.tag = tag;
  key.suite = suite;
  const std::size_t length = srtp_key_salt_length(suite);
  std::size_t filled = 0;
  while (filled < length) {
    const ssize_t got = getrandom(key.key_salt.data() + filled, length - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    filled += static_cast<std::size_t>(got);
  }
  return key;
}

std::string_view srtp_status_name(srtp_status status) noexcept {
  switch (status) {
    case srtp_status::ok:
      return "ok";
    case srtp_status::auth_failed:
      return "auth_failed";
    case srtp_status::replayed:
      return "replayed";
    case srtp_status::malformed:
      return "malformed";
    case srtp_status::no_room:
      return "no_room";
  }
  return "unknown";
}

struct srtp_session::impl {
  srtp_t ctx = nullptr;
  direction dir = direction::inbound;
  srtp_suite suite = srtp_suite::aes_cm_128_hmac_sha1_80;

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() {
    if (ctx != nullptr) srtp_dealloc(ctx);
  }
};

srtp_session::srtp_session(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

srtp_session::~srtp_session() = default;

result<std::unique_ptr<srtp_session>> srtp_session::create(const sdes_key& key, direction dir) {
  static std::once_flag once;
  static srtp_err_status_t init_status = srtp_err_status_ok;
  std::call_once(once, [] { init_status = srtp_init(); });
  if (init_status != srtp_err_status_ok) {
    return error{"srtp: libsrtp2 initialisation failed (" +
                 std::string(libsrtp_error_name(init_status)) + ")"};
  }

  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof policy);
  switch (key.suite) {
    case srtp_suite::aes_cm_128_hmac_sha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case srtp_suite::aes_cm_128_hmac_sha1_32:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
      // RFC 4568 §6.2.2: SRTCP keeps the 80-bit tag with this suite.
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case srtp_suite::aead_aes_128_gcm:
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
      break;
  }
  policy.ssrc.type = dir == direction::inbound ? ssrc_any_inbound : ssrc_any_outbound;
  // libsrtp reads the key during srtp_create only; the copy is wiped afterwards.
  std::array<std::uint8_t, 32> key_salt = key.key_salt;
  policy.key = key_salt.data();
  // Room for a call's reordering: the default of 128 packets is 2.5 s of 20 ms audio.
  policy.window_size = 1024;
  // Never protect one RTP index twice: caller_stream rewrites payloads, so a duplicate sequence
  // number could carry other bytes under the same keystream, exposing their XOR. A repeat is
  // refused as `replayed` and dropped instead.
  policy.allow_repeat_tx = 0;
  policy.next = nullptr;

  auto state = std::make_unique<impl>();
  state->dir = dir;
  state->suite = key.suite;
  const srtp_err_status_t status = srtp_create(&state->ctx, &policy);
  explicit_bzero(key_salt.data(), key_salt.size());
  if (status != srtp_err_status_ok) {
    state->ctx = nullptr;
    return error{"srtp: libsrtp2 srtp_create failed for " +
                 std::string(srtp_suite_name(key.suite)) + " (" +
                 std::string(libsrtp_error_name(status)) + ")"};
  }
  return std::unique_ptr<srtp_session>(new srtp_session(std::move(state)));
}

srtp_status srtp_session::unprotect_rtp(std::span<std::uint8_t> packet,
                                        std::size_t& length) noexcept {
  if (impl_->dir != direction::inbound) return srtp_status::malformed;
  if (length > packet.size() || length > max_packet) return srtp_status::malformed;
  const std::size_t header = rtp_header_length(packet.first(length));
  if (header == 0 || length < header + srtp_rtp_overhead(impl_->suite)) {
    return srtp_status::malformed;
  }
  int len = static_cast<int>(length);
  const srtp_err_status_t status = srtp_unprotect(impl_->ctx, packet.data(), &len);
  if (status != srtp_err_status_ok) return status_of(status);
  length = static_cast<std::size_t>(len);
  return srtp_status::ok;
}

srtp_status srtp_session::unprotect_rtcp(std::span<std::uint8_t> packet,
                                         std::size_t& length) noexcept {
  if (impl_->dir != direction::inbound) return srtp_status::malformed;
  if (length > packet.size() || length > max_packet) return srtp_status::malformed;
  if (length < 8 + srtp_rtcp_overhead(impl_->suite) || (packet[0] >> 6) != 2) {
    return srtp_status::malformed;
  }
  int len = static_cast<int>(length);
  const srtp_err_status_t status = srtp_unprotect_rtcp(impl_->ctx, packet.data(), &len);
  if (status != srtp_err_status_ok) return status_of(status);
  length = static_cast<std::size_t>(len);
  return srtp_status::ok;
}

srtp_status srtp_session::protect_rtp(std::span<std::uint8_t> packet,
                                      std::size_t& length) noexcept {
  if (impl_->dir != direction::outbound) return srtp_status::malformed;
  if (length > packet.size() || length > max_packet) return srtp_status::malformed;
  if (rtp_header_length(packet.first(length)) == 0) return srtp_status::malformed;
  if (packet.size() - length < srtp_rtp_overhead(impl_->suite)) return srtp_status::no_room;
  int len = static_cast<int>(length);
  const srtp_err_status_t status = srtp_protect(impl_->ctx, packet.data(), &len);
  if (status != srtp_err_status_ok) return status_of(status);
  length = static_cast<std::size_t>(len);
  return srtp_status::ok;
}

srtp_status srtp_session::protect_rtcp(std::span<std::uint8_t> packet,
                                       std::size_t& length) noexcept {
  if (impl_->dir != direction::outbound) return srtp_status::malformed;
  if (length > packet.size() || length > max_packet) return srtp_status::malformed;
  if (length < 8 || (packet[0] >> 6) != 2) return srtp_status::malformed;
  if (packet.size() - length < srtp_rtcp_overhead(impl_->suite)) return srtp_status::no_room;
  int len = static_cast<int>(length);
  const srtp_err_status_t status = srtp_protect_rtcp(impl_->ctx, packet.data(), &len);
  if (status != srtp_err_status_ok) return status_of(status);
  length = static_cast<std::size_t>(len);
  return srtp_status::ok;
}

}  // namespace toneguard::media
