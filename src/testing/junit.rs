//! `--junit FILE`: a run's results as JUnit XML, the format GitHub Actions
//! (through a test-report action), GitLab (`artifacts:reports:junit`) and
//! Jenkins (`junit` step) show. One `<testsuite>` per test file, one
//! `<testcase>` per case; a failed case has a `<failure>` whose `message`
//! is its first failure's title and whose text is every failure with its
//! diff; a broken test file is a suite with one `<error>` case.

use super::runner::FileReport;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

/// The results as a JUnit XML document.
pub fn to_junit(reports: &[FileReport]) -> std::io::Result<String> {
    let tally = super::runner::Tally::of(reports);
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let seconds = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64());
    let total: std::time::Duration = reports
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .flatten()
        .map(|c| c.duration)
        .sum();
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "loyalty test".to_string()),
            ("tests", (tally.passed + tally.failed + tally.broken_files).to_string()),
            ("failures", tally.failed.to_string()),
            ("errors", tally.broken_files.to_string()),
            ("time", seconds(total)),
        ].iter().map(|(k, v)| (*k, v.as_str())))
        .write_inner_content(|writer| {
            for report in reports {
                let file = xml_text(&report.file.display().to_string());
                match &report.outcome {
                    Err(error) => {
                        let message = xml_text(&format!("{}: {}", error.place(&report.file), error.message));
                        let first = message.lines().next().unwrap_or_default().to_string();
                        writer
                            .create_element("testsuite")
                            .with_attributes([
                                ("name", file.as_str()),
                                ("tests", "1"),
                                ("failures", "0"),
                                ("errors", "1"),
                            ])
                            .write_inner_content(|writer| {
                                writer
                                    .create_element("testcase")
                                    .with_attributes([
                                        ("name", "test file"),
                                        ("classname", file.as_str()),
                                        ("file", file.as_str()),
                                    ])
                                    .write_inner_content(|writer| {
                                        writer
                                            .create_element("error")
                                            .with_attribute(("message", first.as_str()))
                                            .write_text_content(BytesText::new(&message))?;
                                        Ok(())
                                    })?;
                                Ok(())
                            })?;
                    }
                    Ok(cases) => {
                        let failed = cases.iter().filter(|c| !c.passed()).count();
                        let time: std::time::Duration = cases.iter().map(|c| c.duration).sum();
                        writer
                            .create_element("testsuite")
                            .with_attributes([
                                ("name", file.clone()),
                                ("tests", cases.len().to_string()),
                                ("failures", failed.to_string()),
                                ("errors", "0".to_string()),
                                ("time", seconds(time)),
                            ].iter().map(|(k, v)| (*k, v.as_str())))
                            .write_inner_content(|writer| {
                                for case in cases {
                                    let name = xml_text(&case.name);
                                    let element = writer.create_element("testcase").with_attributes([
                                        ("name", name.as_str()),
                                        ("classname", file.as_str()),
                                        ("file", file.as_str()),
                                        ("time", seconds(case.duration).as_str()),
                                    ]);
                                    let Some(first) = case.failures.first() else {
                                        element.write_empty()?;
                                        continue;
                                    };
                                    let details: String = case
                                        .failures
                                        .iter()
                                        .map(|f| format!("{}\n{}", f.title(), f.diff().render(2, false)))
                                        .collect::<Vec<_>>()
                                        .join("\n");
                                    let title = xml_text(&first.title());
                                    let details = xml_text(&details);
                                    element.write_inner_content(|writer| {
                                        writer
                                            .create_element("failure")
                                            .with_attribute(("message", title.as_str()))
                                            .write_text_content(BytesText::new(&details))?;
                                        Ok(())
                                    })?;
                                }
                                Ok(())
                            })?;
                    }
                }
            }
            Ok(())
        })?;
    let mut xml = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    xml.push('\n');
    Ok(xml)
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
