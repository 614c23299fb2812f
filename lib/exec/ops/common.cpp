#include "exec/ops/common.h"

#include <algorithm>

namespace mq::exec::ops {

std::optional<std::size_t> normalize_axis(std::int64_t axis, std::size_t rank) noexcept {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) return std::nullopt;
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

result<std::size_t> axis_for(const run_context& ctx, std::int64_t axis, std::size_t rank) {
  auto a = normalize_axis(axis, rank);
  if (!a) return ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return *a;
}

std::optional<shape_t> broadcast_shapes(std::span<const shape_t* const> shapes) {
  std::size_t rank = 0;
  for (const shape_t* s : shapes) rank = std::max(rank, s->size());
  shape_t out(rank, 1);
  for (const shape_t* s : shapes) {
    const std::size_t offset = rank - s->size();
    for (std::size_t k = 0; k < s->size(); ++k) {
      const std::int64_t d = (*s)[k];
      std::int64_t& o = out[offset + k];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      return std::nullopt;
    }
  }
  // A zero dimension broadcasts like any other size (0 with 1 gives 0).
  return out;
}

std::optional<shape_t> broadcast_shapes(const shape_t& a, const shape_t& b) {
  const shape_t* both[] = {&a, &b};
  return broadcast_shapes(both);
}

std::vector<std::int64_t> strides_of(const shape_t& shape) {
  std::vector<std::int64_t> s(shape.size(), 1);
  for (std::size_t k = shape.size(); k-- > 1;) s[k - 1] = s[k] * shape[k];
  return s;
}

std::vector<std::int64_t> broadcast_strides(const shape_t& shape, const shape_t& out) {
  std::vector<std::int64_t> s(out.size(), 0);
  const std::vector<std::int64_t> own = strides_of(shape);
  const std::size_t offset = out.size() - shape.size();
  for (std::size_t k = 0; k < shape.size(); ++k) s[offset + k] = shape[k] == 1 ? 0 : own[k];
  return s;
}

std::vector<std::int64_t> ints_of(const tensor& t) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(t.size()));
  for (std::int64_t i = 0; i < t.size(); ++i) v[static_cast<std::size_t>(i)] = element_as_int64(t, i);
  return v;
}

std::vector<double> doubles_of(const tensor& t) {
  std::vector<double> v(static_cast<std::size_t>(t.size()));
  for (std::int64_t i = 0; i < t.size(); ++i) v[static_cast<std::size_t>(i)] = element_as_double(t, i);
  return v;
}

result<std::vector<std::int64_t>> read_ints(const run_context& ctx, std::size_t input, const char* what) {
  const tensor& t = ctx.in(input);
  if (t.type() != mq::dtype::int64 && t.type() != mq::dtype::int32) {
    return ctx.fail(std::string(what) + " must be int64 or int32, got " + type_name(t.type()));
  }
  return ints_of(t);
}

float load_as_float(const tensor& t, std::int64_t i) noexcept { return static_cast<float>(element_as_double(t, i)); }

}  // namespace mq::exec::ops
