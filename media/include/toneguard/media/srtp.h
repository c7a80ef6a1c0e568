#pragma once
/// SRTP (RFC 3711) for one direction of one leg, keyed by SDES (RFC 4568): the key material of
/// an a=crypto line, and a libsrtp2 session that unprotects what a side sends or protects what
/// toneguard sends to it. libsrtp2 stays behind this header.
///
/// Suites: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32 (RFC 4568) and AEAD_AES_128_GCM
/// (RFC 7714). A leg is SRTP or RTP independently of the other leg.
///
/// Threads: sdes_key is a plain value. An srtp_session is owned by one thread (the call's
/// worker); protect/unprotect never allocate and never throw.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "toneguard/media/result.h"

namespace toneguard::media {

/// An SRTP protection profile offered by SDES.
enum class srtp_suite : std::uint8_t {
  aes_cm_128_hmac_sha1_80,  ///< 16-byte key, 14-byte salt, 10-byte tag
  aes_cm_128_hmac_sha1_32,  ///< 16-byte key, 14-byte salt, 4-byte RTP tag (10 for SRTCP)
  aead_aes_128_gcm,         ///< 16-byte key, 12-byte salt, 16-byte tag
};

/// The suite's SDES name, e.g. "AES_CM_128_HMAC_SHA1_80".
[[nodiscard]] std::string_view srtp_suite_name(srtp_suite suite) noexcept;
/// The suite named `name` (exact, as RFC 4568 / RFC 7714 spell it), or nullopt.
[[nodiscard]] std::optional<srtp_suite> srtp_suite_from_name(std::string_view name) noexcept;
/// Bytes of master key + master salt the suite takes (30 for AES-CM, 28 for GCM).
[[nodiscard]] std::size_t srtp_key_salt_length(srtp_suite suite) noexcept;
/// Bytes protect_rtp adds with the suite: its RTP tag (10, 4 or 16).
[[nodiscard]] std::size_t srtp_rtp_overhead(srtp_suite suite) noexcept;
/// Bytes protect_rtcp adds with the suite: the SRTCP index and its RTCP tag (14, 14 or 20;
/// AES_CM_128_HMAC_SHA1_32 has an 80-bit SRTCP tag, RFC 4568 §6.2.2).
[[nodiscard]] std::size_t srtp_rtcp_overhead(srtp_suite suite) noexcept;

/// One SDES key: the suite and the master key followed by the master salt. Card data never
/// passes through here, but keys are secrets too: never log `key_salt`.
struct sdes_key {
  std::uint32_t tag = 1;  ///< the a=crypto tag
  srtp_suite suite = srtp_suite::aes_cm_128_hmac_sha1_80;
  std::array<std::uint8_t, 32> key_salt{};  ///< first srtp_key_salt_length(suite) bytes used

  /// The a=crypto value "<tag> <suite> inline:<base64 key||salt>".
  [[nodiscard]] std::string to_crypto_value() const;

  /// Equal tag, suite and all 32 bytes (parse and generate zero the unused ones).
  friend bool operator==(const sdes_key&, const sdes_key&) = default;
};

/// The key of an a=crypto value "<tag> <suite> inline:<base64>[|lifetime][|MKI:length]
/// [session params]". An error names what is wrong (unknown suite, bad base64, wrong key
/// length, several keys or an MKI, which toneguard does not support, unsupported session
/// parameters such as UNENCRYPTED_SRTP).
///
/// Fields are separated by spaces or tabs; a trailing CR/LF is ignored. The key is standard
/// base64, padded or not. A lifetime is accepted and ignored. Session parameters are ignored
/// except UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP and a KDR other than 0,
/// which are refused. Errors start "a=crypto: " and never show key material.
[[nodiscard]] result<sdes_key> parse_crypto_value(std::string_view value);

/// A fresh key for `suite` from the kernel's random source (getrandom); throws
/// std::runtime_error only when the kernel gives no randomness.
[[nodiscard]] sdes_key generate_sdes_key(srtp_suite suite, std::uint32_t tag = 1);

/// What protect/unprotect did with a packet.
enum class srtp_status : std::uint8_t {
  ok,
  auth_failed,  ///< authentication tag wrong: drop and count
  replayed,     ///< seen before (replay window): drop and count
  malformed,    ///< too short or not RTP/RTCP: drop and count
  no_room,      ///< protect: the buffer cannot take the tag
};

/// The status's name for logs and counters, e.g. "auth_failed".
[[nodiscard]] std::string_view srtp_status_name(srtp_status status) noexcept;

/// One direction of one leg: either `inbound` (unprotects SRTP and SRTCP the side sends) or
/// `outbound` (protects what toneguard sends to the side), for any SSRC.
///
/// Replay: inbound keeps a 1024-packet RTP window per SSRC (libsrtp's 128 for SRTCP).
/// Outbound refuses to protect an RTP sequence number it has already protected (`replayed`):
/// the same index with other bytes would reuse keystream.
/// Calling protect on an inbound session, or unprotect on an outbound one, gives `malformed`.
/// Packets should start 4-byte aligned (libsrtp reads header words in place).
/// This class adds no allocation, lock or throw, but libsrtp allocates a stream on the first
/// authenticated packet of each new SSRC, and Debian's libsrtp2 is built on NSS, which sets up
/// a cipher context per packet (measured: 28 mallocs per AES-CM protect + unprotect, 10 GCM).
class srtp_session {
 public:
  enum class direction : std::uint8_t { inbound, outbound };

  /// A session for `key`. An error names the libsrtp2 failure.
  [[nodiscard]] static result<std::unique_ptr<srtp_session>> create(const sdes_key& key,
                                                                    direction dir);
  ~srtp_session();
  srtp_session(const srtp_session&) = delete;
  srtp_session& operator=(const srtp_session&) = delete;

  /// Unprotects the SRTP packet of `length` bytes at the start of `packet` in place;
  /// `length` becomes the RTP length. Inbound sessions only. On any other status than ok,
  /// `length` is unchanged but the packet's bytes are not to be used (GCM decrypts in place
  /// before it knows the tag is wrong).
  srtp_status unprotect_rtp(std::span<std::uint8_t> packet, std::size_t& length) noexcept;
  /// Unprotects an SRTCP packet in place, as unprotect_rtp. Inbound sessions only.
  srtp_status unprotect_rtcp(std::span<std::uint8_t> packet, std::size_t& length) noexcept;
  /// Protects the RTP packet of `length` bytes in place (the tag is appended, so `packet`
  /// needs room for it: srtp_rtp_overhead(suite), at most srtp_max_overhead bytes); `length`
  /// becomes the SRTP length. Outbound sessions only.
  srtp_status protect_rtp(std::span<std::uint8_t> packet, std::size_t& length) noexcept;
  /// Protects an RTCP packet in place (index and tag appended: srtp_rtcp_overhead(suite)
  /// bytes of room). Outbound sessions only.
  srtp_status protect_rtcp(std::span<std::uint8_t> packet, std::size_t& length) noexcept;

 private:
  struct impl;
  explicit srtp_session(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

/// Bytes protect may add to a packet (SRTCP index + the longest tag).
inline constexpr std::size_t srtp_max_overhead = 4 + 16;

}  // namespace toneguard::media
