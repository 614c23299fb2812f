// What the machine gives this process to compute on.
#pragma once

namespace mq::util {

/// The cores this process may run on (its CPU affinity, which taskset and container runtimes
/// set), not every core of the host; at least 1.
unsigned usable_cores() noexcept;

}  // namespace mq::util
