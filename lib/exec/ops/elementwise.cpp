// Element-wise operators: binary arithmetic with numpy broadcasting.
#include <cmath>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

// Work below this many elements runs on one thread (starting the others costs more).
constexpr std::int64_t parallel_grain = 1 << 15;

// out[i] = op(a[i*sa], b[i*sb]) over the broadcast of a and b, one kernel per element type.
template <class T, class Op>
void binary_loop(const T* a, const T* b, T* out, const shape_t& sa, const shape_t& sb, const shape_t& so,
                 thread_pool& pool, Op op) {
  if (sa == so && sb == so) {
    const std::int64_t n = element_count(so);
    pool.parallel_for(n, parallel_grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) out[i] = op(a[i], b[i]);
    });
    return;
  }
  for_each_broadcast(sa, sb, so, [&](std::int64_t o, std::int64_t ia, std::int64_t ib, std::int64_t n, std::int64_t da, std::int64_t db) {
    T* y = out + o;
    const T* x0 = a + ia;
    const T* x1 = b + ib;
    if (da == 1 && db == 1) {
      for (std::int64_t i = 0; i < n; ++i) y[i] = op(x0[i], x1[i]);
    } else if (da == 1) {
      const T v = *x1;
      for (std::int64_t i = 0; i < n; ++i) y[i] = op(x0[i], v);
    } else if (db == 1) {
      const T v = *x0;
      for (std::int64_t i = 0; i < n; ++i) y[i] = op(v, x1[i]);
    } else {
      const T v = op(*x0, *x1);
      for (std::int64_t i = 0; i < n; ++i) y[i] = v;
    }
  });
}

enum class arith { add, sub, mul, div };

template <class T>
T apply(arith kind, T x, T y) {
  switch (kind) {
    case arith::add: return static_cast<T>(x + y);
    case arith::sub: return static_cast<T>(x - y);
    case arith::mul: return static_cast<T>(x * y);
    case arith::div: return static_cast<T>(x / y);
  }
  return x;
}

result<std::unique_ptr<kernel>> make_arith(node_info& node, arith kind) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([kind](run_context& ctx) -> result<void> {
    const tensor& a = ctx.in(0);
    const tensor& b = ctx.in(1);
    if (a.type() != b.type()) {
      return ctx.fail("inputs have types " + type_name(a.type()) + " and " + type_name(b.type()));
    }
    auto so = broadcast_shapes(a.shape(), b.shape());
    if (!so) return ctx.fail("shapes " + shape_string(a.shape()) + " and " + shape_string(b.shape()) + " do not broadcast");
    const shape_t sa = a.shape();
    const shape_t sb = b.shape();
    const void* pa = a.raw();
    const void* pb = b.raw();
    const mq::dtype type = a.type();
    // The result may take over an input that has its shape and is read by nobody else.
    tensor out;
    if (sa == *so) out = MQ_TRY(ctx.reuse_or_allocate(0, type, *so));
    else if (sb == *so) out = MQ_TRY(ctx.reuse_or_allocate(1, type, *so));
    else out = MQ_TRY(ctx.allocate(type, *so));
    if (kind == arith::div && !is_float_type(type)) {
      // Integer division by zero is undefined in C++: refuse it, naming the node.
      bool zero = false;
      visit_numeric(type, [&]<class T>() {
        const T* p = static_cast<const T*>(pb);
        for (std::int64_t i = 0; i < element_count(sb); ++i) zero = zero || p[i] == T{0};
      });
      if (zero) return ctx.fail("integer division by zero");
    }
    const bool known = visit_numeric(type, [&]<class T>() {
      binary_loop<T>(static_cast<const T*>(pa), static_cast<const T*>(pb), out.mutable_data<T>(), sa, sb, *so, ctx.pool(),
                     [kind](T x, T y) { return apply(kind, x, y); });
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(out));
    return {};
  });
}

}  // namespace

void register_elementwise(op_registry& r) {
  r.add("Add", [](node_info& n) { return make_arith(n, arith::add); }, 7);
  r.add("Sub", [](node_info& n) { return make_arith(n, arith::sub); }, 7);
  r.add("Mul", [](node_info& n) { return make_arith(n, arith::mul); }, 7);
  r.add("Div", [](node_info& n) { return make_arith(n, arith::div); }, 7);
}

}  // namespace mq::exec::ops
