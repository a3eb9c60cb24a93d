/*
 * hello-c: the smallest useful Plugward native plugin.
 *
 * Hook "on_request": returns "<greeting>, <input>!" where <greeting> is the context value "greeting" (bytes) when
 * the host set one, else "hello". It counts its calls in the context key "hello.calls" (decimal text) and logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugward.h"

static const pw_host_api *g_host;

static int32_t hello_init(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  (void)self;
  if (host == NULL || host->abi_version != PLUGWARD_ABI_VERSION) {
    return pw_set_error(err, err_cap, PW_ERR_INVALID_ARGUMENT, "hello-c: unexpected host ABI");
  }
  g_host = host;
  host->log(host->host_data, PW_LOG_INFO, "hello-c initialised");
  return PW_OK;
}

static int32_t hello_register_hooks(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  (void)self;
  int32_t rc = host->register_hook(host->host_data, "on_request", 200);
  if (rc != PW_OK) return pw_set_error(err, err_cap, rc, "hello-c: register_hook failed");
  return PW_OK;
}

static int32_t hello_call_hook(pw_plugin *self, const char *hook_name, const uint8_t *in, size_t in_len,
                               uint8_t **out, size_t *out_len, char *err, size_t err_cap) {
  (void)self;
  if (strcmp(hook_name, "on_request") != 0) {
    return pw_set_error(err, err_cap, PW_ERR_NOT_FOUND, "hello-c: unknown hook");
  }
  char greeting[64] = "hello";
  size_t glen = 0;
  int32_t rc = g_host->context_get(g_host->host_data, "greeting", (uint8_t *)greeting, sizeof greeting - 1, &glen);
  if (rc == PW_OK) {
    greeting[glen] = '\0';
  } else if (rc != PW_ERR_NOT_FOUND) {
    return pw_set_error(err, err_cap, rc, "hello-c: cannot read context key \"greeting\"");
  }

  /* Count calls in the context: read the decimal text, add one, write it back. */
  char count_text[32] = {0};
  size_t count_len = 0;
  unsigned long long calls = 0;
  if (g_host->context_get(g_host->host_data, "hello.calls", (uint8_t *)count_text, sizeof count_text - 1,
                          &count_len) == PW_OK) {
    count_text[count_len] = '\0';
    calls = strtoull(count_text, NULL, 10);
  }
  int n = snprintf(count_text, sizeof count_text, "%llu", calls + 1);
  rc = g_host->context_set(g_host->host_data, "hello.calls", (const uint8_t *)count_text, (size_t)n);
  if (rc != PW_OK) return pw_set_error(err, err_cap, rc, "hello-c: cannot write context key \"hello.calls\"");

  size_t gl = strlen(greeting);
  size_t total = gl + 2 + in_len + 1;
  uint8_t *buf = malloc(total);
  if (buf == NULL) return pw_set_error(err, err_cap, PW_ERR_NO_MEMORY, "hello-c: out of memory");
  memcpy(buf, greeting, gl);
  memcpy(buf + gl, ", ", 2);
  if (in_len > 0) memcpy(buf + gl + 2, in, in_len);
  buf[total - 1] = '!';
  *out = buf;
  *out_len = total;
  g_host->log(g_host->host_data, PW_LOG_DEBUG, "hello-c answered on_request");
  return PW_OK;
}

static void hello_free_buffer(pw_plugin *self, uint8_t *buffer, size_t len) {
  (void)self;
  (void)len;
  free(buffer);
}

static int32_t hello_shutdown(pw_plugin *self, char *err, size_t err_cap) {
  (void)self;
  (void)err;
  (void)err_cap;
  g_host->log(g_host->host_data, PW_LOG_INFO, "hello-c shutting down");
  return PW_OK;
}

static void hello_destroy(pw_plugin *self) {
  (void)self;
  g_host = NULL;
}

static pw_plugin g_plugin = {
    .abi_version = PLUGWARD_ABI_VERSION,
    .struct_size = sizeof(pw_plugin),
    .name = "hello-c",
    .version = "1.0.0",
    .author = "Plugward",
    .description = "Greets the request body; counts its calls in the context.",
    .limits = {.max_heap_bytes = 16u * 1024u * 1024u},
    .state = NULL,
    .init = hello_init,
    .register_hooks = hello_register_hooks,
    .call_hook = hello_call_hook,
    .free_buffer = hello_free_buffer,
    .shutdown = hello_shutdown,
    .destroy = hello_destroy,
};

PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
