/*
 * plugward.h — the C ABI of Plugward native plugins (ABI version 1).
 *
 * A native plugin is a shared library that exports
 *
 *     const pw_plugin *create_plugin(void);
 *
 * returning a pointer to a pw_plugin that stays valid until the host calls its `destroy` (the plugin owns it).
 * The host checks `abi_version` and `struct_size` before touching anything else, so a plugin built against another
 * version of this header is refused with a clear error instead of crashing.
 *
 * Order of calls (all on the host's JS thread, never concurrently):
 *     create_plugin -> init -> register_hooks -> call_hook* -> shutdown -> destroy -> dlclose
 *
 * Buffer ownership
 *   - Inputs (`in`, hook names, keys, values) are owned by the caller and valid only during the call.
 *   - A hook result (`*out`) is allocated by the plugin; the host copies it and then calls `free_buffer` exactly once
 *     with the same pointer and length (it never calls free() itself, so the plugin may use any allocator).
 *   - Error messages are written by the plugin into the host-owned `err` buffer of `err_cap` bytes (NUL-terminated,
 *     truncated; UTF-8). Use pw_set_error() below.
 *   - context_get copies the value into a plugin-owned buffer of `out_cap` bytes; see PW_ERR_BUFFER_TOO_SMALL.
 *   - The pw_host_api pointer given to init stays valid until destroy returns, so hooks may log and use the context.
 *
 * Errors: every fallible function returns PW_OK (0) or a non-zero pw_status (a plugin may use its own codes >= 1000).
 *
 * Strings (metadata, hook names, keys, log messages) must be NUL-terminated UTF-8; invalid UTF-8 is refused.
 *
 * A crash (segfault, abort) inside a native plugin is fatal for an in-process host: load untrusted or fragile native
 * code at the `process` or `sandbox` isolation tier, where a crash only ends the plugin process.
 */
#ifndef PLUGWARD_H
#define PLUGWARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLUGWARD_ABI_VERSION 1u

/* Name of the exported constructor. */
#define PLUGWARD_CONSTRUCTOR_SYMBOL "create_plugin"

#if defined(_WIN32)
#define PW_EXPORT __declspec(dllexport)
#else
#define PW_EXPORT __attribute__((visibility("default")))
#endif

/* Status codes. */
typedef enum pw_status {
  PW_OK = 0,
  PW_ERR_GENERIC = 1,
  PW_ERR_INVALID_ARGUMENT = 2,
  PW_ERR_NOT_FOUND = 3,          /* unknown hook, missing context key */
  PW_ERR_NO_MEMORY = 4,
  PW_ERR_PERMISSION_DENIED = 5,  /* context key not granted to this plugin */
  PW_ERR_BUFFER_TOO_SMALL = 6,   /* context_get: *out_len holds the size needed */
  PW_ERR_WOULD_BLOCK = 7,        /* context_get on an asynchronous context (see the loader README) */
  PW_ERR_TYPE = 8,               /* context value is not bytes/string */
  PW_ERR_STATE = 9               /* called in the wrong lifecycle state */
} pw_status;

/* Log levels (LogLevel in @plugward/types). */
typedef enum pw_log_level {
  PW_LOG_TRACE = 0,
  PW_LOG_DEBUG = 1,
  PW_LOG_INFO = 2,
  PW_LOG_WARN = 3,
  PW_LOG_ERROR = 4
} pw_log_level;

/* Declared resource limits; 0 means "not declared" (the host default applies). The host caps them. */
typedef struct pw_limits {
  uint64_t max_heap_bytes;
  uint64_t max_cpu_time_ms;
  uint64_t max_file_descriptors;
  uint64_t max_threads;
  uint64_t max_connections;
  uint64_t max_db_query_ms;
  uint64_t max_external_api_ms;
} pw_limits;

/* Services of the host. Every callback takes `host_data` first; pass host->host_data back unchanged. */
typedef struct pw_host_api {
  uint32_t abi_version;  /* PLUGWARD_ABI_VERSION of the host */
  uint32_t struct_size;  /* sizeof(pw_host_api) of the host; fields may be appended in later versions */
  void *host_data;
  /* Registers a handler for `hook_name`; the host later calls call_hook(self, hook_name, ...). Lower priority runs
   * first (0 critical, 200 normal, 400 cleanup). Only valid inside register_hooks. */
  int32_t (*register_hook)(void *host_data, const char *hook_name, int32_t priority);
  /* Logs `message` at `level` through the host. */
  void (*log)(void *host_data, int32_t level, const char *message);
  /* Copies the value of `key` into out[0..out_cap). Sets *out_len to the value's size in every case where the key
   * exists; returns PW_ERR_BUFFER_TOO_SMALL (copying nothing) when out_cap < *out_len. */
  int32_t (*context_get)(void *host_data, const char *key, uint8_t *out, size_t out_cap, size_t *out_len);
  /* Stores a copy of value[0..len) under `key`. */
  int32_t (*context_set)(void *host_data, const char *key, const uint8_t *value, size_t len);
  /* Removes `key`; PW_ERR_NOT_FOUND when absent. */
  int32_t (*context_remove)(void *host_data, const char *key);
} pw_host_api;

typedef struct pw_plugin pw_plugin;

/* The plugin: metadata, declared limits and entry points. No function pointer may be NULL. */
struct pw_plugin {
  uint32_t abi_version;  /* must be PLUGWARD_ABI_VERSION */
  uint32_t struct_size;  /* must be sizeof(pw_plugin) */
  const char *name;      /* must match the signed manifest */
  const char *version;   /* semver; must match the signed manifest */
  const char *author;
  const char *description; /* Markdown; may be NULL */
  pw_limits limits;
  void *state;           /* free for the plugin's own use */
  int32_t (*init)(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap);
  int32_t (*register_hooks)(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap);
  int32_t (*call_hook)(pw_plugin *self, const char *hook_name, const uint8_t *in, size_t in_len, uint8_t **out,
                       size_t *out_len, char *err, size_t err_cap);
  void (*free_buffer)(pw_plugin *self, uint8_t *buffer, size_t len);
  int32_t (*shutdown)(pw_plugin *self, char *err, size_t err_cap);
  /* Releases everything the plugin owns, including this struct if it was allocated. Last call before dlclose. */
  void (*destroy)(pw_plugin *self);
};

/* The constructor every plugin exports. Returning NULL means "could not create" (an error for the host). */
typedef pw_plugin *(*pw_create_plugin_fn)(void);

/* Writes a NUL-terminated, truncated message into the host's error buffer and returns `code`. */
static inline int32_t pw_set_error(char *err, size_t err_cap, int32_t code, const char *message) {
  if (err != NULL && err_cap > 0) {
    size_t i = 0;
    if (message != NULL) {
      for (; i + 1 < err_cap && message[i] != '\0'; i++) err[i] = message[i];
    }
    err[i] = '\0';
  }
  return code;
}

#ifdef __cplusplus
}
#endif

#endif /* PLUGWARD_H */
