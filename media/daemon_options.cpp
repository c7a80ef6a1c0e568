#include "toneguard/media/daemon_options.h"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

namespace toneguard::media {

namespace {

/// The value types an option accepts in a config file.
enum class value_kind {
  flag,             // command line only, no value
  text,             // a string
  texts,            // a string or a list of strings (repeatable on the command line)
  integer,          // an integer
  text_or_integer,  // either
  boolean,          // yes/no: "--name" alone or "--name=no" on the command line
};

struct option_spec {
  std::string_view name;
  value_kind kind;
  bool command_line_only;
  std::string_view value_hint;
  std::string_view help;
};

constexpr std::array<option_spec, 26> specs{{
    {"config-file", value_kind::text, true, "FILE",
     "read options from FILE first (TOML: *.toml, YAML: *.yaml/*.yml); keys are the option\n"
     "      names without dashes; the command line overrides the file"},
    {"interface", value_kind::texts, false, "ADDR",
     "local address for media (IPv4 or IPv6 literal; repeatable; default 127.0.0.1)"},
    {"listen-ng", value_kind::text, false, "ADDR:PORT",
     "ng control socket, e.g. 127.0.0.1:2223 or [::1]:2223 (default 127.0.0.1:2223)"},
    {"port-min", value_kind::integer, false, "PORT",
     "lowest media port, 1024..65535, even recommended (default 30000)"},
    {"port-max", value_kind::integer, false, "PORT", "highest media port (default 39999)"},
    {"log-level", value_kind::text_or_integer, false, "LEVEL",
     "error, warn, info or debug, or syslog 0-7 (default info)"},
    {"num-threads", value_kind::integer, false, "N",
     "media worker threads, 1..1024 (default: one per core)"},
    {"io-backend", value_kind::text, false, "KIND",
     "how media workers move datagrams: auto (io_uring where the kernel has it, else\n"
     "      epoll), io_uring or epoll (default auto)"},
    {"io-coalesce-us", value_kind::integer, false, "US",
     "io_uring: how long a worker lets datagrams gather after the first, 0..5000 us;\n"
     "      the most latency it adds (default 200)"},
    {"timeout", value_kind::integer, false, "SECONDS",
     "end a call when neither side has sent media for SECONDS, 0..86400, 0 = never\n"
     "      (default 60)"},
    {"final-timeout", value_kind::integer, false, "SECONDS",
     "end any call after SECONDS, 0..604800, 0 = never (default 0)"},
    {"delay-buffer", value_kind::integer, false, "MS",
     "look-ahead of the masker when `block DTMF` gives none, 10..200 ms; under 10 ms keys\n"
     "      leak, so a smaller per-call delay-buffer is raised to 10 (default 15)"},
    {"dtmf-security", value_kind::text, false, "MODE",
     "how masked keys sound when `block DTMF` gives no DTMF-security: silence, tone\n"
     "      (flat 500 Hz) or random (comfort noise) (default silence)"},
    {"mask-all-calls", value_kind::boolean, false, "",
     "mask keys toward the agent on every call from its start, as if blocked (default no)"},
    {"detect-agent-dtmf", value_kind::boolean, false, "",
     "also find keys the agent sends (reported with leg agent, never masked) (default no)"},
    {"strict-source", value_kind::boolean, false, "",
     "on every call, drop media that does not come from a side's latched address (default\n"
     "      no; the ng flag strict-source sets it per call)"},
    {"api-listen", value_kind::text, false, "ADDR:PORT",
     "the payment API, agent panel and /metrics (HTTP or HTTPS) listen here; started when\n"
     "      api-token-file names at least one token (default 127.0.0.1:2280)"},
    {"api-token-file", value_kind::text, false, "FILE",
     "API bearer tokens, one per line: TOKEN, or TOKEN read-only; # starts a comment"},
    {"api-tls-cert", value_kind::text, false, "FILE",
     "serve the API over HTTPS with this PEM certificate chain (with api-tls-key)"},
    {"api-tls-key", value_kind::text, false, "FILE", "the PEM private key of api-tls-cert"},
    {"callback-secret-file", value_kind::text, false, "FILE",
     "status callbacks are signed (X-Toneguard-Signature: HMAC-SHA256) with the secret in\n"
     "      FILE (its first line); default: unsigned"},
    {"payment-config", value_kind::text, false, "FILE",
     "payment settings: the [payment] table of this TOML file (a TOML config-file's own\n"
     "      [payment] table is read too; default: built-in, with the sandbox gateway)"},
    {"prompts", value_kind::text, false, "DIR",
     "the prompt set (manifest.tsv) of the payment language (default: prompts/LANG beside\n"
     "      the program's directory, then /usr/share/toneguard/prompts/LANG)"},
    {"report-db", value_kind::text, false, "FILE|URI",
     "the reporting store of calls, segments and payments: a SQLite file, or a PostgreSQL\n"
     "      database shared by every node, postgresql://USER:PASSWORD@HOST:PORT/DBNAME\n"
     "      (default: SQLite in memory)"},
    {"node-name", value_kind::text, false, "NAME",
     "this node's name in reports (default: the host name)"},
    {"help", value_kind::flag, true, "", "print this help and exit"},
}};

const option_spec* find_spec(std::string_view name) {
  for (const auto& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for a near miss (underscores for dashes, case, a typo), else "".
std::string suggestion(std::string_view unknown, bool config) {
  std::string normalized(unknown);
  std::replace(normalized.begin(), normalized.end(), '_', '-');
  std::transform(normalized.begin(), normalized.end(), normalized.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const option_spec* best = nullptr;
  std::size_t best_distance = 3;
  for (const auto& s : specs) {
    if (config && s.command_line_only) continue;
    const std::size_t d = edit_distance(normalized, s.name);
    if (d < best_distance) {
      best = &s;
      best_distance = d;
    }
  }
  if (best == nullptr) return {};
  return std::string(" (did you mean '") + (config ? "" : "--") + std::string(best->name) + "'?)";
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  // Bound what an attacker-controlled config can put into one message.
  out.append(s.substr(0, 200));
  if (s.size() > 200) out += "...";
  out += '\'';
  return out;
}

std::optional<long long> parse_integer(std::string_view s) {
  long long v = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

/// Where a value came from, for messages: "--port-min" or "config x.toml: key 'port-min'".
struct source {
  std::string prefix;
};

// Sets one option from its textual value. For `texts`, `replace_list` starts a new list.
std::optional<std::string> apply_value(daemon_options& o, const option_spec& spec,
                                       std::string_view value, bool replace_list,
                                       const source& where) {
  const auto fail = [&](std::string problem) {
    return std::optional<std::string>(where.prefix + ": " + std::move(problem));
  };
  const std::string_view name = spec.name;
  if (name == "config-file") {
    if (value.empty()) return fail("empty file name");
    o.config_file = std::string(value);
  } else if (name == "interface") {
    if (!is_ip_literal(value)) return fail(quoted(value) + " is not an IPv4 or IPv6 address");
    if (replace_list) o.interfaces.clear();
    if (std::find(o.interfaces.begin(), o.interfaces.end(), value) == o.interfaces.end())
      o.interfaces.emplace_back(value);
  } else if (name == "listen-ng") {
    auto endpoint = parse_ip_endpoint(value);
    if (!endpoint.ok()) return fail(endpoint.error_message());
    o.listen_ng = std::move(endpoint).value();
  } else if (name == "port-min" || name == "port-max") {
    const auto v = parse_integer(value);
    if (!v || *v < 1024 || *v > 65535)
      return fail(quoted(value) + " is not a port number in 1024..65535");
    (name == "port-min" ? o.port_min : o.port_max) = static_cast<std::uint16_t>(*v);
  } else if (name == "log-level") {
    const auto level = parse_log_level(value);
    if (!level)
      return fail(quoted(value) + " is not a log level (error, warn, info, debug or 0-7)");
    o.level = *level;
  } else if (name == "num-threads") {
    const auto v = parse_integer(value);
    if (!v || *v < 1 || *v > 1024) return fail(quoted(value) + " is not a count in 1..1024");
    o.num_threads = static_cast<unsigned>(*v);
  } else if (name == "io-backend") {
    if (value == "auto") {
      o.io_backend = relay_backend::automatic;
    } else if (value == "io_uring") {
      o.io_backend = relay_backend::io_uring;
    } else if (value == "epoll") {
      o.io_backend = relay_backend::epoll;
    } else {
      return fail(quoted(value) + " is not an I/O backend (auto, io_uring or epoll)");
    }
  } else if (name == "io-coalesce-us") {
    const auto v = parse_integer(value);
    if (!v || *v < 0 || *v > 5000) return fail(quoted(value) + " is not a time in 0..5000 us");
    o.io_coalesce_us = static_cast<int>(*v);
  } else if (name == "timeout" || name == "final-timeout") {
    const long long limit = name == "timeout" ? 86400 : 604800;
    const auto v = parse_integer(value);
    if (!v || *v < 0 || *v > limit)
      return fail(quoted(value) + " is not a number of seconds in 0.." + std::to_string(limit));
    (name == "timeout" ? o.timeout_s : o.final_timeout_s) = static_cast<int>(*v);
  } else if (name == "delay-buffer") {
    const auto v = parse_integer(value);
    if (!v || *v < min_leak_free_delay_ms || *v > 200)
      return fail(quoted(value) + " is not a look-ahead in " +
                  std::to_string(min_leak_free_delay_ms) + "..200 ms");
    o.delay_buffer_ms = static_cast<int>(*v);
  } else if (name == "dtmf-security") {
    if (value != "silence" && value != "tone" && value != "random")
      return fail(quoted(value) + " is not a masking mode (silence, tone or random)");
    o.dtmf_security = std::string(value);
  } else if (spec.kind == value_kind::boolean) {
    bool on = false;
    if (value == "yes" || value == "true" || value == "on" || value == "1") {
      on = true;
    } else if (value != "no" && value != "false" && value != "off" && value != "0") {
      return fail(quoted(value) + " is not yes or no");
    }
    if (name == "mask-all-calls") o.mask_all_calls = on;
    if (name == "detect-agent-dtmf") o.detect_agent_dtmf = on;
    if (name == "strict-source") o.strict_source = on;
  } else if (name == "api-listen") {
    auto endpoint = parse_ip_endpoint(value);
    if (!endpoint.ok()) return fail(endpoint.error_message());
    o.api_listen = std::move(endpoint).value();
  } else if (name == "api-token-file" || name == "api-tls-cert" || name == "api-tls-key" ||
             name == "payment-config" || name == "prompts" || name == "report-db" ||
             name == "node-name" || name == "callback-secret-file") {
    if (value.empty()) return fail("empty value");
    std::string& field = name == "api-token-file"   ? o.api_token_file
                         : name == "api-tls-cert"   ? o.api_tls_cert
                         : name == "api-tls-key"    ? o.api_tls_key
                         : name == "payment-config" ? o.payment_config_file
                         : name == "prompts"        ? o.prompts_dir
                         : name == "report-db"      ? o.report_db
                         : name == "node-name"      ? o.node_name
                                                    : o.callback_secret_file;
    field = std::string(value);
  } else if (name == "help") {
    o.help = true;
  }
  return std::nullopt;
}

std::string kind_expectation(value_kind kind) {
  switch (kind) {
    case value_kind::text:
      return "a string";
    case value_kind::texts:
      return "a string or a list of strings";
    case value_kind::integer:
      return "an integer";
    case value_kind::text_or_integer:
      return "a string or an integer";
    case value_kind::boolean:
      return "a boolean";
    case value_kind::flag:
      break;
  }
  return "nothing";
}

/// A config value reduced to what apply_value takes: one or more strings, or a type
/// mismatch described by the name of the type found.
struct config_value {
  std::vector<std::string> items;
  std::string wrong_type;  // non-empty: the type found, which `kind` does not accept
};

// Checks one key of a config file and applies it.
std::optional<std::string> apply_config_key(daemon_options& o, std::string_view key,
                                            const config_value& value, std::string_view origin) {
  const std::string prefix = "config " + std::string(origin);
  const option_spec* spec = find_spec(key);
  if (spec == nullptr) return prefix + ": unknown key " + quoted(key) + suggestion(key, true);
  if (spec->command_line_only)
    return prefix + ": key " + quoted(key) + " is only allowed on the command line";
  const source where{prefix + ": key " + quoted(key)};
  if (!value.wrong_type.empty())
    return where.prefix + ": expected " + kind_expectation(spec->kind) + ", got " +
           value.wrong_type;
  if (value.items.empty()) return where.prefix + ": empty list";
  bool first = true;
  for (const auto& item : value.items) {
    if (auto problem = apply_value(o, *spec, item, first, where)) return problem;
    first = false;
  }
  return std::nullopt;
}

std::string toml_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

config_value from_toml(const toml::node& node, value_kind kind) {
  config_value v;
  if (const auto* s = node.as_string()) {
    if (kind == value_kind::integer || kind == value_kind::boolean) v.wrong_type = "a string";
    v.items.push_back(s->get());
  } else if (const auto* i = node.as_integer()) {
    if (kind != value_kind::integer && kind != value_kind::text_or_integer)
      v.wrong_type = "an integer";
    v.items.push_back(std::to_string(i->get()));
  } else if (const auto* b = node.as_boolean(); b != nullptr && kind == value_kind::boolean) {
    v.items.emplace_back(b->get() ? "yes" : "no");
  } else if (const auto* a = node.as_array(); a != nullptr && kind == value_kind::texts) {
    for (const auto& element : *a) {
      if (const auto* es = element.as_string()) {
        v.items.push_back(es->get());
      } else {
        v.wrong_type = "a list holding " + toml_type_name(element);
        break;
      }
    }
  } else {
    v.wrong_type = toml_type_name(node);
  }
  return v;
}

result<daemon_options> apply_toml(std::string_view text, std::string_view origin,
                                  daemon_options o) {
  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return error{"config " + std::string(origin) + ": line " + std::to_string(where.line) +
                 ", column " + std::to_string(where.column) + ": " + std::string(e.description())};
  }
  for (const auto& [key, node] : table) {
    // The payment settings' table belongs to the payment config (the daemon reads it).
    if (key.str() == "payment" && node.is_table()) {
      o.payment_in_config_file = true;
      continue;
    }
    const option_spec* spec = find_spec(key.str());
    const config_value value =
        spec != nullptr ? from_toml(node, spec->kind) : config_value{{"-"}, {}};
    if (auto problem = apply_config_key(o, key.str(), value, origin)) return error{*problem};
  }
  return o;
}

std::string yaml_type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "no value";
}

config_value from_yaml(const YAML::Node& node, value_kind kind) {
  config_value v;
  // YAML scalars are untyped text; integers are checked when the text is applied.
  if (node.IsScalar()) {
    v.items.push_back(node.Scalar());
  } else if (node.IsSequence() && kind == value_kind::texts) {
    for (const auto& element : node) {
      if (!element.IsScalar()) {
        v.wrong_type = "a list holding " + yaml_type_name(element);
        break;
      }
      v.items.push_back(element.Scalar());
    }
  } else {
    v.wrong_type = yaml_type_name(node);
  }
  return v;
}

result<daemon_options> apply_yaml(std::string_view text, std::string_view origin,
                                  daemon_options o) {
  const std::string prefix = "config " + std::string(origin);
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) return o;
    if (!root.IsMap())
      return error{prefix + ": the top level must be a mapping of option names to values"};
    std::set<std::string, std::less<>> seen;
    for (const auto& entry : root) {
      if (!entry.first.IsScalar()) return error{prefix + ": a key is not a plain name"};
      const std::string& key = entry.first.Scalar();
      if (!seen.insert(key).second) return error{prefix + ": duplicate key " + quoted(key)};
      const option_spec* spec = find_spec(key);
      const config_value value =
          spec != nullptr ? from_yaml(entry.second, spec->kind) : config_value{{"-"}, {}};
      if (auto problem = apply_config_key(o, key, value, origin)) return error{*problem};
    }
  } catch (const YAML::Exception& e) {
    return error{prefix + ": line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1) + ": " + e.msg};
  } catch (const std::exception& e) {
    return error{prefix + ": " + e.what()};
  }
  return o;
}

result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error{"config " + path + ": cannot open: " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return error{"config " + path + ": cannot read"};
  return text.str();
}

}  // namespace

daemon_options default_daemon_options() {
  daemon_options o;
  o.num_threads = std::max(1u, std::thread::hardware_concurrency());
  return o;
}

namespace {

// inet_pton on a view: the whole text must be the literal (inet_pton would stop at a NUL).
bool is_address_of(int family, std::string_view text) {
  if (text.empty() || text.size() > 64 || text.find('\0') != std::string_view::npos) return false;
  const std::string s(text);
  std::array<unsigned char, 16> buf{};
  return ::inet_pton(family, s.c_str(), buf.data()) == 1;
}

}  // namespace

bool is_ip_literal(std::string_view text) {
  return is_address_of(AF_INET, text) || is_address_of(AF_INET6, text);
}

result<ip_endpoint> parse_ip_endpoint(std::string_view text) {
  std::string_view address;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return error{quoted(text) + " is not [IPv6]:PORT"};
    address = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_address_of(AF_INET6, address))
      return error{quoted(address) + " is not an IPv6 address"};
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return error{quoted(text) + " is not ADDRESS:PORT (IPv6 as [::1]:PORT)"};
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (address.find(':') != std::string_view::npos)
      return error{quoted(text) + ": write an IPv6 address in brackets, e.g. [::1]:2223"};
    if (!is_address_of(AF_INET, address)) return error{quoted(address) + " is not an IPv4 address"};
  }
  const auto p = parse_integer(port);
  if (!p || *p < 0 || *p > 65535) return error{quoted(port) + " is not a port in 0..65535"};
  return ip_endpoint{std::string(address), static_cast<std::uint16_t>(*p)};
}

result<config_format> config_format_for(std::string_view file_name) {
  const auto ends_with = [&](std::string_view suffix) {
    return file_name.size() >= suffix.size() &&
           file_name.substr(file_name.size() - suffix.size()) == suffix;
  };
  if (ends_with(".toml")) return config_format::toml;
  if (ends_with(".yaml") || ends_with(".yml")) return config_format::yaml;
  return error{"--config-file: " + quoted(file_name) +
               " has no known extension (.toml, .yaml or .yml)"};
}

result<daemon_options> parse_daemon_config_text(std::string_view text, config_format format,
                                                std::string_view origin, daemon_options base) {
  // Both parsers throw on bad input; nothing escapes this function.
  try {
    return format == config_format::toml ? apply_toml(text, origin, std::move(base))
                                         : apply_yaml(text, origin, std::move(base));
  } catch (const std::exception& e) {
    return error{"config " + std::string(origin) + ": " + e.what()};
  }
}

result<daemon_options> parse_daemon_options(int argc, const char* const* argv) {
  struct given {
    const option_spec* spec;
    std::string value;
    std::string name;
  };
  std::vector<given> command_line;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--")
      return error{"unexpected argument " + quoted(arg) + " (options start with --)"};
    const auto eq = arg.find('=');
    const std::string_view name = arg.substr(2, eq == std::string_view::npos ? arg.npos : eq - 2);
    const option_spec* spec = find_spec(name);
    if (spec == nullptr)
      return error{"unknown option " + quoted(std::string("--") + std::string(name)) +
                   suggestion(name, false)};
    const std::string dashed = "--" + std::string(name);
    std::string value;
    if (spec->kind == value_kind::flag) {
      if (eq != std::string_view::npos) return error{dashed + ": takes no value"};
    } else if (spec->kind == value_kind::boolean) {
      value = eq != std::string_view::npos ? std::string(arg.substr(eq + 1)) : "yes";
    } else if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return error{dashed + ": missing value (" + std::string(spec->value_hint) + ")"};
    }
    command_line.push_back({spec, std::move(value), dashed});
  }

  daemon_options o = default_daemon_options();
  for (const auto& g : command_line) {
    if (g.spec->name == "config-file") {
      if (g.value.empty()) return error{"--config-file: empty file name"};
      o.config_file = g.value;
    }
  }
  if (!o.config_file.empty()) {
    auto format = config_format_for(o.config_file);
    if (!format.ok()) return error{format.error_message()};
    auto text = read_file(o.config_file);
    if (!text.ok()) return error{text.error_message()};
    // Copied: `o` is moved into the call, and the origin must outlive it.
    const std::string path = o.config_file;
    auto from_file = parse_daemon_config_text(text.value(), format.value(), path, std::move(o));
    if (!from_file.ok()) return from_file;
    o = std::move(from_file).value();
  }

  bool interfaces_from_command_line = false;
  for (const auto& g : command_line) {
    const bool replace = g.spec->kind == value_kind::texts && !interfaces_from_command_line;
    if (g.spec->kind == value_kind::texts) interfaces_from_command_line = true;
    if (auto problem = apply_value(o, *g.spec, g.value, replace, source{g.name}))
      return error{*problem};
  }

  if (o.port_min > o.port_max)
    return error{"--port-min " + std::to_string(o.port_min) + " is above --port-max " +
                 std::to_string(o.port_max)};
  return o;
}

std::string daemon_usage() {
  std::string out =
      "usage: toneguard [OPTION]...\n"
      "RTP media proxy driven by rtpengine's ng control protocol.\n\n";
  for (const auto& s : specs) {
    out += "  --";
    out += s.name;
    if (s.kind == value_kind::boolean) out += "[=yes|no]";
    if (!s.value_hint.empty()) {
      out += ' ';
      out += s.value_hint;
    }
    out += "\n      ";
    out += s.help;
    out += '\n';
  }
  out += "\nExit status: 0 on a clean stop (SIGTERM, SIGINT), 2 on a bad option or config.\n";
  return out;
}

}  // namespace toneguard::media
