/* libmodelquant C API: running a model on the native executor (the C face of mq/session.h).
 * Conventions as in mq/modelquant.h: an mq_status per call, mq_last_error_message(), opaque
 * handles freed by their *_destroy (NULL ignored), out-parameters written only on success.
 *
 * Thread safety: one run at a time per session; distinct sessions and tensors may be used from
 * different threads at once. */
#ifndef MQ_MODELQUANT_SESSION_H
#define MQ_MODELQUANT_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "mq/export.h"
#include "mq/modelquant.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Element types; the values are ONNX's TensorProto.DataType. */
typedef enum mq_dtype {
  MQ_DTYPE_FLOAT32 = 1,
  MQ_DTYPE_UINT8 = 2,
  MQ_DTYPE_INT8 = 3,
  MQ_DTYPE_UINT16 = 4,
  MQ_DTYPE_INT16 = 5,
  MQ_DTYPE_INT32 = 6,
  MQ_DTYPE_INT64 = 7,
  MQ_DTYPE_BOOL = 9, /**< one byte per element, 0 or 1 */
  MQ_DTYPE_FLOAT16 = 10,
  MQ_DTYPE_FLOAT64 = 11,
  MQ_DTYPE_UINT32 = 12,
  MQ_DTYPE_UINT64 = 13,
  MQ_DTYPE_BFLOAT16 = 16,
  MQ_DTYPE_MAX_ENUM = 0x7fffffff /**< not a type (see MQ_STATUS_MAX_ENUM) */
} mq_dtype;

/** A tensor that owns its elements (little-endian, row-major). Immutable once made. */
typedef struct mq_tensor mq_tensor;

/** A planned model, ready to run. */
typedef struct mq_session mq_session;

/** Makes a tensor holding a copy of `data_bytes` bytes of `data` (`rank` dimensions in `shape`;
 * shape may be NULL when rank is 0). Errors: MQ_ERR_INVALID_ARGUMENT (NULL pointers, unknown type,
 * negative dimension, data_bytes that does not match the shape), MQ_ERR_OUT_OF_MEMORY. */
MQ_API mq_status mq_tensor_create(mq_dtype type, const int64_t* shape, size_t rank, const void* data,
                                  size_t data_bytes, mq_tensor** out);
/** Reads a tensor from a .npy or .pb (ONNX TensorProto) file. */
MQ_API mq_status mq_tensor_read_file(const char* path, mq_tensor** out);
/** Writes a tensor as a .npy file, atomically. */
MQ_API mq_status mq_tensor_write_npy(const mq_tensor* tensor, const char* path);
MQ_API void mq_tensor_destroy(mq_tensor* tensor);
MQ_API mq_dtype mq_tensor_dtype(const mq_tensor* tensor);
MQ_API size_t mq_tensor_rank(const mq_tensor* tensor);
/** The dimensions (rank values; owned by the tensor). */
MQ_API const int64_t* mq_tensor_shape(const mq_tensor* tensor);
/** The elements (owned by the tensor) and their size in bytes. */
MQ_API const void* mq_tensor_data(const mq_tensor* tensor);
MQ_API size_t mq_tensor_data_bytes(const mq_tensor* tensor);

/** Loads and plans a model; `threads` per run (0 = one per core). Errors: those of loading, and
 * MQ_ERR_UNSUPPORTED naming the node of an operator the executor does not implement. */
MQ_API mq_status mq_session_create(const char* model_path, unsigned threads, mq_session** out);
MQ_API void mq_session_destroy(mq_session* session);
/** Graph inputs (initializers excluded) and outputs, by index; names are owned by the session. */
MQ_API size_t mq_session_input_count(const mq_session* session);
MQ_API const char* mq_session_input_name(const mq_session* session, size_t index);
MQ_API size_t mq_session_output_count(const mq_session* session);
MQ_API const char* mq_session_output_name(const mq_session* session, size_t index);

/** Runs the model on `n_inputs` named inputs and returns the `n_outputs` values named in
 * `output_names` (graph outputs or any intermediate value) in `outputs` (an array of n_outputs
 * handles the caller frees). Errors: MQ_ERR_INVALID_ARGUMENT (a missing/unknown input, a type or
 * shape that does not fit), MQ_ERR_NOT_FOUND (an output name the graph does not have), and those
 * of the nodes, named in the message. */
MQ_API mq_status mq_session_run(mq_session* session, size_t n_inputs, const char* const* input_names,
                                const mq_tensor* const* inputs, size_t n_outputs, const char* const* output_names,
                                mq_tensor** outputs);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MQ_MODELQUANT_SESSION_H */
