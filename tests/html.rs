//! `--html` pages: they carry the reports' figures (the run page's headline
//! figures are the CSV reports', its roll-forward adds up to
//! `liability.csv` month by month on every example program, the diff page's
//! are `diff --format json`'s), write figures with thousands separators and
//! rates in percent, escape what programs and files name, come out
//! byte-identical twice, and — rendered by headless Chromium — really draw
//! their charts (each has a size on the page and a line drawn across it)
//! without spilling sideways out of the window. The render check is ignored by a
//! plain `cargo test` (it needs Chromium): `.ci/run` installs Debian's
//! `chromium` and runs it with `cargo test --test html -- --include-ignored`.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use loyalty::compile::compile;
use loyalty::html;
use loyalty::simulate::{self, Options};
use rust_decimal::Decimal;
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

/// Every report the page shows.
const ALL_REPORTS: &str = "liability,deferred-revenue,upcoming,cohorts,kpis";

/// `loyalty run` of an example's sample with `--report REPORTS --html` and
/// `more` arguments: the page; the CSV reports are in `dir/out`.
fn run_page_of(dir: &Path, example: &str, reports: &str, more: &[&str]) -> String {
    let until = support::until_of(example);
    let page = dir.join("report.html");
    let done = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .current_dir(root())
        .arg("run")
        .arg(format!("programs/{example}.loyalty"))
        .arg(format!("programs/{example}.events.csv"))
        .args(["--until", until, "--report", reports])
        .args(more)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{example}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    std::fs::read_to_string(page).unwrap()
}

/// Bean Stars' page with every report.
fn run_page(dir: &Path) -> String {
    run_page_of(dir, "bean_stars", ALL_REPORTS, &[])
}

/// A CSV report's rows, by column name.
fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn d(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// A figure as the page writes it, read back: without thousands
/// separators or a percent sign.
fn figure(text: &str) -> Decimal {
    d(&text.replace([',', '%'], ""))
}

/// The content of the section titled `title`.
fn section<'p>(page: &'p str, title: &str) -> &'p str {
    let start = page
        .find(&format!("<h2>{title}</h2>"))
        .unwrap_or_else(|| panic!("no section `{title}`"));
    let rest = &page[start..];
    &rest[..rest.find("</section>").unwrap()]
}

/// The cells of every body row of the tables in `html`, tags removed.
fn rows(html: &str) -> Vec<Vec<String>> {
    html.split("<tr>")
        .skip(1)
        .filter(|row| row.contains("<td"))
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..];
                    text[..text.find("</td>").unwrap()].to_string()
                })
                .collect()
        })
        .collect()
}

/// The headline figure labelled `label`: (its figure, its note).
fn headline(page: &str, label: &str) -> (String, String) {
    let at = page
        .find(&format!("<div class=\"label\">{label}</div>"))
        .unwrap_or_else(|| panic!("no headline `{label}`"));
    let rest = &page[at..];
    let between = |open: &str| {
        let from = rest.find(open).unwrap() + open.len();
        rest[from..from + rest[from..].find("</div>").unwrap()].to_string()
    };
    (
        between("<div class=\"value\">"),
        between("<div class=\"note\">"),
    )
}

#[test]
fn the_run_page_puts_the_csv_reports_figures_first_and_gives_the_same_bytes_twice() {
    let dir = temp("run");
    let page = run_page(&dir);
    assert_eq!(page, run_page(&dir));
    let out = dir.join("out");
    let liability = csv_rows(&out.join("liability.csv"));
    let last_month = &liability.last().unwrap()["month"];
    let last: Vec<_> = liability
        .iter()
        .filter(|r| &r["month"] == last_month)
        .collect();
    // The headline: the last month's liability, the contract liability,
    // the breakage in force and the rejects, as the CSV reports have them.
    let closing: Decimal = last.iter().map(|r| d(&r["liability"])).sum();
    let (value, _) = headline(&page, &format!("Closing liability, {last_month}"));
    assert_eq!(
        value,
        format!("{} USD", html::grouped(&closing.to_string()))
    );
    let revenue = csv_rows(&out.join("deferred_revenue.csv"));
    let (value, _) = headline(&page, "Deferred revenue (contract liability)");
    assert_eq!(
        figure(value.trim_end_matches(" USD")),
        d(&revenue.last().unwrap()["deferred"])
    );
    let stars = last.iter().find(|r| r["points"] == "stars").unwrap();
    let (value, _) = headline(&page, "Breakage in force");
    assert_eq!(figure(&value) / Decimal::ONE_HUNDRED, d(&stars["breakage"]));
    assert!(value.ends_with('%'), "{value}");
    let rejects = csv_rows(&out.join("rejects.csv"));
    let (value, _) = headline(&page, "Rejected records");
    assert_eq!(figure(&value), Decimal::from(rejects.len()));
    // Headline first, then the roll-forward.
    let at = |title: &str| page.find(&format!("<h2>{title}")).unwrap();
    assert!(at("Headline") < at("stars: liability roll-forward"));
    // The rejects with the first reasons, and their count by class.
    let listed = rows(section(
        &page,
        &format!("Rejected records: {}", rejects.len()),
    ));
    assert!(listed
        .iter()
        .any(|r| r.contains(&"8".to_string())
            && r.last() == Some(&html::escape(&rejects[0]["reason"]))));
    // The reports asked for have their sections.
    for title in [
        "Deferred revenue (IFRS 15), USD",
        "Points expiring in the 90 days after 2026-04-01",
        &format!("stars: redemption by earning cohort, as of {last_month}"),
        "Liability (USD)",
        "Tier mix at each month&#39;s end",
    ] {
        section(&page, title);
    }
    // A chart per section that draws, each with its legend beside it.
    let charts = page.matches("<svg class=\"chart\"").count();
    assert_eq!(charts, 6);
    assert_eq!(page.matches("<ul class=\"legend\">").count(), charts);
    // Self-contained: nothing fetched, nothing run.
    for fetch in ["src=", "href=", "<link", "<script", "@import", "url("] {
        assert!(!page.contains(fetch), "{fetch}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--report kpis`: a row per KPI, a column per month, each value
/// `kpis.csv`'s (fractions in percent).
#[test]
fn the_kpi_table_has_kpis_csvs_values() {
    let dir = temp("kpis");
    let page = run_page(&dir);
    let table = rows(section(&page, "KPIs at the end of each month"));
    let csv = csv_rows(&dir.join("out").join("kpis.csv"));
    let months: Vec<&str> = {
        let mut months: Vec<&str> = csv.iter().map(|r| r["month"].as_str()).collect();
        months.dedup();
        months
    };
    assert!(csv.len() > 10 && months.len() > 3, "{csv:?}");
    for row in &csv {
        let shown = table
            .iter()
            .find(|cells| cells[0] == row["kpi"])
            .unwrap_or_else(|| panic!("no row for {}", row["kpi"]));
        let column = months.iter().position(|m| *m == row["month"]).unwrap() + 1;
        let value = figure(&shown[column]);
        let expected = d(&row["value"]);
        if shown[column].ends_with('%') {
            assert_eq!(
                value / Decimal::ONE_HUNDRED,
                expected.round_dp(4),
                "{row:?}"
            );
        } else {
            assert_eq!(value, expected, "{row:?}");
        }
    }
}

#[test]
fn the_liability_table_has_no_zero_perks_rows_and_figures_read_as_people_write_them() {
    let dir = temp("table");
    let page = run_page(&dir);
    let liability = csv_rows(&dir.join("out/liability.csv"));
    let table = rows(section(&page, "Liability table"));
    // Perks rows only for months with a perk's cost; Bean Stars has months
    // without, so the check can fail.
    let perks = |rows: Vec<bool>| rows.into_iter().filter(|used| *used).count();
    let used = perks(
        liability
            .iter()
            .filter(|r| r["points"] == "(perks)")
            .map(|r| !d(&r["cost"]).is_zero())
            .collect(),
    );
    let zero = liability
        .iter()
        .filter(|r| r["points"] == "(perks)")
        .count()
        - used;
    assert!(used > 0 && zero > 0, "{used} {zero}");
    assert_eq!(
        table.iter().filter(|r| r[1] == "(perks)").count(),
        used,
        "{table:?}"
    );
    assert!(table
        .iter()
        .filter(|r| r[1] == "(perks)")
        .all(|r| r.iter().skip(2).any(|c| figure(c) != Decimal::ZERO)));
    // Thousands separators: every row of the CSV is on the page, its
    // figures grouped (Bean Stars issues over a thousand stars a month).
    let mut thousands = 0;
    for r in liability.iter().filter(|r| r["points"] == "stars") {
        let row = table
            .iter()
            .find(|c| c[0] == r["month"] && c[1] == "stars")
            .unwrap();
        assert_eq!(row[2], html::grouped(&r["issued"]));
        assert_eq!(figure(&row[2]), d(&r["issued"]));
        thousands += usize::from(row[2].contains(','));
        // Breakage as a percentage.
        assert_eq!(
            row[7],
            format!("{:.2}%", d(&r["breakage"]) * Decimal::ONE_HUNDRED)
        );
    }
    assert!(thousands > 0);
    // The axes: titled with their units, ticks grouped, shares in percent,
    // and months labelled each quarter past a year (15 months here).
    let drawn = |text: &str| page.contains(&format!(">\n{text}\n</text>"));
    for title in ["USD", "points", "month", "%", "months since earning"] {
        assert!(drawn(title), "{title}");
    }
    assert!(drawn("1,000"));
    assert!(drawn("50%"));
    assert!(drawn("2025-04") && !drawn("2025-02"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Checks a page's roll-forward against `liability.csv`: per month and
/// points type with a value, opening + issued − redeemed − expired −
/// reversed ± adjustments = closing, opening is the month before's
/// closing and closing its liability; each flow is its points valued at
/// the month's breakage; rounding is at most a few cents. Returns the
/// months whose estimate changed.
fn check_roll_forward(name: &str, page: &str, dir: &Path, value: Decimal) -> Vec<String> {
    let liability = csv_rows(&dir.join("out/liability.csv"));
    let points = &liability[0]["points"];
    let currency = &liability[0]["currency"];
    let lines = rows(section(
        page,
        &format!("{points}: liability roll-forward ({currency})"),
    ));
    let csv: Vec<_> = liability
        .iter()
        .filter(|r| &r["points"] == points)
        .collect();
    assert_eq!(lines.len(), csv.len(), "{name}");
    let mut before = Decimal::ZERO;
    let mut changed = Vec::new();
    for (line, row) in lines.iter().zip(&csv) {
        let [opening, issued, redeemed, expired, reversed, estimate, rounding, closing] =
            [1, 2, 3, 4, 5, 6, 7, 8].map(|i| figure(&line[i]));
        assert_eq!(line[0], row["month"], "{name}");
        assert_eq!(opening, before, "{name} {line:?}");
        assert_eq!(
            opening + issued - redeemed - expired - reversed + estimate + rounding,
            closing,
            "{name} {line:?}"
        );
        assert_eq!(closing, d(&row["liability"]), "{name} {line:?}");
        let worth = |column: &str| {
            (d(&row[column]) * value * (Decimal::ONE - d(&row["breakage"]))).round_dp(2)
        };
        assert_eq!(
            [issued, redeemed, expired, reversed],
            ["issued", "spent", "expired", "reversed"].map(worth),
            "{name} {line:?}"
        );
        assert!(rounding.abs() <= d("0.03"), "{name} {line:?}");
        if !estimate.is_zero() {
            changed.push(line[0].clone());
        }
        before = closing;
    }
    changed
}

#[test]
fn the_roll_forward_adds_up_to_the_liability_table_on_every_example_program() {
    let values = [
        ("bean_stars", "0.03"),
        ("northwind_miles", "0.009"),
        ("meridian_cards", "0.01"),
        ("harbor_hotels", "0.007"),
        ("cartwheel", "0.01"),
    ];
    for (name, value) in values {
        let dir = temp(&format!("roll-{name}"));
        let page = run_page_of(&dir, name, "liability", &[]);
        assert!(check_roll_forward(name, &page, &dir, d(value)).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // A revised estimate is its own line, in the month it takes effect.
    let dir = temp("roll-estimates");
    let estimates = dir.join("estimates.csv");
    std::fs::write(&estimates, "from,points,breakage\n2025-07-01,stars,25\n").unwrap();
    let page = run_page_of(
        &dir,
        "bean_stars",
        "liability",
        &["--breakage-estimates", estimates.to_str().unwrap()],
    );
    assert_eq!(
        check_roll_forward("estimates", &page, &dir, d("0.03")),
        ["2025-07"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
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

/// `loyalty diff` of Bean Stars against itself with the base rate doubled,
/// with `--html` and `--format json`: (the page, the JSON).
fn diff_page(dir: &Path) -> (String, serde_json::Value) {
    let source = std::fs::read_to_string(root().join("programs/bean_stars.loyalty")).unwrap();
    let base = "  earn 1 stars per 1 USD of amount";
    assert!(source.contains(base));
    let new = dir.join("doubled <v2>.loyalty");
    std::fs::write(
        &new,
        source.replace(base, "  earn 2 stars per 1 USD of amount"),
    )
    .unwrap();
    let page = dir.join("diff.html");
    let done = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .current_dir(root())
        .args(["diff", "programs/bean_stars.loyalty"])
        .arg(&new)
        .args([
            "--events",
            "programs/bean_stars.events.csv",
            "--until",
            "2026-03-31",
        ])
        .args(["--format", "json", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    (
        std::fs::read_to_string(page).unwrap(),
        serde_json::from_slice(&done.stdout).unwrap(),
    )
}

#[test]
fn the_diff_page_has_the_diffs_figures_and_the_same_bytes_twice() {
    let dir = temp("diff");
    let (page, json) = diff_page(&dir);
    assert_eq!(page, diff_page(&dir).0);
    assert!(page.contains("doubled &lt;v2&gt;.loyalty"));
    // The headline: each overall figure, new and old, as the JSON has it.
    let overall = json["overall"].as_array().unwrap();
    assert!(overall.len() >= 4);
    for line in overall {
        let (value, note) = headline(&page, line["measure"].as_str().unwrap());
        assert_eq!(figure(&value), d(line["new"].as_str().unwrap()), "{line}");
        let old = note.trim_start_matches("was ").split(':').next().unwrap();
        assert_eq!(figure(old), d(line["old"].as_str().unwrap()), "{line}");
    }
    // The liability and cost of each tier under both programs, as bars.
    assert!(page.contains("<h3>liability by tier, USD</h3>"));
    assert!(page.contains("<h3>cost by tier, USD</h3>"));
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 2);
    // Stars issued went over a thousand: grouped.
    assert!(page.contains("<div class=\"value\">9,567</div>"));
    // The tables: by tier, and the members who moved most.
    let tiers = rows(section(
        &page,
        "By tier (each member&#39;s tier at the end under the old program)",
    ));
    assert_eq!(
        tiers.len(),
        json["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["lines"].as_array().unwrap().len())
            .sum::<usize>()
    );
    let members = rows(section(
        &page,
        "Members whose balances moved most (at most 10)",
    ));
    assert_eq!(members.len(), json["members"].as_array().unwrap().len());
    assert_eq!(
        members[0][0],
        json["members"][0]["member"].as_str().unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "renders in headless Chromium; run with --ignored after apt-get install chromium (CI runs it)"]
fn chromium_draws_every_chart_and_nothing_spills_sideways() {
    let chromium = support::chromium();
    let dir = temp("chromium");
    let run = run_page(&dir);
    assert_eq!(render(chromium, &dir, "run", &run), (6, 6, true));
    assert_eq!(
        render(chromium, &dir, "sim", &simulation_page()),
        (3, 3, true)
    );
    let (diff, _) = diff_page(&dir);
    assert_eq!(render(chromium, &dir, "diff", &diff), (2, 2, true));
    // The check can fail: an empty chart is counted as not drawn, a page
    // without charts has none, and a page wider than the window spills.
    let empty = run.replacen(
        "<svg class=\"chart\"",
        "<svg class=\"chart\" width=\"760\" height=\"300\"></svg><svg class=\"gone\"",
        1,
    );
    assert_eq!(render(chromium, &dir, "empty", &empty), (6, 5, true));
    assert_eq!(
        render(
            chromium,
            &dir,
            "none",
            "<html><body>no charts</body></html>"
        ),
        (0, 0, true)
    );
    let wide = run.replacen("<body>", "<body><div style=\"width: 3000px\">wide</div>", 1);
    assert_eq!(render(chromium, &dir, "wide", &wide), (6, 6, false));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Renders a page in headless Chromium and returns (charts on the page,
/// charts drawn, whether the page fits the window's width): a chart is
/// drawn when it has a size on the page and a line, area or bar (not its
/// white background) across it.
fn render(chromium: &str, dir: &Path, name: &str, page: &str) -> (usize, usize, bool) {
    const CHECK: &str = "<script>
const charts = [...document.querySelectorAll('svg.chart')];
const drawn = charts.filter(svg => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('polyline, polygon, path, rect')].filter(m => {
    return m.getAttribute('fill') !== '#FFFFFF' && m.getBBox().width > 10;
  });
  return box.width > 100 && box.height > 100 && marks.length > 0;
});
const fits = document.documentElement.scrollWidth <= window.innerWidth;
document.body.setAttribute('data-check', charts.length + ' ' + drawn.length + ' ' + fits);
</script>";
    let file = dir.join(format!("{name}.html"));
    let checked = match page.rfind("</body>") {
        Some(at) => format!("{}{CHECK}{}", &page[..at], &page[at..]),
        None => format!("{page}{CHECK}"),
    };
    std::fs::write(&file, checked).unwrap();
    let out = Command::new(chromium)
        .args(support::HEADLESS)
        .arg("--window-size=1000,800")
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
    let parts: Vec<&str> = check.split(' ').collect();
    (
        parts[0].parse().unwrap(),
        parts[1].parse().unwrap(),
        parts[2] == "true",
    )
}
