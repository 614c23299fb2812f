/* The executor's C API (mq/modelquant_session.h), called from C99 on the sample model
 * (Conv 3->128 5x5 pad 2, Relu, GlobalAveragePool, Flatten, MatMul, Relu, Gemm):
 * tensors and their files, session inputs/outputs, runs with intermediates fetched, and the errors.
 * The expected values are computed here from the fetched intermediates by the operators' definitions
 * (the mean of Relu's output is GlobalAveragePool's, Relu(h1) is max(0, h1)), not by the library.
 * usage: test_capi_session SAMPLE.onnx WORK_DIR */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "mq/modelquant.h"
#include "mq/modelquant_session.h"

static int failures = 0;

static mq_tensor* make_image(float fill_base) {
  enum { N = 1 * 3 * 32 * 32 };
  static float data[N];
  const int64_t shape[4] = {1, 3, 32, 32};
  mq_tensor* t = NULL;
  size_t i;
  for (i = 0; i < N; ++i) data[i] = fill_base + (float)((i * 37u) % 101u) / 101.0f - 0.5f;
  if (mq_tensor_create(MQ_DTYPE_FLOAT32, shape, 4, data, sizeof data, &t) != MQ_OK) return NULL;
  return t;
}

static int same_shape(const mq_tensor* t, size_t rank, const int64_t* dims) {
  size_t i;
  if (mq_tensor_rank(t) != rank) return 0;
  for (i = 0; i < rank; ++i)
    if (mq_tensor_shape(t)[i] != dims[i]) return 0;
  return 1;
}

static void test_tensors(const char* work) {
  const int64_t shape[2] = {2, 3};
  const int32_t values[6] = {1, -2, 3, -4, 5, 2147483647};
  const int64_t bad_shape[2] = {2, -1};
  mq_tensor* t = NULL;
  mq_tensor* back = NULL;
  char path[4096];

  CHECK(mq_tensor_create(MQ_DTYPE_INT32, shape, 2, values, sizeof values, &t) == MQ_OK);
  CHECK(t != NULL && mq_tensor_dtype(t) == MQ_DTYPE_INT32 && same_shape(t, 2, shape));
  CHECK(t != NULL && mq_tensor_data_bytes(t) == sizeof values && memcmp(mq_tensor_data(t), values, sizeof values) == 0);

  /* A .npy round trip keeps type, shape and bytes. */
  snprintf(path, sizeof path, "%s/t.npy", work);
  CHECK(mq_tensor_write_npy(t, path) == MQ_OK);
  CHECK(mq_tensor_read_file(path, &back) == MQ_OK);
  CHECK(back != NULL && mq_tensor_dtype(back) == MQ_DTYPE_INT32 && same_shape(back, 2, shape));
  CHECK(back != NULL && memcmp(mq_tensor_data(back), values, sizeof values) == 0);
  mq_tensor_destroy(back);
  mq_tensor_destroy(t);

  /* Wrong sizes, negative dimensions, NULLs and missing files are errors; out stays untouched. */
  t = NULL;
  CHECK(mq_tensor_create(MQ_DTYPE_INT32, shape, 2, values, sizeof values - 1, &t) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(t == NULL);
  CHECK(mq_tensor_create(MQ_DTYPE_INT32, bad_shape, 2, values, sizeof values, &t) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_tensor_create(MQ_DTYPE_INT32, shape, 2, NULL, sizeof values, &t) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_tensor_create((mq_dtype)77, shape, 2, values, sizeof values, &t) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(t == NULL);
  snprintf(path, sizeof path, "%s/missing.npy", work);
  CHECK(mq_tensor_read_file(path, &t) != MQ_OK);
  CHECK(t == NULL && strstr(mq_last_error_message(), "missing.npy") != NULL);
  mq_tensor_destroy(NULL);
}

static void test_run(const char* sample) {
  mq_session* s = NULL;
  mq_session* s1 = NULL;
  mq_tensor* image = make_image(0.25f);
  const char* in_names[1] = {"image"};
  const char* out_names[4] = {"r1", "p1", "h1", "r2"};
  mq_tensor* outs[4] = {NULL, NULL, NULL, NULL};
  const char* logits_name[1] = {"logits"};
  mq_tensor* logits = NULL;
  mq_tensor* logits1 = NULL;
  const int64_t r1_shape[4] = {1, 128, 32, 32}, p1_shape[4] = {1, 128, 1, 1}, h_shape[2] = {1, 256};
  const int64_t logits_shape[2] = {1, 16};
  size_t c, i;

  CHECK(image != NULL);
  CHECK(mq_session_create(sample, 2, &s) == MQ_OK);
  if (s == NULL || image == NULL) return;
  CHECK(mq_session_input_count(s) == 1 && strcmp(mq_session_input_name(s, 0), "image") == 0);
  CHECK(mq_session_output_count(s) == 1 && strcmp(mq_session_output_name(s, 0), "logits") == 0);
  CHECK(mq_session_input_name(s, 1) == NULL && mq_session_output_name(s, 1) == NULL);

  CHECK(mq_session_run(s, 1, in_names, (const mq_tensor* const*)&image, 4, out_names, outs) == MQ_OK);
  if (outs[0] && outs[1] && outs[2] && outs[3]) {
    const float* r1 = (const float*)mq_tensor_data(outs[0]);
    const float* p1 = (const float*)mq_tensor_data(outs[1]);
    const float* h1 = (const float*)mq_tensor_data(outs[2]);
    const float* r2 = (const float*)mq_tensor_data(outs[3]);
    int gap_ok = 1, relu_ok = 1, nonneg = 1;
    CHECK(same_shape(outs[0], 4, r1_shape) && same_shape(outs[1], 4, p1_shape));
    CHECK(same_shape(outs[2], 2, h_shape) && same_shape(outs[3], 2, h_shape));
    for (c = 0; c < 128; ++c) {
      double sum = 0;
      for (i = 0; i < 32 * 32; ++i) {
        sum += r1[c * 1024 + i];
        if (r1[c * 1024 + i] < 0) nonneg = 0;
      }
      if (fabs(sum / 1024.0 - p1[c]) > 1e-5 * (1 + fabs(sum / 1024.0))) gap_ok = 0;
    }
    for (i = 0; i < 256; ++i)
      if (r2[i] != (h1[i] > 0 ? h1[i] : 0.0f)) relu_ok = 0;
    CHECK(nonneg);
    CHECK(gap_ok);
    CHECK(relu_ok);
  }
  for (i = 0; i < 4; ++i) mq_tensor_destroy(outs[i]);

  /* The graph output; the same on one thread (results never depend on the thread count). */
  CHECK(mq_session_run(s, 1, in_names, (const mq_tensor* const*)&image, 1, logits_name, &logits) == MQ_OK);
  CHECK(mq_session_create(sample, 1, &s1) == MQ_OK);
  if (s1 != NULL)
    CHECK(mq_session_run(s1, 1, in_names, (const mq_tensor* const*)&image, 1, logits_name, &logits1) == MQ_OK);
  if (logits != NULL && logits1 != NULL) {
    CHECK(same_shape(logits, 2, logits_shape) && mq_tensor_dtype(logits) == MQ_DTYPE_FLOAT32);
    CHECK(memcmp(mq_tensor_data(logits), mq_tensor_data(logits1), 16 * sizeof(float)) == 0);
  }
  mq_tensor_destroy(logits);
  mq_tensor_destroy(logits1);
  mq_session_destroy(s1);

  /* Errors: unknown input, missing input, wrong shape, wrong type, unknown output. */
  {
    const char* wrong_in[1] = {"picture"};
    const char* wrong_out[1] = {"no_such_value"};
    const int64_t small[4] = {1, 3, 8, 8};
    const int64_t ishape[4] = {1, 3, 32, 32};
    static float zeros[3 * 32 * 32];
    static int32_t izeros[3 * 32 * 32];
    mq_tensor* small_t = NULL;
    mq_tensor* int_t = NULL;
    mq_tensor* out = NULL;
    CHECK(mq_session_run(s, 1, wrong_in, (const mq_tensor* const*)&image, 1, logits_name, &out) ==
          MQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mq_last_error_message(), "picture") != NULL);
    CHECK(mq_session_run(s, 0, NULL, NULL, 1, logits_name, &out) == MQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mq_last_error_message(), "image") != NULL);
    CHECK(mq_tensor_create(MQ_DTYPE_FLOAT32, small, 4, zeros, 3 * 8 * 8 * sizeof(float), &small_t) == MQ_OK);
    CHECK(mq_session_run(s, 1, in_names, (const mq_tensor* const*)&small_t, 1, logits_name, &out) ==
          MQ_ERR_INVALID_ARGUMENT);
    CHECK(mq_tensor_create(MQ_DTYPE_INT32, ishape, 4, izeros, sizeof izeros, &int_t) == MQ_OK);
    CHECK(mq_session_run(s, 1, in_names, (const mq_tensor* const*)&int_t, 1, logits_name, &out) ==
          MQ_ERR_INVALID_ARGUMENT);
    CHECK(mq_session_run(s, 1, in_names, (const mq_tensor* const*)&image, 1, wrong_out, &out) == MQ_ERR_NOT_FOUND);
    CHECK(strstr(mq_last_error_message(), "no_such_value") != NULL);
    CHECK(out == NULL);
    CHECK(mq_session_run(NULL, 1, in_names, (const mq_tensor* const*)&image, 1, logits_name, &out) ==
          MQ_ERR_INVALID_ARGUMENT);
    mq_tensor_destroy(small_t);
    mq_tensor_destroy(int_t);
  }
  mq_session_destroy(s);
  mq_tensor_destroy(image);
}

/* A quantized copy runs on the executor too and stays close to the float model. */
static void test_quantized_close(const char* sample, const char* work) {
  char qpath[4096];
  mq_session* f = NULL;
  mq_session* q = NULL;
  mq_tensor* image = make_image(0.0f);
  const char* in_names[1] = {"image"};
  const char* out_names[1] = {"logits"};
  mq_tensor* a = NULL;
  mq_tensor* b = NULL;
  snprintf(qpath, sizeof qpath, "%s/sample.int8.onnx", work);
  CHECK(mq_quantize_file(sample, qpath, NULL, NULL) == MQ_OK);
  CHECK(mq_session_create(sample, 1, &f) == MQ_OK);
  CHECK(mq_session_create(qpath, 1, &q) == MQ_OK);
  if (f && q && image) {
    CHECK(mq_session_run(f, 1, in_names, (const mq_tensor* const*)&image, 1, out_names, &a) == MQ_OK);
    CHECK(mq_session_run(q, 1, in_names, (const mq_tensor* const*)&image, 1, out_names, &b) == MQ_OK);
  }
  if (a && b) {
    const float* x = (const float*)mq_tensor_data(a);
    const float* y = (const float*)mq_tensor_data(b);
    double xy = 0, xx = 0, yy = 0;
    int i;
    for (i = 0; i < 16; ++i) {
      xy += (double)x[i] * y[i];
      xx += (double)x[i] * x[i];
      yy += (double)y[i] * y[i];
    }
    CHECK(xx > 0 && yy > 0 && xy / sqrt(xx * yy) > 0.99);
  }
  mq_tensor_destroy(a);
  mq_tensor_destroy(b);
  mq_session_destroy(f);
  mq_session_destroy(q);
  mq_tensor_destroy(image);

  /* A file that is not a model: an error naming it. */
  {
    char bad[4096];
    FILE* out;
    mq_session* s = NULL;
    snprintf(bad, sizeof bad, "%s/not_a_model.onnx", work);
    out = fopen(bad, "wb");
    if (out != NULL) {
      fputs("hello", out);
      fclose(out);
    }
    CHECK(mq_session_create(bad, 1, &s) == MQ_ERR_INVALID_MODEL);
    CHECK(s == NULL && strstr(mq_last_error_message(), "not_a_model.onnx") != NULL);
    CHECK(mq_session_create(NULL, 1, &s) == MQ_ERR_INVALID_ARGUMENT);
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_capi_session SAMPLE.onnx WORK_DIR\n");
    return 2;
  }
  mkdir(argv[2], 0755);
  test_tensors(argv[2]);
  test_run(argv[1]);
  test_quantized_close(argv[1], argv[2]);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("test_capi_session: all checks passed\n");
  return failures ? 1 : 0;
}
