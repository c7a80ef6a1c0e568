// toneguard-prompts: builds, checks and listens to prompt sets (engine/prompt_set.h).
//
//   toneguard-prompts build --out DIR [--sounds DIR] [--espeak PROGRAM]
//   toneguard-prompts check DIR [--language TAG]
//   toneguard-prompts render DIR --out FILE.wav [--gap-ms N] [--encoding pcm16|ulaw|alaw] PART...
//
// `build` writes the default English set: every phrase id English can produce, mapped to
// Debian's asterisk-core-sounds-en-wav file where one exists (used in place) and otherwise to a
// recording generated once with espeak-ng into DIR/generated/, resampled to 8 kHz mono.
// DIR/generated/texts.tsv keeps a hash of each generated phrase's text and voice, so a rebuild
// regenerates only the phrases whose wording changed.

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "toneguard/dsp/prompt_audio.h"
#include "toneguard/dsp/wav.h"
#include "toneguard/engine/money.h"
#include "toneguard/engine/prompt_plan.h"
#include "toneguard/engine/prompt_set.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace toneguard;

constexpr const char* usage =
    "usage: toneguard-prompts build --out DIR [--sounds DIR] [--espeak PROGRAM]\n"
    "       toneguard-prompts check DIR [--language TAG]\n"
    "       toneguard-prompts render DIR --out FILE.wav [--gap-ms N] "
    "[--encoding pcm16|ulaw|alaw] PART...\n"
    "\n"
    "build   writes DIR/manifest.tsv, the default English prompt set: Asterisk's sounds from\n"
    "        --sounds (default /usr/share/asterisk/sounds/en) where they exist, the other\n"
    "        phrases generated once with espeak-ng (default: from PATH) into DIR/generated/.\n"
    "check   loads a set, checks it holds every phrase of its language and that every file\n"
    "        decodes; exit status 0 when usable, 1 when not.\n"
    "render  plays a plan into an 8 kHz WAV file. A PART is a phrase id (digits/5) or one of\n"
    "        message:NAME (message:enter-pin), number:N, digits:KEYS, amount:19.99:USD,\n"
    "        month-year:2027-03.\n";

// espeak-ng's voice and speed: part of every generated phrase's hash.
constexpr const char* espeak_voice = "en-us";
constexpr const char* espeak_words_per_minute = "150";
// Bump when the conversion of generated phrases changes, to regenerate them all.
constexpr const char* generator_version = "1";
// Silence kept around a generated phrase after trimming espeak-ng's padding, in samples (30 ms).
constexpr std::size_t kept_silence = 240;
// Below this magnitude a sample counts as silence (about -50 dBFS).
constexpr int silence_threshold = 100;

int fail(const std::string& why) {
  std::fprintf(stderr, "toneguard-prompts: %s\n", why.c_str());
  return 1;
}

int usage_error(const std::string& why) {
  std::fprintf(stderr, "toneguard-prompts: %s\n%s", why.c_str(), usage);
  return 2;
}

std::string fnv1a_hex(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

// Runs `argv` (no shell: phrase text is passed as one argument) and waits; an error message or
// nullopt on exit status 0.
std::optional<std::string> run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (spawned != 0) return "cannot run " + argv[0] + ": " + std::strerror(spawned);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return "waitpid: " + std::string(std::strerror(errno));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  return argv[0] + " failed (status " + std::to_string(status) + ")";
}

// Cuts silence at both ends down to kept_silence samples: espeak-ng pads its output, and
// phrases are concatenated.
std::vector<std::int16_t> trim_silence(std::vector<std::int16_t> samples) {
  const auto loud = [](std::int16_t s) {
    return std::abs(static_cast<int>(s)) > silence_threshold;
  };
  const auto first = std::find_if(samples.begin(), samples.end(), loud);
  if (first == samples.end()) return samples;
  const auto last = std::find_if(samples.rbegin(), samples.rend(), loud).base();
  const auto begin = first - std::min<std::ptrdiff_t>(first - samples.begin(), kept_silence);
  const auto end = last + std::min<std::ptrdiff_t>(samples.end() - last, kept_silence);
  return {begin, end};
}

// id -> hash of the generated phrases, from DIR/generated/texts.tsv.
std::map<std::string, std::string> read_hashes(const fs::path& file) {
  std::map<std::string, std::string> hashes;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    if (tab != std::string::npos) hashes[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return hashes;
}

std::optional<std::string> write_text_file(const fs::path& file, const std::string& text) {
  const fs::path temporary = file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return "cannot write " + temporary.string();
  }
  std::error_code ec;
  fs::rename(temporary, file, ec);
  if (ec) return "cannot rename " + temporary.string() + ": " + ec.message();
  return std::nullopt;
}

// The Asterisk file that speaks `id`, if the sounds have one: "digits/5" -> digits/5.wav;
// toneguard's own ids that Asterisk happens to record under another name.
std::optional<fs::path> asterisk_file(const fs::path& sounds, const std::string& id) {
  static const std::map<std::string, std::string> aliases{{"toneguard/and", "vm-and"}};
  std::string name;
  if (id.starts_with("digits/") || id.starts_with("letters/")) {
    name = id;
  } else if (const auto it = aliases.find(id); it != aliases.end()) {
    name = it->second;
  } else {
    return std::nullopt;
  }
  const fs::path file = sounds / (name + ".wav");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  return fs::absolute(file, ec);
}

// Loads and checks a set; prints what is wrong. The decoded audio when usable.
std::optional<dsp::prompt_audio> load_checked(const fs::path& dir, std::string_view language_tag,
                                              engine::prompt_set* set_out = nullptr) {
  auto set = engine::load_prompt_set(dir);
  if (!set) {
    fail(set.message());
    return std::nullopt;
  }
  const std::string tag = language_tag.empty() ? set.value().language : std::string(language_tag);
  const engine::prompt_language* language = engine::find_language(tag);
  if (language == nullptr) {
    fail("no language '" + tag + "' in toneguard");
    return std::nullopt;
  }
  if (auto incomplete = engine::check_complete(set.value(), *language)) {
    fail(incomplete->message);
    return std::nullopt;
  }
  std::vector<dsp::prompt_file> files;
  for (auto& [id, path] : set.value().files()) files.push_back({id, path});
  auto audio = dsp::prompt_audio::load(files);
  if (!audio) {
    fail(audio.error_message());
    return std::nullopt;
  }
  if (set_out != nullptr) *set_out = set.value();
  return std::move(audio).value();
}

int build(const fs::path& out_dir, const fs::path& sounds, const std::string& espeak) {
  const engine::prompt_language& english = engine::english_language();
  const fs::path generated = out_dir / "generated";
  std::error_code ec;
  fs::create_directories(generated, ec);
  if (ec) return fail("cannot create " + generated.string() + ": " + ec.message());
  const fs::path hashes_file = generated / "texts.tsv";
  const std::map<std::string, std::string> old_hashes = read_hashes(hashes_file);
  std::map<std::string, std::string> hashes;

  std::vector<std::pair<std::string, std::string>> entries;
  int from_asterisk = 0, made = 0, reused = 0;
  for (const std::string& id : english.phrase_ids()) {
    if (const auto file = asterisk_file(sounds, id)) {
      entries.emplace_back(id, file->string());
      ++from_asterisk;
      continue;
    }
    const std::string text = engine::phrase_text_en(id);
    if (text.empty()) return fail("no English text for phrase '" + id + "'");
    const std::string hash = fnv1a_hex(std::string(generator_version) + "\n" + espeak_voice + "\n" +
                                       espeak_words_per_minute + "\n" + text);
    const std::string relative = "generated/" + id + ".wav";
    const fs::path file = out_dir / relative;
    hashes[id] = hash;
    entries.emplace_back(id, relative);
    const auto old = old_hashes.find(id);
    if (old != old_hashes.end() && old->second == hash && fs::is_regular_file(file, ec)) {
      ++reused;
      continue;
    }
    fs::create_directories(file.parent_path(), ec);
    const fs::path spoken = generated / ".espeak.wav";
    if (auto error = run({espeak, "-v", espeak_voice, "-s", espeak_words_per_minute, "-w",
                          spoken.string(), text})) {
      return fail(*error);
    }
    auto audio = dsp::read_prompt_wav(spoken.string());
    if (!audio) return fail("espeak-ng output for '" + id + "': " + audio.error_message());
    const std::vector<std::int16_t> samples = trim_silence(std::move(audio).value());
    if (auto error = dsp::write_wav_file(file.string(), 8000, samples)) {
      return fail(file.string() + ": " + *error);
    }
    fs::remove(spoken, ec);
    ++made;
  }

  std::string hash_text = "# toneguard-prompts: hash of each generated phrase's text and voice\n";
  for (const auto& [id, hash] : hashes) hash_text += id + "\t" + hash + "\n";
  if (auto error = write_text_file(hashes_file, hash_text)) return fail(*error);
  const std::string manifest = engine::format_prompt_manifest(
      english.tag(), entries,
      "toneguard default English prompt set, written by toneguard-prompts build.\n"
      "Asterisk core sounds from " +
          sounds.string() + "; other phrases generated with espeak-ng -v " + espeak_voice + " -s " +
          espeak_words_per_minute + ", resampled to 8 kHz.");
  if (auto error = write_text_file(out_dir / engine::prompt_manifest_name, manifest)) {
    return fail(*error);
  }

  const auto audio = load_checked(out_dir, english.tag());
  if (!audio) return 1;
  std::printf(
      "toneguard-prompts: %s: %zu phrases (%d from Asterisk, %d generated: %d new, %d "
      "unchanged), %.1f s of audio\n",
      (out_dir / engine::prompt_manifest_name).c_str(), entries.size(), from_asterisk,
      made + reused, made, reused,
      static_cast<double>(audio->total_samples()) / dsp::prompt_audio::sample_rate_hz);
  return 0;
}

int check(const fs::path& dir, const std::string& language) {
  engine::prompt_set set;
  const auto audio = load_checked(dir, language, &set);
  if (!audio) return 1;
  std::printf(
      "toneguard-prompts: %s: language %s, %zu phrases, complete, all decode, %.1f s of "
      "audio\n",
      set.source.c_str(), set.language.c_str(), audio->size(),
      static_cast<double>(audio->total_samples()) / dsp::prompt_audio::sample_rate_hz);
  return 0;
}

std::optional<std::int64_t> to_int(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Appends one PART of the render command line to `plan`; false when it is malformed.
bool add_part(const engine::prompt_language& language, const std::string& part,
              engine::prompt_plan& plan) {
  const auto colon = part.find(':');
  if (colon == std::string::npos) {
    plan.phrases.push_back(part);
    return true;
  }
  const std::string kind = part.substr(0, colon);
  const std::string value = part.substr(colon + 1);
  if (kind == "message") {
    for (engine::prompt_message m : engine::all_prompt_messages()) {
      if (engine::message_name(m) == value) {
        language.say(m, plan);
        return true;
      }
    }
    return false;
  }
  if (kind == "number") {
    const auto n = to_int(value);
    if (n) language.say_number(*n, plan);
    return n.has_value();
  }
  if (kind == "digits") {
    language.say_digits(value, plan);
    return true;
  }
  if (kind == "amount") {
    const auto sep = value.find(':');
    const auto code =
        engine::find_currency(sep == std::string::npos ? "USD" : value.substr(sep + 1));
    if (!code) return false;
    const auto minor = engine::parse_decimal_amount(value.substr(0, sep), *code);
    if (minor) language.say_amount({*minor, *code}, plan);
    return minor.has_value();
  }
  if (kind == "month-year") {
    const auto dash = value.find('-');
    if (dash == std::string::npos) return false;
    const auto year = to_int(value.substr(0, dash));
    const auto month = to_int(value.substr(dash + 1));
    if (!year || !month) return false;
    language.say_month_year({static_cast<int>(*year), static_cast<int>(*month)}, plan);
    return true;
  }
  return false;
}

int render(const fs::path& dir, const std::string& out, int gap_ms, const std::string& encoding,
           const std::vector<std::string>& parts) {
  dsp::wav_audio::encoding stored_as = dsp::wav_audio::encoding::pcm16;
  if (encoding == "ulaw") {
    stored_as = dsp::wav_audio::encoding::ulaw;
  } else if (encoding == "alaw") {
    stored_as = dsp::wav_audio::encoding::alaw;
  } else if (encoding != "pcm16") {
    return usage_error("unknown encoding '" + encoding + "'");
  }
  engine::prompt_set set;
  const auto audio = load_checked(dir, {}, &set);
  if (!audio) return 1;
  const engine::prompt_language& language = *engine::find_language(set.language);
  engine::prompt_plan plan;
  for (const std::string& part : parts) {
    if (!add_part(language, part, plan)) return usage_error("bad part '" + part + "'");
  }
  auto samples = audio->render(plan.phrases, gap_ms);
  if (!samples) return fail(samples.error_message());
  if (auto error =
          dsp::write_wav_file(out, dsp::prompt_audio::sample_rate_hz, samples.value(), stored_as)) {
    return fail(out + ": " + *error);
  }
  std::string spoken;
  for (const std::string& id : plan.phrases) spoken += (spoken.empty() ? "" : " ") + id;
  std::printf("toneguard-prompts: %s: %zu phrases, %.2f s: %s\n", out.c_str(), plan.phrases.size(),
              static_cast<double>(samples.value().size()) / dsp::prompt_audio::sample_rate_hz,
              plan.reads_card_data ? "(card data, not shown)" : spoken.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("missing command");
  const std::string command = argv[1];
  if (command == "--help" || command == "-h") {
    std::fputs(usage, stdout);
    return 0;
  }
  std::string out, sounds = "/usr/share/asterisk/sounds/en", espeak = "espeak-ng", language;
  std::string encoding = "pcm16";
  int gap_ms = 0;
  std::vector<std::string> positional;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    std::optional<std::string> v;
    if (a == "--out" || a == "--sounds" || a == "--espeak" || a == "--language" ||
        a == "--gap-ms" || a == "--encoding") {
      v = value();
      if (!v) return usage_error(a + " needs a value");
    }
    if (a == "--out") {
      out = *v;
    } else if (a == "--sounds") {
      sounds = *v;
    } else if (a == "--espeak") {
      espeak = *v;
    } else if (a == "--language") {
      language = *v;
    } else if (a == "--encoding") {
      encoding = *v;
    } else if (a == "--gap-ms") {
      const auto n = to_int(*v);
      if (!n || *n < 0 || *n > dsp::prompt_audio::max_gap_ms) return usage_error("bad --gap-ms");
      gap_ms = static_cast<int>(*n);
    } else if (a.starts_with("--")) {
      return usage_error("unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (command == "build") {
    if (out.empty() || !positional.empty()) return usage_error("build needs --out DIR only");
    return build(out, sounds, espeak);
  }
  if (command == "check") {
    if (positional.size() != 1) return usage_error("check needs one DIR");
    return check(positional[0], language);
  }
  if (command == "render") {
    if (positional.size() < 2 || out.empty()) {
      return usage_error("render needs DIR, --out FILE.wav and at least one PART");
    }
    return render(positional[0], out, gap_ms, encoding, {positional.begin() + 1, positional.end()});
  }
  return usage_error("unknown command '" + command + "'");
}
