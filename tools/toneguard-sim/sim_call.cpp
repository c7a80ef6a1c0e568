#include "sim_call.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <ctime>

#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/engine/card_rules.h"
#include "toneguard/media/rtp.h"
#include "toneguard/media/sdp.h"

namespace toneguard::sim {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t frame_samples = 160;  // 20 ms at 8 kHz
constexpr std::int64_t samples_per_ms = 8;
// A key group is scanned from 20 ms before its first key to 140 ms after its last: the
// daemon's look-ahead (15 ms by default) plus the masker's hangover, with room to spare.
constexpr std::int64_t region_before = 20 * samples_per_ms;
constexpr std::int64_t region_after = 140 * samples_per_ms;
// The caller stays silent this long after a group of keys (a person listening).
constexpr std::int64_t quiet_after_keys = 400 * samples_per_ms;
// What the caller sent first, kept to find the agent's audio delay by correlation.
constexpr std::size_t delay_history = 24000;
constexpr std::int64_t delay_window = 8000;
constexpr std::int64_t delay_max_lag = 640;  // 80 ms

std::string sdp_for(const asio::ip::address& address, std::uint16_t port, bool alaw,
                    std::uint32_t session) {
  const std::string family = address.is_v4() ? "IP4" : "IP6";
  const std::string pt = alaw ? "8" : "0";
  return "v=0\r\no=- " + std::to_string(session) + " 1 IN " + family + " " + address.to_string() +
         "\r\ns=toneguard-sim\r\nc=IN " + family + " " + address.to_string() +
         "\r\nt=0 0\r\nm=audio " + std::to_string(port) + " RTP/AVP " + pt +
         " 101\r\na=rtpmap:" + pt + (alaw ? " PCMA/8000" : " PCMU/8000") +
         "\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
         "a=sendrecv\r\n";
}

// Where the SDP in an ng reply says to send media, and its telephone-event payload type.
media::result<udp::endpoint> media_target(const media::bencode_dictionary& reply,
                                          std::uint8_t& event_pt) {
  const std::string* sdp = reply.string_at("sdp");
  if (sdp == nullptr) return media::error{"the reply carries no SDP"};
  auto parsed = media::session_description::parse(*sdp);
  if (!parsed) return media::error{"the reply's SDP: " + parsed.error_message()};
  const auto& session = parsed.value();
  if (session.media().empty()) return media::error{"the reply's SDP has no m= line"};
  const auto& m = session.media()[0];
  const auto address = session.connection_of(m);
  if (!address) return media::error{"the reply's SDP has no c= address"};
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address->address, ec);
  if (ec) return media::error{"the reply's SDP address is not numeric"};
  const auto events = m.telephone_event_payload_types();
  if (!events.empty()) event_pt = events.front();
  return udp::endpoint(ip, m.port());
}

std::string json_string(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// MMYY of a month two years ahead: a card that has not expired.
std::string future_expiry() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  char text[32];
  std::snprintf(text, sizeof text, "%02d%02d", local.tm_mon + 1, (local.tm_year + 1900 + 2) % 100);
  return text;
}

}  // namespace

sim_call::sim_call(sim_shared& shared, int index)
    : shared_(shared),
      index_(index),
      call_id_("sim-" + std::to_string(::getpid()) + "-" + std::to_string(index + 1)),
      rng_(shared.options.seed * 1000003u + static_cast<std::uint64_t>(index)),
      caller_socket_(shared.io, udp::endpoint(shared.media_address, 0)),
      agent_socket_(shared.io, udp::endpoint(shared.media_address, 0)),
      caller_speech_(shared.speech, static_cast<std::size_t>(index) * 2, 2),
      agent_speech_(shared.speech, static_cast<std::size_t>(index) * 2 + 1, 2),
      ring_(ring_size, 0) {
  const sim_options& o = shared.options;
  audio_pt_ = o.alaw ? 8 : 0;
  record_.call_id = call_id_;
  payment_ = o.payments;
  if (payment_) {
    automated_ =
        o.modes == payment_modes::automated || (o.modes == payment_modes::both && index % 2 == 0);
    record_.mode = automated_ ? "automated" : "agent-assisted";
    declined_card_ = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < o.decline_share;
    record_.declined_card = declined_card_;
  }
  caller_seq_ = static_cast<std::uint16_t>(rng_());
  caller_ts0_ = static_cast<std::uint32_t>(rng_());
  caller_ssrc_ = static_cast<std::uint32_t>(rng_());
  agent_seq_ = static_cast<std::uint16_t>(rng_());
  agent_ts0_ = static_cast<std::uint32_t>(rng_());
  agent_ssrc_ = static_cast<std::uint32_t>(rng_());
  caller_start_audio_.reserve(delay_history);
}

int sim_call::ms_between(ms_range r) {
  return std::uniform_int_distribution<int>(r.min, r.max)(rng_);
}

asio::awaitable<void> sim_call::sleep_for(std::chrono::milliseconds ms) {
  asio::steady_timer timer(shared_.io);
  const auto until = clock::now() + ms;
  while (!shared_.stopping && clock::now() < until) {
    timer.expires_at(std::min(until, clock::now() + 200ms));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> sim_call::run() {
  ++shared_.totals.active_calls;
  const bool up = co_await set_up();
  if (up) {
    start_media();
    const auto talk =
        std::chrono::milliseconds(static_cast<std::int64_t>(shared_.options.duration_s * 1000.0));
    if (payment_) {
      co_await sleep_for(talk);
      if (!shared_.stopping) co_await run_payment();
      co_await sleep_for(talk);
    } else {
      // Speech, then a group of card-like keys, again until the call's length has passed.
      const auto end = clock::now() + talk;
      do {
        const auto speech = std::chrono::milliseconds(ms_between({500, 1500}));
        co_await sleep_for(speech);
        type_random_groups();
        while (!keys_.empty() && !shared_.stopping) co_await sleep_for(100ms);
      } while (clock::now() < end && !shared_.stopping);
    }
    while (!keys_.empty() && !shared_.stopping) co_await sleep_for(100ms);
  }
  co_await tear_down();
  --shared_.totals.active_calls;
  shared_.totals.leaks += record_.leaks;
  shared_.totals.calls.push_back(std::move(record_));
  done_ = true;
}

asio::awaitable<bool> sim_call::set_up() {
  const sim_options& o = shared_.options;
  using media::bencode_dictionary;
  using media::bencode_value;
  bencode_dictionary offer;
  offer.set("command", bencode_value("offer"));
  offer.set("call-id", bencode_value(call_id_));
  offer.set("from-tag", bencode_value(call_id_ + "-caller"));
  offer.set("sdp",
            bencode_value(sdp_for(shared_.media_address, caller_socket_.local_endpoint().port(),
                                  o.alaw, static_cast<std::uint32_t>(rng_()))));
  auto offered = co_await shared_.ng.request(std::move(offer));
  if (!offered) {
    record_.error = offered.error_message();
    co_return false;
  }
  offered_ = true;
  auto agent_target = media_target(offered.value(), event_pt_);
  if (!agent_target) {
    record_.error = "ng offer: " + agent_target.error_message();
    co_return false;
  }
  agent_target_ = agent_target.value();

  bencode_dictionary answer;
  answer.set("command", bencode_value("answer"));
  answer.set("call-id", bencode_value(call_id_));
  answer.set("from-tag", bencode_value(call_id_ + "-caller"));
  answer.set("to-tag", bencode_value(call_id_ + "-agent"));
  answer.set("sdp",
             bencode_value(sdp_for(shared_.media_address, agent_socket_.local_endpoint().port(),
                                   o.alaw, static_cast<std::uint32_t>(rng_()))));
  auto answered = co_await shared_.ng.request(std::move(answer));
  if (!answered) {
    record_.error = answered.error_message();
    co_return false;
  }
  auto caller_target = media_target(answered.value(), event_pt_);
  if (!caller_target) {
    record_.error = "ng answer: " + caller_target.error_message();
    co_return false;
  }
  caller_target_ = caller_target.value();

  if (o.block_dtmf) {
    bencode_dictionary block;
    block.set("command", bencode_value("block DTMF"));
    block.set("call-id", bencode_value(call_id_));
    auto blocked = co_await shared_.ng.request(std::move(block));
    if (!blocked) {
      record_.error = blocked.error_message();
      co_return false;
    }
  }
  co_return true;
}

void sim_call::start_media() {
  // A random phase inside the 20 ms period spreads the calls' packets over time.
  media_start_ =
      clock::now() + std::chrono::microseconds(std::uniform_int_distribution<int>(0, 19999)(rng_));
  media_running_ = true;
  do_receive_agent();
  do_receive_caller();
}

asio::awaitable<void> sim_call::tear_down() {
  const bool was_running = media_running_;
  media_running_ = false;
  if (was_running) {
    // Packets still on their way to the agent.
    co_await sleep_for(200ms);
    scan_due_regions(true);
  }
  // A call the daemon knows (the offer went through) is deleted even when its set-up failed.
  if (offered_) {
    media::bencode_dictionary del;
    del.set("command", media::bencode_value("delete"));
    del.set("call-id", media::bencode_value(call_id_));
    del.set("from-tag", media::bencode_value(call_id_ + "-caller"));
    auto deleted = co_await shared_.ng.request(std::move(del));
    if (!deleted && record_.error.empty()) record_.error = deleted.error_message();
    record_.finished = was_running && deleted.ok();
  }
  boost::system::error_code ignored;
  caller_socket_.close(ignored);
  agent_socket_.close(ignored);
  if (have_seq_) {
    const auto expected = static_cast<std::uint64_t>(highest_seq_ - first_seq_ + 1);
    const std::uint64_t accounted = received_ + withheld_copies_;
    record_.lost = expected > accounted ? expected - accounted : 0;
  }
  record_.agent_received = received_;
  record_.audio_delay_ms = audio_delay_ms_;
  if (payment_ && !result_seen_) record_.payment_as_expected = false;
}

// ---------------------------------------------------------------------------------------------
// Payment

asio::awaitable<void> sim_call::run_payment() {
  const sim_options& o = shared_.options;
  caller_speaks_ = false;
  if (o.await_payment) {
    // Someone else (an agent in the panel, an IVR) starts the payment: the call shows it.
    const auto wait_until =
        clock::now() +
        std::chrono::milliseconds(static_cast<std::int64_t>(o.payment_timeout_s * 1000.0));
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (payment_id_.empty() && !shared_.stopping && clock::now() < wait_until) {
      std::string target = "/v1/calls/" + call_id_;
      auto call = co_await get_json(shared_.api, std::move(target));
      if (call && call.value().status == 200) {
        boost::system::error_code ec;
        const auto reply = boost::json::parse(call.value().body, ec);
        if (!ec && reply.is_object()) payment_id_ = json_string(reply.as_object(), "payment_id");
      }
      if (!payment_id_.empty()) break;
      pause.expires_after(std::chrono::milliseconds(200));
      boost::system::error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (payment_id_.empty()) {
      record_.error = "no payment was started on the call";
      co_return;
    }
  } else {
    boost::json::object body;
    body["amount"] = o.amount;
    body["currency"] = o.currency;
    body["reference"] = "sim-" + std::to_string(index_ + 1);
    body["mode"] = automated_ ? "automated" : "agent-assisted";
    // Arguments of a co_await are named locals: GCC 12 mishandles temporaries there.
    std::string target = "/v1/calls/" + call_id_ + "/payments";
    std::string text = boost::json::serialize(body);
    std::string key = call_id_ + "-payment";
    auto started =
        co_await post_json(shared_.api, std::move(target), std::move(text), std::move(key));
    if (!started) {
      record_.error = started.error_message();
      co_return;
    }
    boost::system::error_code ec;
    const auto reply = boost::json::parse(started.value().body, ec);
    if (started.value().status != 201 || ec || !reply.is_object()) {
      std::string code;
      if (!ec && reply.is_object()) {
        if (const auto* e = reply.as_object().if_contains("error");
            e != nullptr && e->is_object()) {
          code = " " + json_string(e->as_object(), "code");
        }
      }
      record_.error = "payment start: HTTP " + std::to_string(started.value().status) + code;
      co_return;
    }
    payment_id_ = json_string(reply.as_object(), "payment_id");
    if (payment_id_.empty()) {
      record_.error = "payment start: the reply has no payment_id";
      co_return;
    }
  }
  std::string why;
  const auto deadline = clock::now() + std::chrono::milliseconds(
                                           static_cast<std::int64_t>(o.payment_timeout_s * 1000.0));
  auto self = shared_from_this();
  std::function<void(std::string_view)> on_frame = [self](std::string_view frame) {
    self->on_event_frame(frame);
  };
  std::string events = "/v1/payments/" + payment_id_ + "/events";
  co_await follow_events(shared_.api, std::move(events), std::move(on_frame), deadline, &why);
  if (!result_seen_ && record_.error.empty()) {
    record_.error = why.empty() ? "the event stream ended without a result" : why;
  }
  // The caller finishes typing before talking again.
  while (!keys_.empty() && !shared_.stopping) co_await sleep_for(100ms);
  caller_speaks_ = true;
}

void sim_call::on_event_frame(std::string_view frame) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(frame, ec);
  if (ec || !value.is_object()) return;
  const auto& o = value.as_object();
  const std::string type = json_string(o, "type");
  if (type == "progress") {
    const std::string kind = json_string(o, "kind");
    if (kind == "field-started") {
      answer_field(json_string(o, "field"));
    } else if (kind == "confirmation-started") {
      type_keys("1", true);
    }
  } else if (type == "result") {
    result_seen_ = true;
    const std::string result = json_string(o, "result");
    record_.outcome = result;
    record_.brand = json_string(o, "brand");
    const std::string last_four = json_string(o, "last_four");
    if (last_four.size() == 4) record_.last_four = last_four;
    record_.payment_as_expected = declined_card_ ? result != "success" : result == "success";
    if (!record_.payment_as_expected && record_.error.empty()) {
      record_.error = "payment result " + result;
    }
    auto& bucket = shared_.totals.bucket(clock::now());
    if (result == "success") {
      ++shared_.totals.payments_succeeded;
      ++bucket.payments_succeeded;
    } else {
      ++shared_.totals.payments_failed;
      ++bucket.payments_failed;
    }
  } else if (type == "error") {
    if (const auto* e = o.if_contains("error"); e != nullptr && e->is_object()) {
      record_.error = "event stream error " + json_string(e->as_object(), "code");
    }
  }
}

void sim_call::answer_field(std::string_view field) {
  const sim_options& o = shared_.options;
  const std::string& card = declined_card_ ? o.declined_card : o.card;
  if (field == "card-number") {
    // '#' ends the entry unless the number already has its brand's longest length (the
    // entry then completes by itself and a '#' would land in the read-back).
    const auto brand = engine::detect_brand(card);
    const bool full = static_cast<int>(card.size()) >= engine::card_number_lengths(brand).max;
    type_keys(full ? card : card + "#", true);
  } else if (field == "expiry") {
    type_keys(future_expiry(), true);
  } else if (field == "cvv") {
    if (!o.cvv.empty()) {
      type_keys(o.cvv, true);
    } else {
      const int n = engine::cvv_length(engine::detect_brand(card));
      type_keys(n == 4 ? "1234" : "123", true);
    }
  } else if (field == "postal-code") {
    type_keys(o.postal_code, true);
  } else if (field == "amount") {
    std::string keys = o.amount;
    const auto dot = keys.find('.');
    if (dot != std::string::npos) {
      if (o.amount_minor_units) {
        keys.erase(dot, 1);
        keys.erase(0, std::min(keys.find_first_not_of('0'), keys.size() - 1));
      } else {
        keys[dot] = '*';
      }
    }
    type_keys(keys + "#", true);
  } else if (field == "amount-choice") {
    type_keys("1", true);
  } else if (field == "account-number") {
    type_keys(o.account + "#", true);
  } else if (field == "pin") {
    type_keys(o.pin + "#", true);
  } else if (field == "date-of-birth") {
    type_keys(o.date_of_birth, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

void sim_call::type_keys(std::string_view keys, bool think_first) {
  const sim_options& o = shared_.options;
  const std::int64_t now = frames_ * frame_samples;
  const auto length = static_cast<std::int64_t>(shared_.tones.length());
  const bool aligned = o.digits == digit_transport::rfc4733;
  auto align = [aligned](std::int64_t s) {
    return aligned ? (s + frame_samples - 1) / frame_samples * frame_samples : s;
  };
  std::int64_t at = now + (think_first ? ms_between(o.think_ms) * samples_per_ms : 0);
  if (!keys_.empty() || typing_end_ > now) {
    at = std::max(at, typing_end_ + ms_between(o.gap_ms) * samples_per_ms);
  }
  at = align(at);
  if (quiet_until_ <= now) quiet_from_ = now;
  for (char key : keys) {
    keys_.push_back({key, at});
    const key_region region{at - region_before, at + length + region_after};
    if (!regions_.empty() && region.begin <= regions_.back().end &&
        region.end - regions_.back().begin < static_cast<std::int64_t>(ring_size / 2)) {
      regions_.back().end = region.end;
    } else {
      regions_.push_back(region);
    }
    typing_end_ = at + length;
    at = align(typing_end_ + ms_between(o.gap_ms) * samples_per_ms);
    ++record_.keys_typed;
  }
  quiet_until_ = typing_end_ + quiet_after_keys;
}

void sim_call::type_random_groups() {
  // Card-like first, then anything a caller might type: an expiry, a CVV, another number.
  static constexpr int lengths[] = {16, 4, 3, 16};
  const int length =
      record_.keys_typed == 0 ? 16 : lengths[std::uniform_int_distribution<int>(0, 3)(rng_)];
  std::string keys;
  std::uniform_int_distribution<int> digit(0, 9);
  for (int i = 0; i < length; ++i) keys += static_cast<char>('0' + digit(rng_));
  if (length == 16) keys += '#';
  type_keys(keys, true);
}

// ---------------------------------------------------------------------------------------------
// Sending

void sim_call::tick(clock::time_point now) {
  if (!media_running_) return;
  for (int sent = 0; sent < 5; ++sent) {
    const auto due = media_start_ + frames_ * 20ms;
    if (due > now) return;
    if (now - due > 20ms) ++shared_.totals.late_frames;
    send_caller_frame();
    send_agent_frame();
    ++frames_;
  }
}

void sim_call::send_rtp(udp::socket& socket, const udp::endpoint& to, std::uint8_t payload_type,
                        bool marker, std::uint16_t seq, std::uint32_t ts, std::uint32_t ssrc,
                        const std::uint8_t* payload, std::size_t size) {
  std::array<std::uint8_t, 12 + 160> packet{};
  packet[0] = 0x80;
  packet[1] = static_cast<std::uint8_t>((marker ? 0x80 : 0) | (payload_type & 0x7f));
  packet[2] = static_cast<std::uint8_t>(seq >> 8);
  packet[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) {
    packet[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
    packet[8 + i] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  }
  std::copy_n(payload, size, packet.begin() + 12);
  boost::system::error_code ec;
  socket.send_to(asio::buffer(packet.data(), 12 + size), to, 0, ec);
}

void sim_call::send_caller_frame() {
  const sim_options& o = shared_.options;
  const std::int64_t pos = frames_ * frame_samples;
  std::array<std::int16_t, frame_samples> pcm{};
  const bool quiet = pos >= quiet_from_ && pos < quiet_until_;
  if (caller_speaks_ && !quiet) caller_speech_.next(pcm);
  const bool inband = o.digits != digit_transport::rfc4733;
  const bool events = o.digits != digit_transport::inband;
  const auto length = static_cast<std::int64_t>(shared_.tones.length());

  struct event_packet {
    std::uint8_t payload[4];
    std::uint32_t ts;
    bool marker;
    int copies;
  };
  std::optional<event_packet> event;
  for (const typed_key& k : keys_) {
    if (k.start >= pos + frame_samples) break;
    const std::int64_t end = k.start + length;
    if (end <= pos) continue;
    if (inband) {
      const auto tone = shared_.tones.samples(k.key);
      for (std::int64_t s = std::max(pos, k.start); s < std::min(pos + frame_samples, end); ++s) {
        pcm[static_cast<std::size_t>(s - pos)] = tone[static_cast<std::size_t>(s - k.start)];
      }
    }
    if (events && !event) {
      const int code = rfc4733_event_code(k.key);
      const bool last = end <= pos + frame_samples;
      const auto duration = static_cast<std::uint16_t>(
          std::min<std::int64_t>(last ? length : pos + frame_samples - k.start, 0xffff));
      event_packet e{};
      e.payload[0] = static_cast<std::uint8_t>(code);
      // E bit on the last report; volume 10 (-10 dBm0).
      e.payload[1] = static_cast<std::uint8_t>((last ? 0x80 : 0) | 10);
      e.payload[2] = static_cast<std::uint8_t>(duration >> 8);
      e.payload[3] = static_cast<std::uint8_t>(duration);
      e.ts = caller_ts0_ + static_cast<std::uint32_t>(k.start);
      e.marker = k.start >= pos;
      // RFC 4733 §2.5.1.4: the end is sent three times.
      e.copies = last ? 3 : 1;
      event = e;
    }
  }
  while (!keys_.empty() && keys_.front().start + length <= pos + frame_samples) keys_.pop_front();

  // Audio packets are stamped by timestamp: the daemon keeps it, while sequence numbers may
  // be renumbered where it withholds telephone-events.
  const auto stamp = [this](std::uint32_t ts) {
    sent_[(ts / frame_samples) & (sent_.size() - 1)] = {ts, true, clock::now()};
  };
  // With RFC 4733 alone, the events replace the audio while a key is held (as phones do).
  if (!(event && !inband)) {
    std::array<std::uint8_t, frame_samples> codes{};
    dsp::g711_encode(o.alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw, pcm, codes);
    const std::uint32_t ts = caller_ts0_ + static_cast<std::uint32_t>(pos);
    stamp(ts);
    ++record_.caller_sent;
    send_rtp(caller_socket_, caller_target_, audio_pt_, false, caller_seq_++, ts, caller_ssrc_,
             codes.data(), codes.size());
  }
  if (event) {
    for (int i = 0; i < event->copies; ++i) {
      ++record_.caller_sent;
      if (i > 0) redundant_[caller_seq_ & (redundant_.size() - 1)] = {caller_seq_, true};
      send_rtp(caller_socket_, caller_target_, event_pt_, event->marker && i == 0, caller_seq_++,
               event->ts, caller_ssrc_, event->payload, 4);
    }
  }
  if (caller_start_audio_.size() < delay_history) {
    caller_start_audio_.insert(caller_start_audio_.end(), pcm.begin(), pcm.end());
  }
}

void sim_call::send_agent_frame() {
  std::array<std::int16_t, frame_samples> pcm{};
  agent_speech_.next(pcm);
  std::array<std::uint8_t, frame_samples> codes{};
  dsp::g711_encode(shared_.options.alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw, pcm, codes);
  send_rtp(agent_socket_, agent_target_, audio_pt_, false, agent_seq_++,
           agent_ts0_ + static_cast<std::uint32_t>(frames_ * frame_samples), agent_ssrc_,
           codes.data(), codes.size());
  ++record_.agent_sent;
}

// ---------------------------------------------------------------------------------------------
// Receiving

void sim_call::do_receive_caller() {
  caller_socket_.async_receive_from(
      asio::buffer(caller_buffer_), from_caller_,
      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
        if (ec == asio::error::operation_aborted || !self->caller_socket_.is_open()) return;
        if (!ec) ++self->record_.caller_received;
        self->do_receive_caller();
      });
}

void sim_call::do_receive_agent() {
  agent_socket_.async_receive_from(
      asio::buffer(agent_buffer_), from_agent_,
      [self = shared_from_this()](boost::system::error_code ec, std::size_t size) {
        if (ec == asio::error::operation_aborted || !self->agent_socket_.is_open()) return;
        if (!ec) self->on_agent_packet(size);
        self->do_receive_agent();
      });
}

void sim_call::on_agent_packet(std::size_t size) {
  const auto now = clock::now();
  const auto parsed = media::parse_rtp(std::span<const std::uint8_t>(agent_buffer_.data(), size));
  if (!parsed.ok()) return;
  const media::rtp_view& v = parsed.view;
  auto& bucket = shared_.totals.bucket(now);

  // Sequence numbers: the daemon keeps them 1:1 toward the agent, so a gap is a loss.
  if (!have_seq_) {
    have_seq_ = true;
    first_seq_ = highest_seq_ = v.sequence;
  } else {
    const auto delta = static_cast<std::int16_t>(
        static_cast<std::uint16_t>(v.sequence - static_cast<std::uint16_t>(highest_seq_)));
    const std::int64_t extended = highest_seq_ + delta;
    // The repeated end packets of an event may be withheld on purpose: not a loss.
    for (std::int64_t missing = highest_seq_ + 1; missing < extended; ++missing) {
      const auto seq = static_cast<std::uint16_t>(missing);
      const redundant_copy& r = redundant_[seq & (redundant_.size() - 1)];
      if (r.used && r.seq == seq) {
        ++withheld_copies_;
      } else {
        ++bucket.lost_packets;
      }
    }
    highest_seq_ = std::max(highest_seq_, extended);
  }
  ++received_;
  ++bucket.received;

  const sent_stamp& stamp = sent_[(v.timestamp / frame_samples) & (sent_.size() - 1)];
  if (v.payload_type == audio_pt_ && stamp.used && stamp.ts == v.timestamp) {
    const double transit = std::chrono::duration<double, std::milli>(now - stamp.at).count();
    shared_.totals.transit.add(transit);
    // Added latency counts once the call's audio delay is known (after its first seconds).
    if (audio_delay_ms_) {
      const double added = transit + *audio_delay_ms_;
      shared_.totals.added.add(added);
      bucket.latency_sum_ms += added;
      ++bucket.latency_count;
      bucket.latency_max_ms = std::max(bucket.latency_max_ms, added);
    }
  }

  if (v.payload_type == event_pt_ && v.payload_type != audio_pt_) {
    ++record_.rfc4733_packets_leaked;
    for (const auto& report : agent_events_.feed(v.sequence, v.timestamp, v.marker, v.payload)) {
      if (report.kind == media::telephone_event_kind::key_start) ++record_.rfc4733_events_leaked;
    }
    return;
  }
  if (v.payload_type != audio_pt_) return;

  // The agent's audio on the caller's timeline: the daemon keeps RTP timestamps too.
  const auto rel = static_cast<std::int64_t>(static_cast<std::int32_t>(v.timestamp - caller_ts0_));
  const auto n = static_cast<std::int64_t>(v.payload.size());
  if (rel < 0 || rel + n > ring_end_ + static_cast<std::int64_t>(ring_size)) return;
  const std::uint8_t silence = shared_.options.alaw ? 0xd5 : 0xff;
  for (std::int64_t s = ring_end_; s < rel; ++s)
    ring_[static_cast<std::size_t>(s) & (ring_size - 1)] = silence;
  for (std::int64_t i = 0; i < n; ++i) {
    ring_[static_cast<std::size_t>(rel + i) & (ring_size - 1)] =
        v.payload[static_cast<std::size_t>(i)];
  }
  ring_end_ = std::max(ring_end_, rel + n);
  if (!delay_tried_) estimate_audio_delay();
  scan_due_regions(false);
}

void sim_call::scan_due_regions(bool all) {
  const auto law = shared_.options.alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw;
  while (!regions_.empty() && (all || regions_.front().end + frame_samples <= ring_end_)) {
    const key_region r = regions_.front();
    regions_.pop_front();
    const std::int64_t begin = std::max<std::int64_t>(r.begin, 0);
    const std::int64_t end = std::min(r.end, ring_end_);
    if (begin < ring_end_ - static_cast<std::int64_t>(ring_size) || end - begin < frame_samples) {
      ++record_.key_regions_unscanned;
      continue;
    }
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(end - begin));
    for (std::int64_t s = begin; s < end; ++s) {
      codes[static_cast<std::size_t>(s - begin)] =
          ring_[static_cast<std::size_t>(s) & (ring_size - 1)];
    }
    std::vector<float> audio(codes.size());
    dsp::g711_decode(law, codes, audio);
    record_.leaks += static_cast<int>(dsp::scan_for_dtmf_leaks(audio).size());
    ++record_.key_regions_scanned;
  }
}

void sim_call::estimate_audio_delay() {
  // The first stretch of caller audio that the agent received whole, with speech in it.
  const std::int64_t start = 1600;
  if (caller_start_audio_.size() < delay_history) return;
  if (ring_end_ < start + delay_window + delay_max_lag + frame_samples) return;
  delay_tried_ = true;
  double caller_energy = 0.0;
  for (std::int64_t i = 0; i < delay_window; ++i) {
    const double c = caller_start_audio_[static_cast<std::size_t>(start + i)];
    caller_energy += c * c;
  }
  // Quieter than -50 dBm0 on average: nothing to correlate (silence or --speech none).
  if (caller_energy / static_cast<double>(delay_window) < 5.0) return;
  const auto law = shared_.options.alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw;
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(delay_window + delay_max_lag));
  for (std::size_t i = 0; i < codes.size(); ++i) {
    codes[i] =
        ring_[static_cast<std::size_t>(start + static_cast<std::int64_t>(i)) & (ring_size - 1)];
  }
  std::vector<float> agent(codes.size());
  dsp::g711_decode(law, codes, agent);
  double best = 0.0;
  std::int64_t best_lag = -1;
  for (std::int64_t lag = 0; lag <= delay_max_lag; ++lag) {
    double dot = 0.0;
    double energy = 0.0;
    for (std::int64_t i = 0; i < delay_window; ++i) {
      const double a = agent[static_cast<std::size_t>(lag + i)];
      dot += caller_start_audio_[static_cast<std::size_t>(start + i)] * a;
      energy += a * a;
    }
    if (energy <= 0.0) continue;
    const double correlation = dot / std::sqrt(caller_energy * energy);
    if (correlation > best) {
      best = correlation;
      best_lag = lag;
    }
  }
  if (best_lag >= 0 && best > 0.8) {
    audio_delay_ms_ = static_cast<double>(best_lag) / static_cast<double>(samples_per_ms);
  }
}

}  // namespace toneguard::sim
