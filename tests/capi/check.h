/* CHECK for the C API tests: counts failures in the including file's `failures` and prints the
 * library's last error message with the failed condition. */
#ifndef MQ_TESTS_CAPI_CHECK_H
#define MQ_TESTS_CAPI_CHECK_H

#include <stdio.h>

#include "mq/modelquant.h"

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: '%s')\n", __FILE__, __LINE__, \
              #cond, mq_last_error_message());                                         \
      ++failures;                                                                       \
    }                                                                                   \
  } while (0)

#endif
