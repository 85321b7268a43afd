//! A missing or broken ONNX Runtime library is an error naming it and how to install it, never
//! a panic — and the failure is not remembered, so the real library still loads afterwards.
//!
//! Its own test binary (one process): ONNX Runtime, once loaded, stays loaded for the process,
//! so this must run before anything loads it, and it changes `ORT_DYLIB_PATH`.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nextbest::models::onnx::find_library;
use nextbest::models::Artifact;

const ARTIFACT: &str = "models/churn_onnx";

#[test]
fn a_missing_runtime_library_is_a_clear_error() {
    let real = find_library();

    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.32.0");
    let error = Artifact::load(ARTIFACT).unwrap_err();
    assert_eq!(error.code(), "onnx_runtime_unavailable", "{error}");
    let message = error.to_string();
    for part in [
        "/nonexistent/libonnxruntime.so.1.32.0",
        "./scripts/setup.sh",
        "ORT_DYLIB_PATH",
    ] {
        assert!(message.contains(part), "{part} not in: {message}");
    }

    // A file that is not a shared library: the dynamic loader's refusal, as an error.
    std::env::set_var("ORT_DYLIB_PATH", "Cargo.toml");
    let error = Artifact::load(ARTIFACT).unwrap_err();
    assert_eq!(error.code(), "onnx_runtime_unavailable", "{error}");
    assert!(error.to_string().contains("Cargo.toml"), "{error}");

    // With the real library back, the same process loads the model.
    match real {
        Ok(path) => {
            std::env::set_var("ORT_DYLIB_PATH", &path);
            Artifact::load(ARTIFACT).unwrap();
        }
        Err(e) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("CI must have ONNX Runtime (.ci/run runs ./scripts/setup.sh): {e}")
        }
        Err(e) => eprintln!("not checking the recovery: {e}"),
    }
}
