//! Where ONNX Runtime's library may come from. Its own test binary: it changes the working
//! directory and a process-wide switch, which no other test may see.

// Tests may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nextbest::models::onnx::{find_library_near, search_only_startup_locations, LIBRARY_ENV};

#[test]
fn the_service_never_looks_for_the_runtime_beside_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    // The server runs from a folder without ONNX Runtime, and no ORT_DYLIB_PATH.
    let cwd = root.join("service");
    std::fs::create_dir_all(&cwd).unwrap();
    std::env::set_current_dir(&cwd).unwrap();
    std::env::remove_var(LIBRARY_ENV);
    // Someone who can write a folder elsewhere plants a "runtime" beside a model folder.
    let elsewhere = root.join("elsewhere");
    let capi = elsewhere.join(".ort/py/onnxruntime/capi");
    std::fs::create_dir_all(&capi).unwrap();
    let planted = capi.join("libonnxruntime.so.1.99.0");
    std::fs::write(
        &planted,
        b"not a library: would run its constructor if loaded",
    )
    .unwrap();
    let model_dir = elsewhere.join("models/churn_onnx");
    std::fs::create_dir_all(&model_dir).unwrap();
    let model = model_dir.join("model.onnx");
    std::fs::write(&model, b"").unwrap();

    // The command line may look beside the model it is shown…
    if cfg!(target_os = "linux") {
        assert_eq!(find_library_near(Some(&model)).unwrap(), planted);
    }
    // …the service, once started, never does: the planted file is not even found.
    search_only_startup_locations();
    let error = find_library_near(Some(&model)).unwrap_err();
    assert_eq!(error.code(), "onnx_runtime_unavailable");
    assert!(!error.to_string().contains("elsewhere"), "{error}");
}
