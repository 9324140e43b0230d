//! Named baselines on disk, as criterion keeps them: `run --save-baseline NAME` stores a run's
//! results as `DIR/<suite name>/NAME.json`, `run --baseline NAME` gates the new run against it.
//! Keyed by suite name so one folder serves every suite; the file is a plain `results.json`
//! (`squeezebench gate --baseline DIR/ci/main.json` reads it too).

use std::path::{Path, PathBuf};

use super::record::{Error, Results, Status};

/// The default folder, relative to the working directory.
pub(crate) const DEFAULT_DIR: &str = "baselines";

/// A folder of named baselines.
pub struct Store {
    pub dir: PathBuf,
}

/// A baseline name: letters, digits, `.`, `_` and `-`, not starting with `.` (so it is a plain
/// file name on every system and cannot leave the folder).
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BaselineName(name.to_string()))
    }
}

/// A plain folder name made from `name` (a suite's name): every character other than letters,
/// digits, `.`, `_` and `-` becomes `_`, and leading dots are dropped, so the result is one path
/// component that cannot leave the folder it is joined to (`../x` → `_x`, `/tmp/v` → `_tmp_v`);
/// an empty result is `_`.
pub fn folder_name(name: &str) -> String {
    let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    match safe.trim_start_matches('.') {
        "" => "_".to_string(),
        s => s.to_string(),
    }
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// Where the baseline `name` of `suite` lives.
    pub fn path(&self, suite: &str, name: &str) -> Result<PathBuf, Error> {
        check_name(name)?;
        Ok(self.dir.join(folder_name(suite)).join(format!("{name}.json")))
    }

    /// Stores `results` as the baseline `name` of its suite (atomically, replacing an older one).
    /// Refused for an interrupted run or one with a case that did not finish `ok`: the gate cannot
    /// compare against such a baseline, and it would replace a good one.
    pub fn save(&self, name: &str, results: &Results) -> Result<PathBuf, Error> {
        let path = self.path(&results.suite.name, name)?;
        let refuse = |reason: String| Err(Error::NotSaved { name: name.to_string(), reason });
        if results.interrupted {
            return refuse("the run was interrupted".into());
        }
        let not_ok: Vec<&str> = results.cases.iter().filter(|c| c.status != Status::Ok).map(|c| c.id.as_str()).collect();
        if !not_ok.is_empty() {
            return refuse(format!(
                "{} case(s) did not finish ok ({}); the gate needs a baseline in which every case passes",
                not_ok.len(),
                not_ok.join(", ")
            ));
        }
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|source| Error::BaselineFolder { path: parent.into(), source })?;
        results.save(&path)?;
        Ok(path)
    }

    /// Reads a baseline given as a path (a results.json or a run folder, when such a file or
    /// folder exists) or else as the name of a baseline stored for `suite`: one rule for `gate
    /// --baseline` and `run --baseline`.
    pub(crate) fn load_path_or_name(&self, suite: &str, given: &str) -> Result<(PathBuf, Results), Error> {
        let path = Path::new(given);
        if path.exists() {
            let file = if path.is_dir() { path.join("results.json") } else { path.to_path_buf() };
            return Results::load(&file).map(|r| (file, r));
        }
        if check_name(given).is_err() {
            return Err(Error::NotABaseline(given.to_string()));
        }
        self.load(suite, given)
    }

    /// Reads the baseline `name` of `suite`; a missing one says which exist.
    pub fn load(&self, suite: &str, name: &str) -> Result<(PathBuf, Results), Error> {
        let path = self.path(suite, name)?;
        if !path.exists() {
            let known = self.names(suite);
            let hint = if known.is_empty() {
                format!("none saved for suite '{suite}' yet; record one with `run --save-baseline {name}`")
            } else {
                format!("saved for suite '{suite}': {}", known.join(", "))
            };
            return Err(Error::NoBaseline { name: name.to_string(), path, hint });
        }
        Results::load(&path).map(|r| (path, r))
    }

    /// The baselines saved for `suite`, sorted.
    pub fn names(&self, suite: &str) -> Vec<String> {
        let Ok(p) = self.path(suite, "x") else { return vec![] };
        let mut out: Vec<String> = std::fs::read_dir(p.parent().unwrap_or(Path::new(".")))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .filter(|n| check_name(n).is_ok())
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        for ok in ["main", "v0.3.1", "pr-12_b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".hidden", "a b", "x\\y"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let s = Store::new("/tmp/b");
        assert_eq!(s.path("ci", "main").unwrap(), PathBuf::from("/tmp/b/ci/main.json"));
        assert_eq!(s.path("../up", "main").unwrap(), PathBuf::from("/tmp/b/_up/main.json"));
        for (name, folder) in [("ci", "ci"), ("/tmp/x/victim", "_tmp_x_victim"), ("..", "_"), ("", "_"), ("a\\..\\b", "a_.._b")] {
            assert_eq!(folder_name(name), folder, "{name}");
        }
    }
}
