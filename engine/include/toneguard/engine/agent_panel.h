#pragma once
/// The agent panel: the web page agents use to take payments on their calls (engine/panel/
/// agent_panel.html). The daemon serves it at / and /panel through
/// api_server_settings::extra_routes (content type "text/html; charset=utf-8", no token: the
/// page asks for one and sends it to the API itself).

#include <string_view>

namespace toneguard::engine {

/// The agent panel page: engine/panel/agent_panel.html as it was at build time (embedded by the
/// build), one self-contained HTML document (inline CSS and JavaScript, no external resources).
/// It lists the calls (GET /v1/calls, every second), starts a payment on one (POST
/// /v1/calls/{call_id}/payments with an Idempotency-Key), follows its masked progress over the
/// events WebSocket, cancels it and shows its result; it renders counts, names, the brand and
/// the last four digits only. Static storage; any thread.
[[nodiscard]] std::string_view agent_panel_page() noexcept;

}  // namespace toneguard::engine
