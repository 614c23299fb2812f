// Indexing operators: Gather, GatherElements, GatherND, ScatterElements (and the deprecated
// Scatter), ScatterND, TopK, OneHot, NonZero, Compress.
//
// Every index is checked against its dimension before anything is read or written: an index out
// of range is an error naming the node, never an out-of-bounds access. Moving elements works on
// their bytes (any type); the reductions of the Scatter operators and TopK's comparisons work on
// the numeric types.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

using i64 = std::int64_t;

constexpr i64 parallel_bytes = 1 << 16;

std::size_t uz(i64 v) noexcept { return static_cast<std::size_t>(v); }
i64 sz(std::size_t v) noexcept { return static_cast<i64>(v); }
i64 grain_for(i64 bytes_per_item) noexcept { return std::max<i64>(1, parallel_bytes / std::max<i64>(1, bytes_per_item)); }

template <class F>
bool visit_size(std::size_t size, F&& f) {
  switch (size) {
    case 1: f.template operator()<std::uint8_t>(); return true;
    case 2: f.template operator()<std::uint16_t>(); return true;
    case 4: f.template operator()<std::uint32_t>(); return true;
    case 8: f.template operator()<std::uint64_t>(); return true;
    default: return false;
  }
}

bool movable(mq::dtype type) {
  const std::size_t e = exec_element_size(type);
  return e == 1 || e == 2 || e == 4 || e == 8;
}

// Indices (int32 or int64) made non-negative against `dim`; fails naming the first bad one.
result<std::vector<i64>> checked_indices(const run_context& ctx, std::size_t input, i64 dim, const char* what) {
  const tensor& t = ctx.in(input);
  if (t.type() != mq::dtype::int64 && t.type() != mq::dtype::int32) {
    return ctx.fail(std::string(what) + " must be int64 or int32, got " + type_name(t.type()));
  }
  std::vector<i64> v = ints_of(t);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const i64 x = v[i];
    if (x < -dim || x >= dim) {
      return ctx.fail(std::string(what) + " value " + std::to_string(x) + " (element " + std::to_string(i) +
                      ") is out of range for a dimension of " + std::to_string(dim));
    }
    if (x < 0) v[i] = x + dim;
  }
  return v;
}

// ---- Gather ------------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_gather(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  const i64 axis_attr = node.attr_int("axis", 0);
  return make_kernel([axis_attr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& ind = ctx.in(1);
    if (x.rank() == 0) return ctx.fail("cannot gather from a scalar");
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, x.rank()));
    if (!movable(x.type())) return ctx.unsupported("element type " + type_name(x.type()));
    const i64 dim = x.dim(axis);
    const std::vector<i64> idx = MQ_TRY(checked_indices(ctx, 1, dim, "index"));
    shape_t out_shape(x.shape().begin(), x.shape().begin() + static_cast<std::ptrdiff_t>(axis));
    out_shape.insert(out_shape.end(), ind.shape().begin(), ind.shape().end());
    out_shape.insert(out_shape.end(), x.shape().begin() + static_cast<std::ptrdiff_t>(axis) + 1, x.shape().end());
    i64 outer = 1;
    for (std::size_t k = 0; k < axis; ++k) outer *= x.dim(k);
    i64 inner = 1;
    for (std::size_t k = axis + 1; k < x.rank(); ++k) inner *= x.dim(k);
    const std::size_t esize = exec_element_size(x.type());
    const std::size_t block = uz(inner) * esize;
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    const i64 n = sz(idx.size());
    const i64 items = outer * n;
    if (block == 0 || items == 0) {
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (inner == 1) {
      // One element per index: a plain indexed load.
      visit_size(esize, [&]<class U>() {
        const U* s = reinterpret_cast<const U*>(src);
        U* d = reinterpret_cast<U*>(dst);
        ctx.pool().parallel_for(outer, grain_for(n * sz(esize)), [&](i64 b, i64 e) {
          for (i64 o = b; o < e; ++o) {
            const U* row = s + o * dim;
            U* out = d + o * n;
            for (i64 j = 0; j < n; ++j) out[j] = row[idx[uz(j)]];
          }
        });
      });
    } else {
      ctx.pool().parallel_for(items, grain_for(sz(block)), [&](i64 b, i64 e) {
        i64 o = b / n;
        i64 j = b - o * n;
        for (i64 w = b; w < e; ++w) {
          std::memcpy(dst + uz(w) * block, src + uz(o * dim + idx[uz(j)]) * block, block);
          if (++j == n) {
            j = 0;
            ++o;
          }
        }
      });
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- GatherElements ----------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_gather_elements(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  const i64 axis_attr = node.attr_int("axis", 0);
  return make_kernel([axis_attr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& ind = ctx.in(1);
    const std::size_t rank = x.rank();
    if (rank == 0) return ctx.fail("cannot gather from a scalar");
    if (ind.rank() != rank) return ctx.fail("indices have rank " + std::to_string(ind.rank()) + ", data has rank " + std::to_string(rank));
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, rank));
    for (std::size_t k = 0; k < rank; ++k) {
      if (k != axis && ind.dim(k) > x.dim(k)) {
        return ctx.fail("indices shape " + shape_string(ind.shape()) + " exceeds data shape " + shape_string(x.shape()) + " on axis " + std::to_string(k));
      }
    }
    if (!movable(x.type())) return ctx.unsupported("element type " + type_name(x.type()));
    const std::vector<i64> idx = MQ_TRY(checked_indices(ctx, 1, x.dim(axis), "index"));
    const shape_t out_shape = ind.shape();
    const std::vector<i64> ds = strides_of(x.shape());
    const i64 sa = ds[axis];
    const std::size_t esize = exec_element_size(x.type());
    const void* src = x.raw();
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    const i64 total = element_count(out_shape);
    if (total > 0) {
      const i64 row = out_shape[rank - 1];
      const i64 rows = total / row;
      const i64 last_stride = axis == rank - 1 ? 0 : ds[rank - 1];
      visit_size(esize, [&]<class U>() {
        const U* s = static_cast<const U*>(src);
        U* d = y.mutable_data<U>();
        // Walk the rows of the indices; the data offset of a row ignores the gathered axis.
        std::vector<i64> idims(out_shape.begin(), out_shape.end() - 1);
        ctx.pool().parallel_for(rows, grain_for(row * sz(esize)), [&](i64 b, i64 e) {
          std::vector<i64> pos(idims.size(), 0);
          i64 rest = b;
          for (std::size_t k = idims.size(); k-- > 0;) {
            pos[k] = rest % idims[k];
            rest /= idims[k];
          }
          for (i64 r = b; r < e; ++r) {
            i64 base = 0;
            for (std::size_t k = 0; k < idims.size(); ++k) {
              if (k != axis) base += pos[k] * ds[k];
            }
            const i64* ir = idx.data() + r * row;
            U* out = d + r * row;
            for (i64 j = 0; j < row; ++j) out[j] = s[base + j * last_stride + ir[j] * sa];
            for (std::size_t k = idims.size(); k-- > 0;) {
              if (++pos[k] < idims[k]) break;
              pos[k] = 0;
            }
          }
        });
      });
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- GatherND ----------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_gather_nd(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"batch_dims"}));
  const i64 batch_dims = node.attr_int("batch_dims", 0);
  if (batch_dims < 0) return node.invalid("batch_dims must not be negative");
  return make_kernel([batch_dims](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& ind = ctx.in(1);
    const std::size_t r = x.rank();
    const std::size_t q = ind.rank();
    const auto b = uz(batch_dims);
    if (q < 1 || r < 1) return ctx.fail("data and indices must have rank >= 1");
    if (b >= q || b >= r) return ctx.fail("batch_dims " + std::to_string(b) + " must be less than the ranks of data and indices");
    for (std::size_t k = 0; k < b; ++k) {
      if (x.dim(k) != ind.dim(k)) return ctx.fail("batch dimension " + std::to_string(k) + " differs: data " + shape_string(x.shape()) + ", indices " + shape_string(ind.shape()));
    }
    const i64 m = ind.dim(q - 1);
    if (m < 1 || uz(m) > r - b) return ctx.fail("indices' last dimension " + std::to_string(m) + " must be in [1, " + std::to_string(r - b) + "]");
    if (ind.type() != mq::dtype::int64 && ind.type() != mq::dtype::int32) return ctx.fail("indices must be int64 or int32");
    if (!movable(x.type())) return ctx.unsupported("element type " + type_name(x.type()));
    shape_t out_shape(ind.shape().begin(), ind.shape().end() - 1);
    out_shape.insert(out_shape.end(), x.shape().begin() + static_cast<std::ptrdiff_t>(b) + m, x.shape().end());
    const std::vector<i64> raw = ints_of(ind);
    const std::vector<i64> ds = strides_of(x.shape());
    i64 batches = 1;
    for (std::size_t k = 0; k < b; ++k) batches *= x.dim(k);
    const i64 batch_stride = b == 0 ? 0 : ds[b - 1];
    const i64 tuples = element_count(ind.shape()) / m;  // over all batches
    const i64 per_batch = batches > 0 ? tuples / batches : 0;
    i64 inner = 1;
    for (std::size_t k = b + uz(m); k < r; ++k) inner *= x.dim(k);
    // Element offset of every tuple, checked.
    std::vector<i64> offsets(uz(tuples));
    for (i64 t = 0; t < tuples; ++t) {
      i64 off = per_batch > 0 ? (t / per_batch) * batch_stride : 0;
      for (i64 j = 0; j < m; ++j) {
        const std::size_t axis = b + uz(j);
        i64 v = raw[uz(t * m + j)];
        const i64 d = x.dim(axis);
        if (v < -d || v >= d) return ctx.fail("index " + std::to_string(v) + " is out of range for dimension " + std::to_string(axis) + " of size " + std::to_string(d));
        if (v < 0) v += d;
        off += v * ds[axis];
      }
      offsets[uz(t)] = off;
    }
    const std::size_t esize = exec_element_size(x.type());
    const std::size_t block = uz(inner) * esize;
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    if (block > 0) {
      ctx.pool().parallel_for(tuples, grain_for(sz(block)), [&](i64 lo, i64 hi) {
        for (i64 t = lo; t < hi; ++t) std::memcpy(dst + uz(t) * block, src + uz(offsets[uz(t)]) * esize, block);
      });
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- ScatterElements, Scatter, ScatterND -------------------------------------------------------

enum class reduction { none, add, mul, max, min };

result<reduction> reduction_of(node_info& node) {
  const std::string r = node.attr_string("reduction", "none");
  if (r == "none") return reduction::none;
  if (r == "add" && node.since_version() >= 16) return reduction::add;
  if (r == "mul" && node.since_version() >= 16) return reduction::mul;
  if (r == "max" && node.since_version() >= 18) return reduction::max;
  if (r == "min" && node.since_version() >= 18) return reduction::min;
  return node.unsupported("reduction '" + r + "' of " + node.op_type());
}

template <class T>
T reduce_value(reduction r, T a, T b) {
  switch (r) {
    case reduction::none: return b;
    case reduction::add: return static_cast<T>(a + b);
    case reduction::mul: return static_cast<T>(a * b);
    case reduction::max: return std::max(a, b);
    case reduction::min: return std::min(a, b);
  }
  return b;
}

// Applies updates to `out` at element offsets: out[off[i] + j] (op)= upd[i * block + j].
result<void> apply_updates(run_context& ctx, tensor& out, const tensor& updates, const std::vector<i64>& offsets,
                           i64 block, reduction red) {
  const mq::dtype type = out.type();
  if (red == reduction::none) {
    const std::size_t esize = exec_element_size(type);
    auto* d = static_cast<std::byte*>(out.mutable_raw());
    const auto* u = static_cast<const std::byte*>(updates.raw());
    const std::size_t bytes = uz(block) * esize;
    // In order: with repeated indices the last update wins.
    for (std::size_t i = 0; i < offsets.size(); ++i) std::memcpy(d + uz(offsets[i]) * esize, u + i * bytes, bytes);
    return {};
  }
  const bool known = visit_numeric(type, [&]<class T>() {
    T* d = out.mutable_data<T>();
    const T* u = updates.data<T>();
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      T* target = d + offsets[i];
      const T* from = u + sz(i) * block;
      for (i64 j = 0; j < block; ++j) target[j] = reduce_value(red, target[j], from[j]);
    }
  });
  if (!known) return ctx.unsupported("element type " + type_name(type) + " with a reduction");
  return {};
}

// The output of a scatter: a copy of the data (or the data's storage when this node is its last
// reader).
result<tensor> scatter_output(run_context& ctx) {
  const tensor& x = ctx.in(0);
  const shape_t shape = x.shape();
  const mq::dtype type = x.type();
  const void* src = x.raw();
  const std::size_t bytes = x.byte_size();
  tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
  if (y.raw() != src && bytes != 0) std::memcpy(y.mutable_raw(), src, bytes);
  return y;
}

result<std::unique_ptr<kernel>> make_scatter_elements(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis", "reduction"}));
  const i64 axis_attr = node.attr_int("axis", 0);
  const reduction red = MQ_TRY(reduction_of(node));
  return make_kernel([axis_attr, red](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& ind = ctx.in(1);
    const tensor& upd = ctx.in(2);
    const std::size_t rank = x.rank();
    if (rank == 0) return ctx.fail("cannot scatter into a scalar");
    if (ind.rank() != rank || upd.shape() != ind.shape()) {
      return ctx.fail("indices " + shape_string(ind.shape()) + " and updates " + shape_string(upd.shape()) + " must have one shape of the data's rank " + std::to_string(rank));
    }
    if (upd.type() != x.type()) return ctx.fail("updates have type " + type_name(upd.type()) + ", data " + type_name(x.type()));
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, rank));
    for (std::size_t k = 0; k < rank; ++k) {
      if (k != axis && ind.dim(k) > x.dim(k)) return ctx.fail("indices shape " + shape_string(ind.shape()) + " exceeds data shape " + shape_string(x.shape()) + " on axis " + std::to_string(k));
    }
    if (!movable(x.type())) return ctx.unsupported("element type " + type_name(x.type()));
    const std::vector<i64> idx = MQ_TRY(checked_indices(ctx, 1, x.dim(axis), "index"));
    const std::vector<i64> ds = strides_of(x.shape());
    std::vector<i64> offsets(idx.size());
    const shape_t& is = ind.shape();
    std::vector<i64> pos(rank, 0);
    for (std::size_t i = 0; i < idx.size(); ++i) {
      i64 off = 0;
      for (std::size_t k = 0; k < rank; ++k) off += (k == axis ? idx[i] : pos[k]) * ds[k];
      offsets[i] = off;
      for (std::size_t k = rank; k-- > 0;) {
        if (++pos[k] < is[k]) break;
        pos[k] = 0;
      }
    }
    tensor y = MQ_TRY(scatter_output(ctx));
    MQ_TRY_VOID(apply_updates(ctx, y, ctx.in(2), offsets, 1, red));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_scatter_nd(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"reduction"}));
  const reduction red = MQ_TRY(reduction_of(node));
  return make_kernel([red](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& ind = ctx.in(1);
    const tensor& upd = ctx.in(2);
    const std::size_t r = x.rank();
    const std::size_t q = ind.rank();
    if (q < 1) return ctx.fail("indices must have rank >= 1");
    const i64 k = ind.dim(q - 1);
    if (k < 0 || uz(k) > r) return ctx.fail("indices' last dimension " + std::to_string(k) + " exceeds the data's rank " + std::to_string(r));
    shape_t want(ind.shape().begin(), ind.shape().end() - 1);
    want.insert(want.end(), x.shape().begin() + k, x.shape().end());
    if (upd.shape() != want) return ctx.fail("updates have shape " + shape_string(upd.shape()) + ", expected " + shape_string(want));
    if (upd.type() != x.type()) return ctx.fail("updates have type " + type_name(upd.type()) + ", data " + type_name(x.type()));
    if (ind.type() != mq::dtype::int64 && ind.type() != mq::dtype::int32) return ctx.fail("indices must be int64 or int32");
    if (!movable(x.type())) return ctx.unsupported("element type " + type_name(x.type()));
    const std::vector<i64> raw = ints_of(ind);
    const std::vector<i64> ds = strides_of(x.shape());
    const i64 tuples = k > 0 ? element_count(ind.shape()) / k : element_count(want) > 0 ? 1 : 0;
    i64 block = 1;
    for (std::size_t a = uz(k); a < r; ++a) block *= x.dim(a);
    std::vector<i64> offsets(uz(tuples));
    for (i64 t = 0; t < tuples; ++t) {
      i64 off = 0;
      for (i64 j = 0; j < k; ++j) {
        i64 v = raw[uz(t * k + j)];
        const i64 d = x.dim(uz(j));
        if (v < -d || v >= d) return ctx.fail("index " + std::to_string(v) + " is out of range for dimension " + std::to_string(j) + " of size " + std::to_string(d));
        if (v < 0) v += d;
        off += v * ds[uz(j)];
      }
      offsets[uz(t)] = off;
    }
    tensor y = MQ_TRY(scatter_output(ctx));
    MQ_TRY_VOID(apply_updates(ctx, y, ctx.in(2), offsets, block, red));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- TopK --------------------------------------------------------------------------------------

// Total order for the comparisons: NaN above every number (as numpy sorts), so the order stays
// strict and weak whatever the input.
template <class T>
bool greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

result<std::unique_ptr<kernel>> make_topk(node_info& node) {
  const std::int64_t v = node.since_version();
  if (v >= 11) {
    MQ_TRY_VOID(node.only_attributes({"axis", "largest", "sorted"}));
  } else if (v >= 10) {
    MQ_TRY_VOID(node.only_attributes({"axis"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"axis", "k"}));
  }
  const i64 axis_attr = node.attr_int("axis", -1);
  const bool largest = node.attr_int("largest", 1) != 0;
  const i64 k_attr = node.attr_int("k", -1);
  if (v < 10 && !node.has_attribute("k")) return node.invalid("attribute 'k' is missing");
  // sorted = 0 leaves the order unspecified: the sorted order is one of the allowed answers.
  return make_kernel([v, axis_attr, largest, k_attr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::size_t rank = x.rank();
    if (rank == 0) return ctx.fail("input must have rank >= 1");
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, rank));
    i64 k = k_attr;
    if (v >= 10) {
      const std::vector<i64> kv = MQ_TRY(read_ints(ctx, 1, "K"));
      if (kv.size() != 1) return ctx.fail("K must hold one value");
      k = kv[0];
    }
    const i64 dim = x.dim(axis);
    if (k < 0 || k > dim) return ctx.fail("k = " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) + " of size " + std::to_string(dim));
    shape_t out_shape = x.shape();
    out_shape[axis] = k;
    i64 outer = 1;
    for (std::size_t a = 0; a < axis; ++a) outer *= x.dim(a);
    i64 inner = 1;
    for (std::size_t a = axis + 1; a < rank; ++a) inner *= x.dim(a);
    const mq::dtype type = x.type();
    const void* src = x.raw();
    tensor values = MQ_TRY(ctx.allocate(type, out_shape));
    tensor indices = MQ_TRY(ctx.allocate(mq::dtype::int64, out_shape));
    const bool known = visit_numeric(type, [&]<class T>() {
      const T* in = static_cast<const T*>(src);
      T* ov = values.mutable_data<T>();
      i64* oi = indices.mutable_data<i64>();
      const i64 slices = outer * inner;
      ctx.pool().parallel_for(slices, std::max<i64>(1, (1 << 14) / std::max<i64>(1, dim)), [&](i64 b, i64 e) {
        struct item {
          T value;
          i64 index;
        };
        // a ranks before c: the larger (or smaller) value; ties go to the smaller index.
        auto before = [largest](const item& a, const item& c) {
          if (largest ? greater(a.value, c.value) : greater(c.value, a.value)) return true;
          if (largest ? greater(c.value, a.value) : greater(a.value, c.value)) return false;
          return a.index < c.index;
        };
        std::vector<item> items;
        for (i64 s = b; s < e; ++s) {
          const i64 o = s / inner;
          const i64 i = s - o * inner;
          const T* base = in + o * dim * inner + i;
          items.clear();
          if (k == 0) continue;
          if (k * 8 < dim) {
            // Few of many: a heap of the best k seen so far, its worst on top; most elements are
            // rejected by one comparison with that worst.
            for (i64 j = 0; j < k; ++j) items.push_back({base[j * inner], j});
            std::make_heap(items.begin(), items.end(), before);
            for (i64 j = k; j < dim; ++j) {
              const item candidate{base[j * inner], j};
              if (before(candidate, items.front())) {
                std::pop_heap(items.begin(), items.end(), before);
                items.back() = candidate;
                std::push_heap(items.begin(), items.end(), before);
              }
            }
            std::sort_heap(items.begin(), items.end(), before);
          } else {
            for (i64 j = 0; j < dim; ++j) items.push_back({base[j * inner], j});
            if (k < dim) std::nth_element(items.begin(), items.begin() + k, items.end(), before);
            std::sort(items.begin(), items.begin() + k, before);
          }
          T* vo = ov + o * k * inner + i;
          i64* io = oi + o * k * inner + i;
          for (i64 j = 0; j < k; ++j) {
            vo[j * inner] = items[uz(j)].value;
            io[j * inner] = items[uz(j)].index;
          }
        }
      });
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(values));
    ctx.set_output(1, std::move(indices));
    return {};
  });
}

// ---- OneHot ------------------------------------------------------------------------------------

// A numeric element as an integer, truncated; nullopt when it is NaN or out of int64's range.
std::optional<i64> integral_value(const tensor& t, i64 i) {
  if (!is_float_type(t.type())) return element_as_int64(t, i);
  const double d = std::trunc(element_as_double(t, i));
  if (!(d >= -9.2e18 && d <= 9.2e18)) return std::nullopt;
  return static_cast<i64>(d);
}

result<std::unique_ptr<kernel>> make_onehot(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  const i64 axis_attr = node.attr_int("axis", -1);
  return make_kernel([axis_attr](run_context& ctx) -> result<void> {
    const tensor& ind = ctx.in(0);
    const tensor& depth_t = ctx.in(1);
    const tensor& vals = ctx.in(2);
    if (depth_t.size() != 1) return ctx.fail("depth must hold one value");
    if (vals.size() != 2) return ctx.fail("values must hold [off_value, on_value]");
    if (exec_element_size(ind.type()) == 0 || ind.type() == mq::dtype::boolean) return ctx.unsupported("indices of type " + type_name(ind.type()));
    const std::optional<i64> depth_v = integral_value(depth_t, 0);
    if (!depth_v || *depth_v < 1 || *depth_v > (i64{1} << 31)) return ctx.fail("depth must be a positive integer");
    const i64 depth = *depth_v;
    const std::size_t r = ind.rank();
    const i64 rr = sz(r) + 1;
    if (axis_attr < -rr || axis_attr >= rr) return ctx.fail("axis " + std::to_string(axis_attr) + " is out of range for an output of rank " + std::to_string(rr));
    const std::size_t axis = uz(axis_attr < 0 ? axis_attr + rr : axis_attr);
    if (!movable(vals.type())) return ctx.unsupported("values of type " + type_name(vals.type()));
    shape_t out_shape(ind.shape().begin(), ind.shape().begin() + static_cast<std::ptrdiff_t>(axis));
    out_shape.push_back(depth);
    out_shape.insert(out_shape.end(), ind.shape().begin() + static_cast<std::ptrdiff_t>(axis), ind.shape().end());
    i64 outer = 1;
    for (std::size_t a = 0; a < axis; ++a) outer *= ind.dim(a);
    i64 inner = 1;
    for (std::size_t a = axis; a < r; ++a) inner *= ind.dim(a);
    tensor y = MQ_TRY(ctx.allocate(vals.type(), out_shape));
    const std::size_t esize = exec_element_size(vals.type());
    visit_size(esize, [&]<class U>() {
      const U off = vals.data<U>()[0];
      const U on = vals.data<U>()[1];
      U* d = y.mutable_data<U>();
      std::fill(d, d + y.size(), off);
      for (i64 o = 0; o < outer; ++o) {
        for (i64 i = 0; i < inner; ++i) {
          const std::optional<i64> v = integral_value(ind, o * inner + i);
          if (!v) continue;
          i64 c = *v;
          if (c < -depth || c >= depth) continue;  // out of range: all off
          if (c < 0) c += depth;
          d[(o * depth + c) * inner + i] = on;
        }
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- NonZero, Compress -------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_nonzero(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const i64 n = x.size();
    std::vector<i64> hits;
    bool known = true;
    if (x.type() == mq::dtype::float16 || x.type() == mq::dtype::bfloat16) {
      const auto* p = x.data<std::uint16_t>();
      for (i64 i = 0; i < n; ++i) {
        if ((p[i] & 0x7fffu) != 0) hits.push_back(i);
      }
    } else if (x.type() == mq::dtype::boolean) {
      const auto* p = x.data<std::uint8_t>();
      for (i64 i = 0; i < n; ++i) {
        if (p[i] != 0) hits.push_back(i);
      }
    } else {
      known = visit_numeric(x.type(), [&]<class T>() {
        const T* p = x.data<T>();
        for (i64 i = 0; i < n; ++i) {
          if (p[i] != T{0}) hits.push_back(i);  // NaN counts as non-zero
        }
      });
    }
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    // A scalar is read as a one-element vector (as ONNX Runtime does).
    const std::size_t rank = std::max<std::size_t>(1, x.rank());
    const shape_t dims = x.rank() == 0 ? shape_t{1} : x.shape();
    const i64 count = sz(hits.size());
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::int64, {sz(rank), count}));
    i64* out = y.mutable_data<i64>();
    for (i64 h = 0; h < count; ++h) {
      i64 rest = hits[uz(h)];
      for (std::size_t k = rank; k-- > 0;) {
        out[sz(k) * count + h] = rest % dims[k];
        rest /= dims[k];
      }
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_compress(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  const bool has_axis = node.has_attribute("axis");
  const i64 axis_attr = node.attr_int("axis", 0);
  return make_kernel([has_axis, axis_attr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& cond = ctx.in(1);
    if (cond.type() != mq::dtype::boolean) return ctx.fail("condition must be bool, got " + type_name(cond.type()));
    if (cond.rank() != 1) return ctx.fail("condition must be 1-D, got shape " + shape_string(cond.shape()));
    if (!movable(x.type())) return ctx.unsupported("element type " + type_name(x.type()));
    std::size_t axis = 0;
    shape_t view = x.shape();
    if (!has_axis) {
      view = {x.size()};
    } else {
      if (x.rank() == 0) return ctx.fail("cannot compress a scalar along an axis");
      axis = MQ_TRY(axis_for(ctx, axis_attr, x.rank()));
    }
    const i64 dim = view[axis];
    const auto* c = cond.data<std::uint8_t>();
    std::vector<i64> keep;
    for (i64 i = 0; i < cond.size(); ++i) {
      if (c[i] == 0) continue;
      if (i >= dim) return ctx.fail("condition selects index " + std::to_string(i) + " beyond the axis of size " + std::to_string(dim));
      keep.push_back(i);
    }
    shape_t out_shape = view;
    out_shape[axis] = sz(keep.size());
    i64 outer = 1;
    for (std::size_t a = 0; a < axis; ++a) outer *= view[a];
    i64 inner = 1;
    for (std::size_t a = axis + 1; a < view.size(); ++a) inner *= view[a];
    const std::size_t esize = exec_element_size(x.type());
    const std::size_t block = uz(inner) * esize;
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    std::byte* d = dst;
    for (i64 o = 0; o < outer; ++o) {
      for (i64 j : keep) {
        std::memcpy(d, src + uz(o * dim + j) * block, block);
        d += block;
      }
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_gather(op_registry& r) {
  r.add("Gather", make_gather, 1);
  r.add("GatherElements", make_gather_elements, 11);
  r.add("GatherND", make_gather_nd, 11);
  r.add("ScatterElements", make_scatter_elements, 11);
  r.add("Scatter", make_scatter_elements, 9);
  r.add("ScatterND", make_scatter_nd, 11);
  r.add("TopK", make_topk, 1);
  r.add("OneHot", make_onehot, 9);
  r.add("NonZero", make_nonzero, 9);
  r.add("Compress", make_compress, 9);
}

}  // namespace mq::exec::ops
