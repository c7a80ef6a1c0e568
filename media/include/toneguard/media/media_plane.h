#pragma once
/// The calls' media: one relay_worker on its own thread, and for each answered call a relay
/// pair (the caller-facing and agent-facing ports call_control allocated) with a
/// caller_stream that finds and masks keys. The control thread describes calls as they
/// change (apply, remove); the worker takes those changes between polls through a small
/// queue, so the packet path takes no lock.
///
/// First slice of issue 3: one worker (not one per core yet), RTP and RTCP (port + 1, or
/// muxed), no SRTP, remote addresses from the SDP.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

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
  media_plane(std::string local_address, digit_sink& sink, int default_lookahead_ms = 15);
  /// Stops the worker thread and closes every socket.
  ~media_plane();
  media_plane(const media_plane&) = delete;
  media_plane& operator=(const media_plane&) = delete;

  /// The call as call_control now has it (control thread): creates its relay pair once both
  /// legs have ports and SDP, and follows DTMF blocking.
  void apply(const call& c);
  /// The call was deleted (control thread).
  void remove(const std::string& call_id);

  /// Forwarded packets so far (any thread; approximate while running).
  [[nodiscard]] std::uint64_t forwarded() const noexcept { return forwarded_.load(); }

 private:
  struct relayed_call;
  void post(std::function<void()> command);
  void run();

  std::string local_address_;
  digit_sink& sink_;
  int default_lookahead_ms_;
  relay_worker worker_;

  // Owned by the worker thread.
  std::map<std::string, std::unique_ptr<relayed_call>> relayed_;

  // Owned by the control thread: what has been asked of the worker, to post only changes.
  std::map<std::string, bool> known_;  // call-id -> masking requested

  std::mutex queue_mutex_;
  std::deque<std::function<void()>> queue_;
  std::atomic<bool> queued_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> forwarded_{0};
  std::thread thread_;
};

}  // namespace toneguard::media
