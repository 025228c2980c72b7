//! `--junit FILE`: a run's results as JUnit XML, the format GitHub Actions
//! (through a test-report action), GitLab (`artifacts:reports:junit`) and
//! Jenkins (`junit` step) show. One `<testsuite>` per test file, one
//! `<testcase>` per case; a failed case has a `<failure>` whose `message`
//! is its first failure's title and whose text is every failure with its
//! diff; a case that could not be run has an `<error>`; a broken test file
//! is a suite with one `<error>` case.

use super::runner::{FileReport, Tally};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use std::io;
use std::time::Duration;

type Xml = Writer<Vec<u8>>;

/// The results as a JUnit XML document.
pub fn to_junit(reports: &[FileReport]) -> io::Result<String> {
    let tally = Tally::of(reports);
    let total: Duration = reports
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .flatten()
        .map(|c| c.duration)
        .sum();
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let attributes = [
        ("name", "loyalty test".to_string()),
        (
            "tests",
            (tally.passed + tally.failed + tally.errors + tally.broken_files).to_string(),
        ),
        ("failures", tally.failed.to_string()),
        ("errors", (tally.errors + tally.broken_files).to_string()),
        ("time", seconds(total)),
    ];
    element(&mut writer, "testsuites", &attributes, |writer| {
        reports.iter().try_for_each(|report| suite(writer, report))
    })?;
    let mut xml = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    xml.push('\n');
    Ok(xml)
}

/// One test file's `<testsuite>`.
fn suite(writer: &mut Xml, report: &FileReport) -> io::Result<()> {
    let path = &report.file;
    let file = xml_text(&path.display().to_string());
    let case = |name: &str, time: Duration| {
        [
            ("name", xml_text(name)),
            ("classname", file.clone()),
            ("file", file.clone()),
            ("time", seconds(time)),
        ]
    };
    match &report.outcome {
        Err(error) => {
            let message = xml_text(&format!("{}: {}", error.place(&report.file), error.message));
            let attributes = [
                ("name", file.clone()),
                ("tests", "1".to_string()),
                ("failures", "0".to_string()),
                ("errors", "1".to_string()),
            ];
            element(writer, "testsuite", &attributes, |writer| {
                element(
                    writer,
                    "testcase",
                    &case("test file", Duration::ZERO),
                    |writer| outcome(writer, "error", &message),
                )
            })
        }
        Ok(cases) => {
            let errors = cases.iter().filter(|c| c.error.is_some()).count();
            let failed = cases.iter().filter(|c| !c.passed()).count() - errors;
            let attributes = [
                ("name", file.clone()),
                ("tests", cases.len().to_string()),
                ("failures", failed.to_string()),
                ("errors", errors.to_string()),
                ("time", seconds(cases.iter().map(|c| c.duration).sum())),
            ];
            element(writer, "testsuite", &attributes, |writer| {
                for report in cases {
                    let attributes = case(&report.name, report.duration);
                    if let Some(error) = &report.error {
                        let message =
                            xml_text(&format!("{}: {}", error.place(path), error.message));
                        element(writer, "testcase", &attributes, |writer| {
                            outcome(writer, "error", &message)
                        })?;
                        continue;
                    }
                    if report.passed() {
                        let empty = writer.create_element("testcase");
                        empty
                            .with_attributes(attributes.iter().map(|(k, v)| (*k, v.as_str())))
                            .write_empty()?;
                        continue;
                    }
                    let details: Vec<String> = report
                        .failures
                        .iter()
                        .map(|f| format!("{}\n{}", f.title(), f.diff().render(2, false)))
                        .collect();
                    element(writer, "testcase", &attributes, |writer| {
                        outcome(writer, "failure", &xml_text(&details.join("\n")))
                    })?;
                }
                Ok(())
            })
        }
    }
}

/// A `<failure>` or `<error>`: its first line as the `message`, all of it as text.
fn outcome(writer: &mut Xml, tag: &str, text: &str) -> io::Result<()> {
    let first = text.lines().next().unwrap_or_default();
    writer
        .create_element(tag)
        .with_attribute(("message", first))
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

/// An element with attributes, and what `body` writes inside it.
fn element(
    writer: &mut Xml,
    name: &str,
    attributes: &[(&str, String)],
    body: impl FnOnce(&mut Xml) -> io::Result<()>,
) -> io::Result<()> {
    writer
        .create_element(name)
        .with_attributes(attributes.iter().map(|(k, v)| (*k, v.as_str())))
        .write_inner_content(body)?;
    Ok(())
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Text XML 1.0 can hold: characters it forbids (most control characters)
/// become U+FFFD, so a stray byte in an event file cannot break the report.
fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}
