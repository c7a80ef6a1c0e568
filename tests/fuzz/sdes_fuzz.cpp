// libFuzzer target: arbitrary bytes as an a=crypto value, and as an SRTP and an SRTCP packet
// for an inbound session with a fixed key. Parsing must never crash, an accepted key must
// survive to_crypto_value -> parse unchanged, and an error must not show the key text;
// unprotect must never crash or read or write outside the packet, and must give back at most
// the bytes it was given.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "toneguard/media/srtp.h"

using namespace toneguard::media;

namespace {

srtp_session& inbound(srtp_suite suite) {
  static auto make = [](srtp_suite s) {
    sdes_key key;
    key.suite = s;
    for (std::size_t i = 0; i < key.key_salt.size(); ++i) {
      key.key_salt[i] = static_cast<std::uint8_t>(i * 11 + 3);
    }
    auto session = srtp_session::create(key, srtp_session::direction::inbound);
    if (!session.ok()) std::abort();
    return std::move(session).value();
  };
  static const std::unique_ptr<srtp_session> sessions[] = {
      make(srtp_suite::aes_cm_128_hmac_sha1_80), make(srtp_suite::aes_cm_128_hmac_sha1_32),
      make(srtp_suite::aead_aes_128_gcm)};
  return *sessions[static_cast<std::size_t>(suite)];
}

void check_parse(std::string_view text) {
  auto parsed = parse_crypto_value(text);
  if (parsed.ok()) {
    const sdes_key& key = parsed.value();
    auto again = parse_crypto_value(key.to_crypto_value());
    if (!again.ok() || !(again.value() == key)) std::abort();
    return;
  }
  const std::string& message = parsed.error_message();
  if (message.rfind("a=crypto: ", 0) != 0) std::abort();
  // The key text, if there is one, must not appear in the error.
  const std::size_t at = text.find("inline:");
  if (at == std::string_view::npos) return;
  std::string_view key = text.substr(at + 7);
  key = key.substr(0, std::min(key.find_first_of("|; \t\r\n"), key.size()));
  // (Unless the same text is also the suite field, which an error may quote.)
  if (key.size() >= 12 && text.substr(0, at).find(key) == std::string_view::npos &&
      message.find(key) != std::string::npos) {
    std::abort();
  }
}

void check_unprotect(const std::uint8_t* data, std::size_t size, srtp_suite suite, bool rtcp) {
  // A buffer of exactly the input's size, 4-byte aligned, so that ASan sees any overrun.
  std::vector<std::uint32_t> storage((size + 3) / 4);
  auto* bytes = reinterpret_cast<std::uint8_t*>(storage.data());
  std::copy(data, data + size, bytes);
  std::span<std::uint8_t> packet(bytes, size);
  std::size_t length = size;
  const srtp_status status = rtcp ? inbound(suite).unprotect_rtcp(packet, length)
                                  : inbound(suite).unprotect_rtp(packet, length);
  if (status == srtp_status::no_room) std::abort();
  if (status != srtp_status::ok && length != size) std::abort();
  if (length > size) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_parse(std::string_view(reinterpret_cast<const char*>(data), size));
  // The suite comes from the first byte, so that every session sees varied packets.
  if (size == 0) return 0;
  const auto suite = static_cast<srtp_suite>(data[0] % 3);
  check_unprotect(data, size, suite, false);
  check_unprotect(data, size, suite, true);
  return 0;
}
