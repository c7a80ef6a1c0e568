// WAV parsing and writing (dsp/wav.h): round trips, every rejection with a message naming
// the problem, chunk layout variants, a real Asterisk prompt, and robustness on damaged input.

#include "toneguard/dsp/wav.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "toneguard/dsp/g711.h"

namespace {

using toneguard::dsp::encode_wav;
using toneguard::dsp::g711_law;
using toneguard::dsp::parse_wav;
using toneguard::dsp::read_wav_file;
using toneguard::dsp::wav_audio;
using toneguard::dsp::wav_result;
using toneguard::dsp::write_wav_file;
using bytes = std::vector<std::uint8_t>;

// --- Building WAV files field by field ---

void append_u16(bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

void append_u32(bytes& out, std::uint32_t v) {
  append_u16(out, static_cast<std::uint16_t>(v));
  append_u16(out, static_cast<std::uint16_t>(v >> 16));
}

struct fmt_fields {
  std::uint16_t tag = 1;
  std::uint16_t channels = 1;
  std::uint32_t rate = 8000;
  std::uint16_t bits = 16;
  std::uint16_t block_align = 2;
};

bytes fmt_body(const fmt_fields& f) {
  bytes b;
  append_u16(b, f.tag);
  append_u16(b, f.channels);
  append_u32(b, f.rate);
  append_u32(b, f.rate * f.block_align);
  append_u16(b, f.block_align);
  append_u16(b, f.bits);
  return b;
}

// WAVE_FORMAT_EXTENSIBLE with KSDATAFORMAT_SUBTYPE {subformat-0000-0010-8000-00aa00389b71}.
bytes extensible_fmt_body(std::uint16_t subformat, std::uint16_t bits, std::uint32_t rate = 8000) {
  bytes b = fmt_body({.tag = 0xFFFE,
                      .channels = 1,
                      .rate = rate,
                      .bits = bits,
                      .block_align = static_cast<std::uint16_t>(bits / 8)});
  append_u16(b, 22);    // cbSize
  append_u16(b, bits);  // valid bits per sample
  append_u32(b, 0x4);   // channel mask: front centre
  append_u16(b, subformat);
  for (std::uint8_t x :
       {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}) {
    b.push_back(x);
  }
  return b;
}

// A chunk with its header, the pad byte RIFF adds after an odd size, and optionally a
// declared size that differs from the body actually present.
bytes chunk(std::string_view id, const bytes& body,
            std::optional<std::uint32_t> declared = std::nullopt) {
  bytes c(id.begin(), id.end());
  append_u32(c, declared.value_or(static_cast<std::uint32_t>(body.size())));
  c.insert(c.end(), body.begin(), body.end());
  if (!declared && body.size() % 2 != 0) c.push_back(0);
  return c;
}

bytes riff(std::initializer_list<bytes> chunks) {
  bytes content{'W', 'A', 'V', 'E'};
  for (const bytes& c : chunks) content.insert(content.end(), c.begin(), c.end());
  bytes file{'R', 'I', 'F', 'F'};
  append_u32(file, static_cast<std::uint32_t>(content.size()));
  file.insert(file.end(), content.begin(), content.end());
  return file;
}

bytes pcm16_body(const std::vector<std::int16_t>& samples) {
  bytes b;
  for (std::int16_t s : samples) append_u16(b, static_cast<std::uint16_t>(s));
  return b;
}

std::vector<std::int16_t> test_samples(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(INT16_MIN, INT16_MAX);
  std::vector<std::int16_t> s(count);
  for (auto& x : s) x = static_cast<std::int16_t>(dist(rng));
  if (count >= 2) {
    s[0] = INT16_MIN;
    s[1] = INT16_MAX;
  }
  return s;
}

// What `samples` become after storage in `encoding` (G.711 quantizes).
std::vector<std::int16_t> as_stored(const std::vector<std::int16_t>& samples,
                                    wav_audio::encoding encoding) {
  if (encoding == wav_audio::encoding::pcm16) return samples;
  const g711_law law = encoding == wav_audio::encoding::ulaw ? g711_law::ulaw : g711_law::alaw;
  std::vector<std::uint8_t> codes(samples.size());
  std::vector<std::int16_t> decoded(samples.size());
  toneguard::dsp::g711_encode(law, samples, codes);
  toneguard::dsp::g711_decode(law, codes, decoded);
  return decoded;
}

const char* encoding_name(wav_audio::encoding e) {
  switch (e) {
    case wav_audio::encoding::pcm16:
      return "pcm16";
    case wav_audio::encoding::ulaw:
      return "ulaw";
    case wav_audio::encoding::alaw:
      return "alaw";
  }
  return "?";
}

// Parses from an exactly sized heap copy, so any read past the end trips AddressSanitizer.
wav_result parse_copy(const bytes& file, std::size_t length) {
  const bytes exact(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(length));
  return parse_wav(exact);
}

std::string error_of(const bytes& file) {
  const wav_result result = parse_wav(file);
  return result.ok() ? std::string("(parsed)") : result.error();
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "toneguard_wav_test_" + std::to_string(::getpid()) + "_" + name;
}

constexpr wav_audio::encoding every_encoding[] = {
    wav_audio::encoding::pcm16, wav_audio::encoding::ulaw, wav_audio::encoding::alaw};
constexpr int both_rates[] = {8000, 16000};

// --- Round trips ---

TEST(wav, every_encoding_round_trips_in_memory_at_both_rates) {
  const auto samples = test_samples(1001, 7);  // odd: the G.711 data chunk needs a pad byte
  for (auto encoding : every_encoding) {
    for (int rate : both_rates) {
      const bytes file = encode_wav(rate, samples, encoding);
      const wav_result result = parse_wav(file);
      ASSERT_TRUE(result.ok()) << encoding_name(encoding) << ' ' << rate << ": " << result.error();
      EXPECT_EQ(result.audio().sample_rate_hz, rate);
      EXPECT_EQ(result.audio().source_encoding, encoding);
      EXPECT_EQ(result.audio().samples, as_stored(samples, encoding))
          << encoding_name(encoding) << ' ' << rate;
    }
  }
}

TEST(wav, every_encoding_round_trips_through_a_file_at_both_rates) {
  const auto samples = test_samples(800, 11);
  for (auto encoding : every_encoding) {
    for (int rate : both_rates) {
      const std::string path =
          temp_path(std::string(encoding_name(encoding)) + std::to_string(rate) + ".wav");
      const auto write_error = write_wav_file(path, rate, samples, encoding);
      ASSERT_FALSE(write_error.has_value()) << *write_error;
      const wav_result result = read_wav_file(path);
      std::remove(path.c_str());
      ASSERT_TRUE(result.ok()) << result.error();
      EXPECT_EQ(result.audio().sample_rate_hz, rate);
      EXPECT_EQ(result.audio().source_encoding, encoding);
      EXPECT_EQ(result.audio().samples, as_stored(samples, encoding));
    }
  }
}

TEST(wav, empty_audio_round_trips) {
  for (auto encoding : every_encoding) {
    const wav_result result = parse_wav(encode_wav(8000, {}, encoding));
    ASSERT_TRUE(result.ok()) << result.error();
    EXPECT_TRUE(result.audio().samples.empty());
  }
}

TEST(wav, written_riff_size_matches_the_file) {
  for (auto encoding : every_encoding) {
    const bytes file = encode_wav(8000, test_samples(5, 1), encoding);
    const std::uint32_t riff_size = file[4] | (file[5] << 8) | (file[6] << 16) | (file[7] << 24);
    EXPECT_EQ(riff_size + 8u, file.size()) << encoding_name(encoding);
    EXPECT_EQ(file.size() % 2, 0u) << encoding_name(encoding);
  }
}

TEST(wav, g711_data_decodes_exactly_as_g711_decode) {
  bytes codes(256);
  for (int c = 0; c < 256; ++c) codes[c] = static_cast<std::uint8_t>(c);
  for (auto [tag, law, encoding] : {std::tuple{7, g711_law::ulaw, wav_audio::encoding::ulaw},
                                    std::tuple{6, g711_law::alaw, wav_audio::encoding::alaw}}) {
    const bytes file = riff(
        {chunk("fmt ",
               fmt_body({.tag = static_cast<std::uint16_t>(tag), .bits = 8, .block_align = 1})),
         chunk("data", codes)});
    const wav_result result = parse_wav(file);
    ASSERT_TRUE(result.ok()) << result.error();
    EXPECT_EQ(result.audio().source_encoding, encoding);
    ASSERT_EQ(result.audio().samples.size(), 256u);
    for (int c = 0; c < 256; ++c) {
      EXPECT_EQ(result.audio().samples[c], toneguard::dsp::g711_decode(law, codes[c]))
          << "code " << c;
    }
  }
}

// --- Layout variants that must be accepted ---

TEST(wav, extensible_format_with_pcm_ulaw_or_alaw_subformat_is_accepted) {
  const std::vector<std::int16_t> samples{1, -2, 300, -4000};
  const bytes pcm =
      riff({chunk("fmt ", extensible_fmt_body(1, 16, 16000)), chunk("data", pcm16_body(samples))});
  const wav_result pcm_result = parse_wav(pcm);
  ASSERT_TRUE(pcm_result.ok()) << pcm_result.error();
  EXPECT_EQ(pcm_result.audio().samples, samples);
  EXPECT_EQ(pcm_result.audio().sample_rate_hz, 16000);

  const bytes ulaw = riff({chunk("fmt ", extensible_fmt_body(7, 8)), chunk("data", {0xFF, 0x80})});
  const wav_result ulaw_result = parse_wav(ulaw);
  ASSERT_TRUE(ulaw_result.ok()) << ulaw_result.error();
  EXPECT_EQ(ulaw_result.audio().source_encoding, wav_audio::encoding::ulaw);
  EXPECT_EQ(ulaw_result.audio().samples, (std::vector<std::int16_t>{0, 32124}));

  const bytes alaw = riff({chunk("fmt ", extensible_fmt_body(6, 8)), chunk("data", {0xD5, 0xAA})});
  const wav_result alaw_result = parse_wav(alaw);
  ASSERT_TRUE(alaw_result.ok()) << alaw_result.error();
  EXPECT_EQ(alaw_result.audio().source_encoding, wav_audio::encoding::alaw);
  EXPECT_EQ(alaw_result.audio().samples, (std::vector<std::int16_t>{8, 32256}));
}

TEST(wav, unknown_chunks_before_and_after_fmt_are_skipped) {
  const std::vector<std::int16_t> samples{10, 20, 30};
  const bytes list_body{'I', 'N', 'F', 'O', 'I', 'N', 'A', 'M', 4, 0, 0, 0, 't', 'e', 's', 't'};
  const bytes file =
      riff({chunk("JUNK", bytes(28, 0)), chunk("fmt ", fmt_body({})), chunk("LIST", list_body),
            chunk("fact", {3, 0, 0, 0}), chunk("data", pcm16_body(samples))});
  const wav_result result = parse_wav(file);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result.audio().samples, samples);
}

TEST(wav, odd_sized_chunks_are_followed_by_a_pad_byte) {
  const std::vector<std::int16_t> samples{-1, 1};
  // A 3-byte chunk whose pad byte looks like the start of a chunk header if it were not skipped.
  bytes odd = chunk("odd ", {'d', 'a', 't'});
  odd.back() = 'a';
  const bytes file = riff({chunk("fmt ", fmt_body({})), odd, chunk("data", pcm16_body(samples))});
  const wav_result result = parse_wav(file);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result.audio().samples, samples);
}

TEST(wav, odd_sized_fmt_chunk_is_padded_too) {
  bytes body = fmt_body({});
  append_u16(body, 0);   // cbSize, making 18 bytes
  body.push_back(0xEE);  // 19 bytes: odd, so a pad byte follows
  const bytes file = riff({chunk("fmt ", body), chunk("data", pcm16_body({5}))});
  const wav_result result = parse_wav(file);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result.audio().samples, std::vector<std::int16_t>{5});
}

TEST(wav, a_wrong_riff_size_does_not_matter) {
  bytes file = encode_wav(8000, test_samples(10, 3));
  file[4] = file[5] = file[6] = file[7] = 0xFF;  // as streaming writers leave it
  const wav_result result = parse_wav(file);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result.audio().samples.size(), 10u);
}

TEST(wav, asterisk_prompt_parses_with_its_sample_count) {
  const std::string path = std::string(TONEGUARD_SOUNDS_DIR) + "/digits/1.wav";
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) GTEST_SKIP() << path << " not installed";
  const wav_result result = read_wav_file(path);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result.audio().sample_rate_hz, 8000);
  EXPECT_EQ(result.audio().source_encoding, wav_audio::encoding::pcm16);
  // 14580 data bytes of 16-bit PCM after the canonical 44-byte header (file size 14624).
  EXPECT_EQ(result.audio().samples.size(), 7290u);
}

TEST(wav, fuzz_seed_files_parse) {
  const std::filesystem::path seeds =
      std::filesystem::path(__FILE__).parent_path() / "../fuzz/corpus/wav";
  if (!std::filesystem::is_directory(seeds)) GTEST_SKIP() << seeds << " not found";
  int parsed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(seeds)) {
    const wav_result result = read_wav_file(entry.path().string());
    EXPECT_TRUE(result.ok()) << entry.path() << ": " << (result.ok() ? "" : result.error());
    ++parsed;
  }
  EXPECT_GE(parsed, 2);
}

// --- Rejections: one message naming the problem ---

TEST(wav, non_riff_input_is_rejected_as_not_a_wav_file) {
  const std::string expected = "not a WAV file (no RIFF/WAVE header)";
  EXPECT_EQ(error_of({}), expected);
  EXPECT_EQ(error_of({'R', 'I', 'F', 'F'}), expected);
  bytes avi = encode_wav(8000, test_samples(4, 1));
  const std::string_view form = "AVI ";
  std::copy(form.begin(), form.end(), avi.begin() + 8);
  EXPECT_EQ(error_of(avi), expected);
  bytes rifx = encode_wav(8000, test_samples(4, 1));
  rifx[3] = 'X';
  EXPECT_EQ(error_of(rifx), expected);
}

TEST(wav, data_shorter_than_declared_is_rejected_as_truncated) {
  const bytes file = riff({chunk("fmt ", fmt_body({})), chunk("data", bytes(1200, 0), 32000)});
  EXPECT_EQ(error_of(file), "truncated: data chunk declares 32000 bytes, 1200 present");
}

TEST(wav, data_size_beyond_any_file_is_rejected_as_truncated) {
  const bytes file = riff({chunk("fmt ", fmt_body({})), chunk("data", bytes(8, 0), 0xFFFFFFFF)});
  EXPECT_EQ(error_of(file), "truncated: data chunk declares 4294967295 bytes, 8 present");
}

TEST(wav, unknown_chunk_running_past_the_end_is_rejected_as_truncated) {
  const bytes file = riff({chunk("fmt ", fmt_body({})), chunk("LIST", bytes(10, 0), 5000)});
  EXPECT_EQ(error_of(file), "truncated: LIST chunk declares 5000 bytes, 10 present");
}

TEST(wav, float_encoding_is_rejected_naming_the_format_tag) {
  const bytes file = riff({chunk("fmt ", fmt_body({.tag = 3, .bits = 32, .block_align = 4})),
                           chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file), "unsupported encoding: format tag 3 (IEEE float)");
}

TEST(wav, extensible_float_subformat_is_rejected_naming_the_format_tag) {
  const bytes file = riff({chunk("fmt ", extensible_fmt_body(3, 32)), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file),
            "unsupported encoding: format tag 3 (IEEE float) in WAVE_FORMAT_EXTENSIBLE");
}

TEST(wav, extensible_with_a_foreign_subformat_guid_is_rejected) {
  bytes body = extensible_fmt_body(1, 16);
  body.back() ^= 0xFF;
  const bytes file = riff({chunk("fmt ", body), chunk("data", bytes(8, 0))});
  EXPECT_NE(error_of(file).find("subformat is not a WAVE format GUID"), std::string::npos)
      << error_of(file);
}

TEST(wav, extensible_fmt_chunk_too_short_is_rejected) {
  bytes body = extensible_fmt_body(1, 16);
  body.resize(30);
  const bytes file = riff({chunk("fmt ", body), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file), "fmt chunk too short for WAVE_FORMAT_EXTENSIBLE (30 bytes, 40 needed)");
}

TEST(wav, fmt_chunk_too_short_is_rejected) {
  const bytes file = riff({chunk("fmt ", bytes(14, 0)), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file), "fmt chunk too short (14 bytes, at least 16)");
}

TEST(wav, sample_rate_other_than_8000_or_16000_is_rejected) {
  const bytes file = riff({chunk("fmt ", fmt_body({.rate = 44100})), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file), "unsupported sample rate 44100 Hz (8000 or 16000 supported)");
}

TEST(wav, more_than_one_channel_is_rejected) {
  const bytes file = riff(
      {chunk("fmt ", fmt_body({.channels = 2, .block_align = 4})), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file), "unsupported channel count 2 (mono only)");
}

TEST(wav, pcm_other_than_16_bit_is_rejected) {
  const bytes file =
      riff({chunk("fmt ", fmt_body({.bits = 24, .block_align = 3})), chunk("data", bytes(9, 0))});
  EXPECT_EQ(error_of(file), "unsupported bits per sample 24 for PCM (16 supported)");
  const bytes eight =
      riff({chunk("fmt ", fmt_body({.bits = 8, .block_align = 1})), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(eight), "unsupported bits per sample 8 for PCM (16 supported)");
}

TEST(wav, g711_other_than_8_bit_is_rejected) {
  const bytes file =
      riff({chunk("fmt ", fmt_body({.tag = 7, .bits = 16})), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file), "unsupported bits per sample 16 for μ-law (8 supported)");
}

TEST(wav, block_align_inconsistent_with_the_format_is_rejected) {
  const bytes file =
      riff({chunk("fmt ", fmt_body({.block_align = 4})), chunk("data", bytes(8, 0))});
  EXPECT_NE(error_of(file).find("block align 4"), std::string::npos) << error_of(file);
}

TEST(wav, data_chunk_before_fmt_chunk_is_rejected) {
  const bytes file = riff({chunk("data", bytes(8, 0)), chunk("fmt ", fmt_body({}))});
  EXPECT_EQ(error_of(file), "data chunk before fmt chunk");
}

TEST(wav, odd_byte_count_of_pcm16_data_is_rejected) {
  const bytes file = riff({chunk("fmt ", fmt_body({})), chunk("data", bytes(7, 0))});
  EXPECT_EQ(error_of(file), "odd data size 7 bytes for 16-bit PCM");
}

TEST(wav, missing_fmt_or_data_chunk_is_rejected) {
  EXPECT_EQ(error_of(riff({})), "no fmt chunk");
  EXPECT_EQ(error_of(riff({chunk("LIST", bytes(4, 0))})), "no fmt chunk");
  EXPECT_EQ(error_of(riff({chunk("fmt ", fmt_body({}))})), "no data chunk");
}

TEST(wav, second_fmt_chunk_is_rejected) {
  const bytes file =
      riff({chunk("fmt ", fmt_body({})), chunk("fmt ", fmt_body({})), chunk("data", bytes(8, 0))});
  EXPECT_EQ(error_of(file), "more than one fmt chunk");
}

TEST(wav, unreadable_file_is_reported_with_the_system_reason) {
  const wav_result missing = read_wav_file(temp_path("does_not_exist.wav"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "cannot open: No such file or directory");
  const wav_result directory = read_wav_file(::testing::TempDir());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error(), "cannot read: Is a directory");
}

TEST(wav, writing_rejects_unsupported_rates_and_unwritable_paths) {
  const auto samples = test_samples(4, 2);
  EXPECT_EQ(write_wav_file(temp_path("rate.wav"), 44100, samples),
            "unsupported sample rate 44100 Hz (8000 or 16000 supported)");
  const auto error = write_wav_file("/nonexistent-directory/x.wav", 8000, samples);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(*error, "cannot write: No such file or directory");
}

// --- Robustness ---

bytes file_with_every_kind_of_chunk() {
  return riff({chunk("JUNK", bytes(5, 0x11)), chunk("fmt ", extensible_fmt_body(1, 16)),
               chunk("LIST", bytes(9, 0x22)), chunk("data", pcm16_body(test_samples(100, 5)))});
}

TEST(wav, every_truncation_of_a_valid_file_is_an_error_or_a_clean_parse) {
  for (const bytes& file : {file_with_every_kind_of_chunk(),
                            encode_wav(8000, test_samples(51, 9), wav_audio::encoding::ulaw)}) {
    ASSERT_TRUE(parse_wav(file).ok());
    for (std::size_t length = 0; length < file.size(); ++length) {
      const wav_result result = parse_copy(file, length);
      // Only dropping the final byte, when it is the pad after odd-sized data, leaves a complete
      // file.
      if (length + 1 < file.size()) {
        EXPECT_FALSE(result.ok()) << "length " << length;
      }
      if (!result.ok()) {
        EXPECT_FALSE(result.error().empty());
      }
    }
  }
}

TEST(wav, corrupted_bytes_never_crash_the_parser) {
  const bytes original = file_with_every_kind_of_chunk();
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::size_t> position(0, original.size() - 1);
  std::uniform_int_distribution<int> value(0, 255);
  for (int trial = 0; trial < 20000; ++trial) {
    bytes damaged = original;
    const int changes = 1 + trial % 4;
    for (int c = 0; c < changes; ++c)
      damaged[position(rng)] = static_cast<std::uint8_t>(value(rng));
    const wav_result result = parse_copy(damaged, damaged.size() - trial % 7);
    if (result.ok()) {
      EXPECT_LE(result.audio().samples.size(), damaged.size());
    } else {
      EXPECT_FALSE(result.error().empty());
    }
  }
}

}  // namespace
