#pragma once
// Runs a program through the shell for CLI tests: its exit status, its stdout, and its stderr
// (through a temporary file, so that a chatty stderr cannot block the pipe).

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace toneguard::testing {

struct command_result {
  int status = -1;  // the exit status; -1 when the program did not exit normally
  std::string out;
  std::string err;
};

// Runs `command` (a shell command line, without redirections of stderr).
inline command_result run_command(const std::string& command) {
  static std::atomic<int> counter{0};
  const std::filesystem::path err_file =
      std::filesystem::temp_directory_path() /
      ("tg_cli_err_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  command_result r;
  FILE* pipe = ::popen((command + " 2>" + err_file.string()).c_str(), "r");
  if (pipe == nullptr) {
    r.err = "popen failed";
    return r;
  }
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) r.out += buf.data();
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  std::error_code ignored;
  std::filesystem::remove(err_file, ignored);
  return r;
}

}  // namespace toneguard::testing
