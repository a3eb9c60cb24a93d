// plugward.h (ABI version 1) for Rust: the declarations a native plugin needs, without crates. Pull it in with
//   include!(env!("PLUGWARD_RS"));
// where the build sets PLUGWARD_RS to this file's path (`path.join(plugwardIncludeDir(), 'plugward.rs')` from
// @plugward/loader), so every Rust plugin uses the binding of the ABI the loader speaks.
#[allow(unused_imports)]
use std::ffi::{c_char, c_void};

#[allow(dead_code)]
const PLUGWARD_ABI_VERSION: u32 = 1;
#[allow(dead_code)]
const PW_OK: i32 = 0;
#[allow(dead_code)]
const PW_ERR_GENERIC: i32 = 1;
#[allow(dead_code)]
const PW_ERR_INVALID_ARGUMENT: i32 = 2;
#[allow(dead_code)]
const PW_ERR_NOT_FOUND: i32 = 3;
#[allow(dead_code)]
const PW_ERR_NO_MEMORY: i32 = 4;
#[allow(dead_code)]
const PW_ERR_PERMISSION_DENIED: i32 = 5;
#[allow(dead_code)]
const PW_ERR_BUFFER_TOO_SMALL: i32 = 6;
#[allow(dead_code)]
const PW_ERR_WOULD_BLOCK: i32 = 7;
#[allow(dead_code)]
const PW_ERR_TYPE: i32 = 8;
#[allow(dead_code)]
const PW_ERR_STATE: i32 = 9;
#[allow(dead_code)]
const PW_LOG_TRACE: i32 = 0;
#[allow(dead_code)]
const PW_LOG_DEBUG: i32 = 1;
#[allow(dead_code)]
const PW_LOG_INFO: i32 = 2;
#[allow(dead_code)]
const PW_LOG_WARN: i32 = 3;
#[allow(dead_code)]
const PW_LOG_ERROR: i32 = 4;

#[repr(C)]
pub struct PwLimits {
    max_heap_bytes: u64,
    max_cpu_time_ms: u64,
    max_file_descriptors: u64,
    max_threads: u64,
    max_connections: u64,
    max_db_query_ms: u64,
    max_external_api_ms: u64,
}

#[repr(C)]
pub struct PwHostApi {
    abi_version: u32,
    struct_size: u32,
    host_data: *mut c_void,
    register_hook: unsafe extern "C" fn(*mut c_void, *const c_char, i32) -> i32,
    log: unsafe extern "C" fn(*mut c_void, i32, *const c_char),
    context_get: unsafe extern "C" fn(*mut c_void, *const c_char, *mut u8, usize, *mut usize) -> i32,
    context_set: unsafe extern "C" fn(*mut c_void, *const c_char, *const u8, usize) -> i32,
    context_remove: unsafe extern "C" fn(*mut c_void, *const c_char) -> i32,
}

#[repr(C)]
pub struct PwPlugin {
    abi_version: u32,
    struct_size: u32,
    name: *const c_char,
    version: *const c_char,
    author: *const c_char,
    description: *const c_char,
    limits: PwLimits,
    state: *mut c_void,
    init: unsafe extern "C" fn(*mut PwPlugin, *const PwHostApi, *mut c_char, usize) -> i32,
    register_hooks: unsafe extern "C" fn(*mut PwPlugin, *const PwHostApi, *mut c_char, usize) -> i32,
    call_hook: unsafe extern "C" fn(
        *mut PwPlugin,
        *const c_char,
        *const u8,
        usize,
        *mut *mut u8,
        *mut usize,
        *mut c_char,
        usize,
    ) -> i32,
    free_buffer: unsafe extern "C" fn(*mut PwPlugin, *mut u8, usize),
    shutdown: unsafe extern "C" fn(*mut PwPlugin, *mut c_char, usize) -> i32,
    destroy: unsafe extern "C" fn(*mut PwPlugin),
}

#[allow(dead_code)]
/// Writes a NUL-terminated, truncated message into the host's error buffer and returns `code`.
unsafe fn set_error(err: *mut c_char, cap: usize, code: i32, message: &str) -> i32 {
    if !err.is_null() && cap > 0 {
        let n = message.len().min(cap - 1);
        std::ptr::copy_nonoverlapping(message.as_ptr(), err as *mut u8, n);
        *err.add(n) = 0;
    }
    code
}

/// Limits a plugin does not declare: every field 0 ("not declared"). Start from it with struct update syntax:
/// `PwLimits { max_heap_bytes: 4 << 20, ..PW_NO_LIMITS }`.
#[allow(dead_code)]
const PW_NO_LIMITS: PwLimits = PwLimits {
    max_heap_bytes: 0,
    max_cpu_time_ms: 0,
    max_file_descriptors: 0,
    max_threads: 0,
    max_connections: 0,
    max_db_query_ms: 0,
    max_external_api_ms: 0,
};

#[allow(dead_code)]
/// The input of `call_hook` as a slice (empty when `len` is 0, whatever `input` is).
unsafe fn pw_input<'a>(input: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || input.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(input, len)
    }
}

#[allow(dead_code)]
/// Hands `bytes` to the host as `call_hook`'s output; the host gives it back to `pw_free_output`, which must then be the
/// plugin's `free_buffer`.
unsafe fn pw_set_output(out: *mut *mut u8, out_len: *mut usize, bytes: Vec<u8>) {
    let boxed = bytes.into_boxed_slice();
    *out_len = boxed.len();
    *out = Box::into_raw(boxed) as *mut u8;
}

#[allow(dead_code)]
/// A `free_buffer` for outputs made by `pw_set_output`.
unsafe extern "C" fn pw_free_output(_self: *mut PwPlugin, buffer: *mut u8, len: usize) {
    if !buffer.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(buffer, len)));
    }
}

#[allow(dead_code)]
/// A `shutdown` for a plugin with nothing to do at shutdown.
unsafe extern "C" fn pw_shutdown_ok(_self: *mut PwPlugin, _err: *mut c_char, _cap: usize) -> i32 {
    PW_OK
}

#[allow(dead_code)]
/// Registers hook `name` (NUL-terminated bytes, e.g. `b"on_request\0"`) at `priority` from `register_hooks`; a
/// refusal is written to the error buffer (`message`) and its code returned.
unsafe fn pw_register_hook(
    host: *const PwHostApi,
    name: &[u8],
    priority: i32,
    err: *mut c_char,
    cap: usize,
    message: &str,
) -> i32 {
    if name.last() != Some(&0) {
        return set_error(err, cap, PW_ERR_INVALID_ARGUMENT, "hook name must end with a NUL byte");
    }
    let rc = ((*host).register_hook)((*host).host_data, name.as_ptr() as *const c_char, priority);
    if rc == PW_OK {
        PW_OK
    } else {
        set_error(err, cap, rc, message)
    }
}

#[allow(dead_code)]
/// The hook name `call_hook` was called with, without its NUL.
unsafe fn pw_hook_name<'a>(hook_name: *const c_char) -> &'a [u8] {
    std::ffi::CStr::from_ptr(hook_name).to_bytes()
}
