/* The quantize_file example through the C API (include/mq/modelquant.h): quantize a model file
 * with per-channel int8 weights, print the report table, then the report as JSON.
 *   usage: c_api IN.onnx OUT.onnx */
#include <stdio.h>

#include <mq/modelquant.h>

int main(int argc, char** argv) {
  mq_options* options = NULL;
  mq_report* report = NULL;
  mq_status status;
  if (argc != 3) {
    fprintf(stderr, "usage: c_api IN.onnx OUT.onnx\n");
    return 2;
  }
  if (mq_options_create(&options) != MQ_OK || mq_options_set_per_channel(options, 1) != MQ_OK) {
    fprintf(stderr, "c_api: error: %s\n", mq_last_error_message());
    mq_options_destroy(options);
    return 1;
  }
  status = mq_quantize_file(argv[1], argv[2], options, &report);
  mq_options_destroy(options);
  if (status != MQ_OK) {
    fprintf(stderr, "c_api: error (%s): %s\n", mq_status_name(status), mq_last_error_message());
    return 1;
  }
  printf("%s", mq_report_table(report));
  printf("json: %s\n", mq_report_json(report));
  printf("libmodelquant %s: quantized %zu node(s), wrote %s\n", mq_version(), mq_report_quantized_count(report),
         argv[2]);
  mq_report_destroy(report);
  return 0;
}
