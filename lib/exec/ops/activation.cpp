// Activations: Relu and the other pointwise non-linearities, Softmax and its relatives.
#include <algorithm>
#include <cmath>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

constexpr std::int64_t parallel_grain = 1 << 15;

result<std::unique_ptr<kernel>> make_relu(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const shape_t shape = x.shape();
    const mq::dtype type = x.type();
    const void* px = x.raw();
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
    const bool known = visit_numeric(type, [&]<class T>() {
      const T* in = static_cast<const T*>(px);
      T* out = y.mutable_data<T>();
      ctx.pool().parallel_for(y.size(), parallel_grain, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) out[i] = std::max(in[i], T{0});
      });
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_activation(op_registry& r) { r.add("Relu", make_relu, 6); }

}  // namespace mq::exec::ops
