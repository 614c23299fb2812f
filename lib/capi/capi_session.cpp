// The executor's C API (include/mq/modelquant_session.h) over mq::session.
#include "mq/modelquant_session.h"

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "capi/capi_internal.h"
#include "mq/session.h"
#include "mq/tensor_io.h"

struct mq_tensor {
  mq::tensor value;
};

struct mq_session {
  mq::session value;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
};

namespace {

using namespace mq::capi_detail;  // NOLINT: guarded, fail, null_argument

bool known_dtype(int v) {
  switch (v) {
    case MQ_DTYPE_FLOAT32: case MQ_DTYPE_UINT8: case MQ_DTYPE_INT8: case MQ_DTYPE_UINT16: case MQ_DTYPE_INT16:
    case MQ_DTYPE_INT32: case MQ_DTYPE_INT64: case MQ_DTYPE_BOOL: case MQ_DTYPE_FLOAT16: case MQ_DTYPE_FLOAT64:
    case MQ_DTYPE_UINT32: case MQ_DTYPE_UINT64: case MQ_DTYPE_BFLOAT16: return true;
    default: return false;
  }
}

}  // namespace

extern "C" {

mq_status mq_tensor_create(mq_dtype type, const int64_t* shape, size_t rank, const void* data, size_t data_bytes,
                           mq_tensor** out) {
  return guarded("mq_tensor_create", [&] {
    if (out == nullptr) return null_argument("mq_tensor_create", "out");
    if (shape == nullptr && rank != 0) return null_argument("mq_tensor_create", "shape");
    const int t = enum_bits(&type);
    if (!known_dtype(t)) return fail(MQ_ERR_INVALID_ARGUMENT, "mq_tensor_create: unknown element type " + std::to_string(t));
    mq::tensor v;
    v.type = static_cast<mq::dtype>(t);
    std::int64_t count = 1;
    for (size_t i = 0; i < rank; ++i) {
      if (shape[i] < 0) return fail(MQ_ERR_INVALID_ARGUMENT, "mq_tensor_create: dimension " + std::to_string(i) + " is negative");
      if (__builtin_mul_overflow(count, shape[i], &count)) return fail(MQ_ERR_INVALID_ARGUMENT, "mq_tensor_create: the shape is too large");
      v.shape.push_back(shape[i]);
    }
    const std::size_t size = v.type == mq::dtype::boolean ? 1 : mq::element_size(v.type);
    if (static_cast<std::size_t>(count) * size != data_bytes) {
      return fail(MQ_ERR_INVALID_ARGUMENT, "mq_tensor_create: the shape needs " + std::to_string(static_cast<std::size_t>(count) * size) +
                                               " bytes, data_bytes is " + std::to_string(data_bytes));
    }
    if (data == nullptr && data_bytes != 0) return null_argument("mq_tensor_create", "data");
    const auto* bytes = static_cast<const std::byte*>(data);
    v.data.assign(bytes, bytes + data_bytes);
    *out = new mq_tensor{std::move(v)};
    return MQ_OK;
  });
}

mq_status mq_tensor_read_file(const char* path, mq_tensor** out) {
  return guarded("mq_tensor_read_file", [&] {
    if (path == nullptr) return null_argument("mq_tensor_read_file", "path");
    if (out == nullptr) return null_argument("mq_tensor_read_file", "out");
    auto t = mq::read_tensor_file(std::filesystem::path(path));
    if (!t) return fail(t.error());
    *out = new mq_tensor{std::move(*t)};
    return MQ_OK;
  });
}

mq_status mq_tensor_write_npy(const mq_tensor* tensor, const char* path) {
  return guarded("mq_tensor_write_npy", [&] {
    if (tensor == nullptr) return null_argument("mq_tensor_write_npy", "tensor");
    if (path == nullptr) return null_argument("mq_tensor_write_npy", "path");
    auto w = mq::write_npy(std::filesystem::path(path), tensor->value);
    if (!w) return fail(w.error());
    return MQ_OK;
  });
}

void mq_tensor_destroy(mq_tensor* tensor) { delete tensor; }
mq_dtype mq_tensor_dtype(const mq_tensor* t) { return t != nullptr ? static_cast<mq_dtype>(t->value.type) : MQ_DTYPE_MAX_ENUM; }
size_t mq_tensor_rank(const mq_tensor* t) { return t != nullptr ? t->value.shape.size() : 0; }
const int64_t* mq_tensor_shape(const mq_tensor* t) { return t != nullptr ? t->value.shape.data() : nullptr; }
const void* mq_tensor_data(const mq_tensor* t) { return t != nullptr ? t->value.data.data() : nullptr; }
size_t mq_tensor_data_bytes(const mq_tensor* t) { return t != nullptr ? t->value.data.size() : 0; }

mq_status mq_session_create(const char* model_path, unsigned threads, mq_session** out) {
  return guarded("mq_session_create", [&] {
    if (model_path == nullptr) return null_argument("mq_session_create", "model_path");
    if (out == nullptr) return null_argument("mq_session_create", "out");
    mq::session_options options;
    options.threads = threads;
    auto s = mq::session::load(std::filesystem::path(model_path), options);
    if (!s) return fail(s.error());
    auto* handle = new mq_session{std::move(*s), {}, {}};
    for (const auto& v : handle->value.inputs()) handle->inputs.push_back(v.name);
    for (const auto& v : handle->value.outputs()) handle->outputs.push_back(v.name);
    *out = handle;
    return MQ_OK;
  });
}

void mq_session_destroy(mq_session* session) { delete session; }
size_t mq_session_input_count(const mq_session* s) { return s != nullptr ? s->inputs.size() : 0; }
const char* mq_session_input_name(const mq_session* s, size_t i) {
  return s != nullptr && i < s->inputs.size() ? s->inputs[i].c_str() : nullptr;
}
size_t mq_session_output_count(const mq_session* s) { return s != nullptr ? s->outputs.size() : 0; }
const char* mq_session_output_name(const mq_session* s, size_t i) {
  return s != nullptr && i < s->outputs.size() ? s->outputs[i].c_str() : nullptr;
}

mq_status mq_session_run(mq_session* session, size_t n_inputs, const char* const* input_names,
                         const mq_tensor* const* inputs, size_t n_outputs, const char* const* output_names,
                         mq_tensor** outputs) {
  return guarded("mq_session_run", [&] {
    if (session == nullptr) return null_argument("mq_session_run", "session");
    if (n_inputs != 0 && (input_names == nullptr || inputs == nullptr)) return null_argument("mq_session_run", "inputs");
    if (n_outputs != 0 && (output_names == nullptr || outputs == nullptr)) return null_argument("mq_session_run", "outputs");
    std::map<std::string, mq::tensor> feeds;
    for (size_t i = 0; i < n_inputs; ++i) {
      if (input_names[i] == nullptr || inputs[i] == nullptr) return null_argument("mq_session_run", "an input name or tensor");
      feeds[input_names[i]] = inputs[i]->value;
    }
    mq::run_options options;
    const std::set<std::string> graph_outputs(session->outputs.begin(), session->outputs.end());
    for (size_t i = 0; i < n_outputs; ++i) {
      if (output_names[i] == nullptr) return null_argument("mq_session_run", "an output name");
      if (graph_outputs.count(output_names[i]) == 0) options.fetch.emplace_back(output_names[i]);
    }
    auto r = session->value.run(feeds, options);
    if (!r) return fail(r.error());
    std::vector<mq_tensor*> made;
    try {
      for (size_t i = 0; i < n_outputs; ++i) made.push_back(new mq_tensor{r->at(output_names[i])});
    } catch (...) {
      for (auto* t : made) delete t;
      throw;
    }
    for (size_t i = 0; i < n_outputs; ++i) outputs[i] = made[i];
    return MQ_OK;
  });
}

}  // extern "C"
