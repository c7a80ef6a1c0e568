#include "toneguard/engine/prompt_set.h"

#include <fstream>
#include <sstream>
#include <system_error>

namespace toneguard::engine {
namespace {

// A manifest is a small text file; anything bigger is not one.
constexpr std::uintmax_t kMaxManifestBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxIdLength = 200;
constexpr std::size_t kMaxTagLength = 35;

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
         c == '_' || c == '.' || c == '-';
}

bool is_tag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool has_control_char(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// Quotes user text in a message, with control bytes escaped so a message stays one line.
std::string shown(std::string_view s) {
  constexpr std::size_t kMaxShown = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += s[i];
    }
  }
  if (s.size() > kMaxShown) out += "...";
  out += '\'';
  return out;
}

}  // namespace

const std::filesystem::path* prompt_set::find(std::string_view phrase_id) const noexcept {
  const auto it = phrases.find(phrase_id);
  return it == phrases.end() ? nullptr : &it->second.file;
}

std::vector<std::pair<std::string, std::string>> prompt_set::files() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(phrases.size());
  for (const auto& [id, entry] : phrases) out.emplace_back(id, entry.file.string());
  return out;
}

outcome<prompt_set> parse_prompt_manifest(std::string_view text, std::string_view source,
                                          const std::filesystem::path& base_dir) {
  prompt_set set;
  set.source = std::string(source);
  int language_line = 0;
  int line_number = 0;
  auto fail = [&](const std::string& problem) {
    return failure{set.source + ":" + std::to_string(line_number) + ": " + problem};
  };
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string_view content = trim_spaces(line);
    if (content.empty() || content.front() == '#') continue;

    const auto tab = content.find('\t');
    if (tab == std::string_view::npos) {
      constexpr std::string_view keyword = "language ";
      if (!content.starts_with(keyword)) {
        return fail("expected 'phrase-id<TAB>file' or 'language <tag>', got " + shown(content));
      }
      const std::string_view tag = trim_spaces(content.substr(keyword.size()));
      if (language_line != 0) {
        return fail("second language line (the first is line " + std::to_string(language_line) +
                    ")");
      }
      bool valid = !tag.empty() && tag.size() <= kMaxTagLength;
      for (char c : tag) valid = valid && is_tag_char(c);
      if (!valid) return fail("bad language tag " + shown(tag) + " (letters, digits and '-')");
      set.language = std::string(tag);
      language_line = line_number;
      continue;
    }

    const std::string_view id = trim_spaces(content.substr(0, tab));
    const std::string_view file = trim_spaces(content.substr(tab + 1));
    if (id.empty()) return fail("empty phrase id before the TAB");
    if (id.size() > kMaxIdLength) {
      return fail("phrase id longer than " + std::to_string(kMaxIdLength) + " characters");
    }
    for (char c : id) {
      if (!is_id_char(c)) {
        return fail("phrase id " + shown(id) + " has characters other than A-Z a-z 0-9 / _ . -");
      }
    }
    if (file.empty()) return fail("no file for phrase id " + shown(id));
    if (file.find('\t') != std::string_view::npos) {
      return fail("more than one TAB: expected 'phrase-id<TAB>file'");
    }
    if (has_control_char(file)) {
      return fail("file path for " + shown(id) + " has control characters");
    }
    if (const auto it = set.phrases.find(id); it != set.phrases.end()) {
      return fail("duplicate phrase id " + shown(id) + " (first on line " +
                  std::to_string(it->second.line) + ")");
    }
    std::filesystem::path path(file);
    if (path.is_relative() && !base_dir.empty()) path = base_dir / path;
    set.phrases.emplace(std::string(id), prompt_file_entry{std::move(path), line_number});
  }
  if (language_line == 0) {
    return failure{set.source + ": no 'language <tag>' line"};
  }
  return set;
}

outcome<prompt_set> load_prompt_set(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path manifest = path;
  if (std::filesystem::is_directory(path, ec)) manifest = path / prompt_manifest_name;
  const std::string name = manifest.string();
  if (!std::filesystem::is_regular_file(manifest, ec)) {
    return failure{name + ": no such manifest file"};
  }
  const std::uintmax_t size = std::filesystem::file_size(manifest, ec);
  if (ec) return failure{name + ": cannot read: " + ec.message()};
  if (size > kMaxManifestBytes) {
    return failure{name + ": larger than " + std::to_string(kMaxManifestBytes) +
                   " bytes, not a manifest"};
  }
  std::ifstream in(manifest, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return failure{name + ": cannot read"};

  std::filesystem::path base = manifest.parent_path();
  if (base.empty()) base = ".";
  outcome<prompt_set> parsed = parse_prompt_manifest(text.str(), name, base);
  if (!parsed) return parsed;

  std::string missing;
  int missing_count = 0;
  for (const auto& [id, entry] : parsed.value().phrases) {
    if (std::filesystem::is_regular_file(entry.file, ec)) continue;
    if (++missing_count == 1) {
      missing = name + ":" + std::to_string(entry.line) + ": file not found for " + shown(id) +
                ": " + entry.file.string();
    }
  }
  if (missing_count > 1) {
    missing += " (and " + std::to_string(missing_count - 1) + " more missing files)";
  }
  if (missing_count > 0) return failure{missing};
  return parsed;
}

std::optional<failure> check_complete(const prompt_set& set, const prompt_language& language) {
  if (set.language != language.tag()) {
    return failure{set.source + ": prompt set speaks '" + set.language + "', not '" +
                   std::string(language.tag()) + "'"};
  }
  std::vector<std::string> missing;
  for (const std::string& id : language.phrase_ids()) {
    if (set.find(id) == nullptr) missing.push_back(id);
  }
  if (missing.empty()) return std::nullopt;
  std::string message = set.source + ": prompt set (" + set.language + ") lacks " +
                        std::to_string(missing.size()) +
                        (missing.size() == 1 ? " phrase: " : " phrases: ");
  for (std::size_t i = 0; i < missing.size(); ++i) {
    if (i != 0) message += ", ";
    message += missing[i];
  }
  return failure{std::move(message)};
}

std::string format_prompt_manifest(std::string_view language,
                                   const std::vector<std::pair<std::string, std::string>>& entries,
                                   std::string_view comment) {
  std::string out;
  while (!comment.empty()) {
    const auto newline = comment.find('\n');
    out += "# ";
    out += comment.substr(0, newline);
    out += '\n';
    comment.remove_prefix(newline == std::string_view::npos ? comment.size() : newline + 1);
  }
  out += "language ";
  out += language;
  out += '\n';
  for (const auto& [id, path] : entries) {
    out += id;
    out += '\t';
    out += path;
    out += '\n';
  }
  return out;
}

}  // namespace toneguard::engine
