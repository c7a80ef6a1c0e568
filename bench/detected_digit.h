#pragma once
/// One digit as reported by a receiver under test, in the terms both toneguard's and spandsp's
/// receivers can fill. Sample positions count from the first sample fed (0-based, 8 kHz).

#include <cstdint>

namespace toneguard::bench {

struct detected_digit {
  char key = '\0';                ///< '0'-'9', '*', '#', 'A'-'D'
  std::int64_t detected_at = -1;  ///< stream position when the receiver reported the digit
  std::int64_t ended_at = -1;     ///< stream position when it reported the end; −1 while on
  std::int64_t onset = -1;        ///< the receiver's estimate of the first tone sample; −1: none
  std::int64_t end = -1;  ///< the receiver's estimate of the sample after the tone; −1: none
};

}  // namespace toneguard::bench
