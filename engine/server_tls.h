#pragma once
// The TLS server context of the engine's HTTP servers (internal to engine): the payment API
// server and the sandbox gateway set theirs up the same way.

#include <boost/asio/ssl/context.hpp>
#include <optional>
#include <string>

namespace toneguard::engine::detail {

/// Sets `tls` (a tls_server context) to TLS 1.2 or later, plaintext cleansed, no compression,
/// no renegotiation. Called by start(), before any session uses the context.
void harden_server_tls(boost::asio::ssl::context& tls);

/// Loads `cert_file` (a PEM chain) and `key_file` (a PEM key) into `tls` and checks that they
/// match; the problem in start()'s words ("cert_file 'PATH': ...", "key_file 'PATH': ...",
/// "key_file does not match cert_file"), nullopt when loaded.
[[nodiscard]] std::optional<std::string> load_server_certificate(boost::asio::ssl::context& tls,
                                                                 const std::string& cert_file,
                                                                 const std::string& key_file);

}  // namespace toneguard::engine::detail
