// libFuzzer target: arbitrary bytes as an API token file. Parsing must never throw or crash; a
// refused file is named in the message (and no token is quoted), an accepted one holds only
// valid, distinct tokens.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "toneguard/engine/api_server.h"

using namespace toneguard::engine;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_api_token_file(text, "fuzz");
  if (!parsed.ok()) {
    if (parsed.message().rfind("api-token-file fuzz", 0) != 0) std::abort();
    return 0;
  }
  std::set<std::string> seen;
  for (const api_token& t : parsed.value()) {
    if (!is_valid_api_token(t.token) || !seen.insert(t.token).second) std::abort();
    if (text.find(t.token) == std::string_view::npos) std::abort();
  }
  if (seen.empty()) std::abort();
  return 0;
}
