#include "audio_library.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/wav.h"

namespace toneguard::sim {
namespace {

// A breath between two recordings, samples (300 ms).
constexpr std::size_t pause_samples = 2400;

int key_index(char key) noexcept {
  static constexpr std::string_view order = "0123456789*#ABCD";
  if (key >= 'a' && key <= 'd') key = static_cast<char>(key - 'a' + 'A');
  const auto at = order.find(key);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace

std::variant<speech_library, std::string> speech_library::load(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "--speech: " + dir + " is not a folder";
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".wav") {
      paths.push_back(entry.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  speech_library library;
  for (const auto& path : paths) {
    auto read = dsp::read_wav_file(path.string());
    // Shorter than half a second: a beep or a single word cut short; not worth a turn.
    if (!read || read.audio().sample_rate_hz != 8000 || read.audio().samples.size() < 4000) {
      continue;
    }
    library.files_.push_back(std::move(read).audio().samples);
  }
  if (library.files_.empty()) return "--speech: no 8 kHz mono WAV file in " + dir;
  return library;
}

speech_player::speech_player(const speech_library& library, std::size_t first, std::size_t stride)
    : library_(&library),
      file_(library.size() == 0 ? 0 : first % library.size()),
      stride_(stride == 0 ? 1 : stride) {}

void speech_player::next(std::span<std::int16_t> out) noexcept {
  std::size_t done = 0;
  if (library_->size() == 0) {
    std::fill(out.begin(), out.end(), std::int16_t{0});
    return;
  }
  while (done < out.size()) {
    if (pause_left_ > 0) {
      const std::size_t n = std::min(pause_left_, out.size() - done);
      std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(done), n, std::int16_t{0});
      pause_left_ -= n;
      done += n;
      continue;
    }
    const auto file = library_->file(file_);
    const std::size_t n = std::min(file.size() - offset_, out.size() - done);
    std::copy_n(file.begin() + static_cast<std::ptrdiff_t>(offset_), n,
                out.begin() + static_cast<std::ptrdiff_t>(done));
    offset_ += n;
    done += n;
    if (offset_ == file.size()) {
      offset_ = 0;
      file_ = (file_ + stride_) % library_->size();
      pause_left_ = pause_samples;
    }
  }
}

key_tones::key_tones(int tone_ms, float level_dbm0) {
  for (char key : std::string_view("0123456789*#ABCD")) {
    dsp::signal_builder b;
    b.dtmf(key, tone_ms, {level_dbm0});
    keys_[static_cast<std::size_t>(key_index(key))] = b.pcm16();
  }
  length_ = keys_[0].size();
}

std::span<const std::int16_t> key_tones::samples(char key) const noexcept {
  const int i = key_index(key);
  if (i < 0) return {};
  return keys_[static_cast<std::size_t>(i)];
}

int rfc4733_event_code(char key) noexcept {
  if (key >= '0' && key <= '9') return key - '0';
  if (key == '*') return 10;
  if (key == '#') return 11;
  if (key >= 'A' && key <= 'D') return 12 + (key - 'A');
  if (key >= 'a' && key <= 'd') return 12 + (key - 'a');
  return -1;
}

}  // namespace toneguard::sim
