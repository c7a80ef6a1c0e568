// libFuzzer target: decode arbitrary bytes as bencode; whatever decodes must encode to bytes
// that decode to an equal value (and, being canonical input, to the same bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "toneguard/media/bencode.h"

using namespace toneguard::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  auto strict = decode_bencode(bytes);
  std::size_t consumed = 0;
  auto prefix = decode_bencode(bytes, &consumed);
  // A strict success is a prefix success that consumed everything.
  if (strict.ok() && (!prefix.ok() || consumed != size)) std::abort();
  if (!prefix.ok()) return 0;
  if (consumed == 0 || consumed > size) std::abort();

  const std::string encoded = encode_bencode(prefix.value());
  // Strict decoding accepts one spelling per value, so encoding gives back the input bytes.
  if (encoded != bytes.substr(0, consumed)) std::abort();
  auto again = decode_bencode(encoded);
  if (!again.ok() || !(again.value() == prefix.value())) std::abort();
  return 0;
}
