#pragma once
// Two error tiers (STYLE.md habit 8):
//  - bugs: EDDY_ASSERT, always on, aborts with the failed condition;
//  - expected failures (bad input, missing file): returned as values, carrying a
//    message a user can act on.

#include "models/assert.hpp"

#include <string>
#include <utility>
#include <variant>

namespace eddy {

/// An expected failure: what went wrong and what to do about it, in one message.
struct error {
  std::string message;
};

/// A value or an error (std::expected is C++23; this is the part eddy needs).
template <class T>
class expected {
public:
  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  expected(error err) : v_(std::in_place_index<1>, std::move(err)) {}

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& value() & {
    EDDY_ASSERT(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    EDDY_ASSERT(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    EDDY_ASSERT(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& err() const {
    EDDY_ASSERT(!has_value());
    return std::get<1>(v_);
  }

private:
  std::variant<T, error> v_;
};

/// Success or an error, for operations without a result value.
class status {
public:
  status() = default;
  status(error err) : err_(std::move(err.message)), failed_(true) {}
  explicit operator bool() const noexcept { return !failed_; }
  const std::string& message() const noexcept { return err_; }

private:
  std::string err_;
  bool failed_ = false;
};

} // namespace eddy
