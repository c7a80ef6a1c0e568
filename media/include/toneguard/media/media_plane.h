#pragma once
/// The calls' media: relay workers, each on its own thread, and for each answered call a
/// relay pair on the ports call_control allocated (plus an RTCP pair on the ports above, unless
/// both sides multiplex RTCP), wired through per-direction filters:
///
///   caller -> [SRTP unprotect] -> caller_stream (keys found, masked) -> [SRTP protect] -> agent
///   agent  -> [SRTP unprotect] -> agent stream (keys found, optional) -> [SRTP protect] -> caller
///
/// and RTCP the same way (SRTCP, translation where the caller_stream changed the stream).
/// A call is pinned to one worker, chosen by its call-id. The control thread describes calls
/// as they change (apply, remove); each worker takes its changes between polls through its
/// own small queue, so the packet path takes no lock and no state is shared between workers.
/// Workers also watch their calls' activity and report calls that time out.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "toneguard/dsp/dtmf_masker.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/media/call_control.h"
#include "toneguard/media/caller_stream.h"
#include "toneguard/media/digits.h"
#include "toneguard/media/relay_worker.h"

namespace toneguard::media {

class bound_port_allocator;

/// How the media plane treats calls (the daemon's options).
struct media_plane_config {
  /// Local address media sockets bind to (IPv4 or IPv6 literal).
  std::string local_address = "127.0.0.1";
  /// Worker threads (the daemon runs one per core).
  int workers = 1;
  /// The masker's look-ahead when neither the call nor `block DTMF` gives a delay-buffer, ms.
  int default_lookahead_ms = 15;
  /// The masking kind when `block DTMF` gives no DTMF-security.
  dsp::mask_mode default_mode = dsp::mask_mode::silence;
  /// Every call masks the caller's keys toward the agent from its start.
  bool mask_all_calls = false;
  /// Keys the agent sends are found too (reported with leg::agent, never masked).
  bool detect_agent_dtmf = false;
  /// Every call drops media that does not come from a side's latched address.
  bool strict_source = false;
  /// A call with no media from either side for this long is reported ended, s; 0 = never.
  int timeout_s = 60;
  /// Any call is reported ended after this long, s; 0 = never.
  int final_timeout_s = 0;
  /// Where the sockets of allocated ports wait since the offer (the daemon's allocator, used
  /// on the control thread); null: the workers bind the ports at the answer.
  bound_port_allocator* sockets = nullptr;
};

/// Totals over all workers (any thread; each value is read atomically, the set is not one
/// instant; workers publish theirs every 200 ms). Counters only grow.
struct media_totals {
  std::uint64_t calls = 0;          ///< calls relayed now
  std::uint64_t received = 0;       ///< datagrams received
  std::uint64_t forwarded = 0;      ///< datagrams sent on
  std::uint64_t dropped = 0;        ///< dropped: no remote yet, wrong source, failed sends
  std::uint64_t malformed = 0;      ///< dropped: not valid RTP/RTCP for the call
  std::uint64_t srtp_failures = 0;  ///< dropped: SRTP/SRTCP authentication or replay
  std::uint64_t keys = 0;           ///< key presses found (each counted once)
  std::uint64_t timed_out = 0;      ///< calls reported ended by a timeout
  std::int64_t leaked_samples = 0;  ///< key samples that reached an agent (must stay 0)
};

class media_plane {
 public:
  /// Called on a worker thread when a call times out (`reason` "timeout" or "final-timeout");
  /// the owner ends the call (call_control delete) and then calls remove().
  using ended_handler = std::function<void(const std::string& call_id, std::string_view reason)>;

  /// `sink` receives every key pressed (on the worker threads) and must outlive the plane.
  /// Throws std::runtime_error when a worker cannot be created.
  media_plane(media_plane_config config, digit_sink& sink, ended_handler on_ended = nullptr);
  /// Stops the worker threads and closes every socket.
  ~media_plane();
  media_plane(const media_plane&) = delete;
  media_plane& operator=(const media_plane&) = delete;

  /// The call as call_control now has it (control thread): creates its relay pair once both
  /// legs have ports and SDP, and follows DTMF blocking.
  void apply(const call& c);
  /// The call was deleted (control thread).
  void remove(const std::string& call_id);

  /// Counters over all workers (any thread).
  [[nodiscard]] media_totals totals() const noexcept;
  /// Number of worker threads.
  [[nodiscard]] std::size_t workers() const noexcept { return workers_.size(); }
  /// The worker a call is pinned to.
  [[nodiscard]] std::size_t worker_of(const std::string& call_id) const noexcept;

 private:
  struct direction_filter;
  struct key_counter;
  struct relayed_call;
  struct worker_thread;
  struct masking_state {
    bool on = false;
    dsp::mask_mode mode = dsp::mask_mode::silence;
    int lookahead_ms = 15;
    friend bool operator==(const masking_state&, const masking_state&) = default;
  };
  void post(const std::string& call_id, std::function<void(worker_thread&)> command);
  void run_worker(worker_thread& w);
  void check_timeouts(worker_thread& w, std::int64_t now_ms);
  static void publish_counters(worker_thread& w);
  [[nodiscard]] masking_state masking_of(const call& c) const;

  media_plane_config config_;
  std::unique_ptr<key_counter> sink_;  // counts keys, then hands them to the owner's sink
  ended_handler on_ended_;

  // Owned by the control thread: what has been asked of the workers, to post only changes.
  std::map<std::string, masking_state> known_;

  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<worker_thread>> workers_;
};

}  // namespace toneguard::media
