#include "mq/version.h"

namespace mq {
const char* version() noexcept { return MQ_VERSION_STRING; }
}  // namespace mq
