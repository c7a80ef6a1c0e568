#pragma once
/// The DTMF keypad: 4 row (low group) and 4 column (high group) frequencies (ITU-T Q.23).

#include <array>
#include <optional>

namespace toneguard::dsp {

/// Low-group frequencies in Hz, rows 0..3.
inline constexpr std::array<float, 4> dtmf_row_hz{697.0f, 770.0f, 852.0f, 941.0f};
/// High-group frequencies in Hz, columns 0..3.
inline constexpr std::array<float, 4> dtmf_column_hz{1209.0f, 1336.0f, 1477.0f, 1633.0f};

/// The 16 keys in row-major order: "123A456B789C*0#D".
inline constexpr char dtmf_keys[4][4] = {
    {'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}};

/// All 16 keys, for iteration in tests and tools.
inline constexpr std::array<char, 16> dtmf_all_keys{'0', '1', '2', '3', '4', '5', '6', '7',
                                                    '8', '9', '*', '#', 'A', 'B', 'C', 'D'};

struct dtmf_tone_pair {
  int row;          ///< 0..3, index into dtmf_row_hz
  int column;       ///< 0..3, index into dtmf_column_hz
  float row_hz;     ///< low-group frequency, Hz
  float column_hz;  ///< high-group frequency, Hz
};

/// The two tones of a key ('0'-'9', '*', '#', 'A'-'D'; lower-case a-d accepted); nullopt otherwise.
[[nodiscard]] constexpr std::optional<dtmf_tone_pair> dtmf_tones(char key) noexcept {
  if (key >= 'a' && key <= 'd') key = static_cast<char>(key - 'a' + 'A');
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      if (dtmf_keys[r][c] == key) return dtmf_tone_pair{r, c, dtmf_row_hz[r], dtmf_column_hz[c]};
    }
  }
  return std::nullopt;
}

}  // namespace toneguard::dsp
