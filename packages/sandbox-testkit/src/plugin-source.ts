/**
 * Source of a hostile JS plugin: one ESM file as an attacker would ship it. It reports what it saw through the only
 * channel every host keeps open, its log: lines `PWKIT <key> <value>` (short, one line each, so they survive a host
 * that escapes and bounds plugin log lines), ending with `PWKIT done 1` once `init`'s attack finished.
 */
export interface JsAttackSource {
  name: string;
  /** Statements run in `async init(ctx, rt)`; `report(key, value)`, `attempt(fn)`, `errc(e)`, `fs`, `net` in scope. */
  init?: string;
  /** Statements run in `registerHooks(hooks)`. */
  hooks?: string;
  /** Statements run in `async shutdown()`. */
  shutdown?: string;
  /** Module-level statements (helpers, state). */
  prelude?: string;
}

/** The ESM text of a hostile JS plugin. */
export function jsAttack(src: JsAttackSource): string {
  return `import fs from 'node:fs';
import net from 'node:net';
let RT;
let HOOKS;
const enc = (s) => new TextEncoder().encode(String(s));
const dec = (b) => new TextDecoder().decode(b);
const report = (k, v) => { try { RT.log('info', 'PWKIT ' + k + ' ' + String(v).replace(/[\\s\\x00-\\x1f]+/g, ' ').slice(0, 150)); } catch {} };
const errc = (e) => String((e && (e.code || e.message)) || e);
const attempt = (f) => { try { const r = f(); return r === undefined ? 'ok' : r; } catch (e) { return 'ERR:' + errc(e); } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
${src.prelude ?? ''}
export default {
  name: ${JSON.stringify(src.name)},
  version: '1.0.0',
  author: 'pwkit attacker',
  description: 'A hostile plugin of @plugward/sandbox-testkit.',
  async init(ctx, rt) {
    RT = rt;
    try {
${src.init ?? ''}
    } catch (e) { report('error', errc(e)); }
    report('done', 1);
  },
  registerHooks(hooks) {
    HOOKS = hooks;
${src.hooks ?? ''}
  },
  async shutdown() {
${src.shutdown ?? ''}
  },
};
`;
}

/** Source of a hostile native plugin: C against plugward.h; `attack()` runs in init and reports like the JS ones. */
export interface NativeAttackSource {
  name: string;
  /** Body of `static void attack(void)`; `report(key, fmt, ...)` and the `<sys/syscall.h>` numbers in scope. */
  attack: string;
  /** Top-level C (helpers). */
  prelude?: string;
}

/** The C text of a hostile native plugin (it calls the kernel through `syscall()`, never through libc wrappers). */
export function nativeAttack(src: NativeAttackSource): string {
  return `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "plugward.h"

static const pw_host_api *g_host;

static void report(const char *key, const char *fmt, ...) {
  char value[200];
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(value, sizeof value, fmt, ap);
  va_end(ap);
  for (char *p = value; *p; p++) if ((unsigned char)*p < 0x20) *p = ' ';
  snprintf(line, sizeof line, "PWKIT %s %s", key, value);
  if (g_host) g_host->log(g_host->host_data, PW_LOG_INFO, line);
}

${src.prelude ?? ''}

static void attack(void) {
${src.attack}
}

static int32_t kit_init(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  (void)self; (void)err; (void)err_cap;
  g_host = host;
  attack();
  report("done", "1");
  return PW_OK;
}

static int32_t kit_register_hooks(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  (void)self; (void)host; (void)err; (void)err_cap;
  return PW_OK;
}

static int32_t kit_call_hook(pw_plugin *self, const char *hook, const uint8_t *in, size_t in_len, uint8_t **out,
                             size_t *out_len, char *err, size_t err_cap) {
  (void)self; (void)hook; (void)in; (void)in_len; (void)out; (void)out_len;
  return pw_set_error(err, err_cap, PW_ERR_NOT_FOUND, "no hooks");
}

static void kit_free_buffer(pw_plugin *self, uint8_t *buffer, size_t len) { (void)self; (void)len; free(buffer); }
static int32_t kit_shutdown(pw_plugin *self, char *err, size_t err_cap) { (void)self; (void)err; (void)err_cap; return PW_OK; }
static void kit_destroy(pw_plugin *self) { (void)self; g_host = NULL; }

static pw_plugin g_plugin = {
    .abi_version = PLUGWARD_ABI_VERSION,
    .struct_size = sizeof(pw_plugin),
    .name = ${JSON.stringify(src.name)},
    .version = "1.0.0",
    .author = "pwkit attacker",
    .description = "A hostile native plugin of @plugward/sandbox-testkit.",
    .limits = {.max_heap_bytes = 64u * 1024u * 1024u},
    .state = NULL,
    .init = kit_init,
    .register_hooks = kit_register_hooks,
    .call_hook = kit_call_hook,
    .free_buffer = kit_free_buffer,
    .shutdown = kit_shutdown,
    .destroy = kit_destroy,
};

PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;
}
