/* The C API, called from C99: statuses and per-thread messages, options validation, file and
 * memory quantization, the report, and two threads quantizing at once.
 * usage: test_capi SAMPLE.onnx WORK_DIR EXPECTED_VERSION */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "mq/modelquant.h"
#include "mq/version.h"

static int failures = 0;
static const char* sample_path;
static const char* work_dir;

static void path_in_work(char* out, size_t size, const char* name) {
  snprintf(out, size, "%s/%s", work_dir, name);
}

static int file_exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static long file_size(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  long n;
  void* data;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = malloc((size_t)n);
  if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return data;
}

static void test_version_and_names(const char* expected_version) {
  CHECK(strcmp(mq_version(), expected_version) == 0);
  /* the version macros are C too (mq/version.h), and agree with the library */
  CHECK(strcmp(MQ_VERSION_STRING, mq_version()) == 0);
  CHECK(MQ_VERSION_NUMBER == MQ_VERSION_MAJOR * 10000 + MQ_VERSION_MINOR * 100 + MQ_VERSION_PATCH);
#if MQ_VERSION_NUMBER < 200
#error "MQ_VERSION_NUMBER must be usable in #if"
#endif
  CHECK(strcmp(mq_status_name(MQ_OK), "MQ_OK") == 0);
  CHECK(strcmp(mq_status_name(MQ_ERR_INVALID_MODEL), "MQ_ERR_INVALID_MODEL") == 0);
  CHECK(strcmp(mq_status_name((mq_status)1234), "MQ_ERR_UNKNOWN") == 0);
  CHECK(strcmp(mq_status_name((mq_status)-5), "MQ_ERR_UNKNOWN") == 0);
  CHECK(strcmp(mq_last_error_message(), "") == 0);
}

static void test_options_validation(void) {
  mq_options* o = NULL;
  CHECK(mq_options_create(NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "'out' is NULL") != NULL);
  CHECK(mq_options_create(&o) == MQ_OK);
  CHECK(o != NULL);
  CHECK(strcmp(mq_last_error_message(), "") == 0); /* a success clears the message */
  CHECK(mq_options_set_format(o, (mq_format)7) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "unknown format 7") != NULL);
  CHECK(mq_options_set_weight_type(o, (mq_weight_type)-1) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_symmetry(o, (mq_symmetry)3) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_min_elements(o, -1) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "-1 is negative") != NULL);
  CHECK(mq_options_add_op_type(o, NULL) == MQ_ERR_INVALID_ARGUMENT);
  /* what mq-quantize --op-types rejects: unknown, unquantizable and mis-cased names */
  CHECK(mq_options_add_op_type(o, "") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_add_op_type(o, "LSTM") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "'LSTM' is an ONNX operator that libmodelquant does not quantize") != NULL);
  CHECK(mq_options_add_op_type(o, "matmul") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "did you mean 'MatMul'?") != NULL);
  CHECK(mq_options_add_op_type(o, "Frobnicate") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "unknown op type 'Frobnicate'") != NULL);
  CHECK(mq_options_add_exclude(o, "") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_per_channel(NULL, 1) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "'options' is NULL") != NULL);
  CHECK(mq_options_set_format(o, MQ_FORMAT_QDQ) == MQ_OK);
  CHECK(mq_options_set_weight_type(o, MQ_WEIGHT_UINT8) == MQ_OK);
  CHECK(mq_options_set_symmetry(o, MQ_SYMMETRY_ASYMMETRIC) == MQ_OK);
  CHECK(mq_options_set_per_channel(o, 1) == MQ_OK);
  CHECK(mq_options_set_reduce_range(o, 1) == MQ_OK);
  CHECK(mq_options_set_min_elements(o, 16) == MQ_OK);
  CHECK(mq_options_set_threads(o, 1025) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "1025 threads") != NULL);
  CHECK(mq_options_set_threads(o, 0) == MQ_OK);
  mq_options_destroy(o);
  mq_options_destroy(NULL);
  mq_report_destroy(NULL);
  mq_buffer_free(NULL);
}

static void test_quantize_file(void) {
  char out[4096];
  mq_report* report = NULL;
  const char* json;
  path_in_work(out, sizeof out, "sample_int8.onnx");
  remove(out);
  CHECK(mq_quantize_file(sample_path, out, NULL, &report) == MQ_OK);
  CHECK(report != NULL);
  if (report == NULL) return;
  /* the sample has Conv, MatMul and Gemm: all three are quantized by default */
  CHECK(mq_report_quantized_count(report) == 3);
  CHECK(mq_report_skipped_count(report) == 0);
  CHECK(mq_report_bytes_after(report) * 3 < mq_report_bytes_before(report));
  CHECK(file_exists(out));
  CHECK(file_size(out) > 0 && file_size(out) * 3 < file_size(sample_path));
  json = mq_report_json(report);
  CHECK(json[0] == '{');
  CHECK(strstr(json, "\"quantized\":3") != NULL);
  CHECK(strstr(json, "\"op\":\"MatMul\"") != NULL);
  CHECK(strstr(mq_report_table(report), "MatMul") != NULL);
  mq_report_destroy(report);

  /* the output is a valid, already quantized model: quantizing it again changes nothing */
  {
    mq_options* dry = NULL;
    CHECK(mq_options_create(&dry) == MQ_OK);
    CHECK(mq_options_set_dry_run(dry, 1) == MQ_OK);
    report = NULL;
    CHECK(mq_quantize_file(out, NULL, dry, &report) == MQ_OK);
    CHECK(report != NULL && mq_report_quantized_count(report) == 0);
    mq_report_destroy(report);
    mq_options_destroy(dry);
  }
}

static void test_quantize_file_errors(void) {
  char out[4096], missing[4096], garbage[4096];
  mq_report* report = (mq_report*)&report; /* must be reset to NULL on failure */
  FILE* f;
  path_in_work(out, sizeof out, "never_written.onnx");
  path_in_work(missing, sizeof missing, "does_not_exist.onnx");
  path_in_work(garbage, sizeof garbage, "garbage.onnx");
  remove(out);

  CHECK(mq_quantize_file(missing, out, NULL, &report) == MQ_ERR_NOT_FOUND);
  CHECK(report == NULL);
  CHECK(strstr(mq_last_error_message(), "does_not_exist.onnx") != NULL);
  CHECK(!file_exists(out));

  f = fopen(garbage, "wb");
  CHECK(f != NULL);
  if (f != NULL) {
    fputs("this is not an onnx model", f);
    fclose(f);
  }
  CHECK(mq_quantize_file(garbage, out, NULL, NULL) == MQ_ERR_INVALID_MODEL);
  CHECK(strstr(mq_last_error_message(), "garbage.onnx") != NULL);
  CHECK(!file_exists(out));

  CHECK(mq_quantize_file(NULL, out, NULL, NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_quantize_file(sample_path, NULL, NULL, NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "'output_path' is NULL") != NULL);
  /* writing over the input is refused, and the input is left alone */
  {
    long before = file_size(sample_path);
    CHECK(mq_quantize_file(sample_path, sample_path, NULL, NULL) != MQ_OK);
    CHECK(strlen(mq_last_error_message()) > 0);
    CHECK(file_size(sample_path) == before);
  }
}

static void test_options_take_effect(void) {
  mq_options* o = NULL;
  mq_report* report = NULL;
  char out[4096];
  path_in_work(out, sizeof out, "sample_matmul_only.onnx");
  CHECK(mq_options_create(&o) == MQ_OK);
  CHECK(mq_options_add_op_type(o, "MatMul") == MQ_OK);
  CHECK(mq_quantize_file(sample_path, out, o, &report) == MQ_OK);
  CHECK(report != NULL && mq_report_quantized_count(report) == 1);
  mq_report_destroy(report);
  mq_options_destroy(o);

  o = NULL;
  report = NULL;
  CHECK(mq_options_create(&o) == MQ_OK);
  CHECK(mq_options_add_exclude(o, "*") == MQ_OK);
  CHECK(mq_options_set_dry_run(o, 1) == MQ_OK);
  CHECK(mq_quantize_file(sample_path, NULL, o, &report) == MQ_OK);
  CHECK(report != NULL && mq_report_quantized_count(report) == 0 && mq_report_skipped_count(report) == 3);
  mq_report_destroy(report);

  /* threads change the time, not the model */
  {
    char one[4096], three[4096];
    size_t one_size = 0, three_size = 0;
    void *one_bytes, *three_bytes;
    mq_options* t = NULL;
    path_in_work(one, sizeof one, "sample_threads_1.onnx");
    path_in_work(three, sizeof three, "sample_threads_3.onnx");
    CHECK(mq_options_create(&t) == MQ_OK);
    CHECK(mq_quantize_file(sample_path, one, t, NULL) == MQ_OK);
    CHECK(mq_options_set_threads(t, 3) == MQ_OK);
    CHECK(mq_quantize_file(sample_path, three, t, NULL) == MQ_OK);
    one_bytes = read_file(one, &one_size);
    three_bytes = read_file(three, &three_size);
    CHECK(one_bytes != NULL && three_bytes != NULL && one_size == three_size && one_size > 0);
    if (one_bytes != NULL && three_bytes != NULL && one_size == three_size) CHECK(memcmp(one_bytes, three_bytes, one_size) == 0);
    free(one_bytes);
    free(three_bytes);
    mq_options_destroy(t);
  }

  /* a weight type change shows in the options written to the report */
  report = NULL;
  CHECK(mq_options_set_weight_type(o, MQ_WEIGHT_UINT8) == MQ_OK);
  CHECK(mq_quantize_file(sample_path, NULL, o, &report) == MQ_OK);
  CHECK(report != NULL && strstr(mq_report_json(report), "uint8") != NULL);
  mq_report_destroy(report);
  mq_options_destroy(o);
}

static void test_quantize_memory(void) {
  size_t in_size = 0, out_size = 0, again_size = 1;
  void* in = read_file(sample_path, &in_size);
  void* out = NULL;
  void* again = (void*)&again;
  mq_report* report = NULL;
  mq_options* dry = NULL;
  CHECK(in != NULL);
  if (in == NULL) return;

  CHECK(mq_quantize_memory(in, in_size, NULL, &out, &out_size, &report) == MQ_OK);
  CHECK(out != NULL && out_size > 0 && out_size * 3 < in_size);
  CHECK(report != NULL && mq_report_quantized_count(report) == 3);
  CHECK(report != NULL && mq_report_bytes_after(report) > 0 &&
        mq_report_bytes_after(report) < mq_report_bytes_before(report));
  mq_report_destroy(report);

  /* the bytes are a model: the dry run finds it already quantized, and returns no bytes */
  report = NULL;
  CHECK(mq_options_create(&dry) == MQ_OK);
  CHECK(mq_options_set_dry_run(dry, 1) == MQ_OK);
  CHECK(mq_quantize_memory(out, out_size, dry, &again, &again_size, &report) == MQ_OK);
  CHECK(again == NULL && again_size == 0);
  CHECK(report != NULL && mq_report_quantized_count(report) == 0);
  mq_report_destroy(report);
  mq_options_destroy(dry);

  /* errors */
  CHECK(mq_quantize_memory("not a model", 11, NULL, &again, &again_size, NULL) == MQ_ERR_INVALID_MODEL);
  CHECK(strlen(mq_last_error_message()) > 0);
  CHECK(mq_quantize_memory(NULL, 10, NULL, &again, &again_size, NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_quantize_memory(in, in_size, NULL, NULL, &again_size, NULL) == MQ_ERR_INVALID_ARGUMENT);

  mq_buffer_free(out);
  free(in);
}

/* ---- threads: messages are per thread; two quantizations at once give the same results ---- */

struct thread_job {
  int fail;            /* 1: make a failing call, 0: quantize the sample */
  mq_status status;
  char message[512];
  size_t quantized;
  void* bytes;
  size_t size;
};

static void* thread_main(void* arg) {
  struct thread_job* job = (struct thread_job*)arg;
  int i;
  if (job->fail) {
    job->status = mq_quantize_memory("x", 1, NULL, &job->bytes, &job->size, NULL);
  } else {
    size_t in_size = 0;
    void* in = read_file(sample_path, &in_size);
    for (i = 0; i < 3; ++i) { /* a few rounds so the two threads overlap */
      mq_report* report = NULL;
      mq_buffer_free(job->bytes);
      job->bytes = NULL;
      job->status = mq_quantize_memory(in, in_size, NULL, &job->bytes, &job->size, &report);
      job->quantized = mq_report_quantized_count(report);
      mq_report_destroy(report);
      if (job->status != MQ_OK) break;
    }
    free(in);
  }
  snprintf(job->message, sizeof job->message, "%s", mq_last_error_message());
  return NULL;
}

static void test_threads(void) {
  struct thread_job jobs[3];
  pthread_t threads[3];
  size_t reference_size = 0;
  void* in;
  void* reference = NULL;
  int i;
  memset(jobs, 0, sizeof jobs);
  jobs[0].fail = 1;

  /* this thread's own error must survive what the other threads do */
  CHECK(mq_options_create(NULL) == MQ_ERR_INVALID_ARGUMENT);
  for (i = 0; i < 3; ++i) CHECK(pthread_create(&threads[i], NULL, thread_main, &jobs[i]) == 0);
  for (i = 0; i < 3; ++i) CHECK(pthread_join(threads[i], NULL) == 0);
  CHECK(strstr(mq_last_error_message(), "'out' is NULL") != NULL);

  CHECK(jobs[0].status == MQ_ERR_INVALID_MODEL && strlen(jobs[0].message) > 0);
  in = read_file(sample_path, &reference_size);
  CHECK(in != NULL);
  CHECK(mq_quantize_memory(in, reference_size, NULL, &reference, &reference_size, NULL) == MQ_OK);
  for (i = 1; i < 3; ++i) {
    CHECK(jobs[i].status == MQ_OK);
    CHECK(strcmp(jobs[i].message, "") == 0);
    CHECK(jobs[i].quantized == 3);
    /* the same bytes as a quantization on one thread */
    CHECK(jobs[i].size == reference_size && jobs[i].bytes != NULL && reference != NULL &&
          memcmp(jobs[i].bytes, reference, reference_size) == 0);
    mq_buffer_free(jobs[i].bytes);
  }
  mq_buffer_free(reference);
  free(in);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_capi SAMPLE.onnx WORK_DIR EXPECTED_VERSION\n");
    return 2;
  }
  sample_path = argv[1];
  work_dir = argv[2];
  test_version_and_names(argv[3]);
  test_options_validation();
  test_quantize_file();
  test_quantize_file_errors();
  test_options_take_effect();
  test_quantize_memory();
  test_threads();
  if (failures != 0) {
    fprintf(stderr, "test_capi: %d check(s) failed\n", failures);
    return 1;
  }
  printf("test_capi: all checks passed\n");
  return 0;
}
