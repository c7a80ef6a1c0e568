#pragma once
// A throwaway PostgreSQL server on loopback for C++ tests, through tests/support/pg_cluster.sh
// (which shell tests use directly). Each test takes a database of its own (create_database), so
// tests of one cluster never see each other's rows.
//
// postgres_cluster::shared() is the test process's cluster: the one CTest started for the whole
// run (the directory in $TONEGUARD_TEST_PG_CLUSTER, see tests/engine/CMakeLists.txt), else one
// of the process's own, started on first use and removed at exit. postgres_cluster::start()
// makes a private one, for a test that stops and restarts its server.

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "support/run_command.h"

// The script's absolute path, defined by the test's CMakeLists.txt (__FILE__ is relative to the
// build directory under Ninja, hence only a fallback).
#ifndef TONEGUARD_PG_CLUSTER_SCRIPT
#define TONEGUARD_PG_CLUSTER_SCRIPT \
  (std::filesystem::path(__FILE__).parent_path() / "pg_cluster.sh").string()
#endif

namespace toneguard::testing {

class postgres_cluster {
 public:
  // What start() and shared() say when there is no cluster: no server binaries on this host
  // (a test skips) or a failure (a test fails).
  struct unavailable {
    bool no_server = false;
    std::string reason;
  };

  // A new cluster in a temporary directory, removed by the destructor; nullptr and `why` when
  // it could not start.
  static std::unique_ptr<postgres_cluster> start(unavailable& why) {
    std::string dir = (std::filesystem::temp_directory_path() / "toneguard-pg-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) {
      why = {false, "mkdtemp failed"};
      return nullptr;
    }
    const command_result r = run_command(script() + " start " + quote(dir));
    if (r.status != 0) {
      why = {r.status == 77, "pg_cluster.sh start: " + r.err};
      run_command(script() + " destroy " + quote(dir));
      return nullptr;
    }
    return std::unique_ptr<postgres_cluster>(new postgres_cluster(dir, true));
  }

  // The process's cluster (see the file comment); nullptr and `why` when there is none.
  static postgres_cluster* shared(unavailable& why) {
    static unavailable failed;
    static std::unique_ptr<postgres_cluster> cluster = [] {
      const char* given = std::getenv("TONEGUARD_TEST_PG_CLUSTER");
      if (given != nullptr && *given != '\0' &&
          std::filesystem::exists(std::filesystem::path(given) / "port")) {
        return std::unique_ptr<postgres_cluster>(new postgres_cluster(given, false));
      }
      return start(failed);
    }();
    if (!cluster) why = failed;
    return cluster.get();
  }

  ~postgres_cluster() {
    if (owned_) run_command(script() + " destroy " + quote(dir_));
  }
  postgres_cluster(const postgres_cluster&) = delete;
  postgres_cluster& operator=(const postgres_cluster&) = delete;

  // A new, empty database (its name from `prefix`, this process and a counter); its URI, or ""
  // when createdb failed.
  std::string create_database(std::string_view prefix) {
    static std::atomic<int> counter{0};
    std::string name =
        std::string(prefix) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    const command_result r = run_command(script() + " createdb " + quote(dir_) + " " + name);
    if (r.status != 0) return {};
    return trimmed(r.out);
  }

  // psql -Atc `sql` on the database of `uri` (as the superuser, over the socket): its output
  // (one line per row, columns split by '|'), exit status 0 when it succeeded.
  command_result sql(const std::string& uri, const std::string& sql) {
    const std::string name = uri.substr(uri.rfind('/') + 1);
    command_result r =
        run_command(script() + " psql " + quote(dir_) + " " + name + " -Atc " + quote(sql));
    r.out = trimmed(r.out);
    return r;
  }

  // Stops the server (fast shutdown: clients are disconnected); true when it stopped.
  bool stop() { return run_command(script() + " stop " + quote(dir_)).status == 0; }
  // Starts the stopped server again, on the same port; true when it runs.
  bool restart() { return run_command(script() + " start " + quote(dir_)).status == 0; }

  // The password of the URIs (user toneguard).
  [[nodiscard]] std::string password() const { return read(dir_ + "/password"); }
  [[nodiscard]] int port() const { return std::atoi(read(dir_ + "/port").c_str()); }
  [[nodiscard]] const std::string& dir() const { return dir_; }

 private:
  postgres_cluster(std::string dir, bool owned) : dir_(std::move(dir)), owned_(owned) {}

  static std::string script() { return quote(TONEGUARD_PG_CLUSTER_SCRIPT); }
  static std::string quote(const std::string& s) {
    std::string q = "'";
    for (const char c : s) {
      if (c == '\'') {
        q += "'\\''";
      } else {
        q += c;
      }
    }
    return q + "'";
  }
  static std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
  }

  std::string dir_;
  bool owned_;
};

}  // namespace toneguard::testing
