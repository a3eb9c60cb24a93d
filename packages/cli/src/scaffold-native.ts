// The native (C and Rust) sources and build scripts of `plugward init`. Both build with the name and version of
// plugward.json passed in at compile time, so the library and its signed manifest can't disagree.

/** src/plugin.c: one hook, on_request, answering with its input in upper case. */
export const C_SOURCE = `/*
 * A Plugward native plugin: hook "on_request" answers with its input in upper case.
 * PW_PLUGIN_NAME and PW_PLUGIN_VERSION come from plugward.json (see build.mjs).
 */
#include <stdlib.h>
#include <string.h>

#include "plugward.h"

static const pw_host_api *g_host;

static int32_t plugin_init(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  (void)self;
  if (host == NULL || host->abi_version != PLUGWARD_ABI_VERSION) {
    return pw_set_error(err, err_cap, PW_ERR_INVALID_ARGUMENT, "unexpected host ABI");
  }
  g_host = host;
  host->log(host->host_data, PW_LOG_INFO, PW_PLUGIN_NAME " ready");
  return PW_OK;
}

static int32_t plugin_register_hooks(pw_plugin *self, const pw_host_api *host, char *err, size_t err_cap) {
  (void)self;
  int32_t rc = host->register_hook(host->host_data, "on_request", 200);
  return rc == PW_OK ? PW_OK : pw_set_error(err, err_cap, rc, "register_hook failed");
}

static int32_t plugin_call_hook(pw_plugin *self, const char *hook, const uint8_t *in, size_t in_len, uint8_t **out,
                                size_t *out_len, char *err, size_t err_cap) {
  (void)self;
  if (strcmp(hook, "on_request") != 0) return pw_set_error(err, err_cap, PW_ERR_NOT_FOUND, "unknown hook");
  uint8_t *buf = malloc(in_len > 0 ? in_len : 1);
  if (buf == NULL) return pw_set_error(err, err_cap, PW_ERR_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < in_len; i++) buf[i] = (in[i] >= 'a' && in[i] <= 'z') ? (uint8_t)(in[i] - 'a' + 'A') : in[i];
  *out = buf;
  *out_len = in_len;
  return PW_OK;
}

static void plugin_free_buffer(pw_plugin *self, uint8_t *buffer, size_t len) {
  (void)self;
  (void)len;
  free(buffer);
}

static int32_t plugin_shutdown(pw_plugin *self, char *err, size_t err_cap) {
  (void)self;
  (void)err;
  (void)err_cap;
  return PW_OK;
}

static void plugin_destroy(pw_plugin *self) {
  (void)self;
  g_host = NULL;
}

static pw_plugin g_plugin = {
    .abi_version = PLUGWARD_ABI_VERSION,
    .struct_size = sizeof(pw_plugin),
    .name = PW_PLUGIN_NAME,
    .version = PW_PLUGIN_VERSION,
    .author = PW_PLUGIN_AUTHOR,
    .description = NULL,
    .state = NULL,
    .init = plugin_init,
    .register_hooks = plugin_register_hooks,
    .call_hook = plugin_call_hook,
    .free_buffer = plugin_free_buffer,
    .shutdown = plugin_shutdown,
    .destroy = plugin_destroy,
};

PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

/** build.mjs of a C project. */
export const C_BUILD = `// Compiles src/plugin.c into dist/plugin.so with the system C compiler, against the plugward.h that
// @plugward/loader ships, with the name, version and author of plugward.json.
import fs from 'node:fs';
import { compileNativePlugin } from '@plugward/loader';

const fields = JSON.parse(fs.readFileSync('plugward.json', 'utf8'));
const define = (macro, text) => \`-D\${macro}=\${JSON.stringify(String(text))}\`;
const out = await compileNativePlugin({
  sources: ['src/plugin.c'],
  output: 'dist/plugin.so',
  flags: [
    '-Werror',
    define('PW_PLUGIN_NAME', fields.name),
    define('PW_PLUGIN_VERSION', fields.version),
    define('PW_PLUGIN_AUTHOR', fields.author ?? 'unknown'),
  ],
});
console.log(\`built \${out}\`);
`;

/** Cargo.toml of a Rust project. */
export const CARGO_TOML = (name: string): string => `[package]
name = "${name.replace(/[^a-z0-9_-]/g, '-').replace(/^-+/, '') || 'plugin'}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
name = "plugin"
crate-type = ["cdylib"]
path = "src/lib.rs"

[profile.release]
# A panic must never unwind into the host's C frames.
panic = "abort"
`;

/** build.mjs of a Rust project. */
export const RUST_BUILD = `// Builds the cdylib with cargo (offline: no crates) and copies it to dist/plugin.so; the name, version and author of
// plugward.json reach src/lib.rs as compile-time environment variables, and so does the path of the plugward.h
// binding for Rust that @plugward/loader ships (plugward.rs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { plugwardIncludeDir } from '@plugward/loader';

const fields = JSON.parse(fs.readFileSync('plugward.json', 'utf8'));
const r = spawnSync(process.env.CARGO ?? 'cargo', ['build', '--release', '--offline', '--target-dir', 'target'], {
  stdio: 'inherit',
  env: {
    ...process.env,
    PW_PLUGIN_NAME: fields.name,
    PW_PLUGIN_VERSION: fields.version,
    PW_PLUGIN_AUTHOR: fields.author ?? 'unknown',
    PLUGWARD_RS: path.join(plugwardIncludeDir(), 'plugward.rs'),
  },
});
if (r.error) throw r.error;
if (r.status !== 0) process.exit(r.status ?? 1);
fs.mkdirSync('dist', { recursive: true });
fs.copyFileSync('target/release/libplugin.so', 'dist/plugin.so');
console.log('built dist/plugin.so');
`;

/** src/lib.rs: the C ABI through the plugward.rs binding @plugward/loader ships, no crates; one hook, on_request, upper-casing its input. */
export const RUST_SOURCE = `//! A Plugward native plugin in Rust, against the C ABI of plugward.h (v1), without crates.
//! Hook "on_request" answers with its input in upper case.

use std::ptr;

// plugward.h for Rust, shipped by @plugward/loader (build.mjs sets PLUGWARD_RS to its path).
include!(env!("PLUGWARD_RS"));

// From plugward.json, through build.mjs (a rebuild picks up a change).
const NAME: &str = concat!(env!("PW_PLUGIN_NAME"), "\\0");
const VERSION: &str = concat!(env!("PW_PLUGIN_VERSION"), "\\0");
const AUTHOR: &str = concat!(env!("PW_PLUGIN_AUTHOR"), "\\0");

unsafe extern "C" fn init(_self: *mut PwPlugin, host: *const PwHostApi, err: *mut c_char, cap: usize) -> i32 {
    if host.is_null() || (*host).abi_version != PLUGWARD_ABI_VERSION {
        return set_error(err, cap, PW_ERR_INVALID_ARGUMENT, "unexpected host ABI");
    }
    PW_OK
}

unsafe extern "C" fn register_hooks(_self: *mut PwPlugin, host: *const PwHostApi, err: *mut c_char, cap: usize) -> i32 {
    pw_register_hook(host, b"on_request\\0", 200, err, cap, "register_hook failed")
}

unsafe extern "C" fn call_hook(
    _self: *mut PwPlugin,
    hook_name: *const c_char,
    input: *const u8,
    in_len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
    err: *mut c_char,
    cap: usize,
) -> i32 {
    if pw_hook_name(hook_name) != b"on_request" {
        return set_error(err, cap, PW_ERR_NOT_FOUND, "unknown hook");
    }
    pw_set_output(out, out_len, pw_input(input, in_len).to_ascii_uppercase());
    PW_OK
}

unsafe extern "C" fn destroy(self_: *mut PwPlugin) {
    drop(Box::from_raw(self_));
}

/// The constructor every Plugward native plugin exports.
#[no_mangle]
pub extern "C" fn create_plugin() -> *mut PwPlugin {
    Box::into_raw(Box::new(PwPlugin {
        abi_version: PLUGWARD_ABI_VERSION,
        struct_size: std::mem::size_of::<PwPlugin>() as u32,
        name: NAME.as_ptr() as *const c_char,
        version: VERSION.as_ptr() as *const c_char,
        author: AUTHOR.as_ptr() as *const c_char,
        description: ptr::null(),
        limits: PW_NO_LIMITS,
        state: ptr::null_mut(),
        init,
        register_hooks,
        call_hook,
        free_buffer: pw_free_output,
        shutdown: pw_shutdown_ok,
        destroy,
    }))
}
`;
