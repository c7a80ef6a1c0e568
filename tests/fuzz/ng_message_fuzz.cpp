// libFuzzer target: parse arbitrary bytes as an ng request datagram; a request must survive
// encode -> parse unchanged, and every failure must yield a reply that decodes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "toneguard/media/ng_message.h"

using namespace toneguard::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view datagram(reinterpret_cast<const char*>(data), size);

  ng_parse_failure failure;
  auto request = parse_ng_request(datagram, &failure);
  if (!request.ok()) {
    if (request.error_message().empty()) std::abort();
    if (!failure.cookie.empty()) {
      const std::string reply =
          encode_ng_reply(failure.cookie, ng_error_reply(request.error_message()));
      auto decoded = decode_bencode(std::string_view(reply).substr(failure.cookie.size() + 1));
      if (!decoded.ok() || decoded.value().string_at("error-reason") == nullptr) std::abort();
    }
    return 0;
  }

  const ng_request& req = request.value();
  // Exercise every accessor: they must not fail on anything the parser accepted.
  (void)req.call_id();
  (void)req.from_tag();
  (void)req.to_tag();
  (void)req.via_branch();
  (void)req.sdp();
  (void)req.ice();
  (void)req.transport_protocol();
  (void)req.flags();
  (void)req.replace();
  (void)req.direction();
  (void)req.rtcp_mux();
  if (req.body.find("DTMF-security") != nullptr && !req.dtmf_security()) std::abort();
  if (req.body.find("delay-buffer") != nullptr) {
    const auto ms = req.delay_buffer_ms();
    if (!ms || *ms < 0 || *ms > ng_max_delay_buffer_ms) std::abort();
  }

  auto again = parse_ng_request(encode_ng_reply(req.cookie, req.body));
  if (!again.ok() || again.value().command != req.command || !(again.value().body == req.body))
    std::abort();
  return 0;
}
