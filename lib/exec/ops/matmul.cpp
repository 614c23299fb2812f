// MatMul (numpy batched broadcasting, 1-D operands) and Gemm on the float kernel table.
//
// When the right operand B is a constant (the weights of a linear layer), it is packed once at
// plan time as the A operand of the transposed product: Y^T = B^T X^T, whose per-row bias is
// Gemm's per-column C. The product is computed into a scratch N x R matrix, columns (rows of X)
// split across threads, and transposed into Y (when Y has one row or one column, the two layouts
// coincide and the product writes Y directly). Few rows (R below packed_min_rows) run the dense
// product instead, split over Y's columns, so that a single row still uses every thread.
// Products of two activations run the dense product per batch. Other element types run plain loops.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

#include "exec/ops/common.h"
#include "exec/ops/conv.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

using mq::kernels::a_dense;
using mq::kernels::b_dense;
using mq::kernels::float_kernel_table;
using mq::kernels::gemm_args;

constexpr std::int64_t packed_min_rows = 16;
constexpr std::int64_t parallel_grain_work = 1 << 15;

std::int64_t packed_floats(const float_kernel_table& t, std::int64_t m, std::int64_t k) {
  return static_cast<std::int64_t>((t.packed_a_bytes(m, k) + 63) / 64 * 16);
}

// dst (cols x rows) = src (rows x cols)^T, in tiles.
void transpose_into(thread_pool& pool, const float* src, std::int64_t rows, std::int64_t cols, float* dst) {
  constexpr std::int64_t tile = 32;
  const std::int64_t col_tiles = (cols + tile - 1) / tile;
  const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, tile * rows));
  pool.parallel_for(col_tiles, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t ct = begin; ct < end; ++ct) {
      const std::int64_t c0 = ct * tile;
      const std::int64_t c1 = std::min(cols, c0 + tile);
      for (std::int64_t r0 = 0; r0 < rows; r0 += tile) {
        const std::int64_t r1 = std::min(rows, r0 + tile);
        for (std::int64_t c = c0; c < c1; ++c) {
          float* d = dst + c * rows;
          for (std::int64_t r = r0; r < r1; ++r) d[r] = src[r * cols + c];
        }
      }
    }
  });
}

// A constant right operand packed as the A of Y^T = B'^T X^T: rows n, columns k, scaled by alpha.
struct packed_rhs {
  tensor source;  // the constant B as given (for the dense product on few rows)
  tensor packed;  // alpha * B'^T packed (N x K)
  std::int64_t k = 0;
  std::int64_t n = 0;
  bool trans = false;  // B is given as N x K (Gemm transB)
};

result<packed_rhs> pack_rhs(const node_info& node, const tensor& b, bool trans, float alpha) {
  packed_rhs p;
  p.source = b;
  p.trans = trans;
  const bool vector = b.rank() == 1;
  p.k = vector ? b.dim(0) : (trans ? b.dim(1) : b.dim(0));
  p.n = vector ? 1 : (trans ? b.dim(0) : b.dim(1));
  const float_kernel_table& t = mq::kernels::active_float_kernels();
  p.packed = tensor::empty(mq::dtype::float32, {std::max<std::int64_t>(1, packed_floats(t, p.n, p.k))});
  if (!p.packed.valid()) return mq::fail(errc::internal, node.label() + ": out of memory packing the weights");
  // A[n, k] = B'[k, n]: B is K x N row-major (trans=false) -> data[k * N + n]; N x K -> data[n * K + k].
  const float* src = b.data<float>();
  std::vector<float> scaled;
  if (alpha != 1.0f) {
    scaled.assign(src, src + b.size());
    for (float& v : scaled) v *= alpha;
    src = scaled.data();
  }
  const a_dense a = (trans || vector) ? a_dense{src, p.k, false} : a_dense{src, p.n, true};
  if (p.n > 0 && p.k > 0) t.pack_a(p.n, p.k, a, p.packed.mutable_data<float>());
  return p;
}

// Y (rows x n) = act(X' B') (+ row bias via the transposed product), X' = X or X^T (trans_x; X is
// rows x k or k x rows). `bias` (n values or null) is added per column of Y.
result<void> rows_times_packed(run_context& ctx, const packed_rhs& p, const float* x, bool trans_x, std::int64_t rows,
                               const float* bias, float* y) {
  const float_kernel_table& t = mq::kernels::active_float_kernels();
  const std::int64_t n = p.n;
  const std::int64_t k = p.k;
  // X'^T as the B operand (k x rows): [kk, r] = X'[r, kk].
  const b_dense xt = trans_x ? b_dense{x, rows, false} : b_dense{x, k, true};
  const bool direct = rows == 1 || n == 1;
  tensor scratch;
  float* ct = y;
  if (!direct) {
    scratch = MQ_TRY(ctx.allocate(mq::dtype::float32, {n, rows}));
    ct = scratch.mutable_data<float>();
  }
  for_column_blocks(ctx.pool(), 1, rows, n * k, t.split_columns, [&](std::int64_t, std::int64_t b, std::int64_t e) {
    gemm_args args;
    args.m = n;
    args.n = rows;
    args.k = k;
    args.n_begin = b;
    args.n_end = e;
    args.c = ct;
    args.ldc = rows;
    args.bias = bias;
    t.gemm_packed_dense(p.packed.data<float>(), xt, args);
  });
  if (!direct) transpose_into(ctx.pool(), ct, n, rows, y);
  return {};
}

// Y (m x n) = A' B' for `items` products (offsets per item), columns split across threads.
void dense_products(thread_pool& pool, std::int64_t items, const std::vector<std::int64_t>& a_off,
                    const std::vector<std::int64_t>& b_off, const float* a, bool trans_a, const float* b, bool trans_b,
                    std::int64_t m, std::int64_t k, std::int64_t n, float* y) {
  const float_kernel_table& t = mq::kernels::active_float_kernels();
  for_column_blocks(pool, items, n, m * k, t.split_columns, [&](std::int64_t item, std::int64_t begin, std::int64_t end) {
    const auto i = static_cast<std::size_t>(item);
    const a_dense A{a + a_off[i], trans_a ? m : k, trans_a};
    const b_dense B{b + b_off[i], trans_b ? k : n, trans_b};
    gemm_args args;
    args.m = m;
    args.n = n;
    args.k = k;
    args.n_begin = begin;
    args.n_end = end;
    args.c = y + item * m * n;
    args.ldc = n;
    t.gemm(A, B, args);
  });
}

// ---- MatMul -----------------------------------------------------------------------------------

struct matmul_dims {
  shape_t batch;            // broadcast batch dims
  std::int64_t m = 1, k = 1, n = 1;
  shape_t out;
  std::vector<std::int64_t> a_off, b_off;  // element offsets of each batch item
};

result<matmul_dims> matmul_shapes(const run_context& ctx, const shape_t& sa, const shape_t& sb) {
  if (sa.empty() || sb.empty()) return ctx.fail("inputs have shapes " + shape_string(sa) + " and " + shape_string(sb) + ": MatMul needs rank 1 or more");
  shape_t a = sa;
  shape_t b = sb;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  matmul_dims d;
  d.m = a[a.size() - 2];
  d.k = a.back();
  d.n = b.back();
  if (b[b.size() - 2] != d.k) {
    return ctx.fail("shapes " + shape_string(sa) + " and " + shape_string(sb) + " do not multiply (inner dimensions " +
                    std::to_string(d.k) + " and " + std::to_string(b[b.size() - 2]) + ")");
  }
  const shape_t ba(a.begin(), a.end() - 2);
  const shape_t bb(b.begin(), b.end() - 2);
  auto batch = broadcast_shapes(ba, bb);
  if (!batch) return ctx.fail("batch dimensions of " + shape_string(sa) + " and " + shape_string(sb) + " do not broadcast");
  d.batch = *batch;
  d.out = d.batch;
  if (sa.size() > 1) d.out.push_back(d.m);
  if (sb.size() > 1) d.out.push_back(d.n);
  const std::int64_t items = element_count(d.batch);
  const std::vector<std::int64_t> stride_a = broadcast_strides(ba, d.batch);
  const std::vector<std::int64_t> stride_b = broadcast_strides(bb, d.batch);
  d.a_off.resize(static_cast<std::size_t>(items));
  d.b_off.resize(static_cast<std::size_t>(items));
  std::vector<std::int64_t> idx(d.batch.size(), 0);
  std::int64_t oa = 0;
  std::int64_t ob = 0;
  for (std::int64_t i = 0; i < items; ++i) {
    d.a_off[static_cast<std::size_t>(i)] = oa * d.m * d.k;
    d.b_off[static_cast<std::size_t>(i)] = ob * d.k * d.n;
    for (std::size_t j = d.batch.size(); j-- > 0;) {
      oa += stride_a[j];
      ob += stride_b[j];
      if (++idx[j] < d.batch[j]) break;
      oa -= stride_a[j] * d.batch[j];
      ob -= stride_b[j] * d.batch[j];
      idx[j] = 0;
    }
  }
  return d;
}

// Plain loops for the other element types. Integer products wrap around (computed unsigned).
template <class T>
struct accumulator {
  using type = std::make_unsigned_t<T>;
};
template <>
struct accumulator<double> {
  using type = double;
};

template <class T>
void matmul_plain(thread_pool& pool, const matmul_dims& d, const T* a, const T* b, T* y) {
  using acc_t = typename accumulator<T>::type;
  const std::int64_t items = static_cast<std::int64_t>(d.a_off.size());
  const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, d.k * d.n));
  pool.parallel_for(items * d.m, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const auto item = static_cast<std::size_t>(row / d.m);
      const std::int64_t i = row % d.m;
      const T* pa = a + d.a_off[item] + i * d.k;
      const T* pb = b + d.b_off[item];
      T* py = y + row * d.n;
      for (std::int64_t j = 0; j < d.n; ++j) {
        acc_t sum = 0;
        for (std::int64_t kk = 0; kk < d.k; ++kk) sum = static_cast<acc_t>(sum + static_cast<acc_t>(pa[kk]) * static_cast<acc_t>(pb[kk * d.n + j]));
        py[j] = static_cast<T>(sum);
      }
    }
  });
}

result<std::unique_ptr<kernel>> make_matmul(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  std::shared_ptr<packed_rhs> packed;
  if (const tensor* b = node.constant_input(1); b != nullptr && b->type() == mq::dtype::float32 && b->rank() <= 2 && b->rank() >= 1) {
    packed = std::make_shared<packed_rhs>(MQ_TRY(pack_rhs(node, *b, false, 1.0f)));
  }
  return make_kernel([packed](run_context& ctx) -> result<void> {
    const tensor& a = ctx.in(0);
    const tensor& b = ctx.in(1);
    if (a.type() != b.type()) return ctx.fail("inputs have types " + type_name(a.type()) + " and " + type_name(b.type()));
    const matmul_dims d = MQ_TRY(matmul_shapes(ctx, a.shape(), b.shape()));
    const mq::dtype type = a.type();
    const void* pa = a.raw();
    const void* pb = b.raw();
    const bool b_batched = b.rank() > 2;
    tensor y = MQ_TRY(ctx.allocate(type, d.out));
    if (y.size() == 0) {
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (d.k == 0) {
      std::memset(y.mutable_raw(), 0, y.byte_size());
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (type == mq::dtype::float32) {
      const float* fa = static_cast<const float*>(pa);
      const float* fb = static_cast<const float*>(pb);
      float* fy = y.mutable_data<float>();
      if (!b_batched) {
        // B has no batch: every row of every batch item of A is one row of a single product.
        const std::int64_t rows = element_count(d.batch) * d.m;
        if (packed && rows >= packed_min_rows) {
          MQ_TRY_VOID(rows_times_packed(ctx, *packed, fa, false, rows, nullptr, fy));
        } else {
          dense_products(ctx.pool(), 1, {0}, {0}, fa, false, fb, false, rows, d.k, d.n, fy);
        }
      } else {
        dense_products(ctx.pool(), static_cast<std::int64_t>(d.a_off.size()), d.a_off, d.b_off, fa, false, fb, false, d.m,
                       d.k, d.n, fy);
      }
      ctx.set_output(0, std::move(y));
      return {};
    }
    bool known = false;
    auto plain = [&]<class T>() {
      known = true;
      matmul_plain<T>(ctx.pool(), d, static_cast<const T*>(pa), static_cast<const T*>(pb), y.mutable_data<T>());
    };
    switch (type) {
      case mq::dtype::float64: plain.template operator()<double>(); break;
      case mq::dtype::int32: plain.template operator()<std::int32_t>(); break;
      case mq::dtype::int64: plain.template operator()<std::int64_t>(); break;
      case mq::dtype::uint32: plain.template operator()<std::uint32_t>(); break;
      case mq::dtype::uint64: plain.template operator()<std::uint64_t>(); break;
      default: break;
    }
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Gemm -------------------------------------------------------------------------------------

struct gemm_attrs {
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1;
  float beta = 1;
};

// How C reaches the output: nothing, a per-column vector (the transposed product's row bias), or
// a general broadcast added after the product.
enum class c_kind { none, columns, general };

c_kind classify_c(const shape_t& c, std::int64_t n) {
  if (c.empty() || (c.size() == 1 && (c[0] == n || c[0] == 1)) || (c.size() == 2 && c[0] == 1 && (c[1] == n || c[1] == 1))) {
    return c_kind::columns;
  }
  return c_kind::general;
}

// The per-column values beta * C (n of them) of a C that broadcasts along the rows.
std::vector<float> column_bias(const tensor& c, std::int64_t n, float beta) {
  std::vector<float> v(static_cast<std::size_t>(n));
  const float* p = c.data<float>();
  const bool scalar = c.size() == 1;
  for (std::int64_t j = 0; j < n; ++j) v[static_cast<std::size_t>(j)] = beta * p[scalar ? 0 : j];
  return v;
}

template <class T>
void gemm_plain(thread_pool& pool, const gemm_attrs& g, std::int64_t m, std::int64_t k, std::int64_t n, const T* a,
                const T* b, const T* c, const shape_t& cs, T* y) {
  const shape_t out = {m, n};
  const std::vector<std::int64_t> st = c != nullptr ? broadcast_strides(cs, out) : std::vector<std::int64_t>{0, 0};
  const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, k * n));
  pool.parallel_for(m, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        T sum = 0;
        for (std::int64_t kk = 0; kk < k; ++kk) {
          const T av = g.trans_a ? a[kk * m + i] : a[i * k + kk];
          const T bv = g.trans_b ? b[j * k + kk] : b[kk * n + j];
          sum += av * bv;
        }
        T v = static_cast<T>(g.alpha) * sum;
        if (c != nullptr) v += static_cast<T>(g.beta) * c[i * st[0] + j * st[1]];
        y[i * n + j] = v;
      }
    }
  });
}

// y = alpha * y + beta * C (broadcast), for the float products that do not fold them in.
void finish_gemm(thread_pool& pool, float* y, std::int64_t m, std::int64_t n, float alpha, const float* c,
                 const shape_t& cs, float beta) {
  if (alpha == 1.0f && c == nullptr) return;
  const shape_t out = {m, n};
  const std::vector<std::int64_t> st = c != nullptr ? broadcast_strides(cs, out) : std::vector<std::int64_t>{0, 0};
  const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, n));
  pool.parallel_for(m, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      float* row = y + i * n;
      if (alpha != 1.0f) {
        for (std::int64_t j = 0; j < n; ++j) row[j] *= alpha;
      }
      if (c != nullptr) {
        const float* cr = c + i * st[0];
        for (std::int64_t j = 0; j < n; ++j) row[j] += beta * cr[j * st[1]];
      }
    }
  });
}

result<std::unique_ptr<kernel>> make_gemm(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"alpha", "beta", "transA", "transB"}));
  gemm_attrs g;
  g.trans_a = node.attr_int("transA", 0) != 0;
  g.trans_b = node.attr_int("transB", 0) != 0;
  g.alpha = node.attr_float("alpha", 1.0f);
  g.beta = node.attr_float("beta", 1.0f);
  if (node.since_version() < 11 && !node.has_input(2)) return node.invalid("input C is required before opset 11");
  std::shared_ptr<packed_rhs> packed;
  if (const tensor* b = node.constant_input(1); b != nullptr && b->type() == mq::dtype::float32 && b->rank() == 2) {
    packed = std::make_shared<packed_rhs>(MQ_TRY(pack_rhs(node, *b, g.trans_b, g.alpha)));
  }
  // A constant C broadcast along the rows becomes the transposed product's bias.
  std::shared_ptr<std::vector<float>> const_bias;
  if (const tensor* c = node.has_input(2) ? node.constant_input(2) : nullptr;
      packed && c != nullptr && c->type() == mq::dtype::float32 && classify_c(c->shape(), packed->n) == c_kind::columns) {
    const_bias = std::make_shared<std::vector<float>>(column_bias(*c, packed->n, g.beta));
  }
  return make_kernel([g, packed, const_bias](run_context& ctx) -> result<void> {
    const tensor& a = ctx.in(0);
    const tensor& b = ctx.in(1);
    const tensor* c = ctx.has_input(2) ? &ctx.in(2) : nullptr;
    if (a.type() != b.type() || (c != nullptr && c->type() != a.type())) {
      return ctx.fail("inputs have types " + type_name(a.type()) + ", " + type_name(b.type()) +
                      (c != nullptr ? ", " + type_name(c->type()) : std::string()));
    }
    if (a.rank() != 2 || b.rank() != 2) {
      return ctx.fail("inputs A " + shape_string(a.shape()) + " and B " + shape_string(b.shape()) + " must be matrices");
    }
    const std::int64_t m = g.trans_a ? a.dim(1) : a.dim(0);
    const std::int64_t k = g.trans_a ? a.dim(0) : a.dim(1);
    const std::int64_t kb = g.trans_b ? b.dim(1) : b.dim(0);
    const std::int64_t n = g.trans_b ? b.dim(0) : b.dim(1);
    if (k != kb) {
      return ctx.fail("A " + shape_string(a.shape()) + " and B " + shape_string(b.shape()) +
                      " do not multiply with transA " + std::to_string(g.trans_a) + ", transB " + std::to_string(g.trans_b));
    }
    const shape_t out = {m, n};
    shape_t cs;
    if (c != nullptr) {
      cs = c->shape();
      auto bs = broadcast_shapes(cs, out);
      if (cs.size() > 2 || !bs || *bs != out) {
        return ctx.fail("C " + shape_string(cs) + " does not broadcast to the output " + shape_string(out));
      }
    }
    const mq::dtype type = a.type();
    const void* pa = a.raw();
    const void* pb = b.raw();
    const void* pc = c != nullptr ? c->raw() : nullptr;
    tensor y = MQ_TRY(ctx.allocate(type, out));
    if (y.size() == 0) {
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (type == mq::dtype::float32) {
      float* fy = y.mutable_data<float>();
      const float* fc = static_cast<const float*>(pc);
      if (k == 0) {
        std::memset(fy, 0, y.byte_size());
        finish_gemm(ctx.pool(), fy, m, n, 1.0f, fc, cs, g.beta);
      } else if (packed && m >= packed_min_rows) {
        const c_kind kind = c == nullptr ? c_kind::none : classify_c(cs, n);
        std::vector<float> run_bias;
        const float* bias = nullptr;
        if (kind == c_kind::columns) {
          if (const_bias) {
            bias = const_bias->data();
          } else {
            run_bias = column_bias(*c, n, g.beta);
            bias = run_bias.data();
          }
        }
        MQ_TRY_VOID(rows_times_packed(ctx, *packed, static_cast<const float*>(pa), g.trans_a, m, bias, fy));
        if (kind == c_kind::general) finish_gemm(ctx.pool(), fy, m, n, 1.0f, fc, cs, g.beta);
      } else {
        dense_products(ctx.pool(), 1, {0}, {0}, static_cast<const float*>(pa), g.trans_a, static_cast<const float*>(pb),
                       g.trans_b, m, k, n, fy);
        finish_gemm(ctx.pool(), fy, m, n, g.alpha, fc, cs, g.beta);
      }
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (type == mq::dtype::float64) {
      gemm_plain<double>(ctx.pool(), g, m, k, n, static_cast<const double*>(pa), static_cast<const double*>(pb),
                         static_cast<const double*>(pc), cs, y.mutable_data<double>());
      ctx.set_output(0, std::move(y));
      return {};
    }
    return ctx.unsupported("element type " + type_name(type));
  });
}

}  // namespace

void register_matmul(op_registry& r) {
  r.add("MatMul", make_matmul, 1);
  r.add("Gemm", make_gemm, 7);
}

}  // namespace mq::exec::ops
