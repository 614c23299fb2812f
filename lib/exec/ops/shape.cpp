// Shape operators: views (Reshape, Flatten, Squeeze, Unsqueeze, Identity), data movement
// (Transpose, Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth, Trilu), shape
// queries (Shape, Size), type conversion (Cast, CastLike) and generators (ConstantOfShape, Range,
// EyeLike).
//
// Data movement works on element bytes (1, 2, 4 or 8 per element) whatever the type: contiguous
// runs are memcpy'd, strided runs go through one loop per element size, and the outer dimensions
// are walked with an odometer (no division per element). Big tensors are split over the pool.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

using i64 = std::int64_t;

// Work below this many bytes runs on one thread (waking the others costs more).
constexpr i64 parallel_bytes = 1 << 16;

std::size_t uz(i64 v) noexcept { return static_cast<std::size_t>(v); }
i64 sz(std::size_t v) noexcept { return static_cast<i64>(v); }

// Items per parallel chunk so that a chunk moves at least `parallel_bytes`.
i64 grain_for(i64 bytes_per_item) noexcept { return std::max<i64>(1, parallel_bytes / std::max<i64>(1, bytes_per_item)); }

// Calls f.template operator()<U>() with an unsigned integer type of `size` bytes.
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

// Walks the multi-index of `dims` in row-major order keeping one offset per stride set.
struct odometer {
  std::vector<i64> dims;
  std::vector<i64> idx;
  std::vector<std::vector<i64>> strides;  // per stride set, per dim
  std::vector<i64> offset;                // per stride set

  odometer(std::vector<i64> d, std::vector<std::vector<i64>> s) : dims(std::move(d)), idx(dims.size(), 0), strides(std::move(s)), offset(strides.size(), 0) {}

  // Positions at linear index `linear` (one division per dim, once per chunk).
  void seek(i64 linear) {
    for (auto& o : offset) o = 0;
    for (std::size_t k = dims.size(); k-- > 0;) {
      const i64 d = dims[k];
      idx[k] = d > 0 ? linear % d : 0;
      linear = d > 0 ? linear / d : 0;
      for (std::size_t s = 0; s < strides.size(); ++s) offset[s] += idx[k] * strides[s][k];
    }
  }
  void next() {
    for (std::size_t k = dims.size(); k-- > 0;) {
      ++idx[k];
      for (std::size_t s = 0; s < strides.size(); ++s) offset[s] += strides[s][k];
      if (idx[k] < dims[k]) return;
      for (std::size_t s = 0; s < strides.size(); ++s) offset[s] -= strides[s][k] * dims[k];
      idx[k] = 0;
    }
  }
};

// ---- transpose (shared by Transpose, DepthToSpace, SpaceToDepth) ------------------------------

// out[o] = in[perm-mapped o] for `in_shape` transposed by `perm`, element size `esize`.
void transpose_bytes(const std::byte* in, std::byte* out, const shape_t& in_shape, const std::vector<std::size_t>& perm,
                     std::size_t esize, thread_pool& pool) {
  const std::size_t rank = in_shape.size();
  const std::vector<i64> in_strides = strides_of(in_shape);
  // Output dims with the input stride of each; size-1 dims dropped; merged where the input keeps
  // them adjacent.
  std::vector<i64> dims;
  std::vector<i64> st;
  for (std::size_t k = 0; k < rank; ++k) {
    const i64 d = in_shape[perm[k]];
    const i64 s = in_strides[perm[k]];
    if (d == 1) continue;
    if (!dims.empty() && st.back() == s * d) {
      dims.back() *= d;
      st.back() = s;
    } else {
      dims.push_back(d);
      st.push_back(s);
    }
  }
  const i64 total = element_count(in_shape);
  if (total == 0) return;
  if (dims.empty() || (dims.size() == 1 && st[0] == 1)) {
    std::memcpy(out, in, uz(total) * esize);
    return;
  }
  const std::size_t k = dims.size();
  const std::vector<i64> ost = strides_of(dims);
  if (st[k - 1] == 1) {
    // The innermost output run is contiguous in the input: one memcpy per run.
    const i64 run = dims[k - 1];
    const std::size_t run_bytes = uz(run) * esize;
    std::vector<i64> od(dims.begin(), dims.end() - 1);
    std::vector<i64> is(st.begin(), st.end() - 1);
    const i64 runs = total / run;
    pool.parallel_for(runs, grain_for(sz(run_bytes)), [&](i64 b, i64 e) {
      odometer walk(od, {is});
      walk.seek(b);
      for (i64 r = b; r < e; ++r) {
        std::memcpy(out + uz(r * run) * esize, in + uz(walk.offset[0]) * esize, run_bytes);
        walk.next();
      }
    });
    return;
  }
  // Tiled: `a` is the output dim that is contiguous in the input, `k-1` the one contiguous in the
  // output; each tile reads and writes short contiguous runs.
  std::size_t a = 0;
  for (std::size_t j = 0; j < k; ++j) {
    if (st[j] == 1) a = j;
  }
  constexpr i64 tile = 16;
  const i64 da = dims[a];
  const i64 db = dims[k - 1];
  const i64 sb = st[k - 1];
  const i64 oa = ost[a];
  std::vector<i64> od;
  std::vector<i64> is;
  std::vector<i64> os;
  for (std::size_t j = 0; j + 1 < k; ++j) {
    if (j == a) continue;
    od.push_back(dims[j]);
    is.push_back(st[j]);
    os.push_back(ost[j]);
  }
  const i64 tiles_a = (da + tile - 1) / tile;
  const i64 outer = element_count(od);
  const i64 items = outer * tiles_a;
  visit_size(esize, [&]<class U>() {
    const U* src = reinterpret_cast<const U*>(in);
    U* dst = reinterpret_cast<U*>(out);
    pool.parallel_for(items, grain_for(tile * db * sz(esize)), [&](i64 b, i64 e) {
      odometer walk(od, {is, os});
      i64 current = -1;
      for (i64 w = b; w < e; ++w) {
        const i64 o = w / tiles_a;
        const i64 t = w - o * tiles_a;
        if (current < 0) walk.seek(o);
        else
          while (current < o) {
            walk.next();
            ++current;
          }
        current = o;
        const U* ib = src + walk.offset[0];
        U* ob = dst + walk.offset[1];
        const i64 a0 = t * tile;
        const i64 a1 = std::min(da, a0 + tile);
        for (i64 j0 = 0; j0 < db; j0 += tile) {
          const i64 j1 = std::min(db, j0 + tile);
          for (i64 i = a0; i < a1; ++i) {
            U* orow = ob + i * oa;
            const U* icol = ib + i;
            for (i64 j = j0; j < j1; ++j) orow[j] = icol[j * sb];
          }
        }
      }
    });
  });
}

// ---- small helpers -----------------------------------------------------------------------------

// Fills `count` elements of `esize` bytes at `dst` with the element at `value`.
void fill_bytes(std::byte* dst, i64 count, const std::byte* value, std::size_t esize) {
  if (count <= 0) return;
  bool zero = true;
  for (std::size_t b = 0; b < esize; ++b) zero = zero && value[b] == std::byte{0};
  if (zero) {
    std::memset(dst, 0, uz(count) * esize);
    return;
  }
  visit_size(esize, [&]<class U>() {
    U v;
    std::memcpy(&v, value, sizeof(U));
    U* p = reinterpret_cast<U*>(dst);
    std::fill(p, p + count, v);
  });
}

result<shape_t> shape_from_input(const run_context& ctx, std::size_t i, const char* what) {
  if (!ctx.has_input(i)) return ctx.fail(std::string(what) + " input is missing");
  if (ctx.in(i).rank() > 1) return ctx.fail(std::string(what) + " must be 1-D, got shape " + shape_string(ctx.in(i).shape()));
  return read_ints(ctx, i, what);
}

std::string ints_string(const std::vector<i64>& v) { return shape_string(v); }

// Normalized, sorted-unique-checked axes for a given rank.
result<std::vector<std::size_t>> normalize_axes(const run_context& ctx, const std::vector<i64>& axes, std::size_t rank) {
  std::vector<std::size_t> out;
  std::vector<bool> seen(rank, false);
  for (i64 a : axes) {
    std::size_t n = MQ_TRY(axis_for(ctx, a, rank));
    if (seen[n]) return ctx.fail("axis " + std::to_string(a) + " is repeated in " + ints_string(axes));
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

// ---- Reshape, Flatten, Squeeze, Unsqueeze, Identity --------------------------------------------

result<std::unique_ptr<kernel>> make_reshape(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"allowzero"}));
  const bool allowzero = node.attr_int("allowzero", 0) != 0;
  return make_kernel([allowzero](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const shape_t requested = MQ_TRY(shape_from_input(ctx, 1, "shape"));
    shape_t out = requested;
    std::size_t infer = out.size();
    i64 known = 1;
    bool has_zero = false;
    for (std::size_t k = 0; k < out.size(); ++k) {
      if (out[k] == -1) {
        if (infer != out.size()) return ctx.fail("shape " + ints_string(requested) + " has more than one -1");
        infer = k;
        continue;
      }
      if (out[k] < -1) return ctx.fail("shape " + ints_string(requested) + " has a negative dimension");
      if (out[k] == 0) {
        has_zero = true;
        if (!allowzero) {
          if (k >= x.rank()) return ctx.fail("shape " + ints_string(requested) + " copies dimension " + std::to_string(k) + " of an input of rank " + std::to_string(x.rank()));
          out[k] = x.dim(k);
        }
      }
      if (__builtin_mul_overflow(known, out[k], &known)) return ctx.fail("shape " + ints_string(requested) + " is too large");
    }
    if (allowzero && has_zero && infer != out.size()) return ctx.fail("shape " + ints_string(requested) + " has both 0 and -1 with allowzero");
    if (infer != out.size()) {
      if (known == 0 || x.size() % known != 0) {
        return ctx.fail("cannot reshape " + shape_string(x.shape()) + " to " + ints_string(requested));
      }
      out[infer] = x.size() / known;
    } else if (known != x.size()) {
      return ctx.fail("cannot reshape " + shape_string(x.shape()) + " (" + std::to_string(x.size()) + " elements) to " + ints_string(requested));
    }
    ctx.set_output(0, x.reshaped(std::move(out)));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_flatten(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  const i64 axis = node.attr_int("axis", 1);
  return make_kernel([axis](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const i64 r = sz(x.rank());
    if (axis < -r || axis > r) return ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
    const std::size_t a = uz(axis < 0 ? axis + r : axis);
    i64 outer = 1;
    for (std::size_t k = 0; k < a; ++k) outer *= x.dim(k);
    i64 inner = 1;
    for (std::size_t k = a; k < x.rank(); ++k) inner *= x.dim(k);
    ctx.set_output(0, x.reshaped({outer, inner}));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_squeeze(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axes"}));
  const bool from_input = node.since_version() >= 13;
  const std::vector<i64> attr_axes = node.attr_ints("axes");
  return make_kernel([from_input, attr_axes](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    std::vector<i64> axes = attr_axes;
    bool given = !from_input && !attr_axes.empty();
    if (from_input && ctx.has_input(1)) {
      axes = MQ_TRY(read_ints(ctx, 1, "axes"));
      given = !axes.empty();  // an empty axes tensor squeezes every 1 (as ONNX Runtime reads it)
    }
    std::vector<bool> drop(x.rank(), false);
    if (given) {
      const auto norm = MQ_TRY(normalize_axes(ctx, axes, x.rank()));
      for (std::size_t a : norm) {
        if (x.dim(a) != 1) return ctx.fail("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_string(x.shape()) + " (size is not 1)");
        drop[a] = true;
      }
    } else {
      for (std::size_t k = 0; k < x.rank(); ++k) drop[k] = x.dim(k) == 1;
    }
    shape_t out;
    for (std::size_t k = 0; k < x.rank(); ++k) {
      if (!drop[k]) out.push_back(x.dim(k));
    }
    ctx.set_output(0, x.reshaped(std::move(out)));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_unsqueeze(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axes"}));
  const bool from_input = node.since_version() >= 13;
  if (!from_input && !node.has_attribute("axes")) return node.invalid("attribute 'axes' is missing");
  const std::vector<i64> attr_axes = node.attr_ints("axes");
  return make_kernel([from_input, attr_axes](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    std::vector<i64> axes = attr_axes;
    if (from_input) {
      if (!ctx.has_input(1)) return ctx.fail("axes input is missing");
      axes = MQ_TRY(read_ints(ctx, 1, "axes"));
    }
    const std::size_t rank = x.rank() + axes.size();
    const auto norm = MQ_TRY(normalize_axes(ctx, axes, rank));
    std::vector<bool> inserted(rank, false);
    for (std::size_t a : norm) inserted[a] = true;
    shape_t out(rank, 1);
    std::size_t j = 0;
    for (std::size_t k = 0; k < rank; ++k) {
      if (!inserted[k]) out[k] = x.dim(j++);
    }
    ctx.set_output(0, x.reshaped(std::move(out)));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_identity(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    ctx.set_output(0, ctx.in(0));
    return {};
  });
}

// ---- Transpose ---------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_transpose(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"perm"}));
  const bool has_perm = node.has_attribute("perm");
  const std::vector<i64> perm_attr = node.attr_ints("perm");
  return make_kernel([has_perm, perm_attr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::size_t rank = x.rank();
    std::vector<std::size_t> perm(rank);
    if (has_perm) {
      if (perm_attr.size() != rank) return ctx.fail("perm " + ints_string(perm_attr) + " does not fit an input of rank " + std::to_string(rank));
      std::vector<bool> seen(rank, false);
      for (std::size_t k = 0; k < rank; ++k) {
        const i64 p = perm_attr[k];
        if (p < 0 || p >= sz(rank) || seen[uz(p)]) return ctx.fail("perm " + ints_string(perm_attr) + " is not a permutation of 0.." + std::to_string(sz(rank) - 1));
        seen[uz(p)] = true;
        perm[k] = uz(p);
      }
    } else {
      for (std::size_t k = 0; k < rank; ++k) perm[k] = rank - 1 - k;
    }
    shape_t out_shape(rank);
    for (std::size_t k = 0; k < rank; ++k) out_shape[k] = x.dim(perm[k]);
    // A permutation that only moves size-1 dims leaves the bytes in place: a view.
    std::vector<std::size_t> moved;
    for (std::size_t k = 0; k < rank; ++k) {
      if (x.dim(perm[k]) != 1) moved.push_back(perm[k]);
    }
    if (std::is_sorted(moved.begin(), moved.end())) {
      ctx.set_output(0, x.reshaped(std::move(out_shape)));
      return {};
    }
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0 || esize > 8 || (esize & (esize - 1)) != 0) return ctx.unsupported("element type " + type_name(x.type()));
    const shape_t in_shape = x.shape();
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    transpose_bytes(src, static_cast<std::byte*>(y.mutable_raw()), in_shape, perm, esize, ctx.pool());
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Concat, Split -----------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_concat(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  if (!node.has_attribute("axis")) return node.invalid("attribute 'axis' is missing");
  const i64 axis_attr = node.attr_int("axis", 0);
  return make_kernel([axis_attr](run_context& ctx) -> result<void> {
    const std::size_t n = ctx.input_count();
    if (n == 0) return ctx.fail("no inputs");
    const tensor& first = ctx.in(0);
    const std::size_t rank = first.rank();
    if (rank == 0) return ctx.fail("cannot concatenate scalars");
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, rank));
    shape_t out_shape = first.shape();
    out_shape[axis] = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!ctx.has_input(i)) return ctx.fail("input " + std::to_string(i) + " is missing");
      const tensor& t = ctx.in(i);
      if (t.type() != first.type()) return ctx.fail("input " + std::to_string(i) + " has type " + type_name(t.type()) + ", input 0 has " + type_name(first.type()));
      bool fits = t.rank() == rank;
      for (std::size_t k = 0; fits && k < rank; ++k) fits = k == axis || t.dim(k) == first.dim(k);
      if (!fits) return ctx.fail("input " + std::to_string(i) + " has shape " + shape_string(t.shape()) + ", which does not fit " + shape_string(first.shape()) + " along axis " + std::to_string(axis));
      out_shape[axis] += t.dim(axis);
    }
    const std::size_t esize = exec_element_size(first.type());
    if (esize == 0) return ctx.unsupported("element type " + type_name(first.type()));
    if (n == 1) {
      ctx.set_output(0, first);
      return {};
    }
    i64 outer = 1;
    for (std::size_t k = 0; k < axis; ++k) outer *= first.dim(k);
    i64 inner = 1;
    for (std::size_t k = axis + 1; k < rank; ++k) inner *= first.dim(k);
    std::vector<const std::byte*> src(n);
    std::vector<std::size_t> block(n);   // bytes per outer index, per input
    std::vector<std::size_t> at(n);      // byte offset in an output row
    std::size_t row = 0;
    for (std::size_t i = 0; i < n; ++i) {
      src[i] = static_cast<const std::byte*>(ctx.in(i).raw());
      block[i] = uz(ctx.in(i).dim(axis) * inner) * esize;
      at[i] = row;
      row += block[i];
    }
    tensor y = MQ_TRY(ctx.allocate(first.type(), out_shape));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    const i64 items = outer * sz(n);
    const i64 avg = items > 0 ? sz(row) / sz(n) : 1;
    ctx.pool().parallel_for(items, grain_for(avg), [&](i64 b, i64 e) {
      i64 o = b / sz(n);
      std::size_t i = uz(b - o * sz(n));
      for (i64 w = b; w < e; ++w) {
        if (block[i] != 0) std::memcpy(dst + uz(o) * row + at[i], src[i] + uz(o) * block[i], block[i]);
        if (++i == n) {
          i = 0;
          ++o;
        }
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_split(node_info& node) {
  const std::int64_t v = node.since_version();
  if (v >= 18) {
    MQ_TRY_VOID(node.only_attributes({"axis", "num_outputs"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"axis", "split"}));
  }
  const i64 axis_attr = node.attr_int("axis", 0);
  const std::vector<i64> split_attr = node.attr_ints("split");
  const bool has_split_attr = node.has_attribute("split");
  const i64 num_outputs = node.attr_int("num_outputs", 0);
  const bool has_num = node.has_attribute("num_outputs");
  const std::size_t outputs = node.output_count();
  if (has_num && num_outputs != sz(outputs)) {
    return node.invalid("num_outputs is " + std::to_string(num_outputs) + " but the node has " + std::to_string(outputs) + " outputs");
  }
  return make_kernel([v, axis_attr, split_attr, has_split_attr, has_num, outputs](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::size_t rank = x.rank();
    if (rank == 0) return ctx.fail("cannot split a scalar");
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, rank));
    const i64 dim = x.dim(axis);
    std::vector<i64> split;
    if (v >= 13 && ctx.has_input(1)) {
      split = MQ_TRY(read_ints(ctx, 1, "split"));
    } else if (v < 13 && has_split_attr) {
      split = split_attr;
    }
    const i64 n = sz(outputs);
    if (split.empty()) {
      if (v >= 18 && has_num) {
        const i64 chunk = (dim + n - 1) / n;
        for (i64 k = 0; k < n; ++k) split.push_back(std::min(chunk, std::max<i64>(0, dim - k * chunk)));
        if (n > 0 && chunk * (n - 1) >= dim && dim > 0) {
          return ctx.fail("cannot split dimension " + std::to_string(dim) + " into " + std::to_string(n) + " chunks of " + std::to_string(chunk));
        }
      } else {
        if (n == 0 || dim % n != 0) return ctx.fail("dimension " + std::to_string(dim) + " of axis " + std::to_string(axis) + " does not split into " + std::to_string(n) + " equal parts");
        split.assign(uz(n), dim / n);
      }
    }
    if (sz(split.size()) != n) return ctx.fail("split " + ints_string(split) + " has " + std::to_string(split.size()) + " parts for " + std::to_string(n) + " outputs");
    i64 sum = 0;
    for (i64 s : split) {
      if (s < 0) return ctx.fail("split " + ints_string(split) + " has a negative part");
      sum += s;
    }
    if (sum != dim) return ctx.fail("split " + ints_string(split) + " sums to " + std::to_string(sum) + ", dimension " + std::to_string(axis) + " is " + std::to_string(dim));
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0) return ctx.unsupported("element type " + type_name(x.type()));
    i64 outer = 1;
    for (std::size_t k = 0; k < axis; ++k) outer *= x.dim(k);
    i64 inner = 1;
    for (std::size_t k = axis + 1; k < rank; ++k) inner *= x.dim(k);
    const auto* src = static_cast<const std::byte*>(x.raw());
    const std::size_t row = uz(dim * inner) * esize;
    std::vector<tensor> ys(outputs);
    std::vector<std::byte*> dst(outputs);
    std::vector<std::size_t> block(outputs);
    std::vector<std::size_t> at(outputs);
    std::size_t pos = 0;
    for (std::size_t i = 0; i < outputs; ++i) {
      shape_t s = x.shape();
      s[axis] = split[i];
      ys[i] = MQ_TRY(ctx.allocate(x.type(), s));
      dst[i] = static_cast<std::byte*>(ys[i].mutable_raw());
      block[i] = uz(split[i] * inner) * esize;
      at[i] = pos;
      pos += block[i];
    }
    const i64 items = outer * n;
    ctx.pool().parallel_for(items, grain_for(sz(row) / std::max<i64>(1, n)), [&](i64 b, i64 e) {
      i64 o = b / n;
      std::size_t i = uz(b - o * n);
      for (i64 w = b; w < e; ++w) {
        if (block[i] != 0) std::memcpy(dst[i] + uz(o) * block[i], src + uz(o) * row + at[i], block[i]);
        if (++i == outputs) {
          i = 0;
          ++o;
        }
      }
    });
    for (std::size_t i = 0; i < outputs; ++i) ctx.set_output(i, std::move(ys[i]));
    return {};
  });
}

// ---- Slice -------------------------------------------------------------------------------------

// Copies a strided sub-box of `in` (per-dim start and step, output dims `dims`).
void copy_box(const std::byte* in, std::byte* out, const shape_t& in_shape, const std::vector<i64>& start,
              const std::vector<i64>& step, const shape_t& dims, std::size_t esize, thread_pool& pool) {
  const std::size_t rank = in_shape.size();
  const std::vector<i64> in_strides = strides_of(in_shape);
  i64 base = 0;
  for (std::size_t k = 0; k < rank; ++k) base += start[k] * in_strides[k];
  // Merge trailing dims taken whole into one contiguous run.
  std::vector<i64> od;
  std::vector<i64> os;  // input stride per output step
  for (std::size_t k = 0; k < rank; ++k) {
    if (dims[k] == 1) continue;
    const i64 s = step[k] * in_strides[k];
    if (!od.empty() && os.back() == s * dims[k]) {
      od.back() *= dims[k];
      os.back() = s;
    } else {
      od.push_back(dims[k]);
      os.push_back(s);
    }
  }
  const i64 total = element_count(dims);
  if (total == 0) return;
  if (od.empty()) {
    std::memcpy(out, in + uz(base) * esize, esize);
    return;
  }
  const std::size_t k = od.size();
  const i64 run = od[k - 1];
  const i64 run_stride = os[k - 1];
  std::vector<i64> outer_dims(od.begin(), od.end() - 1);
  std::vector<i64> outer_strides(os.begin(), os.end() - 1);
  const i64 runs = total / run;
  visit_size(esize, [&]<class U>() {
    const U* src = reinterpret_cast<const U*>(in) + base;
    U* dst = reinterpret_cast<U*>(out);
    pool.parallel_for(runs, grain_for(run * sz(esize)), [&](i64 b, i64 e) {
      odometer walk(outer_dims, {outer_strides});
      walk.seek(b);
      for (i64 r = b; r < e; ++r) {
        const U* s = src + walk.offset[0];
        U* d = dst + r * run;
        if (run_stride == 1) {
          std::memcpy(d, s, uz(run) * sizeof(U));
        } else {
          for (i64 j = 0; j < run; ++j) d[j] = s[j * run_stride];
        }
        walk.next();
      }
    });
  });
}

result<std::unique_ptr<kernel>> make_slice(node_info& node) {
  const bool from_inputs = node.since_version() >= 10;
  if (from_inputs) {
    MQ_TRY_VOID(node.only_attributes({}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"starts", "ends", "axes"}));
  }
  const std::vector<i64> a_starts = node.attr_ints("starts");
  const std::vector<i64> a_ends = node.attr_ints("ends");
  const std::vector<i64> a_axes = node.attr_ints("axes");
  const bool a_has_axes = node.has_attribute("axes");
  return make_kernel([from_inputs, a_starts, a_ends, a_axes, a_has_axes](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::size_t rank = x.rank();
    std::vector<i64> starts = a_starts;
    std::vector<i64> ends = a_ends;
    std::vector<i64> axes = a_axes;
    std::vector<i64> steps;
    bool has_axes = a_has_axes;
    if (from_inputs) {
      if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.fail("starts and ends inputs are required");
      starts = MQ_TRY(read_ints(ctx, 1, "starts"));
      ends = MQ_TRY(read_ints(ctx, 2, "ends"));
      has_axes = ctx.has_input(3);
      if (has_axes) axes = MQ_TRY(read_ints(ctx, 3, "axes"));
      if (ctx.has_input(4)) steps = MQ_TRY(read_ints(ctx, 4, "steps"));
    }
    if (starts.size() != ends.size()) return ctx.fail("starts " + ints_string(starts) + " and ends " + ints_string(ends) + " differ in length");
    if (!has_axes) {
      axes.resize(starts.size());
      std::iota(axes.begin(), axes.end(), i64{0});
    }
    if (axes.size() != starts.size()) return ctx.fail("axes " + ints_string(axes) + " and starts " + ints_string(starts) + " differ in length");
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (steps.size() != starts.size()) return ctx.fail("steps " + ints_string(steps) + " and starts " + ints_string(starts) + " differ in length");
    const auto norm = MQ_TRY(normalize_axes(ctx, axes, rank));
    std::vector<i64> start(rank, 0);
    std::vector<i64> step(rank, 1);
    shape_t out_shape = x.shape();
    for (std::size_t j = 0; j < norm.size(); ++j) {
      const std::size_t a = norm[j];
      const i64 d = x.dim(a);
      const i64 st = steps[j];
      if (st == 0) return ctx.fail("step 0 on axis " + std::to_string(a));
      i64 s = starts[j];
      i64 e = ends[j];
      if (s < 0) s += d;  // no overflow: d >= 0
      if (e < 0) e += d;
      i64 count = 0;
      if (st > 0) {
        s = std::clamp<i64>(s, 0, d);
        e = std::clamp<i64>(e, 0, d);
        count = e > s ? (e - s - 1) / st + 1 : 0;
      } else {
        s = std::clamp<i64>(s, 0, d - 1);
        e = std::clamp<i64>(e, -1, d - 1);
        // -st may overflow for INT64_MIN: such a step takes at most one element.
        const i64 back = st == std::numeric_limits<i64>::min() ? std::numeric_limits<i64>::max() : -st;
        count = s > e ? (s - e - 1) / back + 1 : 0;
      }
      if (d == 0) count = 0;
      start[a] = count > 0 ? s : 0;
      step[a] = count > 1 ? st : 1;
      out_shape[a] = count;
    }
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0 || esize > 8 || (esize & (esize - 1)) != 0) return ctx.unsupported("element type " + type_name(x.type()));
    bool whole = true;
    for (std::size_t k = 0; k < rank; ++k) whole = whole && start[k] == 0 && step[k] == 1 && out_shape[k] == x.dim(k);
    if (whole) {
      ctx.set_output(0, x);
      return {};
    }
    const shape_t in_shape = x.shape();
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    copy_box(src, static_cast<std::byte*>(y.mutable_raw()), in_shape, start, step, out_shape, esize, ctx.pool());
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Expand, Tile ------------------------------------------------------------------------------

// out = in broadcast to `out_shape` (which `in_shape` broadcasts to).
void broadcast_bytes(const std::byte* in, std::byte* out, const shape_t& in_shape, const shape_t& out_shape,
                     std::size_t esize, thread_pool& pool) {
  const std::vector<i64> bs = broadcast_strides(in_shape, out_shape);
  std::vector<i64> od;
  std::vector<i64> os;
  for (std::size_t k = 0; k < out_shape.size(); ++k) {
    if (out_shape[k] == 1) continue;
    const i64 s = bs[k];
    if (!od.empty() && os.back() == s * out_shape[k]) {
      od.back() *= out_shape[k];
      os.back() = s;
    } else {
      od.push_back(out_shape[k]);
      os.push_back(s);
    }
  }
  const i64 total = element_count(out_shape);
  if (total == 0) return;
  if (od.empty()) {
    std::memcpy(out, in, esize);
    return;
  }
  const std::size_t k = od.size();
  const i64 run = od[k - 1];
  const i64 run_stride = os[k - 1];  // 1 (copy) or 0 (repeat one element)
  std::vector<i64> outer_dims(od.begin(), od.end() - 1);
  std::vector<i64> outer_strides(os.begin(), os.end() - 1);
  const i64 runs = total / run;
  pool.parallel_for(runs, grain_for(run * sz(esize)), [&](i64 b, i64 e) {
    odometer walk(outer_dims, {outer_strides});
    walk.seek(b);
    for (i64 r = b; r < e; ++r) {
      const std::byte* s = in + uz(walk.offset[0]) * esize;
      std::byte* d = out + uz(r * run) * esize;
      if (run_stride == 1) std::memcpy(d, s, uz(run) * esize);
      else fill_bytes(d, run, s, esize);
      walk.next();
    }
  });
}

result<std::unique_ptr<kernel>> make_expand(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const shape_t target = MQ_TRY(shape_from_input(ctx, 1, "shape"));
    for (i64 d : target) {
      if (d < 0) return ctx.fail("shape " + ints_string(target) + " has a negative dimension");
    }
    auto out_shape = broadcast_shapes(x.shape(), target);
    if (!out_shape) return ctx.fail("input shape " + shape_string(x.shape()) + " does not broadcast to " + ints_string(target));
    if (*out_shape == x.shape()) {
      ctx.set_output(0, x);
      return {};
    }
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0 || esize > 8 || (esize & (esize - 1)) != 0) return ctx.unsupported("element type " + type_name(x.type()));
    const shape_t in_shape = x.shape();
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), *out_shape));
    broadcast_bytes(src, static_cast<std::byte*>(y.mutable_raw()), in_shape, *out_shape, esize, ctx.pool());
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_tile(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::vector<i64> repeats = MQ_TRY(shape_from_input(ctx, 1, "repeats"));
    const std::size_t rank = x.rank();
    if (repeats.size() != rank) return ctx.fail("repeats " + ints_string(repeats) + " has " + std::to_string(repeats.size()) + " values for an input of rank " + std::to_string(rank));
    shape_t out_shape(rank);
    for (std::size_t k = 0; k < rank; ++k) {
      if (repeats[k] < 0) return ctx.fail("repeats " + ints_string(repeats) + " has a negative value");
      if (__builtin_mul_overflow(x.dim(k), repeats[k], &out_shape[k])) return ctx.fail("repeats " + ints_string(repeats) + " make too large an output");
    }
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0) return ctx.unsupported("element type " + type_name(x.type()));
    const shape_t in_shape = x.shape();
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    const i64 total = element_count(out_shape);
    if (total == 0) {
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (rank == 0) {
      std::memcpy(dst, src, esize);
      ctx.set_output(0, std::move(y));
      return {};
    }
    // Each output row (last dim) is the input row its outer index wraps to, repeated.
    const i64 in_row = in_shape[rank - 1];
    const i64 out_row = out_shape[rank - 1];
    const std::size_t in_row_bytes = uz(in_row) * esize;
    const std::vector<i64> in_strides = strides_of(in_shape);
    const i64 rows = total / out_row;
    ctx.pool().parallel_for(rows, grain_for(out_row * sz(esize)), [&](i64 b, i64 e) {
      std::vector<i64> idx(rank - 1, 0);
      i64 rest = b;
      for (std::size_t k = rank - 1; k-- > 0;) {
        idx[k] = rest % out_shape[k];
        rest /= out_shape[k];
      }
      for (i64 r = b; r < e; ++r) {
        i64 off = 0;
        for (std::size_t k = 0; k + 1 < rank; ++k) off += (idx[k] % in_shape[k]) * in_strides[k];
        std::byte* d = dst + uz(r * out_row) * esize;
        const std::byte* s = src + uz(off) * esize;
        for (i64 t = 0; t < repeats[rank - 1]; ++t) std::memcpy(d + uz(t) * in_row_bytes, s, in_row_bytes);
        for (std::size_t k = rank - 1; k-- > 0;) {
          if (++idx[k] < out_shape[k]) break;
          idx[k] = 0;
        }
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Pad ---------------------------------------------------------------------------------------

enum class pad_mode { constant, reflect, edge };

// Source index along one axis for output index o (input size d, begin pad p), or -1 (constant).
i64 pad_source(i64 o, i64 d, i64 p, pad_mode mode) {
  const i64 i = o - p;
  if (i >= 0 && i < d) return i;
  switch (mode) {
    case pad_mode::constant: return -1;
    case pad_mode::edge: return i < 0 ? 0 : d - 1;
    case pad_mode::reflect: {
      if (d == 1) return 0;
      const i64 period = 2 * (d - 1);
      i64 m = i % period;
      if (m < 0) m += period;
      return m < d ? m : period - m;
    }
  }
  return -1;
}

// Converts a double to element type T's bytes (the constant of Pad).
template <class T>
void store_value(double v, std::byte* out) {
  T t{};
  if constexpr (std::is_same_v<T, half_bits>) t.bits = mq::half::float_to_half(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bfloat16_bits>) t.bits = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(static_cast<float>(v)) >> 16);
  else if constexpr (std::is_same_v<T, bool_byte>) t.value = v != 0 ? 1 : 0;
  else if constexpr (std::is_floating_point_v<T>) t = static_cast<T>(v);
  else {
    // Integers: in range by construction (the value comes from a tensor of the same type or a
    // float attribute); out of range saturates.
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    t = std::isnan(v) ? T{0} : v <= lo ? std::numeric_limits<T>::lowest() : v >= hi ? std::numeric_limits<T>::max() : static_cast<T>(v);
  }
  std::memcpy(out, &t, sizeof(T));
}

result<std::unique_ptr<kernel>> make_pad(node_info& node) {
  const std::int64_t v = node.since_version();
  if (v >= 11) {
    MQ_TRY_VOID(node.only_attributes({"mode"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"mode", "pads", "value"}));
  }
  const std::string mode_name = node.attr_string("mode", "constant");
  pad_mode mode = pad_mode::constant;
  if (mode_name == "reflect") mode = pad_mode::reflect;
  else if (mode_name == "edge") mode = pad_mode::edge;
  else if (mode_name != "constant") return node.unsupported("mode '" + mode_name + "' of Pad");
  const std::vector<i64> pads_attr = node.attr_ints("pads");
  const double value_attr = node.attr_float("value", 0.0f);
  if (v < 11 && !node.has_attribute("pads")) return node.invalid("attribute 'pads' is missing");
  return make_kernel([v, mode, pads_attr, value_attr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::size_t rank = x.rank();
    std::vector<i64> pads = pads_attr;
    if (v >= 11) {
      if (!ctx.has_input(1)) return ctx.fail("pads input is missing");
      pads = MQ_TRY(read_ints(ctx, 1, "pads"));
    }
    std::vector<i64> begin(rank, 0);
    std::vector<i64> end(rank, 0);
    if (v >= 18 && ctx.has_input(3)) {
      const std::vector<i64> axes = MQ_TRY(read_ints(ctx, 3, "axes"));
      const auto norm = MQ_TRY(normalize_axes(ctx, axes, rank));
      if (pads.size() != 2 * norm.size()) return ctx.fail("pads " + ints_string(pads) + " needs " + std::to_string(2 * norm.size()) + " values for axes " + ints_string(axes));
      for (std::size_t j = 0; j < norm.size(); ++j) {
        begin[norm[j]] = pads[j];
        end[norm[j]] = pads[j + norm.size()];
      }
    } else {
      if (pads.size() != 2 * rank) return ctx.fail("pads " + ints_string(pads) + " needs " + std::to_string(2 * rank) + " values for an input of rank " + std::to_string(rank));
      for (std::size_t k = 0; k < rank; ++k) {
        begin[k] = pads[k];
        end[k] = pads[k + rank];
      }
    }
    shape_t out_shape(rank);
    for (std::size_t k = 0; k < rank; ++k) {
      out_shape[k] = x.dim(k) + begin[k] + end[k];
      if (out_shape[k] < 0) return ctx.fail("pads " + ints_string(pads) + " remove more than dimension " + std::to_string(k) + " of shape " + shape_string(x.shape()));
      if (mode != pad_mode::constant && x.dim(k) == 0 && out_shape[k] > 0) return ctx.fail("cannot pad an empty dimension " + std::to_string(k) + " in reflect/edge mode");
    }
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0 || esize > 8) return ctx.unsupported("element type " + type_name(x.type()));
    // The constant, as one element of the input's type.
    std::byte value[8] = {};
    if (mode == pad_mode::constant) {
      if (v >= 11 && ctx.has_input(2) && ctx.in(2).size() > 0) {
        const tensor& c = ctx.in(2);
        if (c.type() != x.type()) return ctx.fail("constant_value has type " + type_name(c.type()) + ", the input " + type_name(x.type()));
        std::memcpy(value, c.raw(), esize);
      } else if (v < 11) {
        visit_type(x.type(), [&]<class T>() { store_value<T>(value_attr, value); });
      }
    }
    // Per axis: output index -> input index (-1: the constant).
    std::vector<std::vector<i64>> map(rank);
    for (std::size_t k = 0; k < rank; ++k) {
      map[k].resize(uz(out_shape[k]));
      for (i64 o = 0; o < out_shape[k]; ++o) map[k][uz(o)] = pad_source(o, x.dim(k), begin[k], mode);
    }
    const shape_t in_shape = x.shape();
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    const i64 total = element_count(out_shape);
    if (total == 0) {
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (rank == 0) {
      std::memcpy(dst, src, esize);
      ctx.set_output(0, std::move(y));
      return {};
    }
    const std::vector<i64> in_strides = strides_of(in_shape);
    const i64 out_row = out_shape[rank - 1];
    const i64 in_row = in_shape[rank - 1];
    const std::vector<i64>& last = map[rank - 1];
    // The part of a row copied straight: output [lo, hi) from input [lo - begin, hi - begin).
    const i64 lo = std::clamp<i64>(begin[rank - 1], 0, out_row);
    const i64 hi = std::clamp<i64>(begin[rank - 1] + in_row, lo, out_row);
    const i64 rows = total / out_row;
    visit_size(esize, [&]<class U>() {
      U fill;
      std::memcpy(&fill, value, sizeof(U));
      const U* s0 = reinterpret_cast<const U*>(src);
      U* d0 = reinterpret_cast<U*>(dst);
      ctx.pool().parallel_for(rows, grain_for(out_row * sz(esize)), [&](i64 b, i64 e) {
        std::vector<i64> idx(rank - 1, 0);
        i64 rest = b;
        for (std::size_t k = rank - 1; k-- > 0;) {
          idx[k] = rest % out_shape[k];
          rest /= out_shape[k];
        }
        for (i64 r = b; r < e; ++r) {
          U* d = d0 + r * out_row;
          i64 off = 0;
          bool constant_row = false;
          for (std::size_t k = 0; k + 1 < rank; ++k) {
            const i64 m = map[k][uz(idx[k])];
            if (m < 0) constant_row = true;
            off += m * in_strides[k];
          }
          if (constant_row) {
            std::fill(d, d + out_row, fill);
          } else {
            const U* s = s0 + off;
            for (i64 j = 0; j < lo; ++j) d[j] = last[uz(j)] < 0 ? fill : s[last[uz(j)]];
            if (hi > lo) std::memcpy(d + lo, s + (lo - begin[rank - 1]), uz(hi - lo) * sizeof(U));
            for (i64 j = hi; j < out_row; ++j) d[j] = last[uz(j)] < 0 ? fill : s[last[uz(j)]];
          }
          for (std::size_t k = rank - 1; k-- > 0;) {
            if (++idx[k] < out_shape[k]) break;
            idx[k] = 0;
          }
        }
      });
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Shape, Size -------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_shape(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"start", "end"}));
  const bool has_start = node.has_attribute("start");
  const bool has_end = node.has_attribute("end");
  const i64 start_attr = node.attr_int("start", 0);
  const i64 end_attr = node.attr_int("end", 0);
  return make_kernel([has_start, has_end, start_attr, end_attr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const i64 r = sz(x.rank());
    auto clamp_index = [r](i64 i) { return std::clamp<i64>(i < 0 ? i + r : i, 0, r); };
    const i64 start = has_start ? clamp_index(start_attr) : 0;
    const i64 end = has_end ? clamp_index(end_attr) : r;
    const i64 n = std::max<i64>(0, end - start);
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::int64, {n}));
    for (i64 k = 0; k < n; ++k) y.mutable_data<i64>()[k] = x.dim(uz(start + k));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_size(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::int64, {}));
    y.mutable_data<i64>()[0] = ctx.in(0).size();
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Cast, CastLike ----------------------------------------------------------------------------

// double to float16 bits, rounded once: the double is first cut to a float by rounding to odd
// (truncate, then set the lowest bit when inexact), which keeps the later nearest-even rounding
// to 11 bits exact.
std::uint16_t double_to_half(double d) {
  if (std::isnan(d)) return mq::half::float_to_half(static_cast<float>(d));
  if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) return mq::half::float_to_half(d > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity());
  float f = static_cast<float>(d);
  if (static_cast<double>(f) != d) {
    if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
    f = std::bit_cast<float>(std::bit_cast<std::uint32_t>(f) | 1u);
  }
  return mq::half::float_to_half(f);
}

// float to bfloat16 bits by truncation (ONNX's reference Cast keeps the upper 16 bits); NaN stays
// a quiet NaN.
std::uint16_t float_to_bfloat16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  return static_cast<std::uint16_t>(bits >> 16);
}

// Float to integer as the x86-64 conversions ONNX Runtime's static_cast compiles to: truncation
// toward zero; NaN and values out of the converting instruction's range give its "indefinite"
// value (INT32_MIN for types of up to 32 bits, INT64_MIN for 64-bit ones), then the narrowing
// keeps the low bits.
template <class D>
D float_to_int(double v) {
  const double t = std::trunc(v);
  constexpr double two63 = 9223372036854775808.0;
  if constexpr (std::is_same_v<D, std::int64_t>) {
    if (!(t >= -two63 && t < two63)) return std::numeric_limits<i64>::min();
    return static_cast<i64>(t);
  } else if constexpr (std::is_same_v<D, std::uint64_t>) {
    if (t >= 0 && t < 2 * two63) return static_cast<std::uint64_t>(t);
    if (t < 0 && t >= -two63) return static_cast<std::uint64_t>(static_cast<i64>(t));
    return std::uint64_t{1} << 63;
  } else if constexpr (std::is_same_v<D, std::uint32_t>) {
    if (!(t >= -two63 && t < two63)) return 0;
    return static_cast<std::uint32_t>(static_cast<i64>(t));
  } else {
    const std::int32_t i = (t >= -2147483648.0 && t < 2147483648.0) ? static_cast<std::int32_t>(t) : std::numeric_limits<std::int32_t>::min();
    return static_cast<D>(i);
  }
}

// The value of an element as an arithmetic C++ value.
template <class S>
auto value_of(S s) {
  if constexpr (std::is_same_v<S, half_bits>) return mq::half::half_to_float(s.bits);
  else if constexpr (std::is_same_v<S, bfloat16_bits>) return mq::half::bfloat16_to_float(s.bits);
  else if constexpr (std::is_same_v<S, bool_byte>) return static_cast<std::uint8_t>(s.value != 0 ? 1 : 0);
  else return s;
}

template <class D, class S>
D convert(S s) {
  const auto v = value_of(s);
  using V = decltype(v);
  if constexpr (std::is_same_v<D, bool_byte>) {
    return bool_byte{static_cast<std::uint8_t>(v != V{0} ? 1 : 0)};
  } else if constexpr (std::is_same_v<D, half_bits>) {
    if constexpr (std::is_same_v<V, float>) return half_bits{mq::half::float_to_half(v)};
    else return half_bits{double_to_half(static_cast<double>(v))};
  } else if constexpr (std::is_same_v<D, bfloat16_bits>) {
    return bfloat16_bits{float_to_bfloat16(static_cast<float>(v))};
  } else if constexpr (std::is_floating_point_v<D>) {
    return static_cast<D>(v);
  } else if constexpr (std::is_floating_point_v<V>) {
    return float_to_int<D>(static_cast<double>(v));
  } else {
    return static_cast<D>(v);  // integer to integer: modular (C++20)
  }
}

result<void> cast_tensor(run_context& ctx, mq::dtype to) {
  const tensor& x = ctx.in(0);
  if (x.type() == to) {
    ctx.set_output(0, x);
    return {};
  }
  const mq::dtype from = x.type();
  const void* px = x.raw();
  const i64 n = x.size();
  const shape_t shape = x.shape();
  // A new buffer even when the sizes match: converting in place would read and write one
  // object through two types.
  tensor y = MQ_TRY(ctx.allocate(to, shape));
  bool known_from = false;
  bool known_to = false;
  known_from = visit_type(from, [&]<class S>() {
    known_to = visit_type(to, [&]<class D>() {
      const S* in = static_cast<const S*>(px);
      D* out = y.mutable_data<D>();
      ctx.pool().parallel_for(n, parallel_bytes / 4, [&](i64 b, i64 e) {
        for (i64 i = b; i < e; ++i) out[i] = convert<D>(in[i]);
      });
    });
  });
  if (!known_from) return ctx.unsupported("cast from " + type_name(from));
  if (!known_to) return ctx.unsupported("cast to " + type_name(to));
  ctx.set_output(0, std::move(y));
  return {};
}

bool castable(mq::dtype t) {
  return visit_type(t, []<class T>() {});
}

result<std::unique_ptr<kernel>> make_cast(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"to"}));
  if (!node.has_attribute("to")) return node.invalid("attribute 'to' is missing");
  const auto to = static_cast<mq::dtype>(node.attr_int("to", 0));
  if (!castable(to)) return node.unsupported("cast to " + type_name(to));
  return make_kernel([to](run_context& ctx) -> result<void> { return cast_tensor(ctx, to); });
}

result<std::unique_ptr<kernel>> make_castlike(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> { return cast_tensor(ctx, ctx.in(1).type()); });
}

// ---- ConstantOfShape, Range, EyeLike ------------------------------------------------------------

result<std::unique_ptr<kernel>> make_constant_of_shape(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"value"}));
  tensor value;
  if (node.has_attribute("value")) {
    value = MQ_TRY(node.attr_tensor("value"));
    if (value.size() != 1) return node.invalid("attribute 'value' must hold one element, it holds " + std::to_string(value.size()));
    if (exec_element_size(value.type()) == 0 || exec_element_size(value.type()) > 8) return node.unsupported("value of type " + type_name(value.type()));
  } else {
    value = tensor::zeros(mq::dtype::float32, {1});
  }
  return make_kernel([value](run_context& ctx) -> result<void> {
    const shape_t shape = MQ_TRY(shape_from_input(ctx, 0, "shape"));
    for (i64 d : shape) {
      if (d < 0) return ctx.fail("shape " + ints_string(shape) + " has a negative dimension");
    }
    tensor y = MQ_TRY(ctx.allocate(value.type(), shape));
    const std::size_t esize = exec_element_size(value.type());
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    const auto* v = static_cast<const std::byte*>(value.raw());
    ctx.pool().parallel_for(y.size(), parallel_bytes / sz(esize), [&](i64 b, i64 e) { fill_bytes(dst + uz(b) * esize, e - b, v, esize); });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_range(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& s = ctx.in(0);
    const tensor& l = ctx.in(1);
    const tensor& d = ctx.in(2);
    if (s.type() != l.type() || s.type() != d.type()) return ctx.fail("start, limit and delta must have one type");
    if (s.size() != 1 || l.size() != 1 || d.size() != 1) return ctx.fail("start, limit and delta must be scalars");
    const mq::dtype type = s.type();
    tensor y;
    bool failed = false;
    std::string why;
    const bool known = visit_numeric(type, [&]<class T>() {
      const T start = s.data<T>()[0];
      const T limit = l.data<T>()[0];
      const T delta = d.data<T>()[0];
      if (delta == T{0}) {
        failed = true;
        why = "delta is 0";
        return;
      }
      const double count = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
      if (!(count < 1e12)) {
        failed = true;
        why = "the range has too many elements";
        return;
      }
      const i64 n = count > 0 ? static_cast<i64>(count) : 0;
      auto out = ctx.allocate(type, {n});
      if (!out) {
        failed = true;
        why = out.error().message;
        return;
      }
      y = std::move(*out);
      T* p = y.mutable_data<T>();
      // Accumulated as ONNX Runtime (and the operator's function body) does.
      T value = start;
      for (i64 i = 0; i < n; ++i) {
        p[i] = value;
        if (i + 1 < n) value = static_cast<T>(value + delta);  // never past the last (no overflow)
      }
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    if (failed) return ctx.fail(why);
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_eyelike(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"dtype", "k"}));
  const bool has_dtype = node.has_attribute("dtype");
  const auto dtype = static_cast<mq::dtype>(node.attr_int("dtype", 0));
  if (has_dtype && !castable(dtype)) return node.unsupported("dtype " + type_name(dtype));
  const i64 k = node.attr_int("k", 0);
  return make_kernel([has_dtype, dtype, k](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() != 2) return ctx.fail("input must be 2-D, got shape " + shape_string(x.shape()));
    const mq::dtype type = has_dtype ? dtype : x.type();
    const i64 rows = x.dim(0);
    const i64 cols = x.dim(1);
    tensor y = MQ_TRY(ctx.allocate_zeros(type, {rows, cols}));
    const bool known = visit_type(type, [&]<class T>() {
      T* p = y.mutable_data<T>();
      const T one = convert<T>(std::uint8_t{1});
      for (i64 i = 0; i < rows; ++i) {
        if (k >= cols - i || k < -i) continue;
        p[i * cols + i + k] = one;
      }
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- DepthToSpace, SpaceToDepth, Trilu ----------------------------------------------------------

result<std::unique_ptr<kernel>> make_depth_to_space(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"blocksize", "mode"}));
  if (!node.has_attribute("blocksize")) return node.invalid("attribute 'blocksize' is missing");
  const i64 b = node.attr_int("blocksize", 0);
  if (b <= 0) return node.invalid("blocksize must be positive");
  const std::string mode = node.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return node.unsupported("mode '" + mode + "' of DepthToSpace");
  const bool dcr = mode == "DCR";
  return make_kernel([b, dcr](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() != 4) return ctx.fail("input must be 4-D, got shape " + shape_string(x.shape()));
    const i64 n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    if (c % (b * b) != 0) return ctx.fail("channels " + std::to_string(c) + " are not divisible by blocksize^2 = " + std::to_string(b * b));
    const i64 oc = c / (b * b);
    shape_t view;
    std::vector<std::size_t> perm;
    if (dcr) {
      view = {n, b, b, oc, h, w};
      perm = {0, 3, 4, 1, 5, 2};
    } else {
      view = {n, oc, b, b, h, w};
      perm = {0, 1, 4, 2, 5, 3};
    }
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0 || esize > 8 || (esize & (esize - 1)) != 0) return ctx.unsupported("element type " + type_name(x.type()));
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), {n, oc, h * b, w * b}));
    transpose_bytes(src, static_cast<std::byte*>(y.mutable_raw()), view, perm, esize, ctx.pool());
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_space_to_depth(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"blocksize"}));
  if (!node.has_attribute("blocksize")) return node.invalid("attribute 'blocksize' is missing");
  const i64 b = node.attr_int("blocksize", 0);
  if (b <= 0) return node.invalid("blocksize must be positive");
  return make_kernel([b](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() != 4) return ctx.fail("input must be 4-D, got shape " + shape_string(x.shape()));
    const i64 n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    if (h % b != 0 || w % b != 0) return ctx.fail("height " + std::to_string(h) + " and width " + std::to_string(w) + " must be divisible by blocksize " + std::to_string(b));
    const shape_t view = {n, c, h / b, b, w / b, b};
    const std::vector<std::size_t> perm = {0, 3, 5, 1, 2, 4};
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0 || esize > 8 || (esize & (esize - 1)) != 0) return ctx.unsupported("element type " + type_name(x.type()));
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), {n, c * b * b, h / b, w / b}));
    transpose_bytes(src, static_cast<std::byte*>(y.mutable_raw()), view, perm, esize, ctx.pool());
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_trilu(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"upper"}));
  const bool upper = node.attr_int("upper", 1) != 0;
  return make_kernel([upper](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() < 2) return ctx.fail("input must have rank >= 2, got shape " + shape_string(x.shape()));
    i64 k = 0;
    if (ctx.has_input(1)) {
      const auto kv = MQ_TRY(read_ints(ctx, 1, "k"));
      if (kv.size() != 1) return ctx.fail("k must be a scalar");
      k = kv[0];
    }
    const i64 rows = x.dim(x.rank() - 2);
    const i64 cols = x.dim(x.rank() - 1);
    k = std::clamp<i64>(k, -rows - 1, cols + 1);
    const std::size_t esize = exec_element_size(x.type());
    if (esize == 0) return ctx.unsupported("element type " + type_name(x.type()));
    const shape_t shape = x.shape();
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, x.type(), shape));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    const i64 total_rows = element_count(shape) / std::max<i64>(1, cols);
    for (i64 r = 0; r < total_rows; ++r) {
      const i64 i = r % rows;
      const std::byte* s = src + uz(r * cols) * esize;
      std::byte* d = dst + uz(r * cols) * esize;
      // upper keeps j >= i + k; lower keeps j <= i + k.
      const i64 first = upper ? std::clamp<i64>(i + k, 0, cols) : 0;
      const i64 last = upper ? cols : std::clamp<i64>(i + k + 1, 0, cols);
      if (d != s && last > first) std::memcpy(d + uz(first) * esize, s + uz(first) * esize, uz(last - first) * esize);
      if (first > 0) std::memset(d, 0, uz(first) * esize);
      if (last < cols) std::memset(d + uz(last) * esize, 0, uz(cols - last) * esize);
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_shape(op_registry& r) {
  r.add("Reshape", make_reshape, 5);
  r.add("Flatten", make_flatten, 1);
  r.add("Squeeze", make_squeeze, 1);
  r.add("Unsqueeze", make_unsqueeze, 1);
  r.add("Identity", make_identity, 1);
  r.add("Transpose", make_transpose, 1);
  r.add("Concat", make_concat, 4);
  r.add("Split", make_split, 2);
  r.add("Slice", make_slice, 1);
  r.add("Expand", make_expand, 8);
  r.add("Tile", make_tile, 6);
  r.add("Pad", make_pad, 2);
  r.add("Shape", make_shape, 1);
  r.add("Size", make_size, 1);
  r.add("Cast", make_cast, 6);
  r.add("CastLike", make_castlike, 15);
  r.add("ConstantOfShape", make_constant_of_shape, 9);
  r.add("Range", make_range, 11);
  r.add("EyeLike", make_eyelike, 9);
  r.add("DepthToSpace", make_depth_to_space, 1);
  r.add("SpaceToDepth", make_space_to_depth, 1);
  r.add("Trilu", make_trilu, 14);
}

}  // namespace mq::exec::ops
