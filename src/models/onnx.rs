//! ONNX models run by ONNX Runtime through `ort`, behind the [`Scorer`] interface.
//!
//! **The runtime library** is loaded at run time, never linked or downloaded at build time:
//! [`find_library`] takes `ORT_DYLIB_PATH` when it is set, and otherwise looks for
//! `.ort/py/onnxruntime/capi/libonnxruntime.so.<version>` (where `scripts/setup.sh` installs
//! the PyPI `onnxruntime` wheel) in the working directory and each of its parents, then in the
//! folder of the model being loaded and each of its parents (so `nextbest models show
//! /repo/models/churn_onnx` works from anywhere) — except in the service, which searches only
//! the locations its start-up configuration gives ([`search_only_startup_locations`]). The first
//! ONNX model loaded initialises ONNX Runtime once per process ([`runtime`]); a missing or
//! unloadable library is an error with the code `onnx_runtime_unavailable`, never a panic, and
//! is not remembered, so a later load can succeed once the library is there.
//!
//! **Accepted models.** One input: a float tensor `[N, d]` whose `d` is fixed and equal to the
//! manifest's feature count (else `model_feature_mismatch`). The probability is read from the
//! output named `probabilities` when there is one, else from the model's only float tensor
//! output; that output must be `[N, 2]` (P(positive) is column 1, the skl2onnx/onnxmltools
//! convention with ZipMap disabled), `[N, 1]` or `[N]` (P(positive) itself), as `f32` or `f64`.
//! Anything else — ZipMap's sequence of maps, multi-class outputs, a label only — is refused at
//! load time with `model_invalid` and a message saying what was found.
//!
//! **Threads.** `ort`'s `Session::run` takes `&mut self`, and the service scores from several
//! worker threads. Each [`OnnxModel`] holds a small pool of sessions (one per core, at most 8),
//! each behind its own mutex: a call takes the first free session starting from a rotating
//! index and waits only when all are busy. A single mutex would serialise all scoring on one
//! session; a session per call would re-parse the model every time. Each session runs with one
//! intra-op thread, because parallelism comes from the callers, and a one-row request gains
//! nothing from ONNX Runtime's thread pool but its hand-off cost. A tree ensemble the size of
//! the committed churn model costs a few hundred KB per session.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::{check_rows, ModelError, Scorer};

/// The environment variable naming the ONNX Runtime library file (as `ort` itself reads it).
pub const LIBRARY_ENV: &str = "ORT_DYLIB_PATH";

/// Where `scripts/setup.sh` puts the library, relative to the repository root.
pub const LOCAL_LIBRARY_DIR: &str = ".ort/py/onnxruntime/capi";

/// The most sessions one model keeps.
const MAX_SESSIONS: usize = 8;

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Whether the library may also be looked for beside the model being loaded — the command
/// line's convenience (`nextbest models show /repo/models/churn_onnx` from anywhere). The
/// service turns it off at start-up ([`search_only_startup_locations`]): a folder a request
/// names must never decide which code the process loads.
static SEARCH_NEAR_MODELS: AtomicBool = AtomicBool::new(true);

/// From now on the library is found only where the process's own configuration says:
/// `ORT_DYLIB_PATH`, or `.ort/` in the working directory or its parents — never beside a model.
pub fn search_only_startup_locations() {
    SEARCH_NEAR_MODELS.store(false, Ordering::SeqCst);
}

/// Finds the ONNX Runtime library: `ORT_DYLIB_PATH` if set, else the newest
/// `.ort/py/onnxruntime/capi/libonnxruntime.so.<version>` under the working directory or one of
/// its parents. Errors (`onnx_runtime_unavailable`) say where it looked.
pub fn find_library() -> Result<PathBuf, ModelError> {
    find_library_near(None)
}

/// [`find_library`], also searching upwards from `near` (a model file) after the working
/// directory.
pub fn find_library_near(near: Option<&Path>) -> Result<PathBuf, ModelError> {
    let mut starts = vec![std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))];
    if let Some(dir) = near
        .filter(|_| SEARCH_NEAR_MODELS.load(Ordering::SeqCst))
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        starts.push(dir);
    }
    let starts: Vec<&Path> = starts.iter().map(PathBuf::as_path).collect();
    resolve_library(std::env::var_os(LIBRARY_ENV).as_deref(), &starts)
}

/// [`find_library`] with its inputs explicit: the value of `ORT_DYLIB_PATH` (if any) and the
/// directories to search upwards from, in order.
pub fn resolve_library(env_value: Option<&OsStr>, starts: &[&Path]) -> Result<PathBuf, ModelError> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::OnnxRuntime {
                problem: format!("{LIBRARY_ENV} is {}, which is not a file", path.display()),
            })
        };
    }
    for start in starts {
        for dir in start.ancestors() {
            if let Some(found) = newest_library_in(&dir.join(LOCAL_LIBRARY_DIR)) {
                return Ok(found);
            }
        }
    }
    Err(ModelError::OnnxRuntime {
        problem: format!(
            "{LIBRARY_ENV} is not set and no {LOCAL_LIBRARY_DIR}/{} was found in {} or their parents",
            library_pattern(),
            starts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

fn library_pattern() -> &'static str {
    if cfg!(target_os = "macos") {
        "libonnxruntime.<version>.dylib"
    } else if cfg!(windows) {
        "onnxruntime.dll"
    } else {
        "libonnxruntime.so.<version>"
    }
}

/// The version in a library file name (`libonnxruntime.so.1.32.0` → [1, 32, 0]), if it is one.
fn library_version(name: &str) -> Option<Vec<u32>> {
    let version = if cfg!(target_os = "macos") {
        name.strip_prefix("libonnxruntime.")?
            .strip_suffix(".dylib")?
    } else if cfg!(windows) {
        return (name == "onnxruntime.dll").then(Vec::new);
    } else {
        name.strip_prefix("libonnxruntime.so.")?
    };
    version.split('.').map(|part| part.parse().ok()).collect()
}

fn newest_library_in(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = library_version(entry.file_name().to_str()?)?;
            let path = entry.path();
            path.is_file().then_some((version, path))
        })
        .max()
        .map(|(_, path)| path)
}

/// The process-wide ONNX Runtime environment, initialised on first use from
/// [`find_library_near`] (`near`: the model being loaded, if any).
pub fn runtime(near: Option<&Path>) -> Result<Environment, ModelError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(environment) = slot.as_ref() {
        return Ok(environment.clone());
    }
    let environment = init_runtime(&find_library_near(near)?)?;
    *slot = Some(environment.clone());
    Ok(environment)
}

/// Loads the ONNX Runtime library at `path` and creates an environment. Once a library is
/// loaded, the process keeps it: later calls reuse it whatever `path` says.
fn init_runtime(path: &Path) -> Result<Environment, ModelError> {
    if !path.is_file() {
        return Err(ModelError::OnnxRuntime {
            problem: format!("{} is not a file", path.display()),
        });
    }
    let unavailable = |e: &dyn fmt::Display| ModelError::OnnxRuntime {
        problem: format!("loading {}: {e}", path.display()),
    };
    ort::init_from(path)
        .map_err(|e| unavailable(&e))?
        .with_name("nextbest")
        .with_telemetry(false)
        .build()
        .map_err(|e| unavailable(&e))
}

/// Where the probability is in the model's outputs.
#[derive(Clone, Debug)]
struct ProbabilityOutput {
    name: String,
    /// Values per row: 1 (`[N]` or `[N, 1]`) or 2 (`[N, 2]`).
    width: usize,
    /// Element type: `f32` or `f64`.
    double: bool,
}

impl ProbabilityOutput {
    /// Column of P(positive) in a row.
    fn column(&self) -> usize {
        self.width - 1
    }
}

/// An ONNX tabular model: a pool of ONNX Runtime sessions over one `model.onnx`.
pub struct OnnxModel {
    path: PathBuf,
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    n_features: usize,
    output: ProbabilityOutput,
}

impl fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("sessions", &self.sessions.len())
            .field("n_features", &self.n_features)
            .field("output", &self.output)
            .finish()
    }
}

fn default_pool_size() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_SESSIONS))
}

impl OnnxModel {
    /// Loads `path` for rows of `n_features` features, with one session per core (at most 8).
    pub fn load(path: &Path, n_features: usize) -> Result<Self, ModelError> {
        Self::load_with_sessions(path, n_features, default_pool_size())
    }

    /// Loads `path` with `sessions` sessions (at least one): as many threads can score at once.
    pub fn load_with_sessions(
        path: &Path,
        n_features: usize,
        sessions: usize,
    ) -> Result<Self, ModelError> {
        let environment = runtime(Some(path))?;
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let first = open_session(&environment, &bytes, path)?;
        check_input(&first, n_features, path)?;
        let output = probability_output(&first, path)?;
        let mut pool = vec![Mutex::new(first)];
        for _ in 1..sessions.max(1) {
            pool.push(Mutex::new(open_session(&environment, &bytes, path)?));
        }
        Ok(OnnxModel {
            path: path.to_path_buf(),
            sessions: pool,
            next: AtomicUsize::new(0),
            n_features,
            output,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of features the model takes.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The number of sessions in the pool.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// The first free session from a rotating start, or (all busy) the start one when freed.
    fn session(&self) -> MutexGuard<'_, Session> {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.sessions[(start + i) % n].try_lock() {
                Ok(guard) => return guard,
                // A panic elsewhere while holding it leaves the session itself intact.
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.sessions[start]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, what: &str, e: &dyn fmt::Display) -> ModelError {
        ModelError::Scoring(format!("{}: {what}: {e}", self.path.display()))
    }
}

impl Scorer for OnnxModel {
    fn predict_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        let n = check_rows(rows, n_features, Some(self.n_features))?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let input = TensorRef::from_array_view(([n, n_features], rows))
            .map_err(|e| self.failed("input tensor", &e))?;
        let mut session = self.session();
        let outputs = session
            .run(ort::inputs![input])
            .map_err(|e| self.failed("ONNX Runtime", &e))?;
        let value = outputs.get(&self.output.name).ok_or_else(|| {
            ModelError::Scoring(format!(
                "{}: output `{}` is missing",
                self.path.display(),
                self.output.name
            ))
        })?;
        let (shape, values): (Vec<i64>, Vec<f64>) = if self.output.double {
            let (shape, data) = value
                .try_extract_tensor::<f64>()
                .map_err(|e| self.failed("reading the output", &e))?;
            (shape.to_vec(), data.to_vec())
        } else {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| self.failed("reading the output", &e))?;
            (shape.to_vec(), data.iter().map(|&p| f64::from(p)).collect())
        };
        let width = self.output.width;
        if values.len() != n * width || shape.first().is_some_and(|&rows| rows != n as i64) {
            return Err(ModelError::Scoring(format!(
                "{}: output `{}` has shape {shape:?} for {n} rows, expected [{n}, {width}]",
                self.path.display(),
                self.output.name
            )));
        }
        let column = self.output.column();
        Ok(values.chunks_exact(width).map(|row| row[column]).collect())
    }
}

fn open_session(
    environment: &Environment,
    bytes: &[u8],
    path: &Path,
) -> Result<Session, ModelError> {
    let invalid = |e: &dyn fmt::Display| ModelError::Invalid {
        path: path.to_path_buf(),
        problem: format!("ONNX Runtime cannot load this model: {e}"),
    };
    Session::builder(environment)
        .map_err(|e| invalid(&e))?
        .with_intra_threads(1)
        .map_err(|e| invalid(&e))?
        .with_inter_threads(1)
        .map_err(|e| invalid(&e))?
        .commit_from_memory(bytes)
        .map_err(|e| invalid(&e))
}

fn describe(dtype: &ValueType) -> String {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => format!("{ty:?} tensor {:?}", shape.to_vec()),
        ValueType::Sequence(inner) => format!("sequence of {}", describe(inner)),
        ValueType::Map { key, value } => format!("map {key:?} → {value:?}"),
        ValueType::Optional(inner) => format!("optional {}", describe(inner)),
    }
}

/// The model must take one float tensor `[N, n_features]`.
fn check_input(session: &Session, n_features: usize, path: &Path) -> Result<(), ModelError> {
    let invalid = |problem: String| ModelError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    let [input] = session.inputs() else {
        return Err(invalid(format!(
            "the model has {} inputs ({}); nextbest feeds one float tensor [N, features]",
            session.inputs().len(),
            session
                .inputs()
                .iter()
                .map(|i| i.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let ValueType::Tensor {
        ty: TensorElementType::Float32,
        shape,
        ..
    } = input.dtype()
    else {
        return Err(invalid(format!(
            "input `{}` is a {}; nextbest feeds a float (f32) tensor [N, features]",
            input.name(),
            describe(input.dtype())
        )));
    };
    match shape.to_vec()[..] {
        [_, width] if width == n_features as i64 => Ok(()),
        [_, width] if width > 0 => Err(ModelError::FeatureMismatch {
            path: path.to_path_buf(),
            problem: format!(
                "the model's input `{}` takes {width} features, the manifest lists {n_features}",
                input.name()
            ),
        }),
        _ => Err(invalid(format!(
            "input `{}` has shape {:?}; nextbest needs [N, {n_features}] with the feature \
             count fixed in the model",
            input.name(),
            shape.to_vec()
        ))),
    }
}

/// Picks the output holding P(positive) (see the module documentation).
fn probability_output(session: &Session, path: &Path) -> Result<ProbabilityOutput, ModelError> {
    let invalid = |problem: String| ModelError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    let listing = || {
        session
            .outputs()
            .iter()
            .map(|o| format!("`{}` ({})", o.name(), describe(o.dtype())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let is_float = |dtype: &ValueType| {
        matches!(
            dtype,
            ValueType::Tensor {
                ty: TensorElementType::Float32 | TensorElementType::Float64,
                ..
            }
        )
    };
    let outlet = match session
        .outputs()
        .iter()
        .find(|o| o.name() == "probabilities")
    {
        Some(o) => o,
        None => {
            let floats: Vec<_> = session
                .outputs()
                .iter()
                .filter(|o| is_float(o.dtype()))
                .collect();
            match floats[..] {
                [only] => only,
                _ => {
                    return Err(invalid(format!(
                        "cannot tell which output is the probability: outputs are {}; \
                         nextbest reads `probabilities` or the only float tensor output \
                         (convert with ZipMap disabled, e.g. skl2onnx options {{'zipmap': False}})",
                        listing()
                    )))
                }
            }
        }
    };
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(invalid(format!(
            "output `{}` is a {}, not a tensor; convert with ZipMap disabled \
             (skl2onnx options {{'zipmap': False}})",
            outlet.name(),
            describe(outlet.dtype())
        )));
    };
    let double = match ty {
        TensorElementType::Float32 => false,
        TensorElementType::Float64 => true,
        other => {
            return Err(invalid(format!(
                "output `{}` holds {other:?} values, not probabilities",
                outlet.name()
            )))
        }
    };
    let width = match shape.to_vec()[..] {
        [_] | [_, 1] => 1,
        [_, 2] => 2,
        ref other => {
            return Err(invalid(format!(
                "output `{}` has shape {other:?}; nextbest reads binary probabilities \
                 [N, 2] (column 1), [N, 1] or [N]",
                outlet.name()
            )))
        }
    };
    Ok(ProbabilityOutput {
        name: outlet.name().to_string(),
        width,
        double,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_versions_are_read_from_file_names() {
        if cfg!(target_os = "linux") {
            assert_eq!(
                library_version("libonnxruntime.so.1.32.0"),
                Some(vec![1, 32, 0])
            );
            assert_eq!(library_version("libonnxruntime.so"), None);
            assert_eq!(library_version("libonnxruntime_providers_shared.so"), None);
            assert_eq!(library_version("libonnxruntime.so.1.x"), None);
        }
    }

    #[test]
    fn the_newest_library_in_a_folder_wins() {
        let dir = tempfile::tempdir().unwrap();
        let capi = dir.path().join(LOCAL_LIBRARY_DIR);
        std::fs::create_dir_all(&capi).unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(
            resolve_library(None, &[&nested]).unwrap_err().code(),
            "onnx_runtime_unavailable"
        );
        if cfg!(target_os = "linux") {
            for name in [
                "libonnxruntime.so.1.9.0",
                "libonnxruntime.so.1.32.0",
                "libonnxruntime_providers_shared.so",
            ] {
                std::fs::write(capi.join(name), b"").unwrap();
            }
            // Found from a subfolder, by numeric (not text) version order; from a second start
            // when the first has none.
            assert_eq!(
                resolve_library(None, &[&nested]).unwrap(),
                capi.join("libonnxruntime.so.1.32.0")
            );
            let elsewhere = tempfile::tempdir().unwrap();
            assert_eq!(
                resolve_library(None, &[elsewhere.path(), &nested]).unwrap(),
                capi.join("libonnxruntime.so.1.32.0")
            );
            // ORT_DYLIB_PATH wins, and must name a file.
            let other = dir.path().join("custom.so");
            std::fs::write(&other, b"").unwrap();
            assert_eq!(
                resolve_library(Some(other.as_os_str()), &[&nested]).unwrap(),
                other
            );
            let error =
                resolve_library(Some(OsStr::new("/nonexistent/lib.so")), &[&nested]).unwrap_err();
            assert_eq!(error.code(), "onnx_runtime_unavailable");
            let message = error.to_string();
            assert!(
                message.contains("/nonexistent/lib.so") && message.contains("scripts/setup.sh"),
                "{message}"
            );
            // An empty ORT_DYLIB_PATH counts as unset.
            assert_eq!(
                resolve_library(Some(OsStr::new("")), &[&nested]).unwrap(),
                capi.join("libonnxruntime.so.1.32.0")
            );
        }
    }
}
