// The C API (include/mq/modelquant.h) over the C++ one. Every entry point runs its body through
// `guarded`, which turns mq::error results and any exception into an mq_status plus the
// thread-local message: nothing C++ crosses into C.
#include "mq/modelquant.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <cmath>
#include <filesystem>
#include <optional>
#include <new>
#include <span>
#include <string>
#include <utility>

#include "capi/capi_internal.h"
#include "mq/calibration.h"
#include "mq/model.h"
#include "mq/quantize.h"
#include "mq/version.h"

struct mq_options {
  mq::quantize_options value;
  // Static INT8: the folder (listed again when quantizing, so samples added since are used) and
  // what mq-quantize's --preprocess, --calibration-method, --calibration-count and
  // --activation-type give; `static_settings` says one of those was set.
  std::string calibration;
  std::optional<mq::preprocess_spec> preprocess;
  mq::calibration_method method = mq::calibration_method::minmax;
  std::size_t count = 0;
  mq::activation_type activations = mq::activation_type::uint8;
  bool static_settings = false;
};

struct mq_report {
  mq::quantize_report value;
  std::string json;
  std::string table;
};

std::string& mq::capi_detail::last_error() noexcept {
  thread_local std::string slot;  // NOLINT: the C API's per-thread error slot
  return slot;
}

namespace {

using namespace mq::capi_detail;  // NOLINT: guarded, fail, null_argument, enum_bits, ...

static_assert(static_cast<int>(mq::errc::io) + 1 == MQ_ERR_IO);
static_assert(static_cast<int>(mq::errc::invalid_argument) + 1 == MQ_ERR_INVALID_ARGUMENT);
static_assert(static_cast<int>(mq::errc::network) + 1 == MQ_ERR_NETWORK);
static_assert(static_cast<int>(mq::errc::internal) + 1 == MQ_ERR_INTERNAL);

mq_status make_report(mq::quantize_report&& value, mq_report** out) {
  if (out == nullptr) return MQ_OK;
  auto* r = new mq_report{std::move(value), {}, {}};
  r->json = mq::to_json(r->value);
  r->table = mq::to_table(r->value);
  *out = r;
  return MQ_OK;
}

// Shared body of the setters: checks the handle, then applies `set` (which may reject values).
template <class F>
mq_status set_option(const char* function, mq_options* options, F&& set) noexcept {
  return guarded(function, [&] {
    if (options == nullptr) return null_argument(function, "options");
    return set(options->value);
  });
}

// The same for the static INT8 settings, which live beside the quantize options.
template <class F>
mq_status set_static(const char* function, mq_options* options, F&& set) noexcept {
  return guarded(function, [&] {
    if (options == nullptr) return null_argument(function, "options");
    return set(*options);
  });
}

// mq-quantize --calibration-count takes a whole number up to this (0 = all samples).
constexpr std::uint64_t max_calibration_count = mq::calibration_options::max_count;

const mq::quantize_options& options_or_default(const mq_options* options) {
  static const mq::quantize_options defaults;
  return options != nullptr ? options->value : defaults;
}

// The options to quantize with: `options` (or the defaults) with the calibration data listed
// and checked as mq-quantize checks its command line.
mq_status resolve(const char* function, const mq_options* options, mq::quantize_options& out) {
  out = options_or_default(options);
  if (options == nullptr) return MQ_OK;
  if (options->calibration.empty()) {
    if (options->static_settings) {
      return fail(MQ_ERR_INVALID_ARGUMENT, std::string(function) +
                                               ": a preprocess, calibration method, count or activation type needs "
                                               "mq_options_set_calibration");
    }
    return MQ_OK;
  }
  if (out.format != mq::quant_format::automatic) {
    return fail(MQ_ERR_INVALID_ARGUMENT, std::string(function) +
                                             ": calibration works with MQ_FORMAT_AUTO (static INT8 is written as QDQ "
                                             "where ONNX Runtime fuses it)");
  }
  auto data = mq::calibration_data::from_folder(options->calibration, options->preprocess);
  if (!data) return fail(data.error());
  mq::calibration_options c;
  c.data = std::move(*data);
  c.method = options->method;
  c.count = options->count;
  c.activations = options->activations;
  out.calibration = std::move(c);
  return MQ_OK;
}

}  // namespace

extern "C" {

const char* mq_version(void) { return mq::version(); }

const char* mq_last_error_message(void) { return last_error().c_str(); }

const char* mq_status_name(mq_status status) {
  switch (enum_bits(&status)) {
    case MQ_OK: return "MQ_OK";
    case MQ_ERR_IO: return "MQ_ERR_IO";
    case MQ_ERR_NOT_FOUND: return "MQ_ERR_NOT_FOUND";
    case MQ_ERR_INVALID_MODEL: return "MQ_ERR_INVALID_MODEL";
    case MQ_ERR_INVALID_ARGUMENT: return "MQ_ERR_INVALID_ARGUMENT";
    case MQ_ERR_UNSUPPORTED: return "MQ_ERR_UNSUPPORTED";
    case MQ_ERR_NUMERIC: return "MQ_ERR_NUMERIC";
    case MQ_ERR_NETWORK: return "MQ_ERR_NETWORK";
    case MQ_ERR_INTEGRITY: return "MQ_ERR_INTEGRITY";
    case MQ_ERR_INTERNAL: return "MQ_ERR_INTERNAL";
    case MQ_ERR_OUT_OF_MEMORY: return "MQ_ERR_OUT_OF_MEMORY";
  }
  return "MQ_ERR_UNKNOWN";
}

mq_status mq_options_create(mq_options** out) {
  return guarded("mq_options_create", [&] {
    if (out == nullptr) return null_argument("mq_options_create", "out");
    *out = new mq_options{};
    return MQ_OK;
  });
}

void mq_options_destroy(mq_options* options) { delete options; }

mq_status mq_options_set_format(mq_options* options, mq_format format) {
  return set_option("mq_options_set_format", options, [&](mq::quantize_options& o) {
    const int value = enum_bits(&format);
    switch (value) {
      case MQ_FORMAT_AUTO: o.format = mq::quant_format::automatic; return MQ_OK;
      case MQ_FORMAT_QOPERATOR: o.format = mq::quant_format::qoperator; return MQ_OK;
      case MQ_FORMAT_QDQ: o.format = mq::quant_format::qdq; return MQ_OK;
    }
    return fail(MQ_ERR_INVALID_ARGUMENT,
                "mq_options_set_format: unknown format " + std::to_string(value));
  });
}

mq_status mq_options_set_weight_type(mq_options* options, mq_weight_type type) {
  return set_option("mq_options_set_weight_type", options, [&](mq::quantize_options& o) {
    const int value = enum_bits(&type);
    switch (value) {
      case MQ_WEIGHT_INT8: o.weights = mq::weight_type::int8; return MQ_OK;
      case MQ_WEIGHT_UINT8: o.weights = mq::weight_type::uint8; return MQ_OK;
    }
    return fail(MQ_ERR_INVALID_ARGUMENT,
                "mq_options_set_weight_type: unknown weight type " + std::to_string(value));
  });
}

mq_status mq_options_set_symmetry(mq_options* options, mq_symmetry symmetry) {
  return set_option("mq_options_set_symmetry", options, [&](mq::quantize_options& o) {
    const int value = enum_bits(&symmetry);
    switch (value) {
      case MQ_SYMMETRY_TYPE_DEFAULT: o.symmetry = mq::weight_symmetry::type_default; return MQ_OK;
      case MQ_SYMMETRY_SYMMETRIC: o.symmetry = mq::weight_symmetry::symmetric; return MQ_OK;
      case MQ_SYMMETRY_ASYMMETRIC: o.symmetry = mq::weight_symmetry::asymmetric; return MQ_OK;
    }
    return fail(MQ_ERR_INVALID_ARGUMENT,
                "mq_options_set_symmetry: unknown symmetry " + std::to_string(value));
  });
}

mq_status mq_options_set_per_channel(mq_options* options, int enabled) {
  return set_option("mq_options_set_per_channel", options, [&](mq::quantize_options& o) {
    o.per_channel = enabled != 0;
    return MQ_OK;
  });
}

mq_status mq_options_set_reduce_range(mq_options* options, int enabled) {
  return set_option("mq_options_set_reduce_range", options, [&](mq::quantize_options& o) {
    o.reduce_range = enabled != 0;
    return MQ_OK;
  });
}

mq_status mq_options_add_op_type(mq_options* options, const char* op_type) {
  return set_option("mq_options_add_op_type", options, [&](mq::quantize_options& o) {
    if (op_type == nullptr) return null_argument("mq_options_add_op_type", "op_type");
    if (auto ok = mq::check_op_type(op_type); !ok) return fail(MQ_ERR_INVALID_ARGUMENT, "mq_options_add_op_type: " + ok.error().message);
    o.op_types.emplace_back(op_type);
    return MQ_OK;
  });
}

mq_status mq_options_add_exclude(mq_options* options, const char* node_pattern) {
  return set_option("mq_options_add_exclude", options, [&](mq::quantize_options& o) {
    if (node_pattern == nullptr) return null_argument("mq_options_add_exclude", "node_pattern");
    if (*node_pattern == '\0') return fail(MQ_ERR_INVALID_ARGUMENT, "mq_options_add_exclude: empty node pattern");
    o.exclude.emplace_back(node_pattern);
    return MQ_OK;
  });
}

mq_status mq_options_set_min_elements(mq_options* options, int64_t min_elements) {
  return set_option("mq_options_set_min_elements", options, [&](mq::quantize_options& o) {
    if (min_elements < 0) {
      return fail(MQ_ERR_INVALID_ARGUMENT,
                  "mq_options_set_min_elements: " + std::to_string(min_elements) + " is negative");
    }
    o.min_elements = min_elements;
    return MQ_OK;
  });
}

mq_status mq_options_set_threads(mq_options* options, unsigned threads) {
  return set_option("mq_options_set_threads", options, [&](mq::quantize_options& o) {
    if (threads > mq::max_threads) {
      return fail(MQ_ERR_INVALID_ARGUMENT, "mq_options_set_threads: " + std::to_string(threads) +
                                               " threads is over the limit of " + std::to_string(mq::max_threads) +
                                               " (0 means one per core)");
    }
    o.threads = threads;
    return MQ_OK;
  });
}

mq_status mq_options_set_dry_run(mq_options* options, int enabled) {
  return set_option("mq_options_set_dry_run", options, [&](mq::quantize_options& o) {
    o.dry_run = enabled != 0;
    return MQ_OK;
  });
}

mq_status mq_options_set_calibration(mq_options* options, const char* folder) {
  return set_static("mq_options_set_calibration", options, [&](mq_options& o) {
    if (folder == nullptr) {
      o.calibration.clear();
      return MQ_OK;
    }
    if (*folder == '\0') return fail(MQ_ERR_INVALID_ARGUMENT, "mq_options_set_calibration: the folder is empty");
    auto listed = mq::calibration_data::from_folder(std::filesystem::path(folder));  // exists, holds samples
    if (!listed) return fail(listed.error());
    o.calibration = folder;
    return MQ_OK;
  });
}

mq_status mq_options_set_preprocess(mq_options* options, const char* preset_or_file) {
  return set_static("mq_options_set_preprocess", options, [&](mq_options& o) {
    if (preset_or_file == nullptr) return null_argument("mq_options_set_preprocess", "preset_or_file");
    auto spec = mq::preprocess_spec::parse(preset_or_file);
    if (!spec) return fail(to_status(spec.error().code), "mq_options_set_preprocess: " + spec.error().message);
    o.preprocess = std::move(*spec);
    o.static_settings = true;
    return MQ_OK;
  });
}

mq_status mq_options_set_calibration_method(mq_options* options, mq_calibration_method method) {
  return set_static("mq_options_set_calibration_method", options, [&](mq_options& o) {
    const int value = enum_bits(&method);
    switch (value) {
      case MQ_CALIBRATION_MINMAX: o.method = mq::calibration_method::minmax; break;
      case MQ_CALIBRATION_PERCENTILE: o.method = mq::calibration_method::percentile; break;
      case MQ_CALIBRATION_ENTROPY: o.method = mq::calibration_method::entropy; break;
      case MQ_CALIBRATION_MSE: o.method = mq::calibration_method::mse; break;
      default:
        return fail(MQ_ERR_INVALID_ARGUMENT,
                    "mq_options_set_calibration_method: unknown calibration method " + std::to_string(value));
    }
    o.static_settings = true;
    return MQ_OK;
  });
}

mq_status mq_options_set_calibration_count(mq_options* options, uint64_t count) {
  return set_static("mq_options_set_calibration_count", options, [&](mq_options& o) {
    if (count > max_calibration_count) {
      return fail(MQ_ERR_INVALID_ARGUMENT, "mq_options_set_calibration_count: " + std::to_string(count) +
                                               " is over the limit of " + std::to_string(max_calibration_count) +
                                               " (0 means all samples)");
    }
    o.count = static_cast<std::size_t>(count);
    o.static_settings = true;
    return MQ_OK;
  });
}

mq_status mq_options_set_activation_type(mq_options* options, mq_activation_type type) {
  return set_static("mq_options_set_activation_type", options, [&](mq_options& o) {
    const int value = enum_bits(&type);
    switch (value) {
      case MQ_ACTIVATION_UINT8: o.activations = mq::activation_type::uint8; break;
      case MQ_ACTIVATION_INT8: o.activations = mq::activation_type::int8; break;
      default:
        return fail(MQ_ERR_INVALID_ARGUMENT,
                    "mq_options_set_activation_type: unknown activation type " + std::to_string(value));
    }
    o.static_settings = true;
    return MQ_OK;
  });
}

mq_status mq_options_set_target_snr(mq_options* options, double decibels) {
  return set_option("mq_options_set_target_snr", options, [&](mq::quantize_options& o) {
    constexpr double max_db = mq::quantize_options::max_target_snr_db;
    if (!(decibels >= 0 && decibels <= max_db)) {
      return fail(MQ_ERR_INVALID_ARGUMENT, "mq_options_set_target_snr: " + std::to_string(decibels) +
                                               " dB is outside 0 (no accuracy guard) to " + std::to_string(static_cast<int>(max_db)));
    }
    o.target_snr_db = decibels;
    return MQ_OK;
  });
}

mq_status mq_quantize_file(const char* input_path, const char* output_path, const mq_options* options,
                           mq_report** report) {
  if (report != nullptr) *report = nullptr;
  return guarded("mq_quantize_file", [&] {
    if (input_path == nullptr) return null_argument("mq_quantize_file", "input_path");
    mq::quantize_options opts;
    if (mq_status s = resolve("mq_quantize_file", options, opts); s != MQ_OK) return s;
    if (output_path == nullptr && !opts.dry_run) return null_argument("mq_quantize_file", "output_path");
    auto m = mq::model::load(std::filesystem::path(input_path));
    if (!m) return fail(m.error());
    auto r = mq::quantize(*m, opts);
    if (!r) return fail(r.error());
    if (!opts.dry_run) {
      auto saved = m->save(std::filesystem::path(output_path));
      if (!saved) return fail(saved.error());
    }
    return make_report(std::move(*r), report);
  });
}

mq_status mq_quantize_memory(const void* input, size_t input_size, const mq_options* options, void** output,
                             size_t* output_size, mq_report** report) {
  if (output != nullptr) *output = nullptr;
  if (output_size != nullptr) *output_size = 0;
  if (report != nullptr) *report = nullptr;
  return guarded("mq_quantize_memory", [&] {
    if (input == nullptr) return null_argument("mq_quantize_memory", "input");
    mq::quantize_options opts;
    if (mq_status s = resolve("mq_quantize_memory", options, opts); s != MQ_OK) return s;
    if (!opts.dry_run && output == nullptr) return null_argument("mq_quantize_memory", "output");
    if (!opts.dry_run && output_size == nullptr) return null_argument("mq_quantize_memory", "output_size");
    auto m = mq::model::load_from_memory(std::span(static_cast<const std::byte*>(input), input_size));
    if (!m) return fail(m.error());
    auto r = mq::quantize(*m, opts);
    if (!r) return fail(r.error());
    void* bytes = nullptr;
    std::size_t size = 0;
    if (!opts.dry_run) {
      auto serialized = m->serialize();
      if (!serialized) return fail(serialized.error());
      size = serialized->size();
      bytes = std::malloc(size == 0 ? 1 : size);
      if (bytes == nullptr) return fail(MQ_ERR_OUT_OF_MEMORY, "mq_quantize_memory: out of memory");
      std::memcpy(bytes, serialized->data(), size);
    }
    mq_status status = MQ_OK;
    try {
      status = make_report(std::move(*r), report);
    } catch (...) {
      std::free(bytes);
      throw;
    }
    if (output != nullptr) *output = bytes;
    if (output_size != nullptr) *output_size = size;
    return status;
  });
}

void mq_buffer_free(void* buffer) { std::free(buffer); }

const char* mq_report_json(const mq_report* report) { return report != nullptr ? report->json.c_str() : ""; }
const char* mq_report_table(const mq_report* report) { return report != nullptr ? report->table.c_str() : ""; }
size_t mq_report_quantized_count(const mq_report* report) {
  return report != nullptr ? report->value.quantized_count : 0;
}
size_t mq_report_skipped_count(const mq_report* report) { return report != nullptr ? report->value.skipped_count : 0; }
uint64_t mq_report_bytes_before(const mq_report* report) {
  return report != nullptr ? report->value.model_bytes_before : 0;
}
uint64_t mq_report_bytes_after(const mq_report* report) {
  return report != nullptr ? report->value.model_bytes_after : 0;
}
void mq_report_destroy(mq_report* report) { delete report; }

}  // extern "C"
