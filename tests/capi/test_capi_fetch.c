/* The fetch C API (mq/modelquant_fetch.h), called from C99: a pull from a local file:// mirror
 * with progress, the files and config.json it publishes, the cache, offline and no-quantize
 * stores, errors, and the error slot shared with mq/modelquant.h.
 * usage: test_capi_fetch SAMPLE.onnx WORK_DIR */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"
#include "mq/modelquant.h"
#include "mq/modelquant_fetch.h"

static int failures = 0;
static char work[4096];

static void* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  long n;
  void* data;
  *size = 0;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = malloc((size_t)n + 1);
  if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  if (data != NULL) {
    ((char*)data)[n] = '\0'; /* text files can be used as strings */
    *size = (size_t)n;
  }
  return data;
}

static int write_file(const char* path, const void* data, size_t size) {
  FILE* f = fopen(path, "wb");
  int ok;
  if (f == NULL) return 0;
  ok = fwrite(data, 1, size, f) == size;
  return fclose(f) == 0 && ok;
}

static long file_size(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* mkdir -p */
static int make_dirs(const char* path) {
  char buf[4096];
  size_t i;
  snprintf(buf, sizeof buf, "%s", path);
  for (i = 1; buf[i] != '\0'; ++i) {
    if (buf[i] == '/') {
      buf[i] = '\0';
      mkdir(buf, 0755);
      buf[i] = '/';
    }
  }
  return mkdir(buf, 0755) == 0 || file_size(buf) >= 0;
}

static int remove_entry(const char* path, const struct stat* st, int type, struct FTW* ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

/* ---- progress ---------------------------------------------------------------------------- */

typedef struct progress_log {
  int calls;
  int downloading;   /* MQ_PULL_DOWNLOADING reports for model.onnx */
  int quantizing;
  int cached;
  uint64_t last_done; /* bytes_done of the last model.onnx download report */
  uint64_t total;
  int bad_strings;    /* a NULL string or a wrong model name */
} progress_log;

static void on_progress(const mq_pull_progress* p, void* user) {
  progress_log* log = (progress_log*)user;
  ++log->calls;
  if (p->model == NULL || p->file == NULL || p->message == NULL || strcmp(p->model, "sample") != 0) {
    ++log->bad_strings;
    return;
  }
  switch (p->stage) {
    case MQ_PULL_DOWNLOADING:
      if (strcmp(p->file, "model.onnx") == 0) {
        ++log->downloading;
        log->last_done = p->bytes_done;
        if (p->bytes_total != 0) log->total = p->bytes_total;
      }
      break;
    case MQ_PULL_QUANTIZING: ++log->quantizing; break;
    case MQ_PULL_CACHED: ++log->cached; break;
    default: break;
  }
}

/* ---- setup ------------------------------------------------------------------------------- */

static char endpoint[4200];
static char catalog_path[4200];
static size_t sample_size;

static const char catalog_text[] =
    "[[models]]\n"
    "name = \"sample\"\n"
    "task = \"test\"\n"
    "repo = \"test/sample\"\n"
    "filename = \"model.onnx\"\n"
    "revision = \"v1\"\n"
    "labels = \"labels.txt\"\n"
    "[models.quantize]\n"
    "enabled = true\n"
    "method = \"dynamic_int8\"\n";

/* The mirror: WORK/mirror/test/sample/resolve/v1/{model.onnx,labels.txt}, and the catalog. */
static int make_mirror(const char* sample_path) {
  char dir[4200], path[4300];
  void* sample = read_file(sample_path, &sample_size);
  int ok;
  if (sample == NULL) return 0;
  snprintf(dir, sizeof dir, "%s/mirror/test/sample/resolve/v1", work);
  ok = make_dirs(dir);
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  ok = ok && write_file(path, sample, sample_size);
  free(sample);
  snprintf(path, sizeof path, "%s/labels.txt", dir);
  ok = ok && write_file(path, "cat\ndog\n", 8);
  snprintf(catalog_path, sizeof catalog_path, "%s/catalog.toml", work);
  ok = ok && write_file(catalog_path, catalog_text, sizeof catalog_text - 1);
  snprintf(endpoint, sizeof endpoint, "file://%s/mirror", work);
  return ok;
}

/* A store on the mirror with models in WORK/<models>. */
static mq_store* open_store(const char* models, int offline, int quantize) {
  mq_store_options* o = NULL;
  mq_store* store = NULL;
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/%s", work, models);
  CHECK(mq_store_options_create(&o) == MQ_OK);
  CHECK(mq_store_options_set_models_dir(o, dir) == MQ_OK);
  CHECK(mq_store_options_set_catalog_file(o, catalog_path) == MQ_OK);
  CHECK(mq_store_options_set_endpoint(o, endpoint) == MQ_OK);
  CHECK(mq_store_options_set_offline(o, offline) == MQ_OK);
  CHECK(mq_store_options_set_quantize(o, quantize) == MQ_OK);
  CHECK(mq_store_open(o, &store) == MQ_OK);
  mq_store_options_destroy(o); /* the store keeps a copy */
  CHECK(store != NULL);
  return store;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_argument_errors(void) {
  mq_store_options* o = NULL;
  mq_store* store = (mq_store*)&o; /* non-NULL garbage: must be reset to NULL on error */
  mq_pulled* pulled = (mq_pulled*)&o;
  char missing[4300];

  CHECK(mq_store_options_create(NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "mq_store_options_create: 'out' is NULL") != NULL);
  CHECK(mq_store_options_set_endpoint(NULL, "file:///x") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_store_options_create(&o) == MQ_OK);
  CHECK(strcmp(mq_last_error_message(), "") == 0);
  CHECK(mq_store_options_set_endpoint(o, "") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "empty value") != NULL);
  CHECK(mq_store_options_set_models_dir(o, NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_store_options_set_catalog_file(o, "") == MQ_OK); /* "" = no catalog file */
  CHECK(mq_store_options_set_token(o, "") == MQ_OK);
  CHECK(mq_store_options_set_strict(o, 1) == MQ_OK);
  CHECK(mq_store_options_set_force(o, 0) == MQ_OK);

  CHECK(mq_store_open(o, NULL) == MQ_ERR_INVALID_ARGUMENT);
  snprintf(missing, sizeof missing, "%s/no-such-catalog.toml", work);
  CHECK(mq_store_options_set_catalog_file(o, missing) == MQ_OK);
  CHECK(mq_store_open(o, &store) == MQ_ERR_NOT_FOUND);
  CHECK(store == NULL);
  CHECK(strstr(mq_last_error_message(), "no-such-catalog.toml") != NULL);
  mq_store_options_destroy(o);

  CHECK(mq_pull(NULL, "sample", NULL, NULL, &pulled) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(pulled == NULL);
  CHECK(strstr(mq_last_error_message(), "'store' is NULL") != NULL);

  /* NULL results read as empty. */
  CHECK(strcmp(mq_pulled_fp32_path(NULL), "") == 0);
  CHECK(mq_pulled_use_int8(NULL) == 0);
  CHECK(mq_pulled_warning_count(NULL) == 0);
  mq_pulled_destroy(NULL);
  mq_store_close(NULL);
  mq_store_options_destroy(NULL);
}

static void test_pull_and_cache(void) {
  mq_store* store = open_store("models", 0, 1);
  mq_pulled* pulled = NULL;
  progress_log log;
  size_t n = 0;
  char* config = NULL;
  char expected[4300];
  if (store == NULL) return;

  memset(&log, 0, sizeof log);
  CHECK(mq_pull(store, "sample", on_progress, &log, &pulled) == MQ_OK);
  CHECK(pulled != NULL);
  if (pulled == NULL) {
    mq_store_close(store);
    return;
  }
  CHECK(strcmp(mq_last_error_message(), "") == 0);
  CHECK(strcmp(mq_pulled_name(pulled), "sample") == 0);
  snprintf(expected, sizeof expected, "%s/models/sample", work);
  CHECK(strcmp(mq_pulled_dir(pulled), expected) == 0);
  CHECK(mq_pulled_downloaded(pulled) == 1);
  CHECK(mq_pulled_quantized(pulled) == 1);
  CHECK(mq_pulled_use_int8(pulled) == 1);
  CHECK(mq_pulled_warning_count(pulled) == 0);
  CHECK(strcmp(mq_pulled_warning(pulled, 0), "") == 0);

  /* The files: FP32 as in the mirror, a smaller INT8 model, labels, config.json. */
  CHECK(file_size(mq_pulled_fp32_path(pulled)) == (long)sample_size);
  CHECK(file_size(mq_pulled_int8_path(pulled)) > 0);
  CHECK(file_size(mq_pulled_int8_path(pulled)) < (long)sample_size);
  CHECK(strcmp(mq_pulled_model_path(pulled), mq_pulled_int8_path(pulled)) == 0);
  CHECK(file_size(mq_pulled_labels_path(pulled)) == 8);
  config = (char*)read_file(mq_pulled_config_path(pulled), &n);
  CHECK(config != NULL);
  if (config != NULL) {
    CHECK(strcmp(config, mq_pulled_config_json(pulled)) == 0);
    CHECK(strstr(config, "\"use_int8\": true") != NULL);
    CHECK(strstr(config, "\"model_path\": \"model.onnx\"") != NULL);
    CHECK(strstr(config, "\"int8_model_path\": \"model-int8.onnx\"") != NULL);
    CHECK(strstr(config, "\"labels_path\": \"labels.txt\"") != NULL);
    CHECK(strstr(config, "\"name\": \"sample\"") != NULL);
    free(config);
  }

  /* Progress: model.onnx downloaded to its full size, then quantized. */
  CHECK(log.bad_strings == 0);
  CHECK(log.downloading > 0);
  CHECK(log.last_done == (uint64_t)sample_size);
  CHECK(log.total == 0 || log.total == (uint64_t)sample_size);
  CHECK(log.quantizing > 0);
  mq_pulled_destroy(pulled);

  /* Again: everything from the cache, without a download. */
  pulled = NULL;
  memset(&log, 0, sizeof log);
  CHECK(mq_pull(store, "sample", on_progress, &log, &pulled) == MQ_OK);
  CHECK(mq_pulled_downloaded(pulled) == 0);
  CHECK(mq_pulled_quantized(pulled) == 0);
  CHECK(mq_pulled_use_int8(pulled) == 1);
  CHECK(log.cached > 0);
  CHECK(log.downloading == 0);
  mq_pulled_destroy(pulled);

  /* Without a progress callback. */
  pulled = NULL;
  CHECK(mq_pull(store, "sample", NULL, NULL, &pulled) == MQ_OK);
  CHECK(mq_pulled_use_int8(pulled) == 1);
  mq_pulled_destroy(pulled);

  /* Not in the catalog. */
  pulled = (mq_pulled*)&log;
  CHECK(mq_pull(store, "nope", NULL, NULL, &pulled) == MQ_ERR_NOT_FOUND);
  CHECK(pulled == NULL);
  CHECK(strstr(mq_last_error_message(), "'nope'") != NULL);
  mq_store_close(store);
}

static void test_offline_and_no_quantize(void) {
  mq_store* offline = open_store("models-offline", 1, 1);
  mq_store* fp32_only = open_store("models-fp32", 0, 0);
  mq_pulled* pulled = NULL;

  CHECK(mq_pull(offline, "sample", NULL, NULL, &pulled) == MQ_ERR_NOT_FOUND);
  CHECK(pulled == NULL);
  CHECK(strstr(mq_last_error_message(), "offline") != NULL);
  mq_store_close(offline);

  CHECK(mq_pull(fp32_only, "sample", NULL, NULL, &pulled) == MQ_OK);
  CHECK(mq_pulled_use_int8(pulled) == 0);
  CHECK(strcmp(mq_pulled_int8_path(pulled), "") == 0);
  CHECK(strcmp(mq_pulled_model_path(pulled), mq_pulled_fp32_path(pulled)) == 0);
  CHECK(strstr(mq_pulled_config_json(pulled), "\"use_int8\": false") != NULL);
  mq_pulled_destroy(pulled);
  mq_store_close(fp32_only);
}

/* mq_last_error_message() is one slot for both libraries: a fetch error is seen through it, and a
 * successful call of either library clears an error of the other. */
/* A cached model is not read again while its size, mtime and inode match; with verify it is
 * hashed again. model.onnx is overwritten in place (same size) and its mtime put back. */
static void test_verify(void) {
  mq_store* store = open_store("models", 0, 1);
  mq_store_options* o = NULL;
  mq_store* verifying = NULL;
  mq_pulled* pulled = NULL;
  char path[4300];
  char dir[4200];
  struct stat st;
  struct timespec times[2];
  size_t n = 0;
  char* bytes;
  FILE* f;

  snprintf(path, sizeof path, "%s/models/sample/model.onnx", work);
  CHECK(stat(path, &st) == 0);
  bytes = (char*)read_file(path, &n);
  CHECK(bytes != NULL && n > 0);
  if (bytes != NULL) {
    memset(bytes, 'x', n);
    f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f != NULL) {
      CHECK(fwrite(bytes, 1, n, f) == n);
      fclose(f);
    }
    free(bytes);
  }
  times[0] = st.st_atim;
  times[1] = st.st_mtim;
  CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);

  CHECK(mq_pull(store, "sample", NULL, NULL, &pulled) == MQ_OK);
  CHECK(mq_pulled_downloaded(pulled) == 0); /* not read: the change goes unnoticed */
  mq_pulled_destroy(pulled);
  mq_store_close(store);

  CHECK(mq_store_options_set_verify(NULL, 1) == MQ_ERR_INVALID_ARGUMENT);
  snprintf(dir, sizeof dir, "%s/models", work);
  CHECK(mq_store_options_create(&o) == MQ_OK);
  CHECK(mq_store_options_set_models_dir(o, dir) == MQ_OK);
  CHECK(mq_store_options_set_catalog_file(o, catalog_path) == MQ_OK);
  CHECK(mq_store_options_set_endpoint(o, endpoint) == MQ_OK);
  CHECK(mq_store_options_set_verify(o, 1) == MQ_OK);
  CHECK(mq_store_open(o, &verifying) == MQ_OK);
  mq_store_options_destroy(o);
  pulled = NULL;
  CHECK(mq_pull(verifying, "sample", NULL, NULL, &pulled) == MQ_OK);
  CHECK(mq_pulled_downloaded(pulled) == 1); /* hashed: not the recorded sha256, so fetched again */
  mq_pulled_destroy(pulled);
  mq_store_close(verifying);
}

static void test_shared_error_slot(void) {
  mq_options* q = NULL;
  mq_store_options* s = NULL;
  CHECK(mq_pull(NULL, NULL, NULL, NULL, NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "mq_pull") != NULL);
  CHECK(mq_options_create(&q) == MQ_OK);
  CHECK(strcmp(mq_last_error_message(), "") == 0);
  CHECK(mq_options_set_min_elements(q, -1) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "negative") != NULL);
  CHECK(mq_store_options_create(&s) == MQ_OK);
  CHECK(strcmp(mq_last_error_message(), "") == 0);
  mq_options_destroy(q);
  mq_store_options_destroy(s);
}

int main(int argc, char** argv) {
  char pattern[4096];
  if (argc != 3) {
    fprintf(stderr, "usage: test_capi_fetch SAMPLE.onnx WORK_DIR\n");
    return 2;
  }
  make_dirs(argv[2]);
  snprintf(pattern, sizeof pattern, "%s/run-XXXXXX", argv[2]);
  if (mkdtemp(pattern) == NULL) {
    fprintf(stderr, "test_capi_fetch: cannot make a folder in %s\n", argv[2]);
    return 1;
  }
  snprintf(work, sizeof work, "%s", pattern);
  if (!make_mirror(argv[1])) {
    fprintf(stderr, "test_capi_fetch: cannot make the mirror in %s\n", work);
    return 1;
  }

  test_argument_errors();
  test_pull_and_cache();
  test_offline_and_no_quantize();
  test_verify();
  test_shared_error_slot();

  if (failures != 0) {
    fprintf(stderr, "test_capi_fetch: %d check(s) failed (files kept in %s)\n", failures, work);
    return 1;
  }
  nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  printf("test_capi_fetch: all checks passed\n");
  return 0;
}
