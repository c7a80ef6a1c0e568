#pragma once
/// The one type that holds card data (PAN, CVV, expiry, postal code) while a payment needs it.
///
/// Its storage is a page of its own: locked in RAM (mlock, never swapped), excluded from core
/// dumps (MADV_DONTDUMP), zeroized (explicit_bzero) when a field is cleared and on destruction.
/// It cannot be copied, printed, streamed or formatted; the only views outside the gateway
/// client are `masked()` (brand, first six, last four) and lengths. The raw values are reached
/// only through the `reveal_*` accessors, which the gateway client uses to build its request
/// (grep for `reveal_` to audit every use). One payment dialog owns one card_data; it is not
/// thread-safe (the dialog's thread owns it).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "toneguard/engine/card_rules.h"

namespace toneguard::engine {

/// Which secret field. `verification` is the caller's identification secret (a PIN, or a date
/// of birth as DDMMYYYY): not card data, but kept the same way.
enum class card_field : std::uint8_t { pan, expiry, cvv, postal_code, verification };

/// Longest value each field may hold, in characters: PAN 19 digits, expiry 4 (MMYY), CVV 4,
/// postal code 10, verification 8.
[[nodiscard]] std::size_t card_field_capacity(card_field f) noexcept;

/// What may be shown of a card: brand and at most the first six and last four digits.
struct masked_card {
  card_brand brand = card_brand::unknown;
  /// First six digits (fewer when fewer were entered); empty when fewer than 12 digits exist, so
  /// that first six and last four never overlap into more than PCI DSS allows.
  std::string first_six;
  /// Last four digits; empty when fewer than 12 digits were entered.
  std::string last_four;
  /// Number of PAN digits entered.
  std::size_t length = 0;

  /// "411111••••••1111"-style display: first six, a • per hidden digit, last four; or all •
  /// when fewer than 12 digits were entered.
  [[nodiscard]] std::string display() const;
};

/// Card data in locked, zeroized memory (see the file comment).
class card_data {
 public:
  /// Allocates and locks the storage. When the system refuses to lock (RLIMIT_MEMLOCK), the
  /// storage is still excluded from dumps and zeroized; `locked()` then reports false. When it
  /// refuses the memory itself (mmap fails), the object holds nothing: every append() returns
  /// false. Never throws.
  card_data();
  /// Zeroizes, unlocks and unmaps the storage.
  ~card_data();
  /// Moves hand over the storage itself (no card data is copied); the moved-from object holds
  /// nothing and refuses append() until it is assigned to.
  card_data(card_data&&) noexcept;
  card_data& operator=(card_data&&) noexcept;
  card_data(const card_data&) = delete;
  card_data& operator=(const card_data&) = delete;

  /// Appends one character ('0'-'9'; the postal code also 'A'-'Z', and 'a'-'z' stored as
  /// upper case) to field `f`; false (and nothing stored) when the field is full or the
  /// character is not allowed.
  bool append(card_field f, char c) noexcept;
  /// Zeroizes and empties field `f`.
  void clear(card_field f) noexcept;
  /// Zeroizes and empties every field.
  void clear_all() noexcept;
  /// Number of characters in field `f`.
  [[nodiscard]] std::size_t size(card_field f) const noexcept;

  /// The brand of the PAN entered so far (detect_brand on its digits).
  [[nodiscard]] card_brand brand() const noexcept;
  /// The displayable view of the PAN.
  [[nodiscard]] masked_card masked() const;
  /// The last four PAN digits (for read-back prompts); empty when fewer than 12 digits.
  [[nodiscard]] std::string last_four() const;

  /// The raw field, for the gateway request and for validation only. The view is valid until
  /// the field changes or this object is destroyed. Never log, format or copy it into a
  /// std::string that outlives the request.
  [[nodiscard]] std::string_view reveal(card_field f) const noexcept;

  /// True when the storage is locked in RAM.
  [[nodiscard]] bool locked() const noexcept;

 private:
  struct storage;
  storage* storage_ = nullptr;
};

/// Turns off core dumps of this process and makes it non-dumpable (prctl PR_SET_DUMPABLE 0,
/// RLIMIT_CORE 0). Call once at start-up in every program that holds card data; returns false
/// when the system refused either.
bool make_process_undumpable() noexcept;

}  // namespace toneguard::engine
