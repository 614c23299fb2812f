/* libmodelquant-fetch C API: pull catalog models (download or reuse, verify, quantize) from C.
 * Plain C99, the C face of `mq::model_store` (mq/store.h). Link libmodelquant-fetch (CMake:
 * `mq::fetch`; pkg-config: `modelquant-fetch`), which brings libcurl; programs that only quantize
 * link libmodelquant alone.
 *
 * Conventions are those of mq/modelquant.h: every fallible call returns an `mq_status`,
 * `mq_last_error_message()` (one per-thread slot for both libraries) says what failed, handles
 * are opaque, destroy/close functions accept NULL, out-parameters are written only on success
 * (set to NULL otherwise), strings are UTF-8 and NUL-terminated.
 *
 * Thread safety: an `mq_store` is used by one thread at a time; several stores (threads or
 * processes) may pull the same model at once (a lock file per model serialises them). An
 * `mq_pulled` is immutable and may be read from any thread.
 *
 * Typical start-up of an app:
 *
 *   mq_store_options* o = NULL;  mq_store* store = NULL;  mq_pulled* m = NULL;
 *   mq_store_options_create_from_environment(&o);        (MQ_MODELS_DIR, MQ_ENDPOINT, ...)
 *   mq_store_options_set_endpoint(o, "file:///srv/mirror");
 *   mq_store_open(o, &store);
 *   if (mq_pull(store, "yolov8n", on_progress, NULL, &m) == MQ_OK)
 *     load(mq_pulled_use_int8(m) ? mq_pulled_int8_path(m) : mq_pulled_fp32_path(m));
 *   mq_pulled_destroy(m);  mq_store_close(store);  mq_store_options_destroy(o);
 */
#ifndef MQ_MODELQUANT_FETCH_H
#define MQ_MODELQUANT_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "mq/export.h"
#include "mq/modelquant.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Settings of a store (see `mq::store_options`). Not thread-safe to modify. */
typedef struct mq_store_options mq_store_options;

/** The models folder and the catalog. */
typedef struct mq_store mq_store;

/** What a successful pull gives an application: paths, `use_int8`, config.json. Immutable. */
typedef struct mq_pulled mq_pulled;

/** Where a pull is (see `mq::pull_stage`). */
typedef enum mq_pull_stage {
  MQ_PULL_WAITING = 0,     /**< another process or thread is pulling the same model */
  MQ_PULL_DOWNLOADING = 1, /**< `bytes_done` of `bytes_total` (0 when unknown) of `file` */
  MQ_PULL_VERIFYING = 2,
  MQ_PULL_QUANTIZING = 3,
  MQ_PULL_CACHED = 4,      /**< a file was already in the cache and still matches; `message` says how that
                                was checked ("up to date: same ETag", "freshness cannot be checked") */
  MQ_PULL_WARNING = 5,     /**< `message` says what went wrong (e.g. quantization failed); also
                                any later stage this header does not name yet, with its message */
  MQ_PULL_RETRYING = 6,    /**< a transfer of `file` failed and is tried again: `message` says what failed,
                                the attempt ("attempt 1 of 5") and when the next one starts */
  MQ_PULL_STAGE_MAX_ENUM = 0x7fffffff /**< not a stage (see MQ_STATUS_MAX_ENUM) */
} mq_pull_stage;

/** One progress report. The strings are valid only during the callback; never NULL. */
typedef struct mq_pull_progress {
  const char* model;     /**< catalog name */
  mq_pull_stage stage;
  const char* file;      /**< "model.onnx", "labels.txt", "model-int8.onnx" (or "") */
  uint64_t bytes_done;   /**< bytes of `file` so far */
  uint64_t bytes_total;  /**< size of `file` in bytes, 0 when unknown */
  const char* message;   /**< what happened (MQ_PULL_WARNING, MQ_PULL_RETRYING, MQ_PULL_WAITING,
                              MQ_PULL_QUANTIZING) or how a cached file was checked (MQ_PULL_CACHED) */
} mq_pull_progress;

/** Progress callback: called on the pulling thread with `user` as given to mq_pull. Keep it cheap;
 * it must not call mq_ functions on the same store, and must not unwind (longjmp, C++ exception)
 * through the library. */
typedef void (*mq_progress_fn)(const mq_pull_progress* progress, void* user);

/* ---- store options ---------------------------------------------------------------------- */

/** Options with the defaults: models folder "models", the built-in catalog only, the Hugging Face
 * endpoint, online, quantize as the catalog says. Errors: MQ_ERR_INVALID_ARGUMENT (out is NULL),
 * MQ_ERR_OUT_OF_MEMORY. */
MQ_API mq_status mq_store_options_create(mq_store_options** out);
/** The defaults overridden by the environment: MQ_MODELS_DIR, MQ_CATALOG, MQ_ENDPOINT (else
 * HF_ENDPOINT), MQ_OFFLINE=1 or HF_HUB_OFFLINE=1, HF_TOKEN. Errors as mq_store_options_create. */
MQ_API mq_status mq_store_options_create_from_environment(mq_store_options** out);
/** Frees options (NULL is ignored). */
MQ_API void mq_store_options_destroy(mq_store_options* options);

/* Setters. Errors: MQ_ERR_INVALID_ARGUMENT for a NULL handle or string, or an empty value where
 * one is needed. */
/** Folder of the pulled models (one sub-folder per model); must not be empty. */
MQ_API mq_status mq_store_options_set_models_dir(mq_store_options* options, const char* path);
/** A catalog file whose entries are added to (and override by name) the built-in catalog;
 * "" for none. */
MQ_API mq_status mq_store_options_set_catalog_file(mq_store_options* options, const char* path);
/** Where files come from: "https://host", "http://host" or "file:///local/mirror" (a folder laid
 * out as {repo}/resolve/{revision}/{filename}); must not be empty. */
MQ_API mq_status mq_store_options_set_endpoint(mq_store_options* options, const char* endpoint);
/** Bearer token, sent only to the endpoint's own host; "" for none. */
MQ_API mq_status mq_store_options_set_token(mq_store_options* options, const char* token);
/** Non-zero: cache only; a missing file is an error that says what is missing. */
MQ_API mq_status mq_store_options_set_offline(mq_store_options* options, int offline);
/** Zero: keep the FP32 model only (never quantize); non-zero (default): as the catalog says. */
MQ_API mq_status mq_store_options_set_quantize(mq_store_options* options, int quantize);
/** Non-zero: a failed quantization fails the pull (default: a warning, FP32 kept). */
MQ_API mq_status mq_store_options_set_strict(mq_store_options* options, int strict);
/** Non-zero: download and quantize again even when the cache matches. */
MQ_API mq_status mq_store_options_set_force(mq_store_options* options, int force);
/** Non-zero: hash the cached models and check the INT8 model's key again on every pull (by
 * default a cached file whose size, mtime and inode are those recorded when it was verified is
 * not read again). mq_store_options_set_force and this set one cache policy: the last call wins. */
MQ_API mq_status mq_store_options_set_verify(mq_store_options* options, int verify);

/* ---- store ------------------------------------------------------------------------------ */

/** Opens a store: loads the built-in catalog and the options' catalog file. `options` may be NULL
 * for mq_store_options_create_from_environment's values; it is copied (free it any time).
 * Errors: MQ_ERR_INVALID_ARGUMENT (out is NULL; a malformed endpoint, the message showing a valid
 * one; a catalog error, naming file, line and entry),
 * MQ_ERR_IO, MQ_ERR_NOT_FOUND (the catalog file does not exist). */
MQ_API mq_status mq_store_open(const mq_store_options* options, mq_store** out);
/** Closes a store (NULL is ignored). Pulled models stay valid. */
MQ_API void mq_store_close(mq_store* store);

/** Downloads (or reuses), verifies and quantizes the catalog model `name`, publishing every file
 * atomically and config.json last. `progress` may be NULL; `user` is passed to it as is. On
 * success `*out` is a result to free with mq_pulled_destroy. Errors: MQ_ERR_INVALID_ARGUMENT
 * (NULL store, name or out), MQ_ERR_NOT_FOUND (not in the catalog, or missing at the endpoint;
 * offline: not in the cache), MQ_ERR_NETWORK, MQ_ERR_INTEGRITY (sha256 mismatch, not an ONNX
 * model), MQ_ERR_IO, MQ_ERR_NUMERIC and others only with strict quantization. */
MQ_API mq_status mq_pull(mq_store* store, const char* name, mq_progress_fn progress, void* user, mq_pulled** out);

/* ---- pulled model ----------------------------------------------------------------------- */
/* Strings are owned by the result, valid until mq_pulled_destroy; a NULL result gives "" / 0. */

/** The catalog name. */
MQ_API const char* mq_pulled_name(const mq_pulled* pulled);
/** The model's folder, <models-dir>/<name>. */
MQ_API const char* mq_pulled_dir(const mq_pulled* pulled);
/** The FP32 model (model.onnx). */
MQ_API const char* mq_pulled_fp32_path(const mq_pulled* pulled);
/** The INT8 model (model-int8.onnx), or "" when there is no usable INT8 model. */
MQ_API const char* mq_pulled_int8_path(const mq_pulled* pulled);
/** labels.txt, or "" when the model has none. */
MQ_API const char* mq_pulled_labels_path(const mq_pulled* pulled);
/** config.json: name, task, model_path, int8_model_path, use_int8, inputs, outputs, source, ... */
MQ_API const char* mq_pulled_config_path(const mq_pulled* pulled);
/** The content of config.json. */
MQ_API const char* mq_pulled_config_json(const mq_pulled* pulled);
/** Non-zero only when the INT8 model exists, passed its checks and quantized at least one node (config.json's use_int8). */
MQ_API int mq_pulled_use_int8(const mq_pulled* pulled);
/** The model to load: the INT8 path when use_int8, else the FP32 path. */
MQ_API const char* mq_pulled_model_path(const mq_pulled* pulled);
/** Non-zero when this pull downloaded the FP32 model (zero: it came from the cache). */
MQ_API int mq_pulled_downloaded(const mq_pulled* pulled);
/** Non-zero when this pull (re)built the INT8 model. */
MQ_API int mq_pulled_quantized(const mq_pulled* pulled);
/** Number of warnings of the pull (e.g. a failed quantization), and warning `index` ("" when out
 * of range). */
MQ_API size_t mq_pulled_warning_count(const mq_pulled* pulled);
MQ_API const char* mq_pulled_warning(const mq_pulled* pulled, size_t index);
/** Frees a result (NULL is ignored). */
MQ_API void mq_pulled_destroy(mq_pulled* pulled);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MQ_MODELQUANT_FETCH_H */
