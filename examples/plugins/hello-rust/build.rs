// Points include!(env!("PLUGWARD_RS")) in src/lib.rs at the plugward.h binding for Rust that @plugward/loader ships
// (packages/loader/native/plugward.rs in this workspace), unless PLUGWARD_RS already names one.
fn main() {
    let path = std::env::var("PLUGWARD_RS").unwrap_or_else(|_| {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        format!("{dir}/../../../packages/loader/native/plugward.rs")
    });
    println!("cargo:rustc-env=PLUGWARD_RS={path}");
    println!("cargo:rerun-if-env-changed=PLUGWARD_RS");
    println!("cargo:rerun-if-changed={path}");
}
