#pragma once
/// An ng control client as rtpengine's users (Kamailio, OpenSIPS) run one: bencode
/// dictionaries in UDP datagrams `<cookie> <dict>`, one socket for every call, a request
/// retransmitted with the same cookie until its reply comes (the daemon's duplicate-cookie
/// cache answers a retransmission without doing the work twice).
/// Runs on one io_context; every member is called from the thread that runs it.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "toneguard/media/bencode.h"
#include "toneguard/media/result.h"

namespace toneguard::sim {

class ng_client {
 public:
  /// A client talking to the daemon's ng socket at `daemon`.
  ng_client(boost::asio::io_context& io, const boost::asio::ip::udp::endpoint& daemon);
  ng_client(const ng_client&) = delete;
  ng_client& operator=(const ng_client&) = delete;

  /// Sends `request` and waits for the reply: tried `attempts` times, `timeout_ms` apart.
  /// The reply's dictionary when its "result" is "ok"; otherwise a message naming the command
  /// and the daemon's error-reason, or the timeout.
  [[nodiscard]] boost::asio::awaitable<media::result<media::bencode_dictionary>> request(
      media::bencode_dictionary request, int timeout_ms = 1000, int attempts = 3);

  /// Stops receiving (pending requests end with an error).
  void close();

 private:
  struct waiting {
    boost::asio::steady_timer* wake = nullptr;
    std::string reply;
    bool answered = false;
  };
  void do_receive();
  void on_datagram(std::size_t size);

  boost::asio::ip::udp::socket socket_;
  boost::asio::ip::udp::endpoint daemon_;
  boost::asio::ip::udp::endpoint from_;
  std::string buffer_;
  std::uint64_t next_cookie_ = 1;
  std::unordered_map<std::string, waiting*> waiting_;
};

}  // namespace toneguard::sim
