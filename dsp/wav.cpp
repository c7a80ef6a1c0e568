#include "toneguard/dsp/wav.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "toneguard/dsp/g711.h"

namespace toneguard::dsp {
namespace {

constexpr std::uint16_t format_pcm = 1;
constexpr std::uint16_t format_alaw = 6;
constexpr std::uint16_t format_ulaw = 7;
constexpr std::uint16_t format_extensible = 0xFFFE;

constexpr std::size_t riff_header_bytes = 12;
constexpr std::size_t chunk_header_bytes = 8;
constexpr std::size_t fmt_basic_bytes = 16;
constexpr std::size_t fmt_extensible_bytes = 40;

// KSDATAFORMAT_SUBTYPE_* GUIDs are {tag-0000-0010-8000-00aa00389b71}; bytes after the tag.
constexpr std::array<std::uint8_t, 14> subformat_guid_tail{
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

std::uint16_t read_u16(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
  return static_cast<std::uint16_t>(bytes[at] | (bytes[at + 1] << 8));
}

std::uint32_t read_u32(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
  return static_cast<std::uint32_t>(bytes[at]) | (static_cast<std::uint32_t>(bytes[at + 1]) << 8) |
         (static_cast<std::uint32_t>(bytes[at + 2]) << 16) |
         (static_cast<std::uint32_t>(bytes[at + 3]) << 24);
}

bool has_tag(std::span<const std::uint8_t> bytes, std::size_t at, std::string_view tag) noexcept {
  return std::memcmp(bytes.data() + at, tag.data(), 4) == 0;
}

// A chunk id as text for messages; ids are four printable ASCII characters in valid files.
std::string chunk_name(std::span<const std::uint8_t> bytes, std::size_t at) {
  std::string name;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto c = static_cast<char>(bytes[at + i]);
    name += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  while (!name.empty() && name.back() == ' ') name.pop_back();
  return name;
}

std::string format_tag_description(std::uint16_t tag) {
  std::string text = "format tag " + std::to_string(tag);
  switch (tag) {
    case 2:
      return text + " (Microsoft ADPCM)";
    case 3:
      return text + " (IEEE float)";
    case 0x11:
      return text + " (IMA ADPCM)";
    case 0x31:
      return text + " (GSM 6.10)";
    case 0x55:
      return text + " (MPEG layer 3)";
    case 0x64:
      return text + " (G.726 ADPCM)";
    default:
      return text;
  }
}

std::string truncated(std::string_view chunk, std::uint64_t declared, std::uint64_t present) {
  return "truncated: " + std::string(chunk) + " chunk declares " + std::to_string(declared) +
         " bytes, " + std::to_string(present) + " present";
}

struct wav_format {
  wav_audio::encoding encoding;
  int sample_rate_hz;
};

struct format_or_error {
  wav_format format{};
  std::string error;
};

// Validates a fmt chunk body (already known to be inside the input).
format_or_error parse_fmt(std::span<const std::uint8_t> body) {
  if (body.size() < fmt_basic_bytes) {
    return {.error =
                "fmt chunk too short (" + std::to_string(body.size()) + " bytes, at least 16)"};
  }
  std::uint16_t tag = read_u16(body, 0);
  const std::uint16_t channels = read_u16(body, 2);
  const std::uint32_t rate = read_u32(body, 4);
  const std::uint16_t block_align = read_u16(body, 12);
  const std::uint16_t bits = read_u16(body, 14);

  std::string_view container;
  if (tag == format_extensible) {
    if (body.size() < fmt_extensible_bytes) {
      return {.error = "fmt chunk too short for WAVE_FORMAT_EXTENSIBLE (" +
                       std::to_string(body.size()) + " bytes, 40 needed)"};
    }
    if (std::memcmp(body.data() + 26, subformat_guid_tail.data(), subformat_guid_tail.size()) !=
        0) {
      return {
          .error =
              "unsupported encoding: WAVE_FORMAT_EXTENSIBLE subformat is not a WAVE format GUID"};
    }
    tag = read_u16(body, 24);
    container = " in WAVE_FORMAT_EXTENSIBLE";
  }

  wav_format format{};
  std::string_view encoding_name;
  int required_bits = 0;
  switch (tag) {
    case format_pcm:
      format.encoding = wav_audio::encoding::pcm16;
      encoding_name = "PCM";
      required_bits = 16;
      break;
    case format_ulaw:
      format.encoding = wav_audio::encoding::ulaw;
      encoding_name = "μ-law";
      required_bits = 8;
      break;
    case format_alaw:
      format.encoding = wav_audio::encoding::alaw;
      encoding_name = "A-law";
      required_bits = 8;
      break;
    default:
      return {.error =
                  "unsupported encoding: " + format_tag_description(tag) + std::string(container)};
  }
  if (channels != 1) {
    return {.error = "unsupported channel count " + std::to_string(channels) + " (mono only)"};
  }
  if (rate != 8000 && rate != 16000) {
    return {.error = "unsupported sample rate " + std::to_string(rate) +
                     " Hz (8000 or 16000 supported)"};
  }
  if (bits != required_bits) {
    return {.error = "unsupported bits per sample " + std::to_string(bits) + " for " +
                     std::string(encoding_name) + " (" + std::to_string(required_bits) +
                     " supported)"};
  }
  if (block_align != required_bits / 8) {
    return {.error = "inconsistent fmt chunk: block align " + std::to_string(block_align) +
                     " for " + std::to_string(required_bits) + "-bit mono (" +
                     std::to_string(required_bits / 8) + " expected)"};
  }
  format.sample_rate_hz = static_cast<int>(rate);
  return {.format = format, .error = {}};
}

wav_result decode_data(const wav_format& format, std::span<const std::uint8_t> data) {
  wav_audio audio;
  audio.sample_rate_hz = format.sample_rate_hz;
  audio.source_encoding = format.encoding;
  if (format.encoding == wav_audio::encoding::pcm16) {
    if (data.size() % 2 != 0) {
      return wav_result::failure("odd data size " + std::to_string(data.size()) +
                                 " bytes for 16-bit PCM");
    }
    audio.samples.resize(data.size() / 2);
    for (std::size_t i = 0; i < audio.samples.size(); ++i) {
      audio.samples[i] = static_cast<std::int16_t>(read_u16(data, 2 * i));
    }
  } else {
    audio.samples.resize(data.size());
    g711_decode(format.encoding == wav_audio::encoding::ulaw ? g711_law::ulaw : g711_law::alaw,
                data, audio.samples);
  }
  return wav_result::success(std::move(audio));
}

void put_u16(std::vector<std::uint8_t>& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
}

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  put_u16(out, value & 0xFFFF);
  put_u16(out, value >> 16);
}

void put_tag(std::vector<std::uint8_t>& out, std::string_view tag) {
  out.insert(out.end(), tag.begin(), tag.end());
}

bool supported_rate(int sample_rate_hz) {
  return sample_rate_hz == 8000 || sample_rate_hz == 16000;
}

// Header bytes written around the data by encode_wav (largest case: G.711 with a fact chunk).
constexpr std::uint64_t max_header_bytes =
    riff_header_bytes + chunk_header_bytes + 18 + chunk_header_bytes + 4 + chunk_header_bytes + 1;

std::uint64_t data_bytes(std::size_t samples, wav_audio::encoding stored_as) {
  return static_cast<std::uint64_t>(samples) * (stored_as == wav_audio::encoding::pcm16 ? 2 : 1);
}

bool fits_in_riff(std::size_t samples, wav_audio::encoding stored_as) {
  return data_bytes(samples, stored_as) + max_header_bytes <= 0xFFFFFFFFu;
}

std::string system_error(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

wav_result parse_wav(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < riff_header_bytes || !has_tag(bytes, 0, "RIFF") ||
      !has_tag(bytes, 8, "WAVE")) {
    return wav_result::failure("not a WAV file (no RIFF/WAVE header)");
  }
  // The RIFF size field is often wrong in streamed files; the input's own length bounds the walk.
  std::optional<wav_format> format;
  std::size_t at = riff_header_bytes;
  while (bytes.size() - at >= chunk_header_bytes) {
    const std::uint64_t declared = read_u32(bytes, at + 4);
    const std::size_t body_at = at + chunk_header_bytes;
    const std::uint64_t present = bytes.size() - body_at;
    const bool complete = declared <= present;

    if (has_tag(bytes, at, "fmt ")) {
      if (format) return wav_result::failure("more than one fmt chunk");
      if (!complete) return wav_result::failure(truncated("fmt", declared, present));
      format_or_error parsed =
          parse_fmt(bytes.subspan(body_at, static_cast<std::size_t>(declared)));
      if (!parsed.error.empty()) return wav_result::failure(std::move(parsed.error));
      format = parsed.format;
    } else if (has_tag(bytes, at, "data")) {
      if (!format) return wav_result::failure("data chunk before fmt chunk");
      if (!complete) return wav_result::failure(truncated("data", declared, present));
      return decode_data(*format, bytes.subspan(body_at, static_cast<std::size_t>(declared)));
    } else if (!complete) {
      return wav_result::failure(truncated(chunk_name(bytes, at), declared, present));
    }
    // RIFF pads odd-sized chunks to an even length; a missing pad at the very end is harmless.
    const std::uint64_t next = body_at + declared + (declared & 1);
    if (next >= bytes.size()) break;
    at = static_cast<std::size_t>(next);
  }
  return wav_result::failure(format ? "no data chunk" : "no fmt chunk");
}

wav_result read_wav_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return wav_result::failure(system_error("cannot open"));
  struct fd_closer {
    int fd;
    ~fd_closer() { ::close(fd); }
  } closer{fd};

  std::vector<std::uint8_t> bytes;
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode)) {
    if (static_cast<std::uint64_t>(info.st_size) > max_wav_file_bytes) {
      return wav_result::failure("file too large: " + std::to_string(info.st_size) +
                                 " bytes (at most 1 GiB)");
    }
    bytes.reserve(static_cast<std::size_t>(info.st_size));
  }
  // Read to the end rather than trusting st_size: pipes have none, and files may change.
  std::array<std::uint8_t, 64 * 1024> block;
  for (;;) {
    const ssize_t got = ::read(fd, block.data(), block.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return wav_result::failure(system_error("cannot read"));
    }
    if (got == 0) break;
    if (bytes.size() + static_cast<std::size_t>(got) > max_wav_file_bytes) {
      return wav_result::failure("file too large: more than 1 GiB");
    }
    bytes.insert(bytes.end(), block.begin(), block.begin() + got);
  }
  return parse_wav(bytes);
}

std::vector<std::uint8_t> encode_wav(int sample_rate_hz, std::span<const std::int16_t> samples,
                                     wav_audio::encoding stored_as) {
  if (!supported_rate(sample_rate_hz)) {
    throw std::invalid_argument("encode_wav: sample_rate_hz must be 8000 or 16000, got " +
                                std::to_string(sample_rate_hz));
  }
  if (!fits_in_riff(samples.size(), stored_as)) {
    throw std::invalid_argument("encode_wav: " + std::to_string(samples.size()) +
                                " samples do not fit in a WAV file");
  }
  const bool pcm = stored_as == wav_audio::encoding::pcm16;
  const auto data_size = static_cast<std::uint32_t>(data_bytes(samples.size(), stored_as));
  const std::uint32_t pad = data_size & 1;
  // Non-PCM formats carry cbSize in fmt and a fact chunk with the sample count (RIFF spec).
  const std::uint32_t fmt_size = pcm ? 16 : 18;
  const std::uint32_t fact_total = pcm ? 0 : chunk_header_bytes + 4;
  const std::uint32_t riff_size =
      4 + chunk_header_bytes + fmt_size + fact_total + chunk_header_bytes + data_size + pad;
  const std::uint16_t bytes_per_sample = pcm ? 2 : 1;
  const std::uint16_t tag = pcm                                      ? format_pcm
                            : stored_as == wav_audio::encoding::ulaw ? format_ulaw
                                                                     : format_alaw;

  std::vector<std::uint8_t> out;
  out.reserve(chunk_header_bytes + riff_size);
  put_tag(out, "RIFF");
  put_u32(out, riff_size);
  put_tag(out, "WAVE");
  put_tag(out, "fmt ");
  put_u32(out, fmt_size);
  put_u16(out, tag);
  put_u16(out, 1);
  put_u32(out, static_cast<std::uint32_t>(sample_rate_hz));
  put_u32(out, static_cast<std::uint32_t>(sample_rate_hz) * bytes_per_sample);
  put_u16(out, bytes_per_sample);
  put_u16(out, 8u * bytes_per_sample);
  if (!pcm) {
    put_u16(out, 0);
    put_tag(out, "fact");
    put_u32(out, 4);
    put_u32(out, static_cast<std::uint32_t>(samples.size()));
  }
  put_tag(out, "data");
  put_u32(out, data_size);
  if (pcm) {
    for (std::int16_t s : samples) put_u16(out, static_cast<std::uint16_t>(s));
  } else {
    const std::size_t start = out.size();
    out.resize(start + samples.size());
    g711_encode(stored_as == wav_audio::encoding::ulaw ? g711_law::ulaw : g711_law::alaw, samples,
                std::span(out).subspan(start));
  }
  if (pad != 0) out.push_back(0);
  return out;
}

std::optional<std::string> write_wav_file(const std::string& path, int sample_rate_hz,
                                          std::span<const std::int16_t> samples,
                                          wav_audio::encoding stored_as) {
  if (!supported_rate(sample_rate_hz)) {
    return "unsupported sample rate " + std::to_string(sample_rate_hz) +
           " Hz (8000 or 16000 supported)";
  }
  if (!fits_in_riff(samples.size(), stored_as)) {
    return "audio too long for a WAV file (" + std::to_string(samples.size()) + " samples)";
  }
  const std::vector<std::uint8_t> bytes = encode_wav(sample_rate_hz, samples, stored_as);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return system_error("cannot write");
  if (std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    std::optional<std::string> error = system_error("cannot write");
    std::fclose(file);
    return error;
  }
  // Buffered data reaches the disk (and can fail, e.g. when it is full) only at close.
  if (std::fclose(file) != 0) return system_error("cannot write");
  return std::nullopt;
}

}  // namespace toneguard::dsp
