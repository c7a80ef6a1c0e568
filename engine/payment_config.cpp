#include "toneguard/engine/payment_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <functional>
#include <utility>

#include "digit_runs.h"

namespace toneguard::engine {

namespace {

constexpr std::int64_t kMaxAmountMinor = 1'000'000'000'000'000;  // 10^15, as money.h parses

template <class E, std::size_t N>
std::optional<E> from_name(const std::array<std::pair<std::string_view, E>, N>& names,
                           std::string_view name) {
  for (const auto& [n, e] : names) {
    if (n == name) return e;
  }
  return std::nullopt;
}

template <class E, std::size_t N>
std::string_view to_name(const std::array<std::pair<std::string_view, E>, N>& names, E e) {
  for (const auto& [n, v] : names) {
    if (v == e) return n;
  }
  return "unknown";
}

template <class E, std::size_t N>
std::string choices(const std::array<std::pair<std::string_view, E>, N>& names) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " or " : ", ";
    out += names[i].first;
  }
  return out;
}

constexpr std::array<std::pair<std::string_view, payment_mode>, 2> kModes{{
    {"automated", payment_mode::automated},
    {"agent-assisted", payment_mode::agent_assisted},
}};
constexpr std::array<std::pair<std::string_view, agent_treatment>, 2> kTreatments{{
    {"removed", agent_treatment::removed},
    {"stay-on-line", agent_treatment::stay_on_line},
}};
constexpr std::array<std::pair<std::string_view, masking_mode>, 3> kMaskings{{
    {"silence", masking_mode::silence},
    {"tone", masking_mode::tone},
    {"random", masking_mode::random},
}};
constexpr std::array<std::pair<std::string_view, identification_method>, 3> kIdentifications{{
    {"pin", identification_method::pin},
    {"date-of-birth", identification_method::date_of_birth},
    {"transfer", identification_method::transfer},
}};
constexpr std::array<std::pair<std::string_view, payment_exit>, 3> kExits{{
    {"transfer-to-queue", payment_exit::transfer_to_queue},
    {"return-to-agent", payment_exit::return_to_agent},
    {"return-to-ivr", payment_exit::return_to_ivr},
}};
constexpr std::array<std::pair<std::string_view, payment_exit>, 2> kAutomatedExits{{
    {"transfer-to-queue", payment_exit::transfer_to_queue},
    {"return-to-ivr", payment_exit::return_to_ivr},
}};
constexpr std::array<std::pair<std::string_view, payment_exit>, 2> kAssistedExits{{
    {"return-to-agent", payment_exit::return_to_agent},
    {"transfer-to-queue", payment_exit::transfer_to_queue},
}};
constexpr std::array<std::pair<std::string_view, amount_entry>, 2> kAmountEntries{{
    {"star-decimal", amount_entry::star_decimal},
    {"minor-units", amount_entry::minor_units},
}};
constexpr std::array<std::pair<std::string_view, gateway_method>, 2> kMethods{{
    {"charge", gateway_method::charge},
    {"tokenize", gateway_method::tokenize},
}};

// Bounds what an attacker-controlled config can put into one message.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (const char c : s.substr(0, 100)) {
    out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
  }
  if (s.size() > 100) out += "...";
  out += '\'';
  return out;
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
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

std::string normalized(std::string_view key) {
  std::string out(key.substr(0, 200));
  std::replace(out.begin(), out.end(), '_', '-');
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// --- what one key accepts -------------------------------------------------------------------

/// The problem with a value, e.g. "expected an integer 1..10, got 0"; empty when none.
using problem = std::string;

std::string describe(const toml::node& node) {
  if (const auto* s = node.as_string()) return "the string " + quoted(s->get());
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    default:
      break;
  }
  return "nothing";
}

problem read_int(const toml::node& node, int lo, int hi, int& out) {
  const auto* i = node.as_integer();
  if (i == nullptr || i->get() < lo || i->get() > hi)
    return "expected an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
           describe(node);
  out = static_cast<int>(i->get());
  return {};
}

problem read_bool(const toml::node& node, bool& out) {
  const auto* b = node.as_boolean();
  if (b == nullptr) return "expected a boolean (true or false), got " + describe(node);
  out = b->get();
  return {};
}

template <class E, std::size_t N>
problem read_choice(const toml::node& node,
                    const std::array<std::pair<std::string_view, E>, N>& names, E& out) {
  const auto* s = node.as_string();
  const auto e = s != nullptr ? from_name(names, s->get()) : std::nullopt;
  if (!e) return "expected one of " + choices(names) + ", got " + describe(node);
  out = *e;
  return {};
}

// A printable string of `min_size`..`max_size` characters.
problem read_text(const toml::node& node, std::size_t min_size, std::size_t max_size,
                  std::string& out) {
  const auto* s = node.as_string();
  if (s == nullptr || s->get().size() < min_size || s->get().size() > max_size ||
      !printable(s->get())) {
    return "expected a string of " + std::to_string(min_size) + ".." + std::to_string(max_size) +
           " printable characters, got " + (s != nullptr ? "another string" : describe(node));
  }
  out = s->get();
  return {};
}

// Amounts are decimal strings ("19.99") or whole major units (20); floats would lose cents. The
// text is parsed once the currency is known.
problem read_amount_text(const toml::node& node, std::optional<std::string>& out) {
  if (const auto* s = node.as_string(); s != nullptr && s->get().size() <= 32) {
    out = s->get();
    return {};
  }
  if (const auto* i = node.as_integer(); i != nullptr && i->get() >= 0) {
    out = std::to_string(i->get());
    return {};
  }
  return "expected an amount as a decimal string such as \"19.99\" (or whole units), got " +
         describe(node);
}

problem read_brands(const toml::node& node, std::vector<card_brand>& out) {
  const auto* a = node.as_array();
  if (a == nullptr || a->empty())
    return "expected a non-empty array of card brand names, got " + describe(node);
  std::vector<card_brand> brands;
  for (const auto& element : *a) {
    const auto* s = element.as_string();
    if (s == nullptr) return "expected card brand names, got " + describe(element);
    const card_brand b = brand_from_name(s->get());
    if (b == card_brand::unknown) {
      std::string known;
      for (const card_brand k : all_card_brands()) {
        if (!known.empty()) known += ", ";
        known += brand_name(k);
      }
      return quoted(s->get()) + " is not a card brand (" + known + ")";
    }
    if (std::find(brands.begin(), brands.end(), b) != brands.end())
      return quoted(s->get()) + " is listed twice";
    brands.push_back(b);
  }
  out = std::move(brands);
  return {};
}

problem url_problem(std::string_view url) {
  if (url == "sandbox") return {};
  if (url.size() > 2048 || !printable(url) || url.find(' ') != std::string_view::npos)
    return "is not a URL";
  const auto starts = [&](std::string_view p) { return url.substr(0, p.size()) == p; };
  if (starts("https://") && url.size() > 8) return {};
  if (starts("http://127.0.0.1") || starts("http://localhost") || starts("http://[::1]")) return {};
  return "must be \"sandbox\" or an https:// URL (http:// only to localhost)";
}

problem read_url(const toml::node& node, std::string& out) {
  const auto* s = node.as_string();
  if (s == nullptr) return "expected a URL string, got " + describe(node);
  if (auto p = url_problem(s->get()); !p.empty()) return quoted(s->get()) + " " + p;
  out = s->get();
  return {};
}

bool language_tag_ok(std::string_view tag) {
  // "en", "es", "pt-BR", "zh-Hant": a primary language subtag and an optional second one.
  const auto dash = tag.find('-');
  const std::string_view primary = tag.substr(0, dash);
  const auto letters = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
  };
  if (primary.size() < 2 || primary.size() > 3 || !letters(primary)) return false;
  if (dash == std::string_view::npos) return true;
  const std::string_view rest = tag.substr(dash + 1);
  return rest.size() >= 2 && rest.size() <= 8 && std::all_of(rest.begin(), rest.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0;
         });
}

// --- the key table --------------------------------------------------------------------------

/// What parsing collects beyond the config itself: amounts wait for the currency.
struct parse_state {
  payment_config config = default_payment_config();
  std::optional<std::string> min_amount_text;
  std::optional<std::string> max_amount_text;
};

struct key_spec {
  std::string path;
  std::function<problem(parse_state&, const toml::node&)> apply;
};

bool is_identification_secret(dialog_field f) {
  return f == dialog_field::pin || f == dialog_field::date_of_birth;
}

std::vector<key_spec> make_key_specs() {
  std::vector<key_spec> k;
  const auto add = [&](std::string path,
                       std::function<problem(parse_state&, const toml::node&)> f) {
    k.push_back({"payment." + std::move(path), std::move(f)});
  };
  add("mode",
      [](parse_state& s, const toml::node& n) { return read_choice(n, kModes, s.config.mode); });
  add("agent-treatment", [](parse_state& s, const toml::node& n) {
    return read_choice(n, kTreatments, s.config.treatment);
  });
  add("allowed-brands",
      [](parse_state& s, const toml::node& n) { return read_brands(n, s.config.allowed_brands); });
  add("currency", [](parse_state& s, const toml::node& n) -> problem {
    const auto* text = n.as_string();
    const auto c = text != nullptr ? find_currency(text->get()) : std::nullopt;
    if (!c) return "expected an ISO 4217 currency code such as \"USD\", got " + describe(n);
    s.config.payment_currency = *c;
    return {};
  });
  add("min-amount",
      [](parse_state& s, const toml::node& n) { return read_amount_text(n, s.min_amount_text); });
  add("max-amount",
      [](parse_state& s, const toml::node& n) { return read_amount_text(n, s.max_amount_text); });
  add("amount-entry", [](parse_state& s, const toml::node& n) {
    return read_choice(n, kAmountEntries, s.config.amount_keys);
  });
  add("max-declines", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 10, s.config.max_declines);
  });
  add("language", [](parse_state& s, const toml::node& n) -> problem {
    const auto* text = n.as_string();
    if (text == nullptr || !language_tag_ok(text->get()))
      return "expected a language tag such as \"en\" or \"pt-BR\", got " + describe(n);
    s.config.language = text->get();
    return {};
  });
  add("prompt-set", [](parse_state& s, const toml::node& n) {
    return read_text(n, 0, 4096, s.config.prompt_set);
  });
  add("masking", [](parse_state& s, const toml::node& n) {
    return read_choice(n, kMaskings, s.config.masking);
  });
  add("announce-reference", [](parse_state& s, const toml::node& n) {
    return read_bool(n, s.config.announce_reference);
  });

  add("exit.automated", [](parse_state& s, const toml::node& n) {
    return read_choice(n, kAutomatedExits, s.config.exit_automated);
  });
  add("exit.assisted", [](parse_state& s, const toml::node& n) {
    return read_choice(n, kAssistedExits, s.config.exit_assisted);
  });
  add("exit.queue", [](parse_state& s, const toml::node& n) {
    return read_text(n, 1, 128, s.config.exit_queue);
  });

  add("identification.method", [](parse_state& s, const toml::node& n) {
    return read_choice(n, kIdentifications, s.config.identification.method);
  });
  add("identification.target", [](parse_state& s, const toml::node& n) {
    return read_text(n, 1, 128, s.config.identification.target);
  });
  add("identification.attempts", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 10, s.config.identification.attempts);
  });

  add("gateway.url",
      [](parse_state& s, const toml::node& n) { return read_url(n, s.config.gateway.url); });
  add("gateway.identify-url", [](parse_state& s, const toml::node& n) {
    return read_url(n, s.config.gateway.identify_url);
  });
  add("gateway.username", [](parse_state& s, const toml::node& n) {
    return read_text(n, 0, 256, s.config.gateway.username);
  });
  add("gateway.password", [](parse_state& s, const toml::node& n) -> problem {
    // The message must not echo a secret.
    const auto* text = n.as_string();
    if (text == nullptr || text->get().size() > 256 || !printable(text->get()))
      return "expected a string of 0..256 printable characters";
    s.config.gateway.password = text->get();
    return {};
  });
  add("gateway.ca-file", [](parse_state& s, const toml::node& n) {
    return read_text(n, 0, 4096, s.config.gateway.ca_file);
  });
  add("gateway.connect-timeout-ms", [](parse_state& s, const toml::node& n) {
    return read_int(n, 100, 60'000, s.config.gateway.connect_timeout_ms);
  });
  add("gateway.read-timeout-ms", [](parse_state& s, const toml::node& n) {
    return read_int(n, 100, 120'000, s.config.gateway.read_timeout_ms);
  });
  add("gateway.max-attempts", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 10, s.config.gateway.max_attempts);
  });
  add("gateway.method", [](parse_state& s, const toml::node& n) {
    return read_choice(n, kMethods, s.config.gateway.method);
  });

  for (std::size_t i = 0; i < dialog_field_count; ++i) {
    const auto f = static_cast<dialog_field>(i);
    if (f == dialog_field::amount_choice) continue;  // shares the amount's settings
    const std::string prefix = "fields." + std::string(field_name(f)) + ".";
    const auto settings = [f](parse_state& s) -> field_settings& { return s.config.field(f); };
    add(prefix + "first-digit-timeout-ms", [settings](parse_state& s, const toml::node& n) {
      return read_int(n, 1000, 120'000, settings(s).first_digit_timeout_ms);
    });
    add(prefix + "inter-digit-timeout-ms", [settings](parse_state& s, const toml::node& n) {
      return read_int(n, 1000, 60'000, settings(s).inter_digit_timeout_ms);
    });
    add(prefix + "attempts", [settings](parse_state& s, const toml::node& n) {
      return read_int(n, 1, 10, settings(s).attempts);
    });
    if (!is_identification_secret(f)) {
      add(prefix + "confirm", [settings](parse_state& s, const toml::node& n) {
        return read_bool(n, settings(s).confirm);
      });
    }
  }
  add("fields.account-number.min-length", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 32, s.config.account_number_min_length);
  });
  add("fields.account-number.max-length", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 32, s.config.account_number_max_length);
  });
  add("fields.pin.min-length", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 8, s.config.pin_min_length);
  });
  add("fields.pin.max-length", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 8, s.config.pin_max_length);
  });
  add("fields.expiry.max-years-ahead", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 50, s.config.expiry_max_years_ahead);
  });
  add("fields.expiry.when-optional", [](parse_state& s, const toml::node& n) {
    return read_bool(n, s.config.expiry_when_optional);
  });
  add("fields.cvv.when-optional",
      [](parse_state& s, const toml::node& n) { return read_bool(n, s.config.cvv_when_optional); });
  add("fields.postal-code.ask",
      [](parse_state& s, const toml::node& n) { return read_bool(n, s.config.ask_postal_code); });
  add("fields.postal-code.min-length", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 10, s.config.postal_code_min_length);
  });
  add("fields.postal-code.max-length", [](parse_state& s, const toml::node& n) {
    return read_int(n, 1, 10, s.config.postal_code_max_length);
  });
  return k;
}

const std::vector<key_spec>& key_specs() {
  static const std::vector<key_spec> specs = make_key_specs();
  return specs;
}

std::vector<std::string> make_table_paths() {
  std::vector<std::string> t{"payment", "payment.exit", "payment.identification", "payment.gateway",
                             "payment.fields"};
  for (std::size_t i = 0; i < dialog_field_count; ++i) {
    const auto f = static_cast<dialog_field>(i);
    if (f != dialog_field::amount_choice)
      t.push_back("payment.fields." + std::string(field_name(f)));
  }
  return t;
}

const std::vector<std::string>& table_paths() {
  static const std::vector<std::string> paths = make_table_paths();
  return paths;
}

// " (did you mean 'payment.x'?)" for a near miss (underscores for dashes, case, a typo).
std::string suggestion(std::string_view path) {
  const std::string wanted = normalized(path);
  const std::string* best = nullptr;
  std::size_t best_distance = 3;
  const auto consider = [&](const std::string& candidate) {
    const std::size_t d = edit_distance(wanted, candidate);
    if (d < best_distance) {
      best = &candidate;
      best_distance = d;
    }
  };
  for (const auto& s : key_specs()) consider(s.path);
  for (const auto& t : table_paths()) consider(t);
  if (best == nullptr) return {};
  return " (did you mean '" + *best + "'?)";
}

struct located_problem {
  std::string key;  // the dotted key, e.g. "payment.max-declines"
  std::string text;
};

std::optional<located_problem> walk(parse_state& state, const toml::table& table,
                                    const std::string& prefix) {
  for (const auto& [key, node] : table) {
    const std::string path = prefix + "." + std::string(key.str());
    if (std::find(table_paths().begin(), table_paths().end(), path) != table_paths().end()) {
      const auto* sub = node.as_table();
      if (sub == nullptr) return located_problem{path, "expected a table, got " + describe(node)};
      if (auto p = walk(state, *sub, path)) return p;
      continue;
    }
    const auto& specs = key_specs();
    const auto spec =
        std::find_if(specs.begin(), specs.end(), [&](const key_spec& s) { return s.path == path; });
    if (spec == specs.end())
      return located_problem{{}, "unknown key " + quoted(path) + suggestion(path)};
    if (auto p = spec->apply(state, node); !p.empty()) return located_problem{path, std::move(p)};
  }
  return std::nullopt;
}

std::optional<located_problem> resolve_amounts(parse_state& state) {
  payment_config& c = state.config;
  const std::int64_t per = minor_per_major(c.payment_currency);
  // Unset bounds follow the currency: 1 and 10,000 major units.
  c.min_amount_minor = per;
  c.max_amount_minor = 10'000 * per;
  const auto parse = [&](const std::optional<std::string>& text, std::string_view key,
                         std::int64_t& out) -> std::optional<located_problem> {
    if (!text) return std::nullopt;
    const auto v = parse_decimal_amount(*text, c.payment_currency);
    if (!v || *v <= 0 || *v > kMaxAmountMinor) {
      return located_problem{std::string(key), "expected an amount above zero in " +
                                                   std::string(c.payment_currency.code) +
                                                   " with at most " +
                                                   std::to_string(c.payment_currency.minor_units) +
                                                   " decimals, got " + quoted(*text)};
    }
    out = *v;
    return std::nullopt;
  };
  if (auto p = parse(state.min_amount_text, "payment.min-amount", c.min_amount_minor)) return p;
  if (auto p = parse(state.max_amount_text, "payment.max-amount", c.max_amount_minor)) return p;
  return std::nullopt;
}

std::string amount_text(std::int64_t minor, const currency& c) {
  return format_decimal(money{minor, c});
}

// The rules that span keys, and the ranges of a config built in code.
std::optional<located_problem> check_config(const payment_config& c) {
  const auto range = [](int v, int lo, int hi) { return v >= lo && v <= hi; };
  const auto expected = [](int lo, int hi, int got) {
    return "expected an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
           std::to_string(got);
  };
  if (c.min_amount_minor <= 0 || c.min_amount_minor > kMaxAmountMinor)
    return located_problem{"payment.min-amount", "must be above zero"};
  if (c.max_amount_minor < c.min_amount_minor || c.max_amount_minor > kMaxAmountMinor)
    return located_problem{"payment.max-amount",
                           amount_text(c.max_amount_minor, c.payment_currency) +
                               " is below the minimum " +
                               amount_text(c.min_amount_minor, c.payment_currency)};
  if (!range(c.max_declines, 1, 10))
    return located_problem{"payment.max-declines", expected(1, 10, c.max_declines)};
  for (const card_brand b : c.allowed_brands) {
    if (b == card_brand::unknown)
      return located_problem{"payment.allowed-brands", "'unknown' is not a card brand"};
  }
  if (c.exit_automated == payment_exit::return_to_agent)
    return located_problem{
        "payment.exit.automated",
        "an automated payment has no agent to return to (" + choices(kAutomatedExits) + ")"};
  if (c.exit_assisted == payment_exit::return_to_ivr)
    return located_problem{"payment.exit.assisted",
                           "an agent-assisted payment returns to the agent or a queue (" +
                               choices(kAssistedExits) + ")"};
  const bool uses_queue = c.exit_automated == payment_exit::transfer_to_queue ||
                          c.exit_assisted == payment_exit::transfer_to_queue;
  if (uses_queue && (c.exit_queue.empty() || !printable(c.exit_queue)))
    return located_problem{"payment.exit.queue", "a transfer-to-queue exit needs a queue name"};
  if (c.identification.method == identification_method::transfer &&
      (c.identification.target.empty() || !printable(c.identification.target)))
    return located_problem{"payment.identification.target",
                           "identification method 'transfer' needs a target"};
  if (!range(c.identification.attempts, 1, 10))
    return located_problem{"payment.identification.attempts",
                           expected(1, 10, c.identification.attempts)};
  for (std::size_t i = 0; i < dialog_field_count; ++i) {
    const auto f = static_cast<dialog_field>(i);
    const field_settings& s = c.fields[i];
    // The amount menu is configured through the amount's table.
    const std::string prefix =
        "payment.fields." +
        std::string(field_name(f == dialog_field::amount_choice ? dialog_field::amount : f)) + ".";
    if (!range(s.first_digit_timeout_ms, 1000, 120'000))
      return located_problem{prefix + "first-digit-timeout-ms",
                             expected(1000, 120'000, s.first_digit_timeout_ms)};
    if (!range(s.inter_digit_timeout_ms, 1000, 60'000))
      return located_problem{prefix + "inter-digit-timeout-ms",
                             expected(1000, 60'000, s.inter_digit_timeout_ms)};
    if (!range(s.attempts, 1, 10))
      return located_problem{prefix + "attempts", expected(1, 10, s.attempts)};
    if (s.confirm && is_identification_secret(f))
      return located_problem{prefix + "confirm", "a PIN or date of birth is never read back"};
  }
  if (!range(c.account_number_min_length, 1, 32) ||
      !range(c.account_number_max_length, c.account_number_min_length, 32))
    return located_problem{"payment.fields.account-number.max-length",
                           "expected min-length <= max-length within 1..32, got " +
                               std::to_string(c.account_number_min_length) + ".." +
                               std::to_string(c.account_number_max_length)};
  if (!range(c.pin_min_length, 1, 8) || !range(c.pin_max_length, c.pin_min_length, 8))
    return located_problem{"payment.fields.pin.max-length",
                           "expected min-length <= max-length within 1..8, got " +
                               std::to_string(c.pin_min_length) + ".." +
                               std::to_string(c.pin_max_length)};
  if (!range(c.postal_code_min_length, 1, 10) ||
      !range(c.postal_code_max_length, c.postal_code_min_length, 10))
    return located_problem{"payment.fields.postal-code.max-length",
                           "expected min-length <= max-length within 1..10, got " +
                               std::to_string(c.postal_code_min_length) + ".." +
                               std::to_string(c.postal_code_max_length)};
  if (!range(c.expiry_max_years_ahead, 1, 50))
    return located_problem{"payment.fields.expiry.max-years-ahead",
                           expected(1, 50, c.expiry_max_years_ahead)};
  if (!language_tag_ok(c.language))
    return located_problem{"payment.language", quoted(c.language) + " is not a language tag"};
  if (auto p = url_problem(c.gateway.url); !p.empty())
    return located_problem{"payment.gateway.url", quoted(c.gateway.url) + " " + p};
  if (auto p = url_problem(c.gateway.identify_url); !p.empty())
    return located_problem{"payment.gateway.identify-url",
                           quoted(c.gateway.identify_url) + " " + p};
  if (!range(c.gateway.connect_timeout_ms, 100, 60'000))
    return located_problem{"payment.gateway.connect-timeout-ms",
                           expected(100, 60'000, c.gateway.connect_timeout_ms)};
  if (!range(c.gateway.read_timeout_ms, 100, 120'000))
    return located_problem{"payment.gateway.read-timeout-ms",
                           expected(100, 120'000, c.gateway.read_timeout_ms)};
  if (!range(c.gateway.max_attempts, 1, 10))
    return located_problem{"payment.gateway.max-attempts", expected(1, 10, c.gateway.max_attempts)};
  return std::nullopt;
}

std::string message(std::string_view origin, const located_problem& p) {
  std::string out = "payment config";
  if (!origin.empty()) {
    out += ' ';
    out += origin;
  }
  out += ": ";
  if (!p.key.empty()) out += "key '" + p.key + "': ";
  out += p.text;
  return out;
}

outcome<payment_config> parse_toml(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return failure{
        message(origin, {{},
                         "line " + std::to_string(where.line) + ", column " +
                             std::to_string(where.column) + ": " + std::string(e.description())})};
  }
  parse_state state;
  for (const auto& [key, node] : root) {
    const std::string name(key.str());
    if (name != "payment") {
      // Other tables belong to other parts of the program; a near miss of ours is a typo.
      if (edit_distance(normalized(name), "payment") <= 2)
        return failure{
            message(origin, {{}, "unknown table " + quoted(name) + " (did you mean 'payment'?)"})};
      continue;
    }
    const auto* table = node.as_table();
    if (table == nullptr)
      return failure{message(origin, {"payment", "expected a table, got " + describe(node)})};
    if (auto p = walk(state, *table, "payment")) return failure{message(origin, *p)};
  }
  if (auto p = resolve_amounts(state)) return failure{message(origin, *p)};
  if (auto p = check_config(state.config)) return failure{message(origin, *p)};
  return std::move(state.config);
}

// --- requests -------------------------------------------------------------------------------

bool id_text(std::string_view s, std::size_t max_size) {
  return !s.empty() && s.size() <= max_size && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

// True when `s` holds 13..19 digits in a row (spaces and dashes between them allowed) that pass
// the Luhn check: a card number, which must never enter through a request.
bool looks_like_card_number(std::string_view s) {
  return detail::any_digit_run(s, [](std::string_view run) {
    return run.size() >= 13 && run.size() <= 19 && luhn_valid(run);
  });
}

}  // namespace

std::string_view field_name(dialog_field f) noexcept {
  switch (f) {
    case dialog_field::account_number:
      return "account-number";
    case dialog_field::pin:
      return "pin";
    case dialog_field::date_of_birth:
      return "date-of-birth";
    case dialog_field::amount_choice:
      return "amount-choice";
    case dialog_field::amount:
      return "amount";
    case dialog_field::card_number:
      return "card-number";
    case dialog_field::expiry:
      return "expiry";
    case dialog_field::cvv:
      return "cvv";
    case dialog_field::postal_code:
      return "postal-code";
  }
  return "unknown";
}

std::string_view mode_name(payment_mode m) noexcept {
  return to_name(kModes, m);
}
std::string_view treatment_name(agent_treatment t) noexcept {
  return to_name(kTreatments, t);
}
std::string_view masking_name(masking_mode m) noexcept {
  return to_name(kMaskings, m);
}
std::string_view identification_name(identification_method m) noexcept {
  return to_name(kIdentifications, m);
}
std::string_view exit_name(payment_exit e) noexcept {
  return to_name(kExits, e);
}
std::string_view amount_entry_name(amount_entry e) noexcept {
  return to_name(kAmountEntries, e);
}

std::array<field_settings, dialog_field_count> payment_config::default_fields() noexcept {
  std::array<field_settings, dialog_field_count> fields{};
  for (std::size_t i = 0; i < dialog_field_count; ++i) {
    const auto f = static_cast<dialog_field>(i);
    fields[i].confirm = f == dialog_field::amount || f == dialog_field::card_number ||
                        f == dialog_field::expiry || f == dialog_field::postal_code;
  }
  return fields;
}

payment_config default_payment_config() {
  return payment_config{};
}

outcome<payment_config> parse_payment_config(std::string_view toml_text, std::string_view origin) {
  try {
    auto parsed = parse_toml(toml_text, origin);
    if (parsed.ok()) {
      // The amount menu has no table of its own: it follows the amount's timeouts.
      payment_config c = std::move(parsed).value();
      c.field(dialog_field::amount_choice) = c.field(dialog_field::amount);
      c.field(dialog_field::amount_choice).confirm = false;
      return c;
    }
    return parsed;
  } catch (const std::exception& e) {
    return failure{"payment config " + std::string(origin) + ": " + e.what()};
  }
}

outcome<payment_config> validate_payment_config(payment_config config) {
  if (auto p = check_config(config)) return failure{message({}, *p)};
  return config;
}

outcome<payment_request> validate_payment_request(payment_request r, const payment_config& config) {
  const auto fail = [](std::string_view field, std::string text) {
    return failure{"payment request: field '" + std::string(field) + "': " + std::move(text)};
  };
  if (looks_like_card_number(r.payment_id))
    return fail("payment-id", "looks like a card number; card data is entered by the caller only");
  if (!id_text(r.payment_id, 64))
    return fail("payment-id",
                "expected 1..64 of letters, digits, '.', '_' and '-', got " + quoted(r.payment_id));
  if (r.account_id.size() > 64 || !printable(r.account_id))
    return fail("account-id", "expected up to 64 printable characters");
  if (looks_like_card_number(r.account_id))
    return fail("account-id", "looks like a card number; card data is entered by the caller only");
  const currency& c = config.payment_currency;
  if (!r.currency_code.empty()) {
    const auto given = find_currency(r.currency_code);
    if (!given) return fail("currency", quoted(r.currency_code) + " is not a known currency");
    if (!(*given == c))
      return fail("currency", quoted(r.currency_code) + " is not the configured currency " +
                                  std::string(c.code));
  }
  if (r.amount_minor) {
    if (*r.amount_minor <= 0) return fail("amount", "must be above zero");
    if (*r.amount_minor > config.max_amount_minor)
      return fail("amount", amount_text(*r.amount_minor, c) + " is above the maximum " +
                                amount_text(config.max_amount_minor, c));
  }
  if (r.balance_minor && (*r.balance_minor <= 0 || *r.balance_minor > kMaxAmountMinor))
    return fail("balance", "must be above zero");
  if (r.reference.size() > 128 || !printable(r.reference))
    return fail("reference", "expected up to 128 printable characters");
  if (looks_like_card_number(r.reference))
    return fail("reference", "looks like a card number; card data is entered by the caller only");
  if (r.parameters.size() > 32) return fail("parameters", "more than 32 parameters");
  for (const auto& [key, value] : r.parameters) {
    if (looks_like_card_number(key))
      return fail("parameters",
                  "a key looks like a card number; card data is entered by the "
                  "caller only");
    if (!id_text(key, 64))
      return fail("parameters",
                  "key " + quoted(key) + " is not 1..64 of letters, digits, '.', '_' and '-'");
    if (value.size() > 256 || !printable(value))
      return fail("parameters",
                  "the value of " + quoted(key) + " is not up to 256 printable characters");
    if (looks_like_card_number(value))
      return fail("parameters", "the value of " + quoted(key) +
                                    " looks like a card number; card data is entered by the "
                                    "caller only");
  }
  return r;
}

}  // namespace toneguard::engine
