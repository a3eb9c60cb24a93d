//! hello-rust: a Plugward native plugin written in Rust with no crates, against the C ABI of `plugward.h` (v1).
//!
//! Hook "reverse" (priority 150): returns the input bytes reversed, counts calls in the context key
//! "rust.calls" (decimal text) and logs each call.

use std::ptr;

include!(env!("PLUGWARD_RS"));

struct State {
    host: *const PwHostApi,
    calls: u64,
}

fn cstr(s: &'static [u8]) -> *const c_char {
    s.as_ptr() as *const c_char
}

unsafe fn log(host: *const PwHostApi, level: i32, message: &str) {
    let mut line = Vec::with_capacity(message.len() + 1);
    line.extend_from_slice(message.as_bytes());
    line.push(0);
    ((*host).log)((*host).host_data, level, line.as_ptr() as *const c_char);
}

unsafe extern "C" fn init(self_: *mut PwPlugin, host: *const PwHostApi, err: *mut c_char, cap: usize) -> i32 {
    if host.is_null() || (*host).abi_version != PLUGWARD_ABI_VERSION {
        return set_error(err, cap, PW_ERR_INVALID_ARGUMENT, "hello-rust: unexpected host ABI");
    }
    let state = Box::new(State { host, calls: 0 });
    (*self_).state = Box::into_raw(state) as *mut c_void;
    log(host, PW_LOG_INFO, "hello-rust initialised");
    PW_OK
}

unsafe extern "C" fn register_hooks(_self: *mut PwPlugin, host: *const PwHostApi, err: *mut c_char, cap: usize) -> i32 {
    pw_register_hook(host, b"reverse\0", 150, err, cap, "hello-rust: register_hook failed")
}

unsafe extern "C" fn call_hook(
    self_: *mut PwPlugin,
    hook_name: *const c_char,
    input: *const u8,
    in_len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
    err: *mut c_char,
    cap: usize,
) -> i32 {
    let state = (*self_).state as *mut State;
    if state.is_null() {
        return set_error(err, cap, PW_ERR_STATE, "hello-rust: not initialised");
    }
    if pw_hook_name(hook_name) != b"reverse" {
        return set_error(err, cap, PW_ERR_NOT_FOUND, "hello-rust: unknown hook");
    }
    let mut reversed: Vec<u8> = pw_input(input, in_len).to_vec();
    reversed.reverse();

    (*state).calls += 1;
    let host = (*state).host;
    let text = (*state).calls.to_string();
    let rc = ((*host).context_set)((*host).host_data, cstr(b"rust.calls\0"), text.as_ptr(), text.len());
    if rc != PW_OK {
        return set_error(err, cap, rc, "hello-rust: cannot write context key \"rust.calls\"");
    }
    log(host, PW_LOG_INFO, &format!("hello-rust reversed {} bytes", in_len));

    pw_set_output(out, out_len, reversed);
    PW_OK
}

unsafe extern "C" fn destroy(self_: *mut PwPlugin) {
    let state = (*self_).state as *mut State;
    if !state.is_null() {
        drop(Box::from_raw(state));
    }
    drop(Box::from_raw(self_));
}

/// The constructor every Plugward native plugin exports.
#[no_mangle]
pub extern "C" fn create_plugin() -> *mut PwPlugin {
    let plugin = Box::new(PwPlugin {
        abi_version: PLUGWARD_ABI_VERSION,
        struct_size: std::mem::size_of::<PwPlugin>() as u32,
        name: cstr(b"hello-rust\0"),
        version: cstr(b"0.3.0\0"),
        author: cstr(b"Plugward\0"),
        description: cstr(b"Reverses bytes; written in Rust without crates.\0"),
        limits: PwLimits { max_heap_bytes: 4 * 1024 * 1024, ..PW_NO_LIMITS },
        state: ptr::null_mut(),
        init,
        register_hooks,
        call_hook,
        free_buffer: pw_free_output,
        shutdown: pw_shutdown_ok,
        destroy,
    });
    Box::into_raw(plugin)
}
