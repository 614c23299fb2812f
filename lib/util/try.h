// Error-propagation helpers for library code (not part of the public API).
#pragma once

#include "mq/result.h"

// Yields the value of a `mq::result<T>` expression, or returns its error from the
// enclosing function. `__extension__` keeps -Wpedantic quiet about the GNU statement
// expression (GCC and Clang only, which are the supported compilers).
#define MQ_TRY(expr)                                                              \
  __extension__({                                                                 \
    auto mq_try_result_ = (expr);                                                 \
    if (!mq_try_result_) return ::mq::unexpected_error{std::move(mq_try_result_).error()}; \
    std::move(mq_try_result_).value();                                            \
  })

/// Returns the error of a `mq::result<void>` expression from the enclosing function.
#define MQ_TRY_VOID(expr)                                                         \
  do {                                                                            \
    auto mq_try_result_ = (expr);                                                 \
    if (!mq_try_result_) return ::mq::unexpected_error{std::move(mq_try_result_).error()}; \
  } while (0)
