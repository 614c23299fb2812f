/* examples/robot_app from C (mq/modelquant_fetch.h): pull a catalog model with progress, read
 * its config.json, take the INT8 model when use_int8 is true and the FP32 model otherwise, and
 * check that the chosen file is a model (a dry-run quantization loads and walks it).
 *   usage: c_pull MODEL [ENDPOINT]
 * ENDPOINT e.g. file:///srv/model-mirror; default MQ_ENDPOINT. Environment: MQ_MODELS_DIR,
 * MQ_CATALOG, MQ_OFFLINE, HF_TOKEN (as mq-pull). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mq/modelquant.h>
#include <mq/modelquant_fetch.h>

static void on_progress(const mq_pull_progress* p, void* user) {
  int* reports = (int*)user;
  ++*reports;
  if (p->stage == MQ_PULL_DOWNLOADING && p->bytes_total != 0 && p->bytes_done == p->bytes_total)
    fprintf(stderr, "  downloaded %s (%llu bytes)\n", p->file, (unsigned long long)p->bytes_done);
  else if (p->stage == MQ_PULL_QUANTIZING)
    fprintf(stderr, "  quantizing %s\n", p->file);
  else if (p->stage == MQ_PULL_CACHED)
    fprintf(stderr, "  cached %s\n", p->file);
  else if (p->stage == MQ_PULL_WARNING)
    fprintf(stderr, "  warning: %s\n", p->message);
}

/* Reads a whole text file (NULL on error); free() it. */
static char* read_text(const char* path) {
  FILE* f = fopen(path, "rb");
  char* text = NULL;
  long n;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    text = (char*)malloc((size_t)n + 1);
    if (text != NULL && fread(text, 1, (size_t)n, f) != (size_t)n) {
      free(text);
      text = NULL;
    }
    if (text != NULL) text[n] = '\0';
  }
  fclose(f);
  return text;
}

/* config.json's top-level "use_int8": 1, 0, or -1 when absent. A real app would use its JSON
 * library; this looks for the key the way mq-pull writes it. */
static int config_use_int8(const char* json) {
  const char* at = strstr(json, "\"use_int8\"");
  if (at == NULL) return -1;
  at += strlen("\"use_int8\"");
  while (*at == ' ' || *at == ':' || *at == '\t' || *at == '\n' || *at == '\r') ++at;
  if (strncmp(at, "true", 4) == 0) return 1;
  if (strncmp(at, "false", 5) == 0) return 0;
  return -1;
}

int main(int argc, char** argv) {
  mq_store_options* options = NULL;
  mq_store* store = NULL;
  mq_pulled* pulled = NULL;
  mq_options* check = NULL;
  mq_report* report = NULL;
  char* config = NULL;
  const char* chosen;
  int reports = 0, use_int8, rc = 1;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: c_pull MODEL [ENDPOINT]\n");
    return 2;
  }

  /* 1. Pull: defaults from the environment, the endpoint from the command line. */
  if (mq_store_options_create_from_environment(&options) != MQ_OK ||
      (argc == 3 && mq_store_options_set_endpoint(options, argv[2]) != MQ_OK) ||
      mq_store_open(options, &store) != MQ_OK ||
      mq_pull(store, argv[1], on_progress, &reports, &pulled) != MQ_OK) {
    fprintf(stderr, "c_pull: error: %s\n", mq_last_error_message());
    goto done;
  }

  /* 2. config.json (mq_pulled_config_json has the same text without reading the file). */
  config = read_text(mq_pulled_config_path(pulled));
  use_int8 = config != NULL ? config_use_int8(config) : -1;
  if (use_int8 < 0) {
    fprintf(stderr, "c_pull: error: cannot read use_int8 from %s\n", mq_pulled_config_path(pulled));
    goto done;
  }

  /* 3. INT8 when use_int8, else FP32 (mq_pulled_model_path(pulled) makes the same choice). */
  chosen = use_int8 ? mq_pulled_int8_path(pulled) : mq_pulled_fp32_path(pulled);

  /* 4. Is it a model? A dry run loads it and plans its quantization without writing anything. */
  if (mq_options_create(&check) != MQ_OK || mq_options_set_dry_run(check, 1) != MQ_OK ||
      mq_quantize_file(chosen, NULL, check, &report) != MQ_OK) {
    fprintf(stderr, "c_pull: error: %s\n", mq_last_error_message());
    goto done;
  }

  printf("model: %s\n", mq_pulled_name(pulled));
  printf("use_int8: %s\n", use_int8 ? "true" : "false");
  printf("chose: %s %s\n", use_int8 ? "INT8" : "FP32", chosen);
  printf("progress reports: %d, downloaded: %s\n", reports, mq_pulled_downloaded(pulled) ? "yes" : "no");
  rc = 0;

done:
  mq_report_destroy(report);
  mq_options_destroy(check);
  free(config);
  mq_pulled_destroy(pulled);
  mq_store_close(store);
  mq_store_options_destroy(options);
  return rc;
}
