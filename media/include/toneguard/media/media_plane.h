#pragma once
/// The calls' media: relay workers, each on its own thread, and for each answered call a
/// relay pair (the caller-facing and agent-facing ports call_control allocated) with a
/// caller_stream that finds and masks keys. A call is pinned to one worker, chosen by its
/// call-id. The control thread describes calls as they change (apply, remove); each worker
/// takes its changes between polls through its own small queue, so the packet path takes
/// no lock and no state is shared between workers.
///
/// So far: RTP and RTCP (port + 1, or muxed), no SRTP, remote addresses from the SDP.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/media/call_control.h"
#include "toneguard/media/caller_stream.h"
#include "toneguard/media/digits.h"
#include "toneguard/media/relay_worker.h"

namespace toneguard::media {

class media_plane {
 public:
  /// Media is bound on `local_address`. `sink` receives every key pressed (on the worker
  /// thread) and must outlive the plane. `default_lookahead_ms` is the masker's look-ahead
  /// when `block DTMF` gives no delay-buffer.
  /// `workers` threads relay (the daemon runs one per core). `sink` is called from them.
  media_plane(std::string local_address, digit_sink& sink, int default_lookahead_ms = 15,
              int workers = 1);
  /// Stops the worker threads and closes every socket.
  ~media_plane();
  media_plane(const media_plane&) = delete;
  media_plane& operator=(const media_plane&) = delete;

  /// The call as call_control now has it (control thread): creates its relay pair once both
  /// legs have ports and SDP, and follows DTMF blocking.
  void apply(const call& c);
  /// The call was deleted (control thread).
  void remove(const std::string& call_id);

  /// Forwarded packets so far, all workers (any thread; approximate while running).
  [[nodiscard]] std::uint64_t forwarded() const noexcept;
  /// Number of worker threads.
  [[nodiscard]] std::size_t workers() const noexcept { return workers_.size(); }
  /// The worker a call is pinned to.
  [[nodiscard]] std::size_t worker_of(const std::string& call_id) const noexcept;

 private:
  struct relayed_call;
  struct worker_thread;
  void post(const std::string& call_id, std::function<void(worker_thread&)> command);

  std::string local_address_;
  digit_sink& sink_;
  int default_lookahead_ms_;

  // Owned by the control thread: what has been asked of the workers, to post only changes.
  std::map<std::string, bool> known_;  // call-id -> masking requested

  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<worker_thread>> workers_;
};

}  // namespace toneguard::media
