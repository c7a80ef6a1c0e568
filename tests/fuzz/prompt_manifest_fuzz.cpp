// libFuzzer target for parse_prompt_manifest(): any text must parse or fail with a message
// naming the manifest, and whatever parses must survive format_prompt_manifest() and a
// re-parse unchanged.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "toneguard/engine/prompt_set.h"

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace toneguard::engine;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_prompt_manifest(text, "fuzz.tsv", {});
  if (!parsed.ok()) {
    require(parsed.message().starts_with("fuzz.tsv:"));
    return 0;
  }
  const prompt_set& set = parsed.value();
  require(!set.language.empty());
  for (const auto& [id, entry] : set.phrases) {
    require(!id.empty());
    require(!entry.file.empty());
    require(entry.line >= 1);
  }
  const auto again =
      parse_prompt_manifest(format_prompt_manifest(set.language, set.files()), "again", {});
  require(again.ok());
  require(again.value().language == set.language);
  require(again.value().files() == set.files());
  return 0;
}
