// The fetch half of the C API (include/mq/modelquant_fetch.h) over mq::model_store; part of
// libmodelquant-fetch. Same rules as capi.cpp: every entry point runs through `guarded`, errors
// go to the per-thread slot that mq_last_error_message() reads, nothing C++ crosses into C.
#include "mq/modelquant_fetch.h"

#include <string>
#include <utility>

#include "capi/capi_internal.h"
#include "mq/store.h"

struct mq_store_options {
  mq::store_options value;
};

struct mq_store {
  mq::model_store value;
};

struct mq_pulled {
  mq::pulled_model value;
  // Paths as strings, so that the accessors can hand out stable char pointers.
  std::string dir;
  std::string fp32;
  std::string int8;
  std::string labels;
  std::string config;
};

namespace {

using namespace mq::capi_detail;  // NOLINT: guarded, fail, null_argument, ...

template <class F>
mq_status set_store_option(const char* function, mq_store_options* options, F&& set) noexcept {
  return guarded(function, [&] {
    if (options == nullptr) return null_argument(function, "options");
    return set(options->value);
  });
}

// Setter of a string option; `required`: the empty string is rejected.
template <class Assign>
mq_status set_string(const char* function, mq_store_options* options, const char* text, bool required,
                     Assign&& assign) noexcept {
  return set_store_option(function, options, [&](mq::store_options& o) {
    if (text == nullptr) return null_argument(function, "value");
    if (required && *text == '\0') return fail(MQ_ERR_INVALID_ARGUMENT, std::string(function) + ": empty value");
    assign(o, text);
    return MQ_OK;
  });
}

mq_pull_stage to_c(mq::pull_stage stage) noexcept {
  switch (stage) {
    case mq::pull_stage::waiting: return MQ_PULL_WAITING;
    case mq::pull_stage::downloading: return MQ_PULL_DOWNLOADING;
    case mq::pull_stage::verifying: return MQ_PULL_VERIFYING;
    case mq::pull_stage::quantizing: return MQ_PULL_QUANTIZING;
    case mq::pull_stage::cached: return MQ_PULL_CACHED;
    case mq::pull_stage::warning: return MQ_PULL_WARNING;
    case mq::pull_stage::retrying: return MQ_PULL_RETRYING;
    default: break;  // a stage newer than the C enum: reported as a warning with its message
  }
  return MQ_PULL_WARNING;
}

mq_status create_options(const char* function, mq_store_options** out, bool from_environment) {
  if (out != nullptr) *out = nullptr;
  return guarded(function, [&] {
    if (out == nullptr) return null_argument(function, "out");
    *out = new mq_store_options{from_environment ? mq::store_options::from_environment() : mq::store_options{}};
    return MQ_OK;
  });
}

}  // namespace

extern "C" {

mq_status mq_store_options_create(mq_store_options** out) {
  return create_options("mq_store_options_create", out, false);
}

mq_status mq_store_options_create_from_environment(mq_store_options** out) {
  return create_options("mq_store_options_create_from_environment", out, true);
}

void mq_store_options_destroy(mq_store_options* options) { delete options; }

mq_status mq_store_options_set_models_dir(mq_store_options* options, const char* path) {
  return set_string("mq_store_options_set_models_dir", options, path, true,
                    [](mq::store_options& o, const char* v) { o.models_dir = v; });
}

mq_status mq_store_options_set_catalog_file(mq_store_options* options, const char* path) {
  return set_string("mq_store_options_set_catalog_file", options, path, false,
                    [](mq::store_options& o, const char* v) { o.catalog_file = v; });
}

mq_status mq_store_options_set_endpoint(mq_store_options* options, const char* endpoint) {
  return set_string("mq_store_options_set_endpoint", options, endpoint, true,
                    [](mq::store_options& o, const char* v) { o.endpoint = v; });
}

mq_status mq_store_options_set_token(mq_store_options* options, const char* token) {
  return set_string("mq_store_options_set_token", options, token, false,
                    [](mq::store_options& o, const char* v) { o.token = v; });
}

mq_status mq_store_options_set_offline(mq_store_options* options, int offline) {
  return set_store_option("mq_store_options_set_offline", options, [&](mq::store_options& o) {
    o.network = offline != 0 ? mq::network_mode::offline : mq::network_mode::online;
    return MQ_OK;
  });
}

mq_status mq_store_options_set_quantize(mq_store_options* options, int quantize) {
  return set_store_option("mq_store_options_set_quantize", options, [&](mq::store_options& o) {
    o.quantize = quantize != 0 ? mq::quantize_mode::as_catalog : mq::quantize_mode::never;
    return MQ_OK;
  });
}

mq_status mq_store_options_set_strict(mq_store_options* options, int strict) {
  return set_store_option("mq_store_options_set_strict", options, [&](mq::store_options& o) {
    o.on_quantize_failure = strict != 0 ? mq::quantize_failure::error : mq::quantize_failure::warn;
    return MQ_OK;
  });
}

mq_status mq_store_options_set_force(mq_store_options* options, int force) {
  return set_store_option("mq_store_options_set_force", options, [&](mq::store_options& o) {
    o.cache = force != 0 ? mq::cache_policy::refresh : mq::cache_policy::reuse;
    return MQ_OK;
  });
}

mq_status mq_store_options_set_verify(mq_store_options* options, int verify) {
  return set_store_option("mq_store_options_set_verify", options, [&](mq::store_options& o) {
    o.cache = verify != 0 ? mq::cache_policy::verify : mq::cache_policy::reuse;
    return MQ_OK;
  });
}

mq_status mq_store_open(const mq_store_options* options, mq_store** out) {
  if (out != nullptr) *out = nullptr;
  return guarded("mq_store_open", [&] {
    if (out == nullptr) return null_argument("mq_store_open", "out");
    auto store = mq::model_store::open(options != nullptr ? options->value : mq::store_options::from_environment());
    if (!store) return fail(store.error());
    *out = new mq_store{std::move(*store)};
    return MQ_OK;
  });
}

void mq_store_close(mq_store* store) { delete store; }

mq_status mq_pull(mq_store* store, const char* name, mq_progress_fn progress, void* user, mq_pulled** out) {
  if (out != nullptr) *out = nullptr;
  return guarded("mq_pull", [&] {
    if (store == nullptr) return null_argument("mq_pull", "store");
    if (name == nullptr) return null_argument("mq_pull", "name");
    if (out == nullptr) return null_argument("mq_pull", "out");
    mq::progress_callback on_progress;
    if (progress != nullptr) {
      on_progress = [progress, user](const mq::pull_progress& p) {
        mq_pull_progress c{};
        c.model = p.model.c_str();
        c.stage = to_c(p.stage);
        c.file = p.file.c_str();
        c.bytes_done = p.bytes_done;
        c.bytes_total = p.bytes_total;
        c.message = p.message.c_str();
        progress(&c, user);
      };
    }
    auto pulled = store->value.pull(name, on_progress);
    if (!pulled) return fail(pulled.error());
    auto* r = new mq_pulled{std::move(*pulled), {}, {}, {}, {}, {}};
    try {
      r->dir = r->value.dir.string();
      r->fp32 = r->value.fp32.string();
      r->int8 = r->value.int8.string();
      r->labels = r->value.labels.string();
      r->config = r->value.config.string();
    } catch (...) {
      delete r;
      throw;
    }
    *out = r;
    return MQ_OK;
  });
}

const char* mq_pulled_name(const mq_pulled* pulled) { return pulled != nullptr ? pulled->value.name.c_str() : ""; }
const char* mq_pulled_dir(const mq_pulled* pulled) { return pulled != nullptr ? pulled->dir.c_str() : ""; }
const char* mq_pulled_fp32_path(const mq_pulled* pulled) { return pulled != nullptr ? pulled->fp32.c_str() : ""; }
const char* mq_pulled_int8_path(const mq_pulled* pulled) { return pulled != nullptr ? pulled->int8.c_str() : ""; }
const char* mq_pulled_labels_path(const mq_pulled* pulled) {
  return pulled != nullptr ? pulled->labels.c_str() : "";
}
const char* mq_pulled_config_path(const mq_pulled* pulled) {
  return pulled != nullptr ? pulled->config.c_str() : "";
}
const char* mq_pulled_config_json(const mq_pulled* pulled) {
  return pulled != nullptr ? pulled->value.config_json.c_str() : "";
}
int mq_pulled_use_int8(const mq_pulled* pulled) { return pulled != nullptr && pulled->value.use_int8 ? 1 : 0; }
const char* mq_pulled_model_path(const mq_pulled* pulled) {
  if (pulled == nullptr) return "";
  return pulled->value.use_int8 ? pulled->int8.c_str() : pulled->fp32.c_str();
}
int mq_pulled_downloaded(const mq_pulled* pulled) { return pulled != nullptr && pulled->value.downloaded ? 1 : 0; }
int mq_pulled_quantized(const mq_pulled* pulled) { return pulled != nullptr && pulled->value.quantized ? 1 : 0; }
size_t mq_pulled_warning_count(const mq_pulled* pulled) {
  return pulled != nullptr ? pulled->value.warnings.size() : 0;
}
const char* mq_pulled_warning(const mq_pulled* pulled, size_t index) {
  if (pulled == nullptr || index >= pulled->value.warnings.size()) return "";
  return pulled->value.warnings[index].c_str();
}
void mq_pulled_destroy(mq_pulled* pulled) { delete pulled; }

}  // extern "C"
