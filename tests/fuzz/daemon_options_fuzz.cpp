// libFuzzer target: arbitrary bytes as a daemon config text, in TOML (first byte even) or YAML
// (odd). Parsing must never throw or crash, and every accepted config must hold valid values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "toneguard/media/daemon_options.h"

using namespace toneguard::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const config_format format = data[0] % 2 == 0 ? config_format::toml : config_format::yaml;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto parsed = parse_daemon_config_text(text, format, "fuzz", daemon_options{});
  if (!parsed.ok()) {
    if (parsed.error_message().rfind("config fuzz", 0) != 0) std::abort();
    return 0;
  }
  const daemon_options& o = parsed.value();
  if (o.interfaces.empty()) std::abort();
  for (const auto& address : o.interfaces) {
    if (!is_ip_literal(address)) std::abort();
  }
  if (!is_ip_literal(o.listen_ng.address)) std::abort();
  if (o.port_min < 1024 || o.port_max < 1024) std::abort();
  if (o.num_threads < 1 || o.num_threads > 1024) std::abort();
  return 0;
}
