#include "server_tls.h"

#include <openssl/ssl.h>

namespace toneguard::engine::detail {

void harden_server_tls(boost::asio::ssl::context& tls) {
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_options(tls.native_handle(),
                      SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
}

std::optional<std::string> load_server_certificate(boost::asio::ssl::context& tls,
                                                   const std::string& cert_file,
                                                   const std::string& key_file) {
  boost::system::error_code ec;
  tls.use_certificate_chain_file(cert_file, ec);
  if (ec) return "cert_file '" + cert_file + "': " + ec.message();
  tls.use_private_key_file(key_file, boost::asio::ssl::context::pem, ec);
  if (ec) return "key_file '" + key_file + "': " + ec.message();
  if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
    return "key_file does not match cert_file";
  }
  return std::nullopt;
}

}  // namespace toneguard::engine::detail
