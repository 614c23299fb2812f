#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {

void register_resize(op_registry& r) { (void)r; }

}  // namespace mq::exec::ops
