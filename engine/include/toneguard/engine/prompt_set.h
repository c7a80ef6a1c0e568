#pragma once
/// Prompt sets: which audio file plays each phrase id of a prompt_language (prompt_plan.h).
/// A set is a directory holding `manifest.tsv`, a UTF-8 text file of lines:
///
///     # comment (a line whose first non-blank character is '#'); blank lines are skipped
///     language en
///     digits/5<TAB>/usr/share/asterisk/sounds/en/digits/5.wav
///     toneguard/enter-pin<TAB>generated/toneguard/enter-pin.wav
///
/// Exactly one `language <tag>` line names the language the recordings speak. Every other line
/// is a phrase id, one TAB, and the file's path: absolute, or relative to the manifest's
/// directory. Phrase ids use A-Z a-z 0-9 and / _ . - ; each appears once. Spaces around a
/// field and a trailing CR are ignored. Decoding the audio is dsp's job
/// (toneguard/dsp/prompt_audio.h); engine only checks that the files exist.
/// Sets are loaded and checked once at start-up, never mid-call. Plain values; any thread.

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "toneguard/engine/prompt_plan.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// The manifest's file name inside a prompt set's directory.
inline constexpr std::string_view prompt_manifest_name = "manifest.tsv";

/// One phrase of a set: its file and the manifest line that named it (for messages).
struct prompt_file_entry {
  /// As resolved: absolute, or relative to the manifest's directory when parse_prompt_manifest
  /// was given no base directory.
  std::filesystem::path file;
  /// 1-based line of the manifest.
  int line = 0;
};

/// A loaded manifest.
struct prompt_set {
  /// The manifest's language tag, e.g. "en".
  std::string language;
  /// Where the manifest came from (a path, or the name given to parse_prompt_manifest).
  std::string source;
  /// Phrase id -> file, sorted by id.
  std::map<std::string, prompt_file_entry, std::less<>> phrases;

  /// The file of `phrase_id`, or nullptr.
  [[nodiscard]] const std::filesystem::path* find(std::string_view phrase_id) const noexcept;

  /// (phrase id, file path) pairs in id order: the input of dsp::prompt_audio::load.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> files() const;
};

/// Parses manifest text without touching the file system. `source` names the manifest in
/// messages ("<source>:<line>: <problem>"); relative paths are joined to `base_dir` unless it
/// is empty. Fails on a line that is neither a comment, a `language <tag>` line nor
/// `id<TAB>path`, a bad or duplicate phrase id, an empty path or one with control characters,
/// a second or malformed language line, and a manifest without a language line.
[[nodiscard]] outcome<prompt_set> parse_prompt_manifest(std::string_view text,
                                                        std::string_view source,
                                                        const std::filesystem::path& base_dir);

/// Reads `path` (a set's directory, or its manifest file), parses it and checks that every
/// file it names exists as a regular file; the message of a missing one names the manifest
/// line ("/x/manifest.tsv:12: file not found: /x/generated/and.wav").
[[nodiscard]] outcome<prompt_set> load_prompt_set(const std::filesystem::path& path);

/// Checks that `set` speaks `language` and holds every phrase id it can produce
/// (prompt_language::phrase_ids). nullopt when complete; otherwise one message listing every
/// missing id. Call at start-up: a set that passes never fails mid-call for want of a phrase.
[[nodiscard]] std::optional<failure> check_complete(const prompt_set& set,
                                                    const prompt_language& language);

/// The manifest text of `language` and (phrase id, path) pairs, paths written as given, with
/// `comment` (may span lines) as '#' lines at the top. parse_prompt_manifest reads it back.
[[nodiscard]] std::string format_prompt_manifest(
    std::string_view language, const std::vector<std::pair<std::string, std::string>>& entries,
    std::string_view comment = {});

}  // namespace toneguard::engine
