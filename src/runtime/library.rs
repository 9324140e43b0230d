//! Finding and loading the ONNX Runtime shared library, once per process.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::{Error, Result};

/// The ONNX Runtime release squeezebench is built and tested against (provisioned by `build.rs`).
pub const EXPECTED_VERSION: &str = env!("SQUEEZEBENCH_ORT_VERSION");

/// `major.minor` of [`EXPECTED_VERSION`] (e.g. `1.31`); any patch release of it is fine.
pub(crate) fn expected_major_minor() -> &'static str {
    match EXPECTED_VERSION.match_indices('.').nth(1) {
        Some((i, _)) => &EXPECTED_VERSION[..i],
        None => EXPECTED_VERSION,
    }
}

/// Path compiled in by `build.rs`: the provisioned library, `ORT_DYLIB_PATH` as seen at build time, or empty when
/// provisioning failed.
const BUILD_TIME_DYLIB: Option<&str> = option_env!("SQUEEZEBENCH_ORT_DYLIB");

/// Where the loaded library came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LibrarySource {
    /// The `ORT_DYLIB_PATH` environment variable at run time.
    EnvVar,
    /// The path resolved by `build.rs` at build time.
    BuildTime,
    /// A `libonnxruntime.so*` in the executable's directory.
    NextToExecutable,
}

/// What was loaded; recorded in benchmark environment manifests.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuntimeInfo {
    /// ONNX Runtime version as the library reports it, e.g. `"1.31.1"` (`"unknown"` in the unlikely case that
    /// neither the library, its build info nor its file name says).
    pub version: String,
    /// Absolute path of the loaded library.
    pub library: PathBuf,
    /// Which lookup rule found it.
    pub source: LibrarySource,
    /// ONNX Runtime's build information string (git branch and commit, build type, compiler flags).
    pub build_info: String,
}

struct Runtime {
    info: RuntimeInfo,
    /// Kept alive for the whole process: `ort` tracks the current environment through a weak reference only.
    environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime and creates its process-wide environment, once; later calls return the same information.
///
/// A failure is not cached: after fixing e.g. `ORT_DYLIB_PATH`, calling again retries. Sessions call this
/// themselves, so calling it explicitly is only needed to report the version up front.
pub fn init() -> Result<&'static RuntimeInfo> {
    Ok(&runtime()?.info)
}

/// The loaded ONNX Runtime version (loads the library if needed).
pub fn version() -> Result<&'static str> {
    Ok(&init()?.version)
}

/// The environment sessions are created in.
pub(super) fn environment() -> Result<&'static ort::environment::Environment> {
    Ok(&runtime()?.environment)
}

fn runtime() -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    // Serialise initialisation: `ort` allows a single environment per process, so two threads racing to build one
    // would make the loser fail.
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }

    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let (path, source) = locate(
        std::env::var_os("ORT_DYLIB_PATH"),
        BUILD_TIME_DYLIB,
        exe_dir.as_deref(),
    )?;

    // `init_from` returns an error for a missing/unloadable/too old library; never let `ort` look the library up
    // by itself, as that path panics instead.
    let builder = ort::init_from(&path).map_err(|e| Error::LibraryLoad {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let environment = builder
        .with_name("squeezebench")
        .with_telemetry(false)
        .build()
        .map_err(|e| Error::Environment(e.to_string()))?;

    // ONNX Runtime logs failed runs itself (in colour, on stderr) before returning the same message as an error,
    // which we report; keep its log to fatal messages unless the user asked for more through `ORT_LOG`.
    if std::env::var_os("ORT_LOG").is_none() {
        environment.set_log_level(ort::logging::LogLevel::Fatal);
    }

    let build_info = ort::info().to_string();
    let version = version_from_library(&path)
        .or_else(|| version_from_build_info(&build_info))
        .or_else(|| version_from_file_name(&path))
        .unwrap_or_else(|| "unknown".to_string());
    let info = RuntimeInfo {
        version,
        library: path,
        source,
        build_info,
    };
    Ok(RUNTIME.get_or_init(|| Runtime { info, environment }))
}

/// Resolves the library path from the run-time `ORT_DYLIB_PATH`, the build-time path and the executable's folder,
/// in that order. Pure apart from file-system checks, so it can be tested without loading anything.
fn locate(
    env_path: Option<OsString>,
    build_time: Option<&str>,
    exe_dir: Option<&Path>,
) -> Result<(PathBuf, LibrarySource)> {
    let mut tried = Vec::new();

    match env_path.filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_file() {
                return Ok((absolute(&p), LibrarySource::EnvVar));
            }
            // An explicit choice that is wrong is reported, not replaced by another library behind the user's back.
            tried.push(format!("ORT_DYLIB_PATH='{}' (no such file)", p.display()));
            return Err(Error::LibraryNotFound { tried });
        }
        None => tried.push("ORT_DYLIB_PATH (not set)".to_string()),
    }

    match build_time.filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_file() {
                return Ok((p, LibrarySource::BuildTime));
            }
            tried.push(format!(
                "build-time path '{}' (no such file; was the target dir cleaned? rebuild to provision it again)",
                p.display()
            ));
        }
        None => tried.push("build-time path (none: provisioning failed when squeezebench was built, see the build warnings)".to_string()),
    }

    match exe_dir {
        Some(dir) => {
            if let Some(p) = library_in_dir(dir) {
                return Ok((p, LibrarySource::NextToExecutable));
            }
            let pattern = if cfg!(target_os = "macos") {
                "libonnxruntime*.dylib".to_string()
            } else {
                format!(
                    "{}onnxruntime{}*",
                    std::env::consts::DLL_PREFIX,
                    std::env::consts::DLL_SUFFIX
                )
            };
            tried.push(format!("{} (none)", dir.join(pattern).display()));
        }
        None => tried.push("the executable's directory (unknown)".to_string()),
    }

    Err(Error::LibraryNotFound { tried })
}

/// The best ONNX Runtime library file in `dir`: the expected version's file name, else the unversioned name, else
/// any other `libonnxruntime.<...>` (but not e.g. `libonnxruntime_providers_shared.so`).
fn library_in_dir(dir: &Path) -> Option<PathBuf> {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    let stem = format!("{DLL_PREFIX}onnxruntime");
    let exact = if cfg!(target_os = "macos") {
        format!("{stem}.{EXPECTED_VERSION}{DLL_SUFFIX}")
    } else {
        format!("{stem}{DLL_SUFFIX}.{EXPECTED_VERSION}")
    };
    let plain = format!("{stem}{DLL_SUFFIX}");

    let mut others: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_lib =
            name == plain || (name.starts_with(&format!("{stem}.")) && name.contains(DLL_SUFFIX));
        if is_lib && entry.path().is_file() {
            others.push(name);
        }
    }
    let pick = if others.contains(&exact) {
        exact
    } else if others.contains(&plain) {
        plain
    } else {
        others.sort();
        others.pop()?
    };
    Some(dir.join(pick))
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Asks the library itself (`OrtGetApiBase()->GetVersionString()`), the only source that is always right: `ort`
/// checks the version while loading but does not expose it, and official builds report `git-branch=HEAD` in their
/// build info. Opening the already loaded library again only takes another reference to it.
fn version_from_library(path: &Path) -> Option<String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `path` was just loaded successfully by `ort::init_from`, which also verified that it exports
    // `OrtGetApiBase` with this signature; re-opening it runs no initialisers again. `GetVersionString` returns a
    // pointer to a static NUL-terminated string owned by the library, which stays loaded while `lib` is alive
    // (and for the whole process, as `ort` keeps its own handle).
    unsafe {
        let lib = libloading::Library::new(path).ok()?;
        let get_api_base: libloading::Symbol<'_, GetApiBase> = lib.get(b"OrtGetApiBase\0").ok()?;
        let base = get_api_base();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return None;
        }
        let version = std::ffi::CStr::from_ptr(version).to_str().ok()?.to_string();
        looks_like_version(&version).then_some(version)
    }
}

/// ONNX Runtime's build info reads like `ORT Build Info: git-branch=rel-1.31.1, git-commit-id=..., build type=...`.
fn version_from_build_info(info: &str) -> Option<String> {
    let (_, rest) = info.split_once("git-branch=")?;
    let branch = rest.split(',').next()?.trim();
    let version = branch.strip_prefix("rel-")?;
    looks_like_version(version).then(|| version.to_string())
}

/// `libonnxruntime.so.1.31.1` / `libonnxruntime.1.31.1.dylib` -> `1.31.1` (symlinks are followed first).
fn version_from_file_name(path: &Path) -> Option<String> {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = resolved.file_name()?.to_string_lossy().into_owned();
    let start = name.find(|c: char| c.is_ascii_digit())?;
    let version: String = name[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.');
    looks_like_version(version).then(|| version.to_string())
}

fn looks_like_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_minor_of_expected_version() {
        assert!(EXPECTED_VERSION.starts_with(expected_major_minor()));
        assert_eq!(expected_major_minor().matches('.').count(), 1);
    }

    #[test]
    fn parses_versions() {
        let info = "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc, build type=Release";
        assert_eq!(version_from_build_info(info).as_deref(), Some("1.31.1"));
        assert_eq!(
            version_from_build_info("ORT Build Info: git-branch=main, x"),
            None
        );
        let tmp = tempfile::tempdir().unwrap();
        let lib = tmp.path().join("libonnxruntime.so.1.31.1");
        std::fs::write(&lib, b"").unwrap();
        assert_eq!(version_from_file_name(&lib).as_deref(), Some("1.31.1"));
        assert_eq!(
            version_from_file_name(Path::new("/nowhere/libonnxruntime.so")),
            None
        );
    }

    #[test]
    fn explicit_env_path_is_authoritative() {
        let tmp = tempfile::tempdir().unwrap();
        let built = tmp.path().join("built.so");
        std::fs::write(&built, b"").unwrap();
        let err = locate(
            Some("/no/such/libonnxruntime.so".into()),
            built.to_str(),
            None,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/no/such/libonnxruntime.so"), "{msg}");
        assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");

        let (p, source) = locate(Some(built.clone().into()), None, None).unwrap();
        assert_eq!(source, LibrarySource::EnvVar);
        assert_eq!(p, built.canonicalize().unwrap());
    }

    #[test]
    fn falls_back_to_build_time_then_exe_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let built = tmp.path().join("built.so");
        std::fs::write(&built, b"").unwrap();
        let (p, source) = locate(Some("".into()), built.to_str(), None).unwrap();
        assert_eq!((p, source), (built.clone(), LibrarySource::BuildTime));

        let exe_dir = tmp.path().join("bin");
        std::fs::create_dir(&exe_dir).unwrap();
        std::fs::write(exe_dir.join("libonnxruntime_providers_shared.so"), b"").unwrap();
        let err = locate(None, Some(""), Some(&exe_dir))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ORT_DYLIB_PATH (not set)"), "{err}");
        assert!(err.contains("provisioning failed"), "{err}");
        assert!(err.contains(&exe_dir.display().to_string()), "{err}");
        assert!(err.contains("pip install onnxruntime=="), "{err}");

        std::fs::write(exe_dir.join("libonnxruntime.so.1.2.3"), b"").unwrap();
        let (p, source) = locate(None, Some("/gone/libonnxruntime.so"), Some(&exe_dir)).unwrap();
        assert_eq!(source, LibrarySource::NextToExecutable);
        assert_eq!(p, exe_dir.join("libonnxruntime.so.1.2.3"));
        std::fs::write(exe_dir.join("libonnxruntime.so"), b"").unwrap();
        assert_eq!(
            library_in_dir(&exe_dir).unwrap(),
            exe_dir.join("libonnxruntime.so")
        );
        let exact = format!("libonnxruntime.so.{EXPECTED_VERSION}");
        std::fs::write(exe_dir.join(&exact), b"").unwrap();
        assert_eq!(library_in_dir(&exe_dir).unwrap(), exe_dir.join(exact));
    }
}
