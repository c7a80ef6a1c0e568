#pragma once
/// The calls' media: relay workers, each on its own thread, and for each answered call a
/// relay pair on the ports call_control allocated (plus an RTCP pair on the ports above, unless
/// both sides multiplex RTCP), wired through per-direction filters:
///
///   caller -> [SRTP unprotect] -> caller_stream (keys found, masked) -> [removed: silence]
///          -> [SRTP protect] -> agent
///   agent  -> [SRTP unprotect] -> agent stream (keys found, optional) -> caller feed
///          -> [SRTP protect] -> caller
///   prompts and the removed agent's silence: the call's playout clock -> caller feed
///          -> [SRTP protect] -> caller
///
/// and RTCP the same way (SRTCP, translation where the caller_stream changed the stream).
/// A call is pinned to one worker, chosen by its call-id. The control thread describes calls
/// as they change (apply, remove); each worker takes its changes between polls through its
/// own small queue, so the packet path takes no lock and no state is shared between workers.
/// Workers also watch their calls' activity and report calls that time out.
///
/// **Secure segment** (a payment's dialog drives it; any thread may ask, through the same
/// queue): `play_to_caller` queues 8 kHz linear PCM toward the caller, `stop_prompt` cuts it,
/// `set_agent_removed` takes the agent out of the audio both ways, and `set_masking` masks the
/// caller's keys toward the agent. While a prompt is queued or the agent is removed, the
/// caller's stream is made by the call's playout clock: a deadline every ptime (the agent
/// stream's), kept by the worker's poll timeout, at which one packet is sent in the caller's
/// G.711 law: the prompt's samples (gapless across queued prompts) alone when the agent is
/// removed, or summed with saturation with the agent's decoded audio (queued as it arrives,
/// at most 3 ptimes) when the agent is on the line; silence when the agent is removed and no
/// prompt plays. The agent's packets are not relayed meanwhile. A silent agent does not
/// matter: the clock, not the agent's packets, paces the prompt. Late wake-ups send the
/// packets that are due (at most 5 at once; older ones are skipped and their time shows as a
/// timestamp jump).
///
/// **Continuity toward the caller.** The caller feed remembers the last packet the caller was
/// sent (SSRC, sequence number, the timestamp after its audio, and when). Generated packets
/// continue that stream: the same SSRC, the next sequence numbers, and timestamps that follow
/// on at the clock's pace (a gap in time since the last packet shows as a timestamp jump).
/// Once a packet was generated, the agent's own packets are rewritten for good: on the first
/// one after a segment (or after the agent changed SSRC) sequence and timestamp offsets are
/// chosen so that it continues the caller's stream, and every later one keeps them. Before
/// any packet was generated the agent's packets pass bit-exact. The first packet after each
/// switch carries the marker bit. RTCP toward the caller is not translated.
///
/// **Agent removed.** Toward the agent, every audio packet the caller_stream sends on has its
/// payload replaced by G.711 silence (same sequence numbers and timestamps, so the agent's
/// stream stays continuous), masking is forced on (so RFC 4733 keys are replaced or withheld
/// as with `block DTMF`), and anything else the caller sends is dropped; after the agent is
/// restored, the packets that still carry audio from the removed time (the masker's
/// look-ahead) are silenced too. Calls without G.711 toward the agent drop the caller's packets
/// while the agent is removed. Toward the caller, the agent's packets are dropped.

#include <atomic>
#include <cstdint>
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

/// What became of a prompt given to media_plane::play_to_caller.
enum class prompt_outcome : std::uint8_t {
  finished,  ///< its last sample was sent to the caller
  stopped,   ///< stop_prompt (on it or one queued before it), or the call was removed
  failed,    ///< not played: no such call relayed, or no G.711 toward the caller
};

/// Told when a prompt finished, was stopped or failed; called on the call's worker thread, in
/// the order the prompts were queued. It may call the media plane's segment functions. Prompts
/// still queued when the plane is destroyed are not reported.
using prompt_handler =
    std::function<void(const std::string& call_id, std::uint64_t prompt_id, prompt_outcome)>;

/// How the media plane treats calls (the daemon's options).
struct media_plane_config {
  /// Local address media sockets bind to (IPv4 or IPv6 literal).
  std::string local_address = "127.0.0.1";
  /// Worker threads (the daemon runs one per core).
  int workers = 1;
  /// How the workers move datagrams (relay_worker), and io_uring's coalescing window, µs.
  relay_backend backend = relay_backend::automatic;
  int coalesce_us = default_coalesce_us;
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
  /// Told what became of each prompt (worker threads); may be empty.
  prompt_handler on_prompt;
};

/// Totals over all workers (any thread; each value is read atomically, the set is not one
/// instant; workers publish theirs every 200 ms). Counters only grow.
struct media_totals {
  std::uint64_t calls = 0;          ///< calls relayed now
  std::uint64_t received = 0;       ///< datagrams received
  std::uint64_t forwarded = 0;      ///< datagrams sent on
  std::uint64_t generated = 0;      ///< datagrams made here: prompts, silence toward the caller
  std::uint64_t dropped = 0;        ///< dropped: no remote, wrong source, send failed, oversize
  std::uint64_t no_remote = 0;      ///< of dropped: the other side's address not known yet
  std::uint64_t wrong_source = 0;   ///< of dropped: strict source, not the latched address
  std::uint64_t send_failed = 0;    ///< of dropped: the send was refused
  std::uint64_t malformed = 0;      ///< dropped: not valid RTP/RTCP for the call
  std::uint64_t srtp_failures = 0;  ///< dropped: SRTP/SRTCP authentication or replay
  std::uint64_t keys = 0;           ///< key presses found (each counted once)
  std::uint64_t timed_out = 0;      ///< calls reported ended by a timeout
  std::int64_t leaked_samples = 0;  ///< key samples that reached an agent (must stay 0)
  std::int64_t masked_samples = 0;  ///< samples masked toward agents (8 kHz)
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

  // --- The secure segment: any thread may call these; each is posted to the call's worker
  // and takes effect between its polls, in the order asked.

  /// Plays `audio` (8 kHz 16-bit linear PCM) to the caller, after the prompts already queued
  /// for the call; `prompt_id` comes back to on_prompt. Mixed with the agent's audio unless
  /// the agent is removed. A call that is not relayed or has no G.711 toward the caller
  /// reports `failed`. The audio is shared, never copied, and freed after it has played.
  void play_to_caller(const std::string& call_id, std::uint64_t prompt_id,
                      std::shared_ptr<const std::vector<std::int16_t>> audio);
  /// As above, taking the samples over.
  void play_to_caller(const std::string& call_id, std::uint64_t prompt_id,
                      std::vector<std::int16_t> audio);
  /// Stops prompt `prompt_id` (playing or queued) and every prompt queued after it; each is
  /// reported `stopped`, in queue order. An unknown id changes nothing.
  void stop_prompt(const std::string& call_id, std::uint64_t prompt_id);
  /// Takes the agent out of the call's audio (true) or brings it back (false): see the comment
  /// at the top. Masking toward the agent is on while removed, whatever set_masking says.
  void set_agent_removed(const std::string& call_id, bool removed);
  /// Masks the caller's keys toward the agent (on) or stops (off), in `mode`, as `block DTMF`
  /// does (its look-ahead stays). The latest of this and a changed `block DTMF` wins.
  void set_masking(const std::string& call_id, bool on, dsp::mask_mode mode);

  /// Counters over all workers (any thread).
  [[nodiscard]] media_totals totals() const noexcept;
  /// Number of worker threads.
  [[nodiscard]] std::size_t workers() const noexcept { return workers_.size(); }
  /// How the workers move datagrams (io_uring or epoll; the same for all).
  [[nodiscard]] relay_backend backend() const noexcept;
  /// The worker a call is pinned to.
  [[nodiscard]] std::size_t worker_of(const std::string& call_id) const noexcept;

 private:
  struct direction_filter;
  struct secure_segment;
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
  void play_due(worker_thread& w);
  void play_one(worker_thread& w, relayed_call& r, std::int64_t due_us);
  void report_prompt(const std::string& call_id, std::uint64_t prompt_id, prompt_outcome outcome);
  static void update_masking(relayed_call& r);
  static void start_playing(worker_thread& w, relayed_call& r);
  static void stop_playing(worker_thread& w, relayed_call& r);
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
