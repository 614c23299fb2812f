// Reductions: Reduce* over a set of axes (attribute before version 18, input from 18 and for
// ReduceSum from 13), ArgMax/ArgMin, CumSum.
//
// A reduction walks the input in one of two layouts, after merging neighbouring axes that are
// both reduced or both kept: when the last axis is reduced ("rows", e.g. LayerNorm's ReduceMean),
// each output reduces contiguous runs in 8 interleaved partial results; when it is kept
// ("columns", e.g. a reduction over channels), each block of outputs accumulates contiguous
// vectors. Threads split the outputs; the order of every sum is fixed, so results do not depend on
// the thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"
#include "exec/ops/pointwise.h"

namespace mq::exec::ops {
namespace {

using pointwise::is_half;

// ---- the two layouts ---------------------------------------------------------------------------

struct reduce_plan {
  bool rows = true;                   // the last merged axis is reduced
  std::int64_t run = 1;               // rows: contiguous reduced elements; columns: contiguous outputs
  std::vector<std::int64_t> outer;    // rows: input offset of each output; columns: of each block of `run`
  std::vector<std::int64_t> red;      // offsets of the reduced parts not in the contiguous run
  std::int64_t out_count = 1;
  std::int64_t reduced = 1;           // elements reduced into each output
};

// Every offset sum_d j_d * stride_d for j_d < size_d, in row-major order of the dims given.
std::vector<std::int64_t> enumerate_offsets(const std::vector<std::pair<std::int64_t, std::int64_t>>& dims) {
  std::vector<std::int64_t> out{0};
  for (const auto& [size, stride] : dims) {
    std::vector<std::int64_t> next;
    next.reserve(out.size() * static_cast<std::size_t>(size));
    for (std::int64_t o : out) {
      for (std::int64_t j = 0; j < size; ++j) next.push_back(o + j * stride);
    }
    out = std::move(next);
  }
  return out;
}

// The plan for an input of `shape` (no zero dimension) reduced along the axes marked in `mask`.
reduce_plan plan_reduce(const shape_t& shape, const std::vector<bool>& mask) {
  std::vector<std::int64_t> dims;
  std::vector<bool> red;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!dims.empty() && red.back() == mask[d]) {
      dims.back() *= shape[d];
    } else {
      dims.push_back(shape[d]);
      red.push_back(mask[d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    red.push_back(false);
  }
  const std::vector<std::int64_t> strides = strides_of(dims);
  reduce_plan p;
  const std::size_t last = dims.size() - 1;
  p.rows = red[last];
  p.run = dims[last];
  std::vector<std::pair<std::int64_t, std::int64_t>> kept_dims;
  std::vector<std::pair<std::int64_t, std::int64_t>> red_dims;
  p.out_count = 1;
  p.reduced = 1;
  for (std::size_t d = 0; d < dims.size(); ++d) {
    (red[d] ? p.reduced : p.out_count) *= dims[d];
    if (d == last) continue;  // the contiguous run is walked directly
    (red[d] ? red_dims : kept_dims).emplace_back(dims[d], strides[d]);
  }
  p.outer = enumerate_offsets(kept_dims);
  p.red = enumerate_offsets(red_dims);
  return p;
}

// Splits [begin, end) of outputs laid out as blocks of `run` into calls f(block, k0, k1).
template <class F>
void for_segments(std::int64_t begin, std::int64_t end, std::int64_t run, F&& f) {
  std::int64_t pos = begin;
  while (pos < end) {
    const std::int64_t block = pos / run;
    const std::int64_t k0 = pos % run;
    const std::int64_t k1 = std::min(run, k0 + (end - pos));
    f(block, k0, k1);
    pos += k1 - k0;
  }
}

// out[o] = finish(o, combine over the reduced elements v of load(o, v)), starting from init.
template <class T, class A, class Load, class Combine, class Finish>
void reduce_core(const reduce_plan& p, const T* x, thread_pool& pool, A init, Load load, Combine combine, Finish finish) {
  const std::int64_t per_output = std::max<std::int64_t>(1, p.reduced);
  const std::int64_t min_outputs = std::max<std::int64_t>(1, pointwise::grain / per_output);
  if (p.rows) {
    pool.parallel_for(p.out_count, min_outputs, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t o = b; o < e; ++o) {
        A acc = init;
        for (std::int64_t r : p.red) {
          const T* v = x + p.outer[static_cast<std::size_t>(o)] + r;
          A lanes[8];
          for (auto& l : lanes) l = init;
          std::int64_t i = 0;
          for (; i + 8 <= p.run; i += 8) {
            for (int l = 0; l < 8; ++l) lanes[l] = combine(lanes[l], load(o, v[i + l]));
          }
          A part = combine(combine(combine(lanes[0], lanes[4]), combine(lanes[1], lanes[5])),
                           combine(combine(lanes[2], lanes[6]), combine(lanes[3], lanes[7])));
          for (; i < p.run; ++i) part = combine(part, load(o, v[i]));
          acc = combine(acc, part);
        }
        finish(o, acc);
      }
    });
    return;
  }
  pool.parallel_for(p.out_count, min_outputs, [&](std::int64_t b, std::int64_t e) {
    std::vector<A> acc(static_cast<std::size_t>(std::min(p.run, e - b)));
    for_segments(b, e, p.run, [&](std::int64_t block, std::int64_t k0, std::int64_t k1) {
      const std::int64_t base_o = block * p.run;
      const std::int64_t m = k1 - k0;
      std::fill(acc.begin(), acc.begin() + m, init);
      for (std::int64_t r : p.red) {
        const T* v = x + p.outer[static_cast<std::size_t>(block)] + r + k0;
        for (std::int64_t k = 0; k < m; ++k) acc[static_cast<std::size_t>(k)] = combine(acc[static_cast<std::size_t>(k)], load(base_o + k0 + k, v[k]));
      }
      for (std::int64_t k = 0; k < m; ++k) finish(base_o + k0 + k, acc[static_cast<std::size_t>(k)]);
    });
  });
}

// ---- the reductions ----------------------------------------------------------------------------

enum class reduce_kind : std::uint8_t { sum, mean, max, min, prod, l1, l2, log_sum, log_sum_exp, sum_square };

// The accumulator: the element type for floats and for Max/Min; 64-bit wrapping integers for the
// integer sums and products (cast back at the end); double for the integer L2/LogSum/LogSumExp.
template <reduce_kind K, class T>
struct acc_type {
  using type = std::conditional_t<
      std::is_floating_point_v<T> || K == reduce_kind::max || K == reduce_kind::min, T,
      std::conditional_t<K == reduce_kind::l2 || K == reduce_kind::log_sum || K == reduce_kind::log_sum_exp, double,
                         std::conditional_t<std::is_signed_v<T>, std::int64_t, std::uint64_t>>>;
};

// A to T: floats by a cast; a float result into an integer type truncated and saturated (NaN 0).
template <class T, class A>
T cast_out(A v) noexcept {
  if constexpr (std::is_integral_v<T> && std::is_floating_point_v<A>) {
    if (!(v == v)) return 0;
    const A t = std::trunc(v);
    if (t <= static_cast<A>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (t >= static_cast<A>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(t);
  } else {
    return static_cast<T>(v);
  }
}

template <class A>
A lowest_of() noexcept {
  if constexpr (std::is_floating_point_v<A>) return -std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::lowest();
}
template <class A>
A highest_of() noexcept {
  if constexpr (std::is_floating_point_v<A>) return std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::max();
}

template <reduce_kind K, class T>
void reduce_typed(const reduce_plan& p, const T* x, T* y, thread_pool& pool) {
  using A = typename acc_type<K, T>::type;
  const std::int64_t count = p.reduced;
  auto plus = [](A a, A b) { return pointwise::add(a, b); };
  auto identity = [](std::int64_t, T v) { return static_cast<A>(v); };
  auto store = [y](std::int64_t o, A a) { y[o] = cast_out<T>(a); };
  if constexpr (K == reduce_kind::sum) {
    reduce_core(p, x, pool, A{0}, identity, plus, store);
  } else if constexpr (K == reduce_kind::mean) {
    reduce_core(p, x, pool, A{0}, identity, plus, [y, count](std::int64_t o, A a) {
      if constexpr (std::is_floating_point_v<A>) y[o] = static_cast<T>(a / static_cast<A>(count));
      else y[o] = count == 0 ? T{0} : static_cast<T>(a / static_cast<A>(count));
    });
  } else if constexpr (K == reduce_kind::max) {
    reduce_core(p, x, pool, lowest_of<A>(), identity, [](A a, A b) { return pointwise::max_of(a, b); }, store);
  } else if constexpr (K == reduce_kind::min) {
    reduce_core(p, x, pool, highest_of<A>(), identity, [](A a, A b) { return pointwise::min_of(a, b); }, store);
  } else if constexpr (K == reduce_kind::prod) {
    reduce_core(p, x, pool, A{1}, identity, [](A a, A b) { return pointwise::mul(a, b); }, store);
  } else if constexpr (K == reduce_kind::l1) {
    reduce_core(p, x, pool, A{0}, [](std::int64_t, T v) {
      const A a = static_cast<A>(v);
      if constexpr (std::is_unsigned_v<A>) return a;
      else return a < A{0} ? pointwise::neg(a) : a;
    }, plus, store);
  } else if constexpr (K == reduce_kind::sum_square) {
    reduce_core(p, x, pool, A{0}, [](std::int64_t, T v) { return pointwise::mul(static_cast<A>(v), static_cast<A>(v)); }, plus, store);
  } else if constexpr (K == reduce_kind::l2) {
    reduce_core(p, x, pool, A{0}, [](std::int64_t, T v) { return static_cast<A>(v) * static_cast<A>(v); }, plus,
                [y](std::int64_t o, A a) { y[o] = cast_out<T>(std::sqrt(a)); });
  } else if constexpr (K == reduce_kind::log_sum) {
    reduce_core(p, x, pool, A{0}, identity, plus, [y](std::int64_t o, A a) { y[o] = cast_out<T>(std::log(a)); });
  } else {
    // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the maximum (0 when it is infinite).
    std::vector<A> shift(static_cast<std::size_t>(p.out_count));
    reduce_core(p, x, pool, lowest_of<A>(), identity, [](A a, A b) { return pointwise::max_of(a, b); },
                [&shift](std::int64_t o, A m) { shift[static_cast<std::size_t>(o)] = std::isfinite(m) ? m : A{0}; });
    reduce_core(p, x, pool, A{0}, [&shift](std::int64_t o, T v) { return std::exp(static_cast<A>(v) - shift[static_cast<std::size_t>(o)]); },
                plus, [y, &shift](std::int64_t o, A s) { y[o] = cast_out<T>(std::log(s) + shift[static_cast<std::size_t>(o)]); });
  }
}

// The value of a reduction of no element (a zero-size reduced axis).
template <reduce_kind K, class T>
T empty_value() noexcept {
  using A = typename acc_type<K, T>::type;
  switch (K) {
    case reduce_kind::prod: return T{1};
    case reduce_kind::max: return lowest_of<T>();
    case reduce_kind::min: return highest_of<T>();
    case reduce_kind::mean:
      if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::quiet_NaN();
      else return T{0};
    case reduce_kind::log_sum:
    case reduce_kind::log_sum_exp: return cast_out<T>(lowest_of<A>());
    default: return T{0};
  }
}

template <reduce_kind K>
bool reduce_dispatch(mq::dtype type, const reduce_plan* p, const void* x, void* y, std::int64_t out_count,
                     thread_pool& pool) {
  return visit_numeric(type, [&]<class T>() {
    if (p == nullptr) {
      T* out = static_cast<T*>(y);
      std::fill(out, out + out_count, empty_value<K, T>());
    } else {
      reduce_typed<K, T>(*p, static_cast<const T*>(x), static_cast<T*>(y), pool);
    }
  });
}

using reduce_fn = bool (*)(mq::dtype, const reduce_plan*, const void*, void*, std::int64_t, thread_pool&);

reduce_fn reduce_for(reduce_kind kind) {
  switch (kind) {
    case reduce_kind::sum: return reduce_dispatch<reduce_kind::sum>;
    case reduce_kind::mean: return reduce_dispatch<reduce_kind::mean>;
    case reduce_kind::max: return reduce_dispatch<reduce_kind::max>;
    case reduce_kind::min: return reduce_dispatch<reduce_kind::min>;
    case reduce_kind::prod: return reduce_dispatch<reduce_kind::prod>;
    case reduce_kind::l1: return reduce_dispatch<reduce_kind::l1>;
    case reduce_kind::l2: return reduce_dispatch<reduce_kind::l2>;
    case reduce_kind::log_sum: return reduce_dispatch<reduce_kind::log_sum>;
    case reduce_kind::log_sum_exp: return reduce_dispatch<reduce_kind::log_sum_exp>;
    case reduce_kind::sum_square: return reduce_dispatch<reduce_kind::sum_square>;
  }
  return nullptr;
}

result<std::unique_ptr<kernel>> make_reduce(node_info& node, reduce_kind kind) {
  // Axes became an input in version 18 (ReduceSum: 13), with noop_with_empty_axes.
  const bool axes_input = node.since_version() >= 18 || (kind == reduce_kind::sum && node.since_version() >= 13);
  if (axes_input) {
    MQ_TRY_VOID(node.only_attributes({"keepdims", "noop_with_empty_axes"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"axes", "keepdims"}));
  }
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  const bool noop_empty = node.attr_int("noop_with_empty_axes", 0) != 0;
  const std::vector<std::int64_t> attr_axes = node.attr_ints("axes");
  const reduce_fn fn = reduce_for(kind);
  return make_kernel([axes_input, keepdims, noop_empty, attr_axes, fn](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    std::vector<std::int64_t> axes = attr_axes;
    if (axes_input) {
      axes.clear();
      if (ctx.has_input(1)) axes = MQ_TRY(read_ints(ctx, 1, "axes"));
    }
    if (axes.empty() && noop_empty) {
      ctx.set_output(0, x);  // nothing to reduce: the input itself
      return {};
    }
    const shape_t shape = x.shape();
    const mq::dtype type = x.type();
    std::vector<bool> mask(shape.size(), axes.empty());
    for (std::int64_t a : axes) {
      const std::size_t ax = MQ_TRY(axis_for(ctx, a, shape.size()));
      if (mask[ax]) return ctx.fail("axis " + std::to_string(a) + " is repeated in axes");
      mask[ax] = true;
    }
    shape_t out_shape;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (!mask[d]) out_shape.push_back(shape[d]);
      else if (keepdims) out_shape.push_back(1);
    }
    if (!is_float_type(type) && type != mq::dtype::int8 && type != mq::dtype::uint8 && type != mq::dtype::int16 &&
        type != mq::dtype::uint16 && type != mq::dtype::int32 && type != mq::dtype::uint32 &&
        type != mq::dtype::int64 && type != mq::dtype::uint64) {
      return ctx.unsupported("element type " + type_name(type));
    }
    tensor wide;
    const void* px = x.raw();
    mq::dtype compute = type;
    if (is_half(type)) {
      wide = MQ_TRY(pointwise::widen(ctx, x));
      px = wide.raw();
      compute = mq::dtype::float32;
    }
    tensor y = MQ_TRY(ctx.allocate(compute, out_shape));
    if (y.size() != 0) {
      if (element_count(shape) == 0) {
        fn(compute, nullptr, nullptr, y.mutable_raw(), y.size(), ctx.pool());
      } else {
        const reduce_plan p = plan_reduce(shape, mask);
        if (!fn(compute, &p, px, y.mutable_raw(), y.size(), ctx.pool())) return ctx.unsupported("element type " + type_name(type));
      }
    }
    if (is_half(type)) y = MQ_TRY(pointwise::narrow(ctx, y, type));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- ArgMax, ArgMin ----------------------------------------------------------------------------

// Reads element i as something comparable: itself, or float for the halves.
template <class T>
struct loader {
  const T* p;
  T operator()(std::int64_t i) const { return p[i]; }
};
struct half_loader {
  const std::uint16_t* p;
  mq::dtype type;
  float operator()(std::int64_t i) const { return pointwise::half_to_float(type, p[i]); }
};

// Whether v replaces the best so far: larger (max) or smaller (min), or equal with
// select_last_index; a NaN wins over numbers (numpy's rule: the first NaN).
template <class V>
bool better(V v, V best, bool is_max, bool last) noexcept {
  if constexpr (std::is_floating_point_v<V>) {
    if (best != best) return false;
    if (v != v) return true;
  }
  if (last) return is_max ? v >= best : v <= best;
  return is_max ? v > best : v < best;
}

template <class Load>
void arg_kernel(Load load, std::int64_t* y, std::int64_t outer, std::int64_t a, std::int64_t inner, bool is_max,
                bool last, thread_pool& pool) {
  const std::int64_t n = outer * inner;
  const std::int64_t min_outputs = std::max<std::int64_t>(1, pointwise::grain / std::max<std::int64_t>(1, a));
  pool.parallel_for(n, min_outputs, [&](std::int64_t b, std::int64_t e) {
    using V = decltype(load(0));
    std::vector<V> best(static_cast<std::size_t>(std::min(inner, e - b)));
    for_segments(b, e, inner, [&](std::int64_t block, std::int64_t k0, std::int64_t k1) {
      const std::int64_t base = block * a * inner;
      std::int64_t* out = y + block * inner;
      for (std::int64_t k = k0; k < k1; ++k) {
        best[static_cast<std::size_t>(k - k0)] = load(base + k);
        out[k] = 0;
      }
      for (std::int64_t j = 1; j < a; ++j) {
        for (std::int64_t k = k0; k < k1; ++k) {
          const V v = load(base + j * inner + k);
          V& bk = best[static_cast<std::size_t>(k - k0)];
          if (better(v, bk, is_max, last)) {
            bk = v;
            out[k] = j;
          }
        }
      }
    });
  });
}

result<std::unique_ptr<kernel>> make_arg(node_info& node, bool is_max) {
  MQ_TRY_VOID(node.only_attributes({"axis", "keepdims", "select_last_index"}));
  const std::int64_t axis = node.attr_int("axis", 0);
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  const bool last = node.attr_int("select_last_index", 0) != 0;
  return make_kernel([axis, keepdims, last, is_max](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const shape_t& shape = x.shape();
    const std::size_t ax = MQ_TRY(axis_for(ctx, axis, shape.size()));
    const std::int64_t a = shape[ax];
    if (a == 0) return ctx.fail("cannot take the index of an extreme along axis " + std::to_string(axis) + " of size 0");
    std::int64_t outer = 1;
    std::int64_t inner = 1;
    shape_t out_shape;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (d < ax) outer *= shape[d];
      if (d > ax) inner *= shape[d];
      if (d != ax) out_shape.push_back(shape[d]);
      else if (keepdims) out_shape.push_back(1);
    }
    const mq::dtype type = x.type();
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::int64, out_shape));
    std::int64_t* out = y.mutable_data<std::int64_t>();
    if (is_half(type)) {
      arg_kernel(half_loader{x.data<std::uint16_t>(), type}, out, outer, a, inner, is_max, last, ctx.pool());
    } else {
      const bool known = visit_numeric(type, [&]<class T>() {
        arg_kernel(loader<T>{x.data<T>()}, out, outer, a, inner, is_max, last, ctx.pool());
      });
      if (!known) return ctx.unsupported("element type " + type_name(type));
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- CumSum ------------------------------------------------------------------------------------

template <class T>
void cumsum_kernel(const T* x, T* y, std::int64_t outer, std::int64_t a, std::int64_t inner, bool exclusive,
                   bool reverse, thread_pool& pool) {
  const std::int64_t n = outer * inner;
  const std::int64_t min_columns = std::max<std::int64_t>(1, pointwise::grain / std::max<std::int64_t>(1, a));
  pool.parallel_for(n, min_columns, [&](std::int64_t b, std::int64_t e) {
    std::vector<T> acc(static_cast<std::size_t>(std::min(inner, e - b)));
    for_segments(b, e, inner, [&](std::int64_t block, std::int64_t k0, std::int64_t k1) {
      const std::int64_t m = k1 - k0;
      std::fill(acc.begin(), acc.begin() + m, T{0});
      for (std::int64_t s = 0; s < a; ++s) {
        const std::int64_t j = reverse ? a - 1 - s : s;
        const std::int64_t at = (block * a + j) * inner + k0;
        for (std::int64_t k = 0; k < m; ++k) {
          // Read before writing: y may be x.
          const T v = x[at + k];
          T& sum = acc[static_cast<std::size_t>(k)];
          if (exclusive) {
            y[at + k] = sum;
            sum = pointwise::add(sum, v);
          } else {
            sum = pointwise::add(sum, v);
            y[at + k] = sum;
          }
        }
      }
    });
  });
}

result<std::unique_ptr<kernel>> make_cumsum(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"exclusive", "reverse"}));
  const bool exclusive = node.attr_int("exclusive", 0) != 0;
  const bool reverse = node.attr_int("reverse", 0) != 0;
  return make_kernel([exclusive, reverse](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::vector<std::int64_t> axes = MQ_TRY(read_ints(ctx, 1, "axis"));
    if (axes.size() != 1) return ctx.fail("axis must be a scalar, got " + std::to_string(axes.size()) + " values");
    const shape_t shape = x.shape();
    const mq::dtype type = x.type();
    const std::size_t ax = MQ_TRY(axis_for(ctx, axes[0], shape.size()));
    std::int64_t outer = 1;
    std::int64_t inner = 1;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (d < ax) outer *= shape[d];
      if (d > ax) inner *= shape[d];
    }
    const std::int64_t a = shape[ax];
    if (is_half(type)) {
      tensor f = MQ_TRY(pointwise::widen(ctx, x));
      float* p = f.mutable_data<float>();
      cumsum_kernel(p, p, outer, a, inner, exclusive, reverse, ctx.pool());
      ctx.set_output(0, MQ_TRY(pointwise::narrow(ctx, f, type)));
      return {};
    }
    const void* px = x.raw();
    bool known = false;
    visit_numeric(type, [&]<class T>() { known = true; });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
    visit_numeric(type, [&]<class T>() {
      cumsum_kernel(static_cast<const T*>(px), y.mutable_data<T>(), outer, a, inner, exclusive, reverse, ctx.pool());
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_reduce(op_registry& r) {
  auto reduce = [&r](const char* name, reduce_kind kind) {
    r.add(name, [kind](node_info& n) { return make_reduce(n, kind); }, 1);
  };
  reduce("ReduceSum", reduce_kind::sum);
  reduce("ReduceMean", reduce_kind::mean);
  reduce("ReduceMax", reduce_kind::max);
  reduce("ReduceMin", reduce_kind::min);
  reduce("ReduceProd", reduce_kind::prod);
  reduce("ReduceL1", reduce_kind::l1);
  reduce("ReduceL2", reduce_kind::l2);
  reduce("ReduceLogSum", reduce_kind::log_sum);
  reduce("ReduceLogSumExp", reduce_kind::log_sum_exp);
  reduce("ReduceSumSquare", reduce_kind::sum_square);
  r.add("ArgMax", [](node_info& n) { return make_arg(n, true); }, 1);
  r.add("ArgMin", [](node_info& n) { return make_arg(n, false); }, 1);
  r.add("CumSum", make_cumsum, 11);
}

}  // namespace mq::exec::ops
