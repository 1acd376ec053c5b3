//! `llmtap report` rendered by a real browser: headless Chromium (Debian's
//! `chromium`) dumps the DOM it built from the page and takes a screenshot;
//! the figures in the rendered page must be those `llmtap replay`'s summary
//! prints for the same input.
//!
//! Needs `chromium`: when it is missing the test runs `tests/report/setup.sh`
//! (apt-get install chromium), as `.ci/run` does; `LLMTAP_SKIP_CHROMIUM=1`
//! skips it instead.
//! `LLMTAP_CHROMIUM` names another binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn llmtap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llmtap"))
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LLMTAP_CHROMIUM") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Chromium headless, as root in a container: no sandbox, a throwaway
/// profile, nothing that reaches the network on its own.
fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The text of the cell `data-k="key"` in the first element carrying `row`.
fn cell<'a>(dom: &'a str, row: &str, key: &str) -> &'a str {
    let start = dom
        .find(row)
        .unwrap_or_else(|| panic!("no {row} in the page"));
    let marker = format!("data-k=\"{key}\">");
    let at = start
        + dom[start..]
            .find(&marker)
            .unwrap_or_else(|| panic!("no {key} after {row}"))
        + marker.len();
    let end = at + dom[at..].find('<').unwrap();
    &dom[at..end]
}

/// The whitespace-separated cells of the summary line starting with `start`.
fn summary_row<'a>(summary: &'a str, start: &str) -> Vec<&'a str> {
    summary
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no summary line for {start}: {summary}"))
        .split_whitespace()
        .collect()
}

#[test]
fn the_rendered_report_shows_the_summarys_figures() {
    let skip = std::env::var("LLMTAP_SKIP_CHROMIUM").as_deref() == Ok("1");
    if chromium().is_none() && !skip {
        // As the real-LiteLLM test installs its venv: `cargo test` works on a
        // fresh machine. A no-op once Chromium is there.
        let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/report/setup.sh");
        let status = Command::new("bash").arg(setup).status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "{setup} failed: {status:?}"
        );
    }
    let Some(chromium) = chromium() else {
        if skip {
            eprintln!("skipped: no chromium, and LLMTAP_SKIP_CHROMIUM=1");
            return;
        }
        panic!(
            "this test renders the report in headless Chromium, and no /usr/bin/chromium \
             was found: run `bash tests/report/setup.sh` (apt-get install chromium), point \
             LLMTAP_CHROMIUM at a binary, or set LLMTAP_SKIP_CHROMIUM=1 to skip it"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scenario.jsonl");
    let html = dir.path().join("report.html");
    let png = dir.path().join("report.png");
    run(llmtap()
        .args([
            "generate",
            "--scenario",
            "cache-regression",
            "-n",
            "300",
            "--seed",
            "5",
        ])
        .arg("-o")
        .arg(&input));
    let replay = run(llmtap()
        .arg("replay")
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("events.jsonl")));
    let summary = String::from_utf8(replay.stderr).unwrap();
    run(llmtap().arg("report").arg(&input).arg("-o").arg(&html));

    let page = std::fs::read_to_string(&html).unwrap();
    for outside in ["<script", "<link", "src=", "href=", "url(", "https:"] {
        assert!(
            !page.contains(outside),
            "the page must be self-contained: {outside}"
        );
    }

    let url = format!("file://{}", html.display());
    let dom = run(headless(&chromium, &dir.path().join("profile-dom"))
        .arg("--dump-dom")
        .arg(&url))
    .stdout;
    let dom = String::from_utf8(dom).unwrap();
    assert!(dom.contains("llmtap cache report"), "{dom}");
    assert!(dom.matches("<svg").count() >= 4, "four charts");
    assert!(dom.matches("<polyline").count() >= 3, "hit ratio lines");

    // Per model: the summary's calls, hit ratio, cost, savings and misses.
    let model = "claude-sonnet-4-5-20250929";
    let row = summary_row(&summary, "anthropic ");
    assert_eq!(row[1], model);
    let tr = format!("data-model=\"anthropic/{model}\"");
    assert_eq!(cell(&dom, &tr, "calls"), row[2]);
    assert_eq!(cell(&dom, &tr, "cache_hit"), row[8]);
    assert_eq!(cell(&dom, &tr, "cost_usd"), row[9]);
    assert_eq!(cell(&dom, &tr, "saved_usd"), row[10]);
    assert_eq!(cell(&dom, &tr, "misses"), row[11..].join(" "));

    // Prefixes: the count, and the stable prefix's row.
    let count = summary
        .lines()
        .find_map(|l| l.strip_suffix(" distinct prefixes; the busiest:"))
        .unwrap_or_else(|| panic!("no prefix count: {summary}"));
    assert_eq!(cell(&dom, "data-k=\"prefix_count\"", "prefix_count"), count);
    assert_eq!(count, "91");
    let header = summary
        .lines()
        .position(|l| l.starts_with("prefix "))
        .unwrap();
    let stable = summary.lines().nth(header + 1).unwrap();
    let stable: Vec<&str> = stable.split_whitespace().collect();
    let tr = format!("data-prefix=\"{}\"", stable[0]);
    assert_eq!(cell(&dom, &tr, "calls"), stable[2]);
    assert_eq!(cell(&dom, &tr, "cache_hit"), stable[3]);
    assert_eq!(cell(&dom, &tr, "saved_usd"), stable[4]);

    // Call index within a run: every run has a first call.
    assert_ne!(cell(&dom, "data-index=\"1\"", "calls"), "0");

    run(headless(&chromium, &dir.path().join("profile-png"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,2000")
        .arg(&url));
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let dimension = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().unwrap());
    assert_eq!((dimension(16), dimension(20)), (1200, 2000), "IHDR size");
    assert!(image.len() > 20_000, "{} bytes: a blank page?", image.len());
}
