// Helpers every operator family uses: element-type dispatch, axes, broadcasting, shape inputs.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "exec/kernel.h"
#include "tensor/half.h"
#include "util/try.h"

namespace mq::exec::ops {

/// float16 and bfloat16 elements as stored (their bits); arithmetic converts them to float.
struct half_bits {
  std::uint16_t bits;
};
struct bfloat16_bits {
  std::uint16_t bits;
};
/// bool elements as stored (one byte, 0 or 1).
struct bool_byte {
  std::uint8_t value;
};

/// Calls `f.template operator()<T>()` with the C++ type of `type`'s elements (float, double,
/// int8_t ... uint64_t, bool_byte, half_bits, bfloat16_bits). Returns false for other types.
template <class F>
bool visit_type(mq::dtype type, F&& f) {
  switch (type) {
    case mq::dtype::float32: f.template operator()<float>(); return true;
    case mq::dtype::float64: f.template operator()<double>(); return true;
    case mq::dtype::int8: f.template operator()<std::int8_t>(); return true;
    case mq::dtype::uint8: f.template operator()<std::uint8_t>(); return true;
    case mq::dtype::int16: f.template operator()<std::int16_t>(); return true;
    case mq::dtype::uint16: f.template operator()<std::uint16_t>(); return true;
    case mq::dtype::int32: f.template operator()<std::int32_t>(); return true;
    case mq::dtype::uint32: f.template operator()<std::uint32_t>(); return true;
    case mq::dtype::int64: f.template operator()<std::int64_t>(); return true;
    case mq::dtype::uint64: f.template operator()<std::uint64_t>(); return true;
    case mq::dtype::boolean: f.template operator()<bool_byte>(); return true;
    case mq::dtype::float16: f.template operator()<half_bits>(); return true;
    case mq::dtype::bfloat16: f.template operator()<bfloat16_bits>(); return true;
    default: return false;
  }
}

/// The same for the plain numeric types only (float, double and the integers).
template <class F>
bool visit_numeric(mq::dtype type, F&& f) {
  switch (type) {
    case mq::dtype::float32: f.template operator()<float>(); return true;
    case mq::dtype::float64: f.template operator()<double>(); return true;
    case mq::dtype::int8: f.template operator()<std::int8_t>(); return true;
    case mq::dtype::uint8: f.template operator()<std::uint8_t>(); return true;
    case mq::dtype::int16: f.template operator()<std::int16_t>(); return true;
    case mq::dtype::uint16: f.template operator()<std::uint16_t>(); return true;
    case mq::dtype::int32: f.template operator()<std::int32_t>(); return true;
    case mq::dtype::uint32: f.template operator()<std::uint32_t>(); return true;
    case mq::dtype::int64: f.template operator()<std::int64_t>(); return true;
    case mq::dtype::uint64: f.template operator()<std::uint64_t>(); return true;
    default: return false;
  }
}

/// The same for float, double (and, through float, float16 is left to the caller).
template <class F>
bool visit_float(mq::dtype type, F&& f) {
  switch (type) {
    case mq::dtype::float32: f.template operator()<float>(); return true;
    case mq::dtype::float64: f.template operator()<double>(); return true;
    default: return false;
  }
}

/// `axis` in [-rank, rank) made non-negative; nullopt when out of range.
std::optional<std::size_t> normalize_axis(std::int64_t axis, std::size_t rank) noexcept;

/// "axis 3 is out of range for rank 2"-style check, as a run-time error of `ctx`.
result<std::size_t> axis_for(const run_context& ctx, std::int64_t axis, std::size_t rank);

/// Numpy broadcasting of several shapes; nullopt when they do not broadcast.
std::optional<shape_t> broadcast_shapes(std::span<const shape_t* const> shapes);
std::optional<shape_t> broadcast_shapes(const shape_t& a, const shape_t& b);

/// Strides (in elements) of `shape` read as if broadcast to `out` (0 along broadcast dims).
std::vector<std::int64_t> broadcast_strides(const shape_t& shape, const shape_t& out);

/// Row-major strides of a shape.
std::vector<std::int64_t> strides_of(const shape_t& shape);

/// The values of an integer tensor (int32 or int64) as int64; fails naming the input.
result<std::vector<std::int64_t>> read_ints(const run_context& ctx, std::size_t input, const char* what);
/// The same for a constant known at plan time.
std::vector<std::int64_t> ints_of(const tensor& t);
/// The values of a float tensor (float16/32/64) as double.
std::vector<double> doubles_of(const tensor& t);

/// Element i of any numeric tensor converted to float.
float load_as_float(const tensor& t, std::int64_t i) noexcept;

/// Applies `op(out_index, a_index, b_index)` over the broadcast of a and b to `out`: the inner
/// loop runs over the last (merged) dimension with each input's stride 0 or 1. Used by every
/// binary elementwise kernel.
template <class Op>
void for_each_broadcast(const shape_t& a, const shape_t& b, const shape_t& out, Op&& op) {
  const std::size_t rank = out.size();
  std::vector<std::int64_t> sa = broadcast_strides(a, out);
  std::vector<std::int64_t> sb = broadcast_strides(b, out);
  // Merge dims from the right while both inputs keep the same pattern (contiguous or broadcast).
  std::vector<std::int64_t> dims;
  std::vector<std::int64_t> da;
  std::vector<std::int64_t> db;
  for (std::size_t k = 0; k < rank; ++k) {
    dims.push_back(out[k]);
    da.push_back(sa[k]);
    db.push_back(sb[k]);
  }
  // Collapse: dim k-1 and k merge when a[k-1] stride == dims[k]*a[k] stride for both inputs.
  std::vector<std::int64_t> md;
  std::vector<std::int64_t> ma;
  std::vector<std::int64_t> mb;
  for (std::size_t k = 0; k < rank; ++k) {
    if (dims[k] == 1) continue;
    if (!md.empty() && ma.back() == da[k] * dims[k] && mb.back() == db[k] * dims[k]) {
      md.back() *= dims[k];
      ma.back() = da[k];
      mb.back() = db[k];
    } else {
      md.push_back(dims[k]);
      ma.push_back(da[k]);
      mb.push_back(db[k]);
    }
  }
  if (md.empty()) {
    op(std::int64_t{0}, std::int64_t{0}, std::int64_t{0}, std::int64_t{1}, std::int64_t{0}, std::int64_t{0});
    return;
  }
  const std::size_t r = md.size();
  const std::int64_t inner = md[r - 1];
  const std::int64_t ia = ma[r - 1];
  const std::int64_t ib = mb[r - 1];
  std::int64_t outer = 1;
  for (std::size_t k = 0; k + 1 < r; ++k) outer *= md[k];
  std::vector<std::int64_t> idx(r, 0);
  std::int64_t oa = 0;
  std::int64_t ob = 0;
  for (std::int64_t o = 0; o < outer; ++o) {
    // op(out_offset, a_offset, b_offset, count, a_step, b_step): one inner run.
    op(o * inner, oa, ob, inner, ia, ib);
    for (std::size_t k = r - 1; k-- > 0;) {
      ++idx[k];
      oa += ma[k];
      ob += mb[k];
      if (idx[k] < md[k]) break;
      oa -= ma[k] * md[k];
      ob -= mb[k] * md[k];
      idx[k] = 0;
    }
  }
}

}  // namespace mq::exec::ops
