/*
 * counter-c: a native plugin with per-instance state on the heap.
 *
 * Hooks:
 *   "count"  (priority 100): adds the input length to a running total; returns the total as 8 bytes little-endian.
 *   "reset"  (priority 100): zeroes the total, removes the context key "counter.total"; returns the previous total.
 *   "fail"   (priority 100): always fails with code 1042 and a message (shows the error path).
 * On shutdown it stores the final total in the context key "counter.total" (8 bytes LE).
 */
#include <stdlib.h>
#include <string.h>

#include "plugward.h"

typedef struct counter_state {
  const pw_host_api *host;
  uint64_t total;
  uint64_t calls;
} counter_state;

static uint8_t *le64(uint64_t v) {
  uint8_t *buf = malloc(8);
  if (buf == NULL) return NULL;
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(v >> (8 * i));
  return buf;
}

static int32_t counter_init(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  counter_state *st = calloc(1, sizeof *st);
  if (st == NULL) return pw_set_error(err, err_cap, PW_ERR_NO_MEMORY, "counter-c: out of memory");
  st->host = host;
  self->state = st;
  return PW_OK;
}

static int32_t counter_register_hooks(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  (void)self;
  const char *names[] = {"count", "reset", "fail"};
  for (size_t i = 0; i < 3; i++) {
    int32_t rc = host->register_hook(host->host_data, names[i], 100);
    if (rc != PW_OK) return pw_set_error(err, err_cap, rc, "counter-c: register_hook failed");
  }
  return PW_OK;
}

static int32_t counter_call_hook(pw_plugin *self, const char *hook_name, const uint8_t *in, size_t in_len,
                                 uint8_t **out, size_t *out_len, char *err, size_t err_cap) {
  (void)in;
  counter_state *st = self->state;
  if (st == NULL) return pw_set_error(err, err_cap, PW_ERR_STATE, "counter-c: not initialised");
  st->calls++;
  uint64_t result;
  if (strcmp(hook_name, "count") == 0) {
    st->total += in_len;
    result = st->total;
  } else if (strcmp(hook_name, "reset") == 0) {
    result = st->total;
    st->total = 0;
    int32_t rc = st->host->context_remove(st->host->host_data, "counter.total");
    if (rc != PW_OK && rc != PW_ERR_NOT_FOUND) {
      return pw_set_error(err, err_cap, rc, "counter-c: cannot remove counter.total");
    }
  } else if (strcmp(hook_name, "fail") == 0) {
    return pw_set_error(err, err_cap, 1042, "counter-c: the fail hook always fails");
  } else {
    return pw_set_error(err, err_cap, PW_ERR_NOT_FOUND, "counter-c: unknown hook");
  }
  uint8_t *buf = le64(result);
  if (buf == NULL) return pw_set_error(err, err_cap, PW_ERR_NO_MEMORY, "counter-c: out of memory");
  *out = buf;
  *out_len = 8;
  return PW_OK;
}

static void counter_free_buffer(pw_plugin *self, uint8_t *buffer, size_t len) {
  (void)self;
  (void)len;
  free(buffer);
}

static int32_t counter_shutdown(pw_plugin *self, char *err, size_t err_cap) {
  counter_state *st = self->state;
  if (st == NULL) return PW_OK;
  uint8_t total[8];
  for (int i = 0; i < 8; i++) total[i] = (uint8_t)(st->total >> (8 * i));
  int32_t rc = st->host->context_set(st->host->host_data, "counter.total", total, sizeof total);
  if (rc != PW_OK) return pw_set_error(err, err_cap, rc, "counter-c: cannot store counter.total");
  return PW_OK;
}

static void counter_destroy(pw_plugin *self) {
  free(self->state);
  free(self);
}

PW_EXPORT pw_plugin *create_plugin(void) {
  pw_plugin *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->abi_version = PLUGWARD_ABI_VERSION;
  p->struct_size = sizeof(pw_plugin);
  p->name = "counter-c";
  p->version = "1.2.0";
  p->author = "Plugward";
  p->description = "Counts bytes across calls (heap state per instance).";
  p->limits.max_heap_bytes = 8u * 1024u * 1024u;
  p->limits.max_threads = 1;
  p->init = counter_init;
  p->register_hooks = counter_register_hooks;
  p->call_hook = counter_call_hook;
  p->free_buffer = counter_free_buffer;
  p->shutdown = counter_shutdown;
  p->destroy = counter_destroy;
  return p;
}
