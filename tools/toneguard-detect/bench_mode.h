#pragma once
// toneguard-detect --bench: many receivers over one file on one thread, as the proxy runs them.

#include <string>

namespace toneguard::tools {

struct bench_options {
  int channels = 1000;           // independent receivers
  std::string file;              // WAV input, looped as μ-law 20 ms frames
  bool compare_spandsp = false;  // also run spandsp's dtmf_rx over the same frames
  double seconds = 0.0;          // 0: one pass over the file
};

/// Runs the benchmark and prints one JSON line to stdout. Returns the process exit status
/// (2 with a message on stderr for an unreadable file).
int run_bench(const bench_options& options);

}  // namespace toneguard::tools
