//! Reports rendered from a [`Results`] document: Markdown (a pull-request comment), a
//! self-contained HTML page, CSV, the JSON itself, and charts as SVG and PNG.
//!
//! As in hyperfine, every exporter is a pure function from the results to a `String` or bytes
//! ([`markdown::render`], [`html::render`], [`csv::render`], [`json::render`],
//! [`charts::render_all`]), so tests compare exact output without touching files; only
//! [`write_all`] writes, each file atomically. The figures every exporter shows (groups by model,
//! speed-up, accuracy deltas) are derived once in [`view`], so the formats cannot disagree.
//! This is the only module that uses plotters.

pub mod charts;
pub mod csv;
pub mod html;
pub mod markdown;
pub mod text;
pub mod view;

use std::path::{Path, PathBuf};

use crate::results::Results;

/// JSON passthrough: the results document exactly as `results.json` stores it.
pub mod json {
    use crate::results::Results;

    /// The document as pretty JSON with a trailing newline (the bytes `Results::save` writes).
    pub fn render(results: &Results) -> String {
        results.to_json()
    }
}

/// Errors writing reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the report folder '{}': {source}", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("cannot draw the charts: {0}")]
    Chart(String),
    #[error(transparent)]
    Write(#[from] crate::util::Error),
}

/// The files [`write_all`] writes into its folder, charts aside.
pub(crate) const MARKDOWN: &str = "report.md";
pub const HTML: &str = "report.html";
pub const CSV: &str = "results.csv";
pub const JSON: &str = "results.json";
/// Charts go in this subfolder as `NAME.svg` and `NAME.png`.
pub(crate) const CHARTS: &str = "charts";

/// Renders every report into `dir` (created if missing), replacing earlier ones: `report.md`,
/// `report.html`, `results.csv`, `results.json` (unless `dir` already holds this very document,
/// as when the runner calls this on its own output folder) and `charts/*.svg|png`. Each file is
/// written atomically; when one cannot be written, those written before it are removed (and
/// the charts folder, if this call made it). Returns the paths written.
pub fn write_all(results: &Results, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !results.testbeds.is_empty() {
        return write_testbeds(results, dir);
    }
    let charts = charts::render_all(results).map_err(Error::Chart)?;
    let chart_dir = dir.join(CHARTS);
    let made_chart_dir = !chart_dir.is_dir();
    std::fs::create_dir_all(&chart_dir).map_err(|source| Error::Folder { path: chart_dir.clone(), source })?;
    // Everything is rendered before the first file is written.
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let json = json::render(results);
    let json_path = dir.join(JSON);
    if std::fs::read_to_string(&json_path).ok().as_deref() != Some(json.as_str()) {
        files.push((json_path, json.into_bytes()));
    }
    files.push((dir.join(MARKDOWN), markdown::render(results).into_bytes()));
    files.push((dir.join(HTML), html::render(results, &charts).into_bytes()));
    files.push((dir.join(CSV), csv::render(results).into_bytes()));
    for c in charts {
        files.push((chart_dir.join(format!("{}.svg", c.name)), c.svg.into_bytes()));
        files.push((chart_dir.join(format!("{}.png", c.name)), c.png));
    }
    let mut written = Vec::new();
    for (path, bytes) in files {
        if let Err(e) = crate::util::replace_file(&path, &bytes) {
            // All or nothing (a full disk): a set of reports half from this run and half missing
            // would mislead, so the files this call wrote go too.
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            if made_chart_dir {
                let _ = std::fs::remove_dir(&chart_dir);
            }
            return Err(e.into());
        }
        written.push(path);
    }
    Ok(written)
}

/// The folder of testbed `n` (1-based) of a document of several testbeds.
pub(crate) fn testbed_folder(n: usize) -> String {
    format!("testbed-{n}")
}

/// [`write_all`] for a document of several testbeds: `results.json` and `report.md` (the
/// testbeds side by side, [`markdown::render_testbeds`]) in `dir`, and each testbed's complete
/// reports (HTML, CSV, charts, its own results.json) in `dir/testbed-N/`.
fn write_testbeds(results: &Results, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Folder { path: dir.to_path_buf(), source })?;
    let mut written = Vec::new();
    for (i, (_, r)) in results.by_testbed().iter().enumerate() {
        written.extend(write_all(r, &dir.join(testbed_folder(i + 1)))?);
    }
    for (name, text) in [(JSON, json::render(results)), (MARKDOWN, markdown::render(results))] {
        let path = dir.join(name);
        crate::util::replace_file(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
