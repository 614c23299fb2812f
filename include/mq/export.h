/* libmodelquant: the export macro on every public declaration (C and C++ headers).
 *
 * The library is compiled with -fvisibility=hidden, so only declarations marked MQ_API are part
 * of its ABI: a shared libmodelquant exports the mq:: public API and the mq_ C functions, and
 * nothing of its internals or of its dependencies. The same headers serve static and shared
 * builds (ELF needs no import/export distinction). */
#ifndef MQ_EXPORT_H
#define MQ_EXPORT_H

#if defined(_WIN32)
/* Windows DLLs would need __declspec(dllexport/dllimport) here; not a supported target yet. */
#define MQ_API
#elif defined(__GNUC__) || defined(__clang__)
#define MQ_API __attribute__((visibility("default")))
#else
#define MQ_API
#endif

#endif /* MQ_EXPORT_H */
