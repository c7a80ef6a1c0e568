#include "ng_client.h"

#include <unistd.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace toneguard::sim {

namespace asio = boost::asio;
using asio::ip::udp;

ng_client::ng_client(asio::io_context& io, const udp::endpoint& daemon)
    : socket_(io, udp::endpoint(daemon.address().is_v4() ? udp::v4() : udp::v6(), 0)),
      daemon_(daemon),
      buffer_(65536, '\0') {
  do_receive();
}

void ng_client::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  for (auto& [cookie, w] : waiting_) w->wake->cancel();
}

void ng_client::do_receive() {
  socket_.async_receive_from(asio::buffer(buffer_), from_,
                             [this](boost::system::error_code ec, std::size_t size) {
                               if (ec == asio::error::operation_aborted || !socket_.is_open()) {
                                 return;
                               }
                               if (!ec) on_datagram(size);
                               do_receive();
                             });
}

void ng_client::on_datagram(std::size_t size) {
  const std::string_view datagram(buffer_.data(), size);
  const auto space = datagram.find(' ');
  if (space == std::string_view::npos) return;
  const auto found = waiting_.find(std::string(datagram.substr(0, space)));
  if (found == waiting_.end()) return;  // a late reply to a retransmission
  found->second->reply.assign(datagram.substr(space + 1));
  found->second->answered = true;
  found->second->wake->cancel();
}

asio::awaitable<media::result<media::bencode_dictionary>> ng_client::request(
    media::bencode_dictionary request, int timeout_ms, int attempts) {
  const std::string* command = request.string_at("command");
  const std::string name = command != nullptr ? *command : "request";
  const std::string cookie = std::to_string(::getpid()) + "_" + std::to_string(next_cookie_++);
  const std::string datagram =
      cookie + " " + media::encode_bencode(media::bencode_value(std::move(request)));
  asio::steady_timer wake(socket_.get_executor());
  waiting w;
  w.wake = &wake;
  waiting_.emplace(cookie, &w);
  for (int attempt = 0; attempt < attempts && !w.answered && socket_.is_open(); ++attempt) {
    boost::system::error_code ec;
    socket_.send_to(asio::buffer(datagram), daemon_, 0, ec);
    wake.expires_after(std::chrono::milliseconds(timeout_ms));
    co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  waiting_.erase(cookie);
  if (!w.answered) co_return media::error{"ng " + name + ": no reply from the daemon"};
  auto decoded = media::decode_bencode(w.reply);
  if (!decoded || !decoded.value().is_dictionary()) {
    co_return media::error{"ng " + name + ": the reply is not a bencode dictionary"};
  }
  media::bencode_dictionary reply = *decoded.value().if_dictionary();
  const std::string* result = reply.string_at("result");
  if (result == nullptr || *result != "ok") {
    const std::string* reason = reply.string_at("error-reason");
    co_return media::error{
        "ng " + name + ": " +
        (reason != nullptr ? *reason
                           : std::string("result ") + (result != nullptr ? *result : "missing"))};
  }
  co_return reply;
}

}  // namespace toneguard::sim
