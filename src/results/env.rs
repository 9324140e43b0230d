//! The environment manifest: what a result was measured on, so that two result files can be
//! compared only when they come from comparable machines and builds.
//!
//! Everything is read from Linux's `/proc` and `/sys` (no crate needed, no subprocess): the CPU
//! model and ISA flags from `/proc/cpuinfo`, the clock from `cpufreq` (or cpuinfo's `cpu MHz` when
//! the virtual machine exposes no cpufreq), memory from `/proc/meminfo`, the OS from
//! `/etc/os-release` and the kernel release. On other systems the fields that cannot be read are
//! empty rather than guessed. The git revision is the one the binary was built from (`build.rs`
//! embeds `git rev-parse HEAD`), not the one of whatever folder the binary runs in.

use std::collections::BTreeSet;

/// ISA flags worth recording for CPU inference (as `/proc/cpuinfo` spells them). VNNI and AMX
/// decide how fast int8 runs; AVX-512 and FMA how fast float32 runs.
pub const ISA_FLAGS: &[&str] = &[
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx512vbmi", "amx_tile", "amx_int8", "amx_bf16",
    // aarch64
    "asimd", "asimddp", "i8mm", "sve", "sve2", "bf16",
];

/// For tests: a JSON object merged into the manifest a run records (`{"cpu": {"model": "X"}}`),
/// to simulate a run on another testbed. Not for real runs: it falsifies the manifest.
pub const OVERRIDE_VAR: &str = "SQUEEZEBENCH_ENVIRONMENT";

/// The ISA flags in a testbed key: those that decide which kernels ONNX Runtime runs for int8
/// and float32.
pub const TESTBED_FLAGS: &[&str] =
    &["avx2", "avx512f", "avx_vnni", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "asimddp", "i8mm", "sve", "sve2"];

fn merge_json(into: &mut serde_json::Value, patch: serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge_json(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Where and with what a run was measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Environment {
    pub cpu: Cpu,
    /// Physical memory (MemTotal).
    pub memory_bytes: u64,
    pub os: Os,
    /// ONNX Runtime's version as the loaded library reports it, and the library's path.
    pub onnxruntime_version: String,
    pub onnxruntime_library: String,
    pub squeezebench_version: String,
    /// Commit the binary was built from (`None` when built outside a git checkout).
    #[serde(default)]
    pub git_revision: Option<String>,
    /// `release` or `debug`: a debug build's latencies are not comparable with a release build's.
    pub build_profile: String,
    /// Threads the process may use (`available_parallelism`: cores, cgroup and affinity limits).
    pub available_threads: usize,
    /// Parallel worker processes the run used (`--jobs`); more than 1 makes latencies interfere.
    pub jobs: usize,
    pub hostname: String,
}

/// The processor.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cpu {
    /// `model name` (x86) or the implementer/part (Arm) as the kernel reports it.
    pub model: String,
    pub vendor: String,
    pub arch: String,
    /// Logical processors (hardware threads) online.
    pub logical_cores: usize,
    /// Distinct (package, core) pairs; equals `logical_cores` when the kernel does not say.
    pub physical_cores: usize,
    /// Clock used for peak estimates, MHz: cpufreq's maximum, else cpuinfo's current `cpu MHz`.
    #[serde(default)]
    pub mhz: Option<f64>,
    /// `cpufreq_max` or `cpuinfo_current`.
    #[serde(default)]
    pub mhz_source: Option<String>,
    /// The [`ISA_FLAGS`] this CPU has.
    pub flags: Vec<String>,
    /// Estimated peak per core per second: float32 FLOP/s and int8 op/s (see [`Cpu::peak_per_core`]).
    #[serde(default)]
    pub peak_fp32_flops_per_core: Option<f64>,
    #[serde(default)]
    pub peak_int8_ops_per_core: Option<f64>,
}

/// The operating system.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Os {
    /// `PRETTY_NAME` of /etc/os-release (`Ubuntu 24.04.1 LTS`), else the OS family.
    pub name: String,
    /// Kernel release (`6.8.0-45-generic`).
    pub kernel: String,
}

impl Cpu {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Peak (float32 FLOP/s, int8 op/s) of one core at `mhz`, from the widest vector unit its flags
    /// show, assuming two FMA pipes (every x86 server core since Haswell / Zen 2):
    /// - float32 FLOP/cycle = 2 pipes × lanes × 2 (multiply and add); lanes 16 with AVX-512 on
    ///   Intel, 8 with AVX2 + FMA and on AMD (Zen 4 runs 512-bit operations on 256-bit pipes);
    /// - int8 op/cycle with VNNI = 4 × the float32 figure (VPDPBUSD does 4 int8 multiply-adds per
    ///   32-bit lane); without VNNI the int8 peak is not estimated.
    ///
    /// `None` when the clock or the ISA is unknown (and on non-x86 CPUs). This is an upper bound for
    /// "fraction of peak", not a promise: turbo, thermal limits and memory bandwidth move it.
    pub fn peak_per_core(&self) -> (Option<f64>, Option<f64>) {
        let Some(mhz) = self.mhz else { return (None, None) };
        let lanes = if self.has("avx512f") && !self.vendor.contains("AMD") {
            16.0
        } else if self.has("avx2") && self.has("fma") || self.has("avx512f") {
            8.0
        } else {
            return (None, None);
        };
        let fp32 = 2.0 * lanes * 2.0 * mhz * 1e6;
        let int8 = (self.has("avx512_vnni") || self.has("avx_vnni")).then_some(4.0 * fp32);
        (Some(fp32), int8)
    }
}

impl Environment {
    /// Reads the manifest of this machine and build. `jobs` is recorded as given. Loads ONNX
    /// Runtime to ask its version; if that fails the version says why.
    pub fn collect(jobs: usize) -> Environment {
        let env = Self::read(jobs);
        match std::env::var(OVERRIDE_VAR) {
            Ok(text) if !text.trim().is_empty() => env.overridden(&text).unwrap_or_else(|e| {
                eprintln!("warning: {OVERRIDE_VAR} ignored: {e}");
                env
            }),
            _ => env,
        }
    }

    /// The testbed key: what decides whether two timings can be compared, as one readable line —
    /// CPU model, the ISA flags that set int8 and float32 speed ([`TESTBED_FLAGS`]), logical cores,
    /// ONNX Runtime version and execution provider, OS. Results of different testbeds are kept
    /// apart by `merge`, reported side by side and gated each against its own baseline.
    pub fn testbed(&self) -> String {
        let flags: Vec<&str> = self.cpu.flags.iter().map(String::as_str).filter(|f| TESTBED_FLAGS.contains(f)).collect();
        let flags = if flags.is_empty() { "no vector flags".to_string() } else { flags.join(" ") };
        let model = if self.cpu.model.trim().is_empty() { "unknown CPU" } else { self.cpu.model.trim() };
        format!("{model}; {flags}; {} cores; onnxruntime {} CPU; {}", self.cpu.logical_cores, self.onnxruntime_version, self.os.name)
    }

    /// This manifest with the JSON object `patch` merged into it (objects key by key, other values
    /// replaced), for [`OVERRIDE_VAR`].
    fn overridden(&self, patch: &str) -> Result<Environment, String> {
        let patch: serde_json::Value = serde_json::from_str(patch).map_err(|e| format!("not JSON: {e}"))?;
        if !patch.is_object() {
            return Err("not a JSON object".into());
        }
        let mut v = serde_json::to_value(self).expect("environment serializes");
        merge_json(&mut v, patch);
        serde_json::from_value(v).map_err(|e| format!("the patched manifest is not valid: {e}"))
    }

    fn read(jobs: usize) -> Environment {
        let (onnxruntime_version, onnxruntime_library) = match crate::runtime::init() {
            Ok(info) => (info.version.clone(), info.library.display().to_string()),
            Err(e) => (format!("unavailable: {e}"), String::new()),
        };
        Environment {
            cpu: read_cpu(),
            memory_bytes: read_meminfo_total().unwrap_or(0),
            os: read_os(),
            onnxruntime_version,
            onnxruntime_library,
            squeezebench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: option_env!("SQUEEZEBENCH_GIT_REVISION").filter(|s| !s.is_empty()).map(str::to_string),
            build_profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_string(),
            available_threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            jobs,
            hostname: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default(),
        }
    }

    /// The fields in which two environments differ in a way that makes timings incomparable
    /// (CPU model, ISA flags, cores, ONNX Runtime version, build profile, memory), as
    /// `field: this → other` lines. Empty when comparable. The squeezebench version and git
    /// revision are deliberately not compared: comparing builds is what a regression gate is for.
    pub fn differences(&self, other: &Environment) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} → {b}"));
            }
        };
        cmp("cpu.model", self.cpu.model.clone(), other.cpu.model.clone());
        cmp("cpu.flags", self.cpu.flags.join(" "), other.cpu.flags.join(" "));
        cmp("cpu.logical_cores", self.cpu.logical_cores.to_string(), other.cpu.logical_cores.to_string());
        cmp("available_threads", self.available_threads.to_string(), other.available_threads.to_string());
        cmp("memory_bytes", self.memory_bytes.to_string(), other.memory_bytes.to_string());
        cmp("onnxruntime_version", self.onnxruntime_version.clone(), other.onnxruntime_version.clone());
        cmp("build_profile", self.build_profile.clone(), other.build_profile.clone());
        out
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Parses the text of `/proc/cpuinfo` (and the cpufreq maximum in kHz, if any) into a [`Cpu`].
pub(crate) fn parse_cpuinfo(cpuinfo: &str, cpufreq_max_khz: Option<u64>) -> Cpu {
    let mut model = String::new();
    let mut vendor = String::new();
    let mut flags = BTreeSet::new();
    let mut logical = 0usize;
    let mut cores = BTreeSet::new();
    let (mut package, mut mhz) = (String::new(), None::<f64>);
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => logical += 1,
            "model name" | "Model" if model.is_empty() => model = value.to_string(),
            "vendor_id" | "CPU implementer" if vendor.is_empty() => vendor = value.to_string(),
            "flags" | "Features" if flags.is_empty() => {
                flags = value.split_whitespace().filter(|f| ISA_FLAGS.contains(f)).map(str::to_string).collect();
            }
            "physical id" => package = value.to_string(),
            "core id" => {
                cores.insert((package.clone(), value.to_string()));
            }
            "cpu MHz" if mhz.is_none() => mhz = value.parse().ok(),
            _ => {}
        }
    }
    let (mhz, mhz_source) = match cpufreq_max_khz {
        Some(khz) if khz > 0 => (Some(khz as f64 / 1000.0), Some("cpufreq_max".to_string())),
        _ => (mhz, mhz.map(|_| "cpuinfo_current".to_string())),
    };
    let logical = logical.max(1);
    let mut cpu = Cpu {
        model,
        vendor,
        arch: std::env::consts::ARCH.to_string(),
        logical_cores: logical,
        physical_cores: if cores.is_empty() { logical } else { cores.len() },
        mhz,
        mhz_source,
        flags: ISA_FLAGS.iter().filter(|f| flags.contains(**f)).map(|f| f.to_string()).collect(),
        peak_fp32_flops_per_core: None,
        peak_int8_ops_per_core: None,
    };
    (cpu.peak_fp32_flops_per_core, cpu.peak_int8_ops_per_core) = cpu.peak_per_core();
    cpu
}

fn read_cpu() -> Cpu {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let khz = read_trimmed("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").and_then(|s| s.parse().ok());
    parse_cpuinfo(&text, khz)
}

fn read_meminfo_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn read_os() -> Os {
    let name = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    Os { name, kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two logical processors of one core with the flags of this development machine's CPU: the
    /// parser keeps only the ISA flags we record, counts cores by (package, core) and derives the
    /// peak from the clock (AMD: 256-bit pipes, VNNI: 4× for int8).
    #[test]
    fn cpuinfo_of_an_amd_avx512_vnni_machine() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2000.000\n\
                    physical id\t: 0\ncore id\t\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni ht\n\n\
                    processor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2000.000\n\
                    physical id\t: 0\ncore id\t\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni ht\n";
        let cpu = parse_cpuinfo(text, None);
        assert_eq!(cpu.model, "AMD EPYC");
        assert_eq!((cpu.logical_cores, cpu.physical_cores), (2, 1));
        assert_eq!(cpu.flags, ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni"]);
        assert_eq!(cpu.mhz_source.as_deref(), Some("cpuinfo_current"));
        assert_eq!(cpu.peak_fp32_flops_per_core, Some(32.0 * 2.0e9));
        assert_eq!(cpu.peak_int8_ops_per_core, Some(128.0 * 2.0e9));
        let intel = parse_cpuinfo(&text.replace("AuthenticAMD", "GenuineIntel"), Some(3_000_000));
        assert_eq!(intel.mhz, Some(3000.0));
        assert_eq!(intel.peak_fp32_flops_per_core, Some(64.0 * 3.0e9));
    }

    #[test]
    fn differences_name_the_fields_that_make_timings_incomparable() {
        let a = Environment::collect(1);
        let mut b = a.clone();
        assert!(a.differences(&b).is_empty());
        b.git_revision = Some("other".into());
        assert!(a.differences(&b).is_empty(), "a new build is what the gate compares");
        b.onnxruntime_version = "1.20.0".into();
        b.build_profile = "debug".into();
        let d = a.differences(&b);
        assert_eq!(d.len(), if a.build_profile == "debug" { 1 } else { 2 }, "{d:?}");
        assert!(d[0].starts_with("onnxruntime_version: "));
    }

    /// The testbed key names the CPU, its int8/float32 flags, cores, runtime and OS; a patch
    /// (what tests use to simulate a second machine) changes it, and a bad patch is refused.
    #[test]
    fn testbed_keys_and_manifest_overrides() {
        let a = Environment::collect(1);
        let b = a.overridden(r#"{"cpu": {"model": "Test CPU", "flags": ["avx2", "fma", "amx_int8"]}, "os": {"name": "TestOS"}}"#).unwrap();
        assert_eq!(b.cpu.vendor, a.cpu.vendor, "untouched fields stay");
        assert_eq!(b.testbed(), format!("Test CPU; avx2 amx_int8; {} cores; onnxruntime {} CPU; TestOS", a.cpu.logical_cores, a.onnxruntime_version));
        assert_ne!(a.testbed(), b.testbed());
        assert!(a.overridden("[1]").is_err());
        assert!(a.overridden(r#"{"cpu": {"logical_cores": "many"}}"#).unwrap_err().contains("not valid"));
    }
}
