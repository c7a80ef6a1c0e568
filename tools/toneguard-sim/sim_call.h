#pragma once
/// One simulated call: set up over ng, a caller and an agent endpoint (UDP sockets on loopback)
/// sending G.711 RTP every 20 ms, the caller's keys typed at human pace, an optional payment
/// through the API whose questions the caller answers, and what the agent receives checked for
/// leaked keys, loss and latency. Everything runs on one io_context thread; the media clock
/// (sim_media_clock in main.cpp) calls tick() for every call.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "api_client.h"
#include "audio_library.h"
#include "ng_client.h"
#include "sim_options.h"
#include "sim_report.h"
#include "toneguard/media/telephone_event.h"

namespace toneguard::sim {

/// What every call of a run shares (owned by main; outlives the calls).
struct sim_shared {
  boost::asio::io_context& io;
  const sim_options& options;
  ng_client& ng;
  const speech_library& speech;
  const key_tones& tones;
  sim_totals& totals;
  api_endpoint api;
  boost::asio::ip::address media_address;  ///< where the endpoints bind (the ng host's family)
  bool stopping = false;                   ///< SIGINT: calls end early
};

class sim_call : public std::enable_shared_from_this<sim_call> {
 public:
  using clock = std::chrono::steady_clock;

  /// Call number `index` (0-based) of the run.
  sim_call(sim_shared& shared, int index);
  sim_call(const sim_call&) = delete;
  sim_call& operator=(const sim_call&) = delete;

  /// The whole call, from offer to delete; its record is appended to the totals at the end.
  [[nodiscard]] boost::asio::awaitable<void> run();

  /// Sends the frames that are due at `now` (both endpoints). Called every few ms.
  void tick(clock::time_point now);

  /// True once run() has ended and the call's record is in the totals.
  [[nodiscard]] bool done() const noexcept { return done_; }

  /// True while the media runs (tick() does something).
  [[nodiscard]] bool media_running() const noexcept { return media_running_; }

 private:
  /// One key as scheduled on the caller's timeline (samples from the first frame).
  struct typed_key {
    char key;
    std::int64_t start;
  };
  /// A span of the caller's timeline holding keys, to be scanned in the agent's audio.
  struct key_region {
    std::int64_t begin;
    std::int64_t end;
  };

  boost::asio::awaitable<bool> set_up();
  boost::asio::awaitable<void> tear_down();
  boost::asio::awaitable<void> run_payment();
  boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds ms);
  void start_media();
  void on_event_frame(std::string_view frame);
  void answer_field(std::string_view field);
  void type_keys(std::string_view keys, bool think_first);
  void type_random_groups();

  void send_caller_frame();
  void send_agent_frame();
  void send_rtp(boost::asio::ip::udp::socket& socket, const boost::asio::ip::udp::endpoint& to,
                std::uint8_t payload_type, bool marker, std::uint16_t seq, std::uint32_t ts,
                std::uint32_t ssrc, const std::uint8_t* payload, std::size_t size);
  void do_receive_agent();
  void do_receive_caller();
  void on_agent_packet(std::size_t size);
  void scan_due_regions(bool all);
  void estimate_audio_delay();
  int ms_between(ms_range r);

  sim_shared& shared_;
  int index_;
  std::string call_id_;
  std::mt19937_64 rng_;
  call_record record_;
  bool payment_ = false;
  bool automated_ = false;
  bool declined_card_ = false;
  bool offered_ = false;  ///< the daemon knows the call: delete it at the end

  // Endpoints.
  boost::asio::ip::udp::socket caller_socket_;
  boost::asio::ip::udp::socket agent_socket_;
  boost::asio::ip::udp::endpoint caller_target_;  ///< where the caller sends (answer's SDP)
  boost::asio::ip::udp::endpoint agent_target_;   ///< where the agent sends (offer's SDP)
  boost::asio::ip::udp::endpoint from_caller_;
  boost::asio::ip::udp::endpoint from_agent_;
  std::array<std::uint8_t, 2048> caller_buffer_{};
  std::array<std::uint8_t, 2048> agent_buffer_{};
  std::uint8_t audio_pt_ = 0;
  std::uint8_t event_pt_ = 101;

  // Media clock.
  bool media_running_ = false;
  bool done_ = false;
  clock::time_point media_start_;
  std::int64_t frames_ = 0;  ///< frames sent by each endpoint so far

  // Caller.
  speech_player caller_speech_;
  bool caller_speaks_ = true;
  std::int64_t quiet_from_ = 0;  ///< caller silent on [quiet_from_, quiet_until_)
  std::int64_t quiet_until_ = 0;
  std::deque<typed_key> keys_;   ///< scheduled, not yet completely sent
  std::int64_t typing_end_ = 0;  ///< end of the last scheduled key
  std::uint16_t caller_seq_;
  std::uint32_t caller_ts0_;
  std::uint32_t caller_ssrc_;
  std::vector<std::int16_t> caller_start_audio_;  ///< the first samples sent, for the delay
  /// When an audio packet was sent, by RTP timestamp.
  struct sent_stamp {
    std::uint32_t ts = 0;
    bool used = false;
    clock::time_point at;
  };
  std::array<sent_stamp, 1024> sent_{};

  /// Sequence numbers of the repeated end packets of events (the daemon may withhold them).
  struct redundant_copy {
    std::uint16_t seq = 0;
    bool used = false;
  };
  std::array<redundant_copy, 256> redundant_{};
  std::uint64_t withheld_copies_ = 0;

  // Agent.
  speech_player agent_speech_;
  std::uint16_t agent_seq_;
  std::uint32_t agent_ts0_;
  std::uint32_t agent_ssrc_;

  // What the agent receives, on the caller's timeline (RTP timestamps are kept 1:1).
  static constexpr std::size_t ring_size = std::size_t{1} << 17;  // 16.4 s at 8 kHz
  std::vector<std::uint8_t> ring_;
  std::int64_t ring_end_ = 0;  ///< one past the last sample written
  bool have_seq_ = false;
  std::int64_t first_seq_ = 0;
  std::int64_t highest_seq_ = 0;
  std::uint64_t received_ = 0;
  std::deque<key_region> regions_;
  media::telephone_event_receiver agent_events_;
  std::optional<double> audio_delay_ms_;
  bool delay_tried_ = false;

  // Payment.
  std::string payment_id_;
  bool result_seen_ = false;
};

}  // namespace toneguard::sim
