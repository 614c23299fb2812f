// Helpers shared by the C API's two halves: lib/capi/capi.cpp (libmodelquant) and
// lib/capi/capi_fetch.cpp (libmodelquant-fetch). Not a public header.
//
// Both halves report errors through one per-thread slot (what mq_last_error_message() returns),
// which lives in libmodelquant. `last_error()` is marked MQ_API only so that a shared
// libmodelquant-fetch can reach it; it is not part of the documented API.
#pragma once

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include "mq/export.h"
#include "mq/modelquant.h"
#include "mq/result.h"

namespace mq::capi_detail {

/// This thread's error message slot (defined in capi.cpp).
MQ_API std::string& last_error() noexcept;

inline mq_status to_status(mq::errc code) noexcept {
  // mq_status values are mq::errc + 1 (checked in capi.cpp).
  return static_cast<mq_status>(static_cast<int>(code) + 1);
}

inline mq_status fail(mq_status status, std::string message) noexcept {
  try {
    last_error() = std::move(message);
  } catch (...) {
    last_error().clear();  // no memory for the message: the status still says what happened
  }
  return status;
}

inline mq_status fail(const mq::error& e) noexcept {
  try {
    return fail(to_status(e.code), e.message);
  } catch (...) {
    return fail(to_status(e.code), std::string());
  }
}

// Runs `body` (returning mq_status) with every exception turned into a status; clears the
// thread's error message first so that a success leaves "".
template <class F>
mq_status guarded(const char* function, F&& body) noexcept {
  last_error().clear();
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(MQ_ERR_OUT_OF_MEMORY, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(MQ_ERR_INTERNAL, std::string(function) + ": unexpected exception: " + e.what());
  } catch (...) {
    return fail(MQ_ERR_INTERNAL, std::string(function) + ": unexpected exception");
  }
}

inline mq_status null_argument(const char* function, const char* name) {
  return fail(MQ_ERR_INVALID_ARGUMENT, std::string(function) + ": '" + name + "' is NULL");
}

// The int a C caller passed for an enum parameter, read without an enum-typed load: a C caller
// may pass any int, and loading an out-of-range value as a C++ enum would be undefined behaviour.
template <class E>
int enum_bits(const E* e) noexcept {
  static_assert(sizeof(E) == sizeof(int));
  int v = 0;
  std::memcpy(&v, e, sizeof v);
  return v;
}

}  // namespace mq::capi_detail
