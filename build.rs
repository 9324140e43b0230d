//! Build script: provisions the ONNX Runtime shared library.
//!
//! squeezebench links ONNX Runtime *dynamically* (the `ort` crate's `load-dynamic` feature): the library is
//! `dlopen`ed at run time from a path we choose, instead of being linked at build time. That keeps the build free of
//! native link steps and lets a user point the tool at any ONNX Runtime 1.31.x build they like (`ORT_DYLIB_PATH`).
//!
//! To make `cargo build` / `cargo test` work with no manual step, this script fetches Microsoft's official
//! `onnxruntime` wheel from PyPI and extracts the one file we need from it, `onnxruntime/capi/libonnxruntime.so.1.31.1`.
//! The shared library inside the wheel is plain C API and does not depend on the Python version the wheel is tagged
//! for, so one pinned wheel per CPU architecture is enough. We use the wheel rather than the GitHub release tarball
//! because package registries are what build machines can usually reach (and what mirrors and proxies are set up
//! for). `ort`'s own default of downloading binaries is switched off for the same reason.
//!
//! Steps:
//! 1. If `ORT_DYLIB_PATH` is set, nothing is downloaded; the path is passed through as the build-time default.
//! 2. Otherwise the library is cached in `<cargo target dir>/onnxruntime/1.31.1/`, shared by all profiles and removed
//!    by `cargo clean`. When it is already there the script only checks that the file exists.
//! 3. If it is missing, the wheel is fetched with `python3 -m pip download` (so the user's pip configuration, index
//!    mirrors, proxies and certificates apply); if pip is unavailable or fails, the pinned PyPI file URL is fetched with
//!    `curl`. Either way the wheel's SHA-256 must match the pinned digest before anything is extracted.
//! 4. The library is extracted to a temporary name and renamed into place, so an interrupted or concurrent build can
//!    never leave a truncated library behind.
//!
//! The resulting absolute path is compiled into the crate as `SQUEEZEBENCH_ORT_DYLIB`. If provisioning fails the
//! build still succeeds (with a warning) and `SQUEEZEBENCH_ORT_DYLIB` is empty; `squeezebench::runtime` then reports
//! at run time what it tried and how to fix it. Set `SQUEEZEBENCH_NO_DOWNLOAD=1` to skip the download entirely (e.g.
//! on an offline machine where the library is supplied via `ORT_DYLIB_PATH` at run time).

use std::env;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// ONNX Runtime release we provision. `ort` 2.0.0-rc.15 (feature `api-31`) needs at least 1.31.
const ORT_VERSION: &str = "1.31.1";

/// Member of the wheel that holds the C API shared library.
const WHEEL_MEMBER: &str = "onnxruntime/capi/libonnxruntime.so.1.31.1";

/// File name of the extracted library (kept identical to the name inside the wheel).
const LIB_NAME: &str = "libonnxruntime.so.1.31.1";

/// One pinned wheel: the platform tag pip is asked for, the immutable PyPI file URL (used by the curl fallback)
/// and the SHA-256 digest published by PyPI for that file.
struct Wheel {
    platform: &'static str,
    file_name: &'static str,
    url: &'static str,
    sha256: &'static str,
}

const WHEEL_LINUX_X86_64: Wheel = Wheel {
    platform: "manylinux_2_28_x86_64",
    file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    url: "https://files.pythonhosted.org/packages/b4/1d/0f85ee31a3d93f2243a5cc29252becf858f53ac5cfa6c9c15d9ffe107eea/onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
};

const WHEEL_LINUX_AARCH64: Wheel = Wheel {
    platform: "manylinux_2_28_aarch64",
    file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl",
    url: "https://files.pythonhosted.org/packages/02/ee/b173a49293b146b54bd057bf8681a015aef764d8f56d999ad8c6e53ab18d/onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl",
    sha256: "da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3",
};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ORT_DYLIB_PATH");
    println!("cargo:rerun-if-env-changed=SQUEEZEBENCH_NO_DOWNLOAD");
    println!("cargo:rustc-env=SQUEEZEBENCH_ORT_VERSION={ORT_VERSION}");
    emit_git_revision();

    if let Some(path) = env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        // The user chose a library; record it as the build-time default and download nothing.
        let path = PathBuf::from(path);
        let path = fs::canonicalize(&path).unwrap_or(path);
        emit_dylib(&path.to_string_lossy());
        return;
    }

    let lib = cache_dir().map(|dir| dir.join(LIB_NAME));
    if let Ok(lib) = &lib {
        // Re-run if the cached library disappears (e.g. deleted by hand) to provision it again. While it does not
        // exist, i.e. after a failed download, Cargo re-runs this script on every build, so a build after the
        // network comes back repairs itself.
        println!("cargo:rerun-if-changed={}", lib.display());
    }
    match lib.and_then(provision) {
        Ok(path) => emit_dylib(&path.to_string_lossy()),
        Err(reason) => {
            warn(&format!(
                "ONNX Runtime {ORT_VERSION} could not be provisioned: {reason}"
            ));
            warn(&format!(
                "squeezebench builds, but running models will fail until it finds the library. Fix: set \
                 ORT_DYLIB_PATH to a libonnxruntime.so {}.x (at build or run time), or make `python3 -m pip \
                 download onnxruntime=={ORT_VERSION}` work (e.g. `pip install onnxruntime=={ORT_VERSION}` and point \
                 ORT_DYLIB_PATH at site-packages/onnxruntime/capi/{LIB_NAME}). The next build retries the \
                 download; set SQUEEZEBENCH_NO_DOWNLOAD=1 to stop it from trying.",
                major_minor(ORT_VERSION)
            ));
            emit_dylib("");
        }
    }
}

fn emit_dylib(path: &str) {
    println!("cargo:rustc-env=SQUEEZEBENCH_ORT_DYLIB={path}");
}

fn warn(message: &str) {
    for line in message.lines() {
        println!("cargo:warning={line}");
    }
}

fn major_minor(version: &str) -> &str {
    version.rsplit_once('.').map_or(version, |(mm, _)| mm)
}

/// Returns `lib` (the cached library's path), downloading and extracting it first if needed.
fn provision(lib: PathBuf) -> Result<PathBuf, String> {
    if lib.is_file() {
        return Ok(lib);
    }

    if env::var_os("SQUEEZEBENCH_NO_DOWNLOAD").is_some_and(|v| !v.is_empty() && v != "0") {
        return Err("SQUEEZEBENCH_NO_DOWNLOAD is set, so nothing was downloaded".into());
    }

    let wheel = pinned_wheel()?;
    let cache = lib
        .parent()
        .ok_or("the library path has no parent folder")?;
    fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;

    // A private scratch folder per build-script process, so concurrent builds never share partial files.
    let scratch = cache.join(format!(".download-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let result = download_wheel(wheel, &scratch).and_then(|whl| extract_library(&whl, cache, &lib));
    let _ = fs::remove_dir_all(&scratch);
    result.map(|()| lib)
}

/// `<target dir>/onnxruntime/<version>`. The target dir is found from `OUT_DIR`
/// (`<target>/[<triple>/]<profile>/build/<pkg>-<hash>/out`): the nearest ancestor holding the `CACHEDIR.TAG` that
/// Cargo writes at the root of every target dir, or four levels up if no such tag exists.
fn cache_dir() -> Result<PathBuf, String> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let target = out_dir
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| out_dir.ancestors().nth(4))
        .ok_or_else(|| {
            format!(
                "cannot derive the cargo target dir from OUT_DIR={}",
                out_dir.display()
            )
        })?;
    Ok(target.join("onnxruntime").join(ORT_VERSION))
}

fn pinned_wheel() -> Result<&'static Wheel, String> {
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    match (os.as_str(), arch.as_str()) {
        ("linux", "x86_64") => Ok(&WHEEL_LINUX_X86_64),
        ("linux", "aarch64") => Ok(&WHEEL_LINUX_AARCH64),
        _ => Err(format!(
            "automatic provisioning supports linux x86_64/aarch64 only, not {os} {arch}; set ORT_DYLIB_PATH"
        )),
    }
}

/// Fetches the pinned wheel into `dir` and checks its digest: pip first, then curl.
fn download_wheel(wheel: &Wheel, dir: &Path) -> Result<PathBuf, String> {
    let target = dir.join(wheel.file_name);
    let pip_error = match pip_download(wheel, dir) {
        Ok(()) if target.is_file() => match verify(&target, wheel.sha256) {
            Ok(()) => return Ok(target),
            // E.g. a mirror serving a rebuilt file: try PyPI's own copy before giving up.
            Err(e) => e,
        },
        Ok(()) => format!(
            "pip reported success but {} is not in {}",
            wheel.file_name,
            dir.display()
        ),
        Err(e) => e,
    };
    match curl_download(wheel, &target) {
        Ok(()) => verify(&target, wheel.sha256).map(|()| target),
        Err(curl_error) => Err(format!("{pip_error}; fallback: {curl_error}")),
    }
}

fn pip_download(wheel: &Wheel, dir: &Path) -> Result<(), String> {
    let mut last_error = String::new();
    for python in ["python3", "python"] {
        // The platform/ABI flags make pip pick exactly the pinned file whatever interpreter runs it.
        let output = Command::new(python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--platform", wheel.platform, "--python-version", "3.11"])
            .args(["--implementation", "cp", "--abi", "cp311"])
            .args(["--disable-pip-version-check", "--no-input", "--quiet"])
            .args(["--retries", "2", "--timeout", "60"])
            .arg("--dest")
            .arg(dir)
            .arg(format!("onnxruntime=={ORT_VERSION}"))
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let detail = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output");
                return Err(format!(
                    "`{python} -m pip download` failed ({}): {}",
                    out.status,
                    detail.trim()
                ));
            }
            Err(e) => last_error = format!("cannot run {python}: {e}"),
        }
    }
    Err(format!("pip unavailable ({last_error})"))
}

fn curl_download(wheel: &Wheel, target: &Path) -> Result<(), String> {
    let output = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location"])
        .args(["--retry", "2", "--connect-timeout", "30"])
        .arg("--output")
        .arg(target)
        .arg(wheel.url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "curl {} failed ({}): {}",
            wheel.url,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn verify(file: &Path, expected: &str) -> Result<(), String> {
    use sha2::{Digest, Sha256};
    let mut f = fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let actual: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "{} has SHA-256 {actual}, expected {expected}; refusing to use it",
            file.display()
        ))
    }
}

/// Extracts `WHEEL_MEMBER` to a temporary file next to `lib`, then renames it into place.
fn extract_library(wheel: &Path, cache: &Path, lib: &Path) -> Result<(), String> {
    let file =
        fs::File::open(wheel).map_err(|e| format!("cannot open {}: {e}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file))
        .map_err(|e| format!("{} is not a zip: {e}", wheel.display()))?;
    let mut member = archive
        .by_name(WHEEL_MEMBER)
        .map_err(|e| format!("{} has no {WHEEL_MEMBER}: {e}", wheel.display()))?;

    // Keep the archive's timestamp (as `unzip` does): a file stamped "now" would look newer than this build and
    // make Cargo re-run the script once more because of the rerun-if-changed on the library.
    let mtime = member.last_modified().and_then(zip_time_to_system_time);

    let tmp = cache.join(format!(".{LIB_NAME}.{}.tmp", std::process::id()));
    let mut write = || -> io::Result<()> {
        let mut out = fs::File::create(&tmp)?;
        io::copy(&mut member, &mut out)?;
        out.flush()?;
        if let Some(mtime) = mtime {
            out.set_modified(mtime)?;
        }
        out.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        }
        fs::rename(&tmp, lib)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot extract {WHEEL_MEMBER} to {}: {e}", lib.display())
    })
}

/// Converts a zip (MS-DOS, UTC by wheel convention) timestamp to a `SystemTime`.
fn zip_time_to_system_time(t: zip::DateTime) -> Option<std::time::SystemTime> {
    // Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    let (y, m, d) = (
        i64::from(t.year()),
        i64::from(t.month()),
        i64::from(t.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400
        + i64::from(t.hour()) * 3600
        + i64::from(t.minute()) * 60
        + i64::from(t.second());
    let secs = u64::try_from(secs).ok()?;
    std::time::SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
}

/// Embeds the commit being built as `SQUEEZEBENCH_GIT_REVISION` (empty outside a git checkout or
/// without git), for the environment manifest of `results.json`. Taken at build time, not at run
/// time, because the binary may run anywhere. The script re-runs when HEAD or the branch it points
/// to moves (paths from `git rev-parse --git-path`, which also resolves worktrees).
fn emit_git_revision() {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).stderr(Stdio::null()).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let revision = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    println!("cargo:rustc-env=SQUEEZEBENCH_GIT_REVISION={revision}");
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]).filter(|b| b.starts_with("refs/")) {
        watch.push(branch);
    }
    for name in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]).map(PathBuf::from) {
            if path.exists() {
                let path = fs::canonicalize(&path).unwrap_or(path);
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
