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
