//! `--html` pages: they carry the report's figures, escape what programs
//! and files name, come out byte-identical twice, and — rendered by headless
//! Chromium — really draw their charts: each chart has a size on the page
//! and a line drawn across it. The render check is ignored by a plain
//! `cargo test` (it needs Chromium): `.ci/run` installs Debian's `chromium`
//! and runs it with `cargo test --test html -- --include-ignored`.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use loyalty::compile::compile;
use loyalty::html;
use loyalty::simulate::{self, Options};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loyalty-html-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `loyalty run` of Bean Stars' sample with `--report liability --html`.
fn run_page(dir: &Path) -> String {
    let page = dir.join("report.html");
    let done = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .current_dir(root())
        .args([
            "run",
            "programs/bean_stars.loyalty",
            "programs/bean_stars.events.csv",
            "--until",
            "2026-03-31",
            "--report",
            "liability",
            "--out",
        ])
        .arg(dir.join("out"))
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    std::fs::read_to_string(page).unwrap()
}

/// A simulation page for Cartwheel on a small population (fast in debug).
fn simulation_page() -> String {
    let source = std::fs::read_to_string(root().join("programs/cartwheel.loyalty")).unwrap();
    let scenario =
        std::fs::read_to_string(root().join("programs/cartwheel.scenario.yaml")).unwrap();
    let program = compile(&source).unwrap().0;
    let mut plan = simulate::load(&program, &scenario).unwrap();
    plan.initial = 60;
    plan.joins_per_month = 2;
    plan.month_starts.truncate(13);
    plan.month_names.truncate(12);
    let options = Options {
        runs: 3,
        seed: None,
        keep_members: false,
    };
    let simulation = simulate::simulate(&program, &plan, &options, &|| {}).unwrap();
    let facts = vec![("scenario".to_string(), "small <test>".to_string())];
    html::simulation_page(&program, &facts, &simulation.report)
}

#[test]
fn the_run_page_has_the_tables_figures_and_the_same_bytes_twice() {
    let dir = temp("run");
    let page = run_page(&dir);
    let again = run_page(&dir);
    assert_eq!(page, again);
    // The last month's liability, as liability.csv has it.
    let csv = std::fs::read_to_string(dir.join("out/liability.csv")).unwrap();
    let last = csv.lines().rev().find(|l| l.contains(",stars,")).unwrap();
    let cells: Vec<&str> = last.split(',').collect();
    assert!(
        page.contains(&format!("<td>{}</td><td>stars</td>", cells[0])),
        "{last}"
    );
    assert!(page.contains("<h2>Liability (USD)</h2>"));
    assert!(page.contains("<h2>Tier mix at each month&#39;s end</h2>"));
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 3);
    // Self-contained: nothing fetched, nothing run.
    for fetch in ["src=", "href=", "<link", "<script", "@import", "url("] {
        assert!(!page.contains(fetch), "{fetch}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_simulation_page_has_bands_kpis_and_escapes_text() {
    let page = simulation_page();
    assert_eq!(page, simulation_page());
    assert!(page.contains("<dd>small &lt;test&gt;</dd>"));
    assert!(page.contains("median and p5–p95"));
    assert!(page.contains("<td>tier_share:gold</td>"));
    // Cartwheel's coins: liability with its band, flows; and the tier mix.
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 3);
    // The band is a filled polygon behind the median line.
    assert!(page.contains("<polygon"));
    assert_eq!(html::escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

#[test]
#[ignore = "renders in headless Chromium; run with --ignored after apt-get install chromium (CI runs it)"]
fn chromium_draws_every_chart() {
    let chromium = support::chromium();
    let dir = temp("chromium");
    let run = run_page(&dir);
    assert_eq!(render(chromium, &dir, "run", &run), (3, 3));
    assert_eq!(render(chromium, &dir, "sim", &simulation_page()), (3, 3));
    // The check can fail: an empty chart is counted as not drawn, a page
    // without charts has none.
    let empty = run.replacen(
        "<svg class=\"chart\"",
        "<svg class=\"chart\" width=\"760\" height=\"300\"></svg><svg class=\"gone\"",
        1,
    );
    assert_eq!(render(chromium, &dir, "empty", &empty), (3, 2));
    assert_eq!(
        render(
            chromium,
            &dir,
            "none",
            "<html><body>no charts</body></html>"
        ),
        (0, 0)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Renders a page in headless Chromium and returns (charts on the page,
/// charts drawn): a chart is drawn when it has a size on the page and a
/// line or area across it.
fn render(chromium: &str, dir: &Path, name: &str, page: &str) -> (usize, usize) {
    const CHECK: &str = "<script>
const charts = [...document.querySelectorAll('svg.chart')];
const drawn = charts.filter(svg => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('polyline, polygon, path')].filter(m => {
    return m.getBBox().width > 10;
  });
  return box.width > 100 && box.height > 100 && marks.length > 0;
});
document.body.setAttribute('data-check', charts.length + ' ' + drawn.length);
</script>";
    let file = dir.join(format!("{name}.html"));
    let checked = match page.rfind("</body>") {
        Some(at) => format!("{}{CHECK}{}", &page[..at], &page[at..]),
        None => format!("{page}{CHECK}"),
    };
    std::fs::write(&file, checked).unwrap();
    let out = Command::new(chromium)
        .args(support::HEADLESS)
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let check = dom
        .split("data-check=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no render result for {name}: {dom:.500}"));
    let (charts, drawn) = check.split_once(' ').unwrap();
    (charts.parse().unwrap(), drawn.parse().unwrap())
}
