#pragma once
// The short names the engine's Boost.Beast code shares (internal to engine, included by .cpp
// files only): the gateway client, the sandbox gateway, the payment API server and the status
// callback.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/system/error_code.hpp>
#include <string>

#include "toneguard/engine/gateway_client.h"

namespace toneguard::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

/// An HTTP body whose storage is wiped as it is freed (zeroizing_allocator), for the messages
/// that carry card data.
using secret_body =
    http::basic_string_body<char, std::char_traits<char>, zeroizing_allocator<char>>;

}  // namespace toneguard::engine
