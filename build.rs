// Tell rustc which PHP version we build against, so code can adapt where PHP's ABI differs.
fn main() {
    println!("cargo:rerun-if-env-changed=PHP_CONFIG");
    println!("cargo:rerun-if-changed=build.rs");
}
