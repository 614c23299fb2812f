/* libmodelquant C API: quantize ONNX models from C (or anything with a C FFI: Rust, Python
 * ctypes, ...). Plain C99; no C++ types or exceptions cross it.
 *
 * Conventions:
 * - Every fallible function returns an `mq_status`: MQ_OK (0) on success, else an error code.
 *   `mq_last_error_message()` then gives a one-line message naming what failed.
 * - Objects are opaque handles made by `mq_*_create`/returned through out-parameters and freed
 *   by the matching `mq_*_destroy` (NULL is accepted and ignored by every destroy function).
 * - Strings are UTF-8, NUL-terminated. Paths are file-system paths as the OS takes them.
 * - Out-parameters are written only on success (set to NULL / 0 otherwise).
 *
 * Thread safety: every function may be called from several threads at once as long as no handle
 * is used by two threads at the same time (an `mq_options` may be shared when only read, i.e.
 * passed to quantize calls). Error messages are per thread.
 */
#ifndef MQ_MODELQUANT_H
#define MQ_MODELQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "mq/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every fallible call; the values match `mq::errc` + 1 and never change.
 * The *_MAX_ENUM entries force 32-bit enums, so that any int a caller passes (from C, or through
 * an FFI) is a valid value and is rejected with MQ_ERR_INVALID_ARGUMENT rather than being
 * undefined behaviour in the C++ implementation. */
typedef enum mq_status {
  MQ_OK = 0,
  MQ_ERR_IO = 1,               /**< a file could not be opened, read, written or renamed */
  MQ_ERR_NOT_FOUND = 2,        /**< a file, tensor, node or catalog entry does not exist */
  MQ_ERR_INVALID_MODEL = 3,    /**< the bytes are not a usable ONNX model */
  MQ_ERR_INVALID_ARGUMENT = 4, /**< an argument or option is NULL, out of range or inconsistent */
  MQ_ERR_UNSUPPORTED = 5,      /**< valid input that this version cannot handle */
  MQ_ERR_NUMERIC = 6,          /**< NaN/Inf weights or other values that make the math meaningless */
  MQ_ERR_NETWORK = 7,          /**< a download failed */
  MQ_ERR_INTEGRITY = 8,        /**< a hash or size check failed */
  MQ_ERR_INTERNAL = 9,         /**< a bug in libmodelquant: please report it */
  MQ_ERR_OUT_OF_MEMORY = 10,   /**< an allocation failed */
  MQ_STATUS_MAX_ENUM = 0x7fffffff /**< not a status: makes every int a valid value for C++ */
} mq_status;

/** Which graph form the quantized nodes take (see `mq::quant_format`). */
typedef enum mq_format {
  MQ_FORMAT_AUTO = 0,      /**< per op, what runs best in ONNX Runtime's CPU provider */
  MQ_FORMAT_QOPERATOR = 1, /**< DynamicQuantizeLinear + MatMulInteger/ConvInteger */
  MQ_FORMAT_QDQ = 2,       /**< weight-only: integer weight + DequantizeLinear */
  MQ_FORMAT_MAX_ENUM = 0x7fffffff /**< not a format (see MQ_STATUS_MAX_ENUM) */
} mq_format;

/** Integer type of quantized weights. */
typedef enum mq_weight_type {
  MQ_WEIGHT_INT8 = 0,
  MQ_WEIGHT_UINT8 = 1,
  MQ_WEIGHT_MAX_ENUM = 0x7fffffff /**< not a type (see MQ_STATUS_MAX_ENUM) */
} mq_weight_type;

/** Whether weight ranges are symmetric around zero. */
typedef enum mq_symmetry {
  MQ_SYMMETRY_TYPE_DEFAULT = 0, /**< symmetric for int8, asymmetric for uint8 (like ONNX Runtime) */
  MQ_SYMMETRY_SYMMETRIC = 1,
  MQ_SYMMETRY_ASYMMETRIC = 2,
  MQ_SYMMETRY_MAX_ENUM = 0x7fffffff /**< not a symmetry (see MQ_STATUS_MAX_ENUM) */
} mq_symmetry;

/** Quantization options; defaults as in `mq::quantize_options`. Not thread-safe to modify. */
typedef struct mq_options mq_options;

/** What one quantize call did: per-node report, as JSON or as a text table. Immutable. */
typedef struct mq_report mq_report;

/* ---- version and errors ---------------------------------------------------------------- */

/** The library's version, "major.minor.patch" (static storage; never NULL). */
MQ_API const char* mq_version(void);

/** The message of the last call on this thread that returned an error, or "" after a call that
 * succeeded. Valid until the next mq_ call on this thread; never NULL. */
MQ_API const char* mq_last_error_message(void);

/** A status code's name, e.g. "MQ_ERR_IO" (static storage; "MQ_ERR_UNKNOWN" for other values). */
MQ_API const char* mq_status_name(mq_status status);

/* ---- options ---------------------------------------------------------------------------- */

/** Makes an options object with the defaults. Errors: MQ_ERR_INVALID_ARGUMENT (out is NULL),
 * MQ_ERR_OUT_OF_MEMORY. */
MQ_API mq_status mq_options_create(mq_options** out);
/** Frees an options object (NULL is ignored). */
MQ_API void mq_options_destroy(mq_options* options);

/* Setters. Errors: MQ_ERR_INVALID_ARGUMENT for a NULL handle or a value outside the enum. */
MQ_API mq_status mq_options_set_format(mq_options* options, mq_format format);
MQ_API mq_status mq_options_set_weight_type(mq_options* options, mq_weight_type type);
MQ_API mq_status mq_options_set_symmetry(mq_options* options, mq_symmetry symmetry);
/** Non-zero: one scale per output channel. */
MQ_API mq_status mq_options_set_per_channel(mq_options* options, int enabled);
/** Non-zero: 7-bit weights, for CPUs without VNNI. */
MQ_API mq_status mq_options_set_reduce_range(mq_options* options, int enabled);
/** Adds an operator type to quantize: "MatMul", "Gemm", "Conv" or "ConvTranspose" (case-sensitive,
 * as in ONNX); with none added, all of them are. Errors: MQ_ERR_INVALID_ARGUMENT for a NULL handle
 * or name and for any other name (LSTM, "matmul": the message suggests the nearest one), exactly
 * what mq-quantize --op-types rejects. */
MQ_API mq_status mq_options_add_op_type(mq_options* options, const char* op_type);
/** Adds a node name or glob (* and ?) to leave in float. */
MQ_API mq_status mq_options_add_exclude(mq_options* options, const char* node_pattern);
/** Weights with fewer elements than this stay in float; must be >= 0. */
MQ_API mq_status mq_options_set_min_elements(mq_options* options, int64_t min_elements);
/** Threads that quantize weights, the calling one included: 1 (default) = the calling thread
 * only, 0 = one per core, at most 1024. The model written is the same for any value. */
MQ_API mq_status mq_options_set_threads(mq_options* options, unsigned threads);
/** Non-zero: build the report only; nothing is written (the output path may then be NULL). */
MQ_API mq_status mq_options_set_dry_run(mq_options* options, int enabled);

/* ---- static INT8 (activations calibrated on real samples) -------------------------------- */

/** How calibration picks a range from the activations seen (as mq-quantize --calibration-method). */
typedef enum mq_calibration_method {
  MQ_CALIBRATION_MINMAX = 0,     /**< the smallest and largest value seen (default, as ONNX Runtime) */
  MQ_CALIBRATION_PERCENTILE = 1, /**< the range keeping 99.999% of the values */
  MQ_CALIBRATION_ENTROPY = 2,    /**< the range minimizing the KL divergence of the 8-bit histogram */
  MQ_CALIBRATION_MSE = 3,        /**< the clip range minimizing the squared quantization error */
  MQ_CALIBRATION_MAX_ENUM = 0x7fffffff /**< not a method (see MQ_STATUS_MAX_ENUM) */
} mq_calibration_method;

/** Integer type of static activations (as mq-quantize --activation-type). */
typedef enum mq_activation_type {
  MQ_ACTIVATION_UINT8 = 0, /**< asymmetric uint8: what ONNX Runtime fuses on x86 (default) */
  MQ_ACTIVATION_INT8 = 1,  /**< int8, for ARM targets */
  MQ_ACTIVATION_MAX_ENUM = 0x7fffffff /**< not a type (see MQ_STATUS_MAX_ENUM) */
} mq_activation_type;

/** Static INT8 on the samples in `folder` (as mq-quantize --calibration): images (.jpg, .png),
 * .npy files or test_data_set_* folders; format auto then quantizes activations where ONNX Runtime
 * fuses it. The folder is listed now: MQ_ERR_NOT_FOUND when it does not exist,
 * MQ_ERR_INVALID_ARGUMENT when it holds no samples or mixes kinds (the message names it). NULL
 * turns static INT8 off again. Quantizing with it and a format other than MQ_FORMAT_AUTO is
 * MQ_ERR_INVALID_ARGUMENT, as is a preprocess/method/count/activation type without a folder. */
MQ_API mq_status mq_options_set_calibration(mq_options* options, const char* folder);
/** How images become the model's input (as mq-quantize --preprocess): a preset ("yolo",
 * "imagenet", "unit") or a path ending in .toml. Errors: MQ_ERR_INVALID_ARGUMENT for an unknown
 * preset or a bad file (the message names it and the key), MQ_ERR_NOT_FOUND for a missing file. */
MQ_API mq_status mq_options_set_preprocess(mq_options* options, const char* preset_or_file);
/** Errors: MQ_ERR_INVALID_ARGUMENT for a value outside the enum. */
MQ_API mq_status mq_options_set_calibration_method(mq_options* options, mq_calibration_method method);
/** Samples used, in file-name order: 0 (default) = all, at most 1000000. */
MQ_API mq_status mq_options_set_calibration_count(mq_options* options, uint64_t count);
/** Errors: MQ_ERR_INVALID_ARGUMENT for a value outside the enum. */
MQ_API mq_status mq_options_set_activation_type(mq_options* options, mq_activation_type type);
/** The accuracy guard's target in dB, from 0 (off) to 200 (default 25); NaN is rejected. */
MQ_API mq_status mq_options_set_target_snr(mq_options* options, double decibels);

/* ---- quantize --------------------------------------------------------------------------- */

/** Loads `input_path`, quantizes it and writes the result atomically to `output_path` (external
 * data beside it when the input had some or the model passes 2 GiB). `options` may be NULL for
 * the defaults. When `report` is not NULL it receives a report to free with mq_report_destroy.
 * Errors: MQ_ERR_INVALID_ARGUMENT (NULL path, output == input), MQ_ERR_IO, MQ_ERR_NOT_FOUND,
 * MQ_ERR_INVALID_MODEL, MQ_ERR_NUMERIC, MQ_ERR_INTERNAL; nothing is written on error. */
MQ_API mq_status mq_quantize_file(const char* input_path, const char* output_path,
                                  const mq_options* options, mq_report** report);

/** Quantizes a model held in memory (all tensors inline). On success `*output` points to the
 * quantized model's bytes (free with mq_buffer_free) and `*output_size` is their count; with dry
 * run both are NULL/0. `report` may be NULL. Errors as mq_quantize_file. */
MQ_API mq_status mq_quantize_memory(const void* input, size_t input_size, const mq_options* options,
                                    void** output, size_t* output_size, mq_report** report);

/** Frees a buffer returned by the library (NULL is ignored). */
MQ_API void mq_buffer_free(void* buffer);

/* ---- report ----------------------------------------------------------------------------- */

/** The report as one JSON object (owned by the report; never NULL for a valid report). */
MQ_API const char* mq_report_json(const mq_report* report);
/** The report as a text table with totals, for people (owned by the report). */
MQ_API const char* mq_report_table(const mq_report* report);
/** Number of nodes quantized / left in float. */
MQ_API size_t mq_report_quantized_count(const mq_report* report);
MQ_API size_t mq_report_skipped_count(const mq_report* report);
/** Serialized model size before and after, in bytes (tensors inline). */
MQ_API uint64_t mq_report_bytes_before(const mq_report* report);
MQ_API uint64_t mq_report_bytes_after(const mq_report* report);
/** Frees a report (NULL is ignored). */
MQ_API void mq_report_destroy(mq_report* report);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MQ_MODELQUANT_H */
