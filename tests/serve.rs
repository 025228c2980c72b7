//! `loyalty serve` spoken to over HTTP as its page does: a typo is a
//! diagnostic at its line; the fixed program's totals are `loyalty run`'s;
//! a rate change moves the diff's issued by the amount computed by hand;
//! `explain` and the simulated band are those of `loyalty explain` and
//! `loyalty simulate`; Save writes the formatted program; requests out of
//! bounds or from other sites are refused. Then the page itself, in
//! headless Chromium driven through the DevTools protocol: typed into, it
//! shows the diagnostic at the right line, the totals `loyalty run` gives
//! and the diff's change, and saves. That test is ignored by a plain
//! `cargo test` (it needs Chromium); `.ci/run` installs Debian's `chromium`
//! and runs it with `cargo test --test serve -- --ignored`. Run with
//! `LOYALTY_SCREENSHOT=docs/serve.png`, it also takes the README's
//! screenshot of the page.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const EVENTS: &str = "programs/bean_stars.events.csv";

fn bean_stars() -> String {
    std::fs::read_to_string(root().join("programs/bean_stars.loyalty")).unwrap()
}

/// `text` with `from` replaced by `to`, where it is written once.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from}");
    text.replacen(from, to, 1)
}

/// The line (from 0) of the text's first line holding `what`.
fn line_of(text: &str, what: &str) -> usize {
    text.lines().position(|l| l.contains(what)).unwrap()
}

/// The rate change whose effect is computed by hand: `breakfast_pairing`
/// pays 15 stars rather than 10 on an app food purchase before 11, once a
/// day. The sample has six: ann's e03, e04 (10:00 in New York), e21 and
/// e24, dana's e32 (not e33, the same day) and eve's e54; none brings a
/// member to a tier sooner (each crosses on a purchase of hundreds), so
/// the other rules pay the same, and 6 × 5 = 30 more stars are issued.
const BREAKFAST: (&str, &str) = ("earn 10 stars", "earn 15 stars");
const BREAKFAST_MORE_STARS: i64 = 30;

/// A `loyalty serve` of a copy of a program, on a free port, stopped when
/// dropped.
struct Served {
    child: Child,
    address: String,
    program: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(text: &str, extra: &[&str]) -> Served {
        // The program and its events where they are in the repository,
        // relative to the server's folder: they are named as there.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("programs")).unwrap();
        let program = dir.path().join("programs/bean_stars.loyalty");
        std::fs::write(&program, text).unwrap();
        std::fs::copy(root().join(EVENTS), dir.path().join(EVENTS)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .current_dir(dir.path())
            .args(["serve", "programs/bean_stars.loyalty"])
            .args(["--events", EVENTS, "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let line = support::first_line(&mut child);
        assert!(line.contains("listening on 127.0.0.1 only"), "{line}");
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap()
            .to_string();
        assert!(address.starts_with("127.0.0.1:"), "{address}");
        Served {
            child,
            address,
            program,
            _dir: dir,
        }
    }

    /// Sends `head` (the request line and headers, without the blank line)
    /// and `body`; the status and the body of the answer.
    fn raw(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        write!(stream, "{head}\r\n\r\n").unwrap();
        // A refused request may be answered before its body is sent.
        let _ = stream.write_all(body);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    /// A call of the page: its JSON answer.
    fn call(&self, name: &str, body: &Value) -> Value {
        let body = body.to_string();
        let (status, answer) = self.raw(
            &format!(
                "POST /api/{name} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}",
                self.address,
                body.len()
            ),
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        serde_json::from_str(&answer).unwrap()
    }

    fn analyze(&self, text: &str) -> Value {
        self.call("analyze", &json!({ "text": text }))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `loyalty ARGS` from the repository's root: its standard output.
fn loyalty(args: &[&str]) -> String {
    let done = support::loyalty(args);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    String::from_utf8(done.stdout).unwrap()
}

/// `loyalty run`'s summary of a program on the sample events.
fn run_summary(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p.loyalty");
    std::fs::write(&program, text).unwrap();
    let out = dir.path().join("out");
    let json = loyalty(&[
        "run",
        program.to_str().unwrap(),
        EVENTS,
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let mut summary: Value = serde_json::from_str(&json).unwrap();
    summary.as_object_mut().unwrap().remove("files");
    summary
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

/// The diff's overall line of stars issued.
fn stars_issued(analysis: &Value) -> &Value {
    analysis["diff"]["Ok"]["diff"]["overall"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["figure"] == json!({"issued": "stars"}))
        .unwrap()
}

#[test]
fn a_typo_is_a_diagnostic_at_its_line_and_the_fix_runs_as_loyalty_run() {
    let served = Served::start(&bean_stars(), &[]);
    let typo = edit(&bean_stars(), "tier = reserve and", "tier = reservex and");
    let analysis = served.analyze(&typo);
    let diagnostics = analysis["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d["severity"], 1);
    assert!(d["message"]
        .as_str()
        .unwrap()
        .contains("unknown tier `reservex`"));
    let line = line_of(&typo, "tier = reservex");
    let column = typo.lines().nth(line).unwrap().find("reservex").unwrap();
    assert_eq!(
        d["range"]["start"],
        json!({"line": line, "character": column})
    );
    assert_eq!(
        d["range"]["end"],
        json!({"line": line, "character": column + "reservex".len()})
    );
    // Nothing is run on a program with an error.
    assert_eq!(analysis["run"], Value::Null);
    assert_eq!(analysis["diff"], Value::Null);

    let fixed = served.analyze(&bean_stars());
    assert_eq!(fixed["diagnostics"], json!([]));
    let run = &fixed["run"]["Ok"];
    assert_eq!(run["summary"], run_summary(&bean_stars()));
    assert_eq!(run["members"], json!(["ann", "bob", "dana", "eve"]));
    // The stars' last month's liability is the summary's.
    let last = run["liability"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|row| row["points"] == "stars")
        .unwrap();
    assert_eq!(last["liability"], run["summary"]["points"][0]["liability"]);
    // The text is the file on disk: nothing changed.
    let overall = fixed["diff"]["Ok"]["overall"].as_array().unwrap();
    assert!(overall
        .iter()
        .all(|cells| cells[3] == "0" || cells[3] == "0.00"));
}

#[test]
fn a_rate_change_moves_the_diffs_issued_by_the_hand_computed_amount() {
    let served = Served::start(&bean_stars(), &[]);
    let changed = edit(&bean_stars(), BREAKFAST.0, BREAKFAST.1);
    let analysis = served.analyze(&changed);
    let line = stars_issued(&analysis);
    assert_eq!(
        decimal(&line["new"]) - decimal(&line["old"]),
        Decimal::from(BREAKFAST_MORE_STARS)
    );
    // The old figure is the file on disk's, the new one the edited text's.
    let old = run_summary(&bean_stars());
    let new = run_summary(&changed);
    assert_eq!(line["old"], old["points"][0]["issued"]);
    assert_eq!(line["new"], new["points"][0]["issued"]);
    assert_eq!(analysis["run"]["Ok"]["summary"], new);
    let cells = &analysis["diff"]["Ok"]["overall"][0];
    assert_eq!(cells[0], "stars issued");
    assert_eq!(cells[3], format!("+{BREAKFAST_MORE_STARS}"));
    // Ann had four breakfasts, dana and eve one each.
    let members = analysis["diff"]["Ok"]["diff"]["members"]
        .as_array()
        .unwrap();
    assert_eq!(members[0]["member"], "ann");
}

#[test]
fn explain_and_the_simulated_band_are_those_of_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    // Bean Stars' scenario on a small population, fast in a debug build.
    let scenario = dir.path().join("small.scenario.yaml");
    let text = std::fs::read_to_string(root().join("programs/bean_stars.scenario.yaml")).unwrap();
    let text = edit(&text, "months: 24", "months: 3");
    let text = edit(
        &text,
        "initial: 2000, joins_per_month: 80",
        "initial: 60, joins_per_month: 4",
    );
    std::fs::write(&scenario, text).unwrap();
    let scenario = scenario.to_str().unwrap();
    let served = Served::start(&bean_stars(), &["--scenario", scenario, "--runs", "3"]);

    let story = served.call("explain", &json!({"text": bean_stars(), "member": "bob"}));
    let told = loyalty(&[
        "explain",
        "programs/bean_stars.loyalty",
        EVENTS,
        "--member",
        "bob",
    ]);
    let story = &story["Ok"];
    let rejects: String = story["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "\nrejected: {} line {}: {}\n",
                r["file"].as_str().unwrap(),
                r["line"],
                r["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert!(!rejects.is_empty());
    assert_eq!(
        format!("{}{rejects}", story["story"].as_str().unwrap()),
        told
    );
    let nobody = served.call("explain", &json!({"text": bean_stars(), "member": "zed"}));
    assert_eq!(nobody["Err"], "no member `zed` in these events");

    let simulated = served.call("simulate", &json!({"text": bean_stars()}));
    let simulated = &simulated["Ok"];
    let out = dir.path().join("sim");
    loyalty(&[
        "simulate",
        "programs/bean_stars.loyalty",
        scenario,
        "--runs",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("simulation.json")).unwrap())
            .unwrap();
    assert_eq!(simulated["report"]["months"], report["months"]);
    let band = |name: &str| {
        let b = &simulated[name];
        (decimal(&b["p5"]), decimal(&b["p50"]), decimal(&b["p95"]))
    };
    let (low, median, high) = band("cost");
    assert!(low <= median && median <= high && high > Decimal::ZERO);
    // With 3 runs, the 95th percentile is the largest run's: at least the
    // largest month's median liability.
    let (_, _, high) = band("liability");
    let last = report["months"].as_array().unwrap().last().unwrap();
    assert!(high >= decimal(&last["liability"][0]["liability"]["p50"]));
}

#[test]
fn save_writes_the_formatted_program_and_refuses_a_syntax_error() {
    let served = Served::start(&bean_stars(), &[]);
    let messy = edit(&bean_stars(), BREAKFAST.0, "earn   15    stars");
    let formatted = loyalty::syntax::format(&messy).unwrap();
    assert_ne!(formatted, messy);
    let saved = served.call("save", &json!({ "text": messy }));
    assert_eq!(saved["Ok"]["text"], formatted);
    assert_eq!(std::fs::read_to_string(&served.program).unwrap(), formatted);
    // The file on disk is now the one compared with.
    let analysis = served.analyze(&formatted);
    assert_eq!(
        stars_issued(&analysis)["old"],
        stars_issued(&analysis)["new"]
    );

    let broken = edit(&formatted, "rule base {", "rule base {{");
    let refused = served.call("save", &json!({ "text": broken }));
    assert!(refused["Err"].as_str().unwrap().starts_with("not saved"));
    assert_eq!(std::fs::read_to_string(&served.program).unwrap(), formatted);
}

#[test]
fn any_text_is_diagnostics_and_bad_requests_are_refused() {
    let served = Served::start(&bean_stars(), &[]);
    for text in [
        "",
        "{{{",
        "rule",
        "program \"x\" {\n  currency ÄÄÄ\n}\n",
        "\u{0}",
    ] {
        let analysis = served.analyze(text);
        assert!(
            !analysis["diagnostics"].as_array().unwrap().is_empty(),
            "{text:?}"
        );
        assert_eq!(analysis["run"], Value::Null);
    }
    let host = format!("Host: {}", served.address);
    let post = |extra: &str, body: &str| {
        served.raw(
            &format!(
                "POST /api/analyze HTTP/1.1\r\n{extra}\r\nContent-Length: {}",
                body.len()
            ),
            body.as_bytes(),
        )
    };
    let json = "Content-Type: application/json";
    let status = |(status, _): (u16, String)| status;
    // Another site's page: the browser sends its Origin, or its own Host
    // name after DNS rebinding; a form cannot send JSON.
    assert_eq!(
        status(post(
            &format!("{host}\r\n{json}\r\nOrigin: http://evil.example"),
            "{}"
        )),
        403
    );
    assert_eq!(
        status(post(&format!("Host: evil.example:80\r\n{json}"), "{}")),
        403
    );
    assert_eq!(
        status(post(&format!("{host}\r\nContent-Type: text/plain"), "{}")),
        415
    );
    assert_eq!(status(post(&format!("{host}\r\n{json}"), "not json")), 400);
    assert_eq!(
        status(post(&format!("{host}\r\n{json}"), "{\"txt\": 1}")),
        400
    );
    // A body past the bound is refused before it is read.
    assert_eq!(
        status(served.raw(
            &format!("POST /api/analyze HTTP/1.1\r\n{host}\r\n{json}\r\nContent-Length: 5000000"),
            b""
        )),
        413
    );
    assert_eq!(
        status(served.raw(&format!("GET /nothing HTTP/1.1\r\n{host}"), b"")),
        404
    );
    assert_eq!(
        status(served.raw(&format!("GET /api/analyze HTTP/1.1\r\n{host}"), b"")),
        405
    );
    // The page and its files, with the rule that nothing comes from elsewhere.
    let (status, page) = served.raw(&format!("GET / HTTP/1.1\r\n{host}"), b"");
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/page.js\""));
    for fetch in ["http:", "https:", "//cdn", "@import"] {
        assert!(!page.contains(fetch), "{fetch}");
    }
    // After all that, the server still answers.
    assert_eq!(served.analyze(&bean_stars())["diagnostics"], json!([]));
}

/// Headless Chromium with one page open, driven through the DevTools
/// protocol; killed when dropped.
struct Browser {
    child: Child,
    socket: tungstenite::WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    /// The events (messages without an id) read while waiting for answers.
    events: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let chromium = support::chromium();
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(chromium)
            .args(support::HEADLESS)
            .args(["--hide-scrollbars", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Chromium writes its port, and the browser's path, once listening.
        let active = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                if let [port, path] = text.lines().collect::<Vec<_>>()[..] {
                    break (port.to_string(), path.to_string());
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Chromium did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let (socket, _) =
            tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream).unwrap();
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 1,
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.send("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.send(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser.send("Page.enable", json!({}));
        browser.send("Page.navigate", json!({ "url": url }));
        // Loaded: its script has run, and nothing will replace the page.
        while !browser.events.iter().any(|e| e == "Page.loadEventFired") {
            browser.receive();
        }
        browser
    }

    /// The next message; an event's name is kept in `events`.
    fn receive(&mut self) -> Value {
        loop {
            let message = self.socket.read().unwrap();
            let Ok(text) = message.to_text() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if let Some(event) = message["method"].as_str() {
                self.events.push(event.to_string());
            }
            return message;
        }
    }

    /// Sends a command (to the page, once attached) and returns its result.
    fn send(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(tungstenite::Message::text(message.to_string()))
            .unwrap();
        loop {
            let answer = self.receive();
            if answer["id"] == json!(id) {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page (awaiting a promise): its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.send(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (JavaScript) is true in the page.
    fn wait_for(&mut self, condition: &str) {
        let started = Instant::now();
        while self.eval(&format!("Boolean({condition})")) != json!(true) {
            if started.elapsed() > Duration::from_secs(60) {
                let state = self.eval("document.getElementById('status').textContent");
                panic!("the page never showed {condition}; its status: {state}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Selects `text` in the editor (written there once), or with
    /// `caret_only` puts the caret after it, as a click would: the protocol
    /// has no caret of its own to place.
    fn place(&mut self, text: &str, caret_only: bool) {
        let found = self.eval(&format!(
            "(() => {{ const t = document.getElementById('text'); const at = t.value.indexOf({text:?});
               const end = at + {len}; t.focus(); t.setSelectionRange({caret_only} ? end : at, end);
               return t.value.split({text:?}).length - 1; }})()",
            len = text.encode_utf16().count()
        ));
        assert_eq!(found, json!(1), "{text}");
    }

    /// Types `text` where the selection is, as a keyboard would.
    fn type_text(&mut self, text: &str) {
        self.send("Input.insertText", json!({ "text": text }));
    }

    fn backspace(&mut self) {
        for kind in ["keyDown", "keyUp"] {
            self.send(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8}),
            );
        }
    }

    /// The analyses the page has shown so far.
    fn analyses(&mut self) -> u64 {
        self.eval("Number(document.body.dataset.analyses ?? 0)")
            .as_u64()
            .unwrap()
    }

    /// Waits for an analysis after the `before`th.
    fn wait_for_analysis(&mut self, before: u64) {
        self.wait_for(&format!(
            "Number(document.body.dataset.analyses ?? 0) > {before}"
        ));
    }

    fn text_of(&mut self, selector: &str) -> String {
        self.eval(&format!(
            "document.querySelector({selector:?})?.textContent ?? ''"
        ))
        .as_str()
        .unwrap()
        .to_string()
    }

    fn screenshot(&mut self, path: &Path) {
        let shot = self.send("Page.captureScreenshot", json!({ "format": "png" }));
        let png = data_encoding::BASE64
            .decode(shot["data"].as_str().unwrap().as_bytes())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "drives headless Chromium; run with --ignored after apt-get install chromium (CI runs it)"]
fn in_chromium_the_page_shows_a_typo_the_totals_and_the_diff_and_saves() {
    let served = Served::start(&bean_stars(), &[]);
    let mut browser = Browser::open(&format!("http://{}/", served.address));
    browser.wait_for("document.body.dataset.ready === '1'");
    // As loaded: the file's totals, as `loyalty run` gives them.
    let issued = "#totals-table tr:nth-child(2) td:nth-child(2)";
    let before = run_summary(&bean_stars());
    assert_eq!(browser.text_of(issued), before["points"][0]["issued"]);

    // A typo: an `x` typed after `reserve` in `tier = reserve and ...`.
    let seen = browser.analyses();
    browser.place("tier = reserve", true);
    browser.type_text("x");
    browser.wait_for_analysis(seen);
    let typo = edit(&bean_stars(), "tier = reserve and", "tier = reservex and");
    let line = line_of(&typo, "tier = reservex") + 1;
    browser.wait_for(&format!(
        "document.querySelector('#diagnostics li.error[data-line=\"{line}\"]')"
    ));
    assert!(browser
        .text_of("#diagnostics li.error")
        .contains("unknown tier `reservex`"));
    assert_eq!(browser.text_of("#highlight .under-error"), "reservex");
    assert_eq!(
        browser.text_of(&format!("#gutter div.error:nth-child({line})")),
        line.to_string()
    );
    assert!(
        browser.eval("document.getElementById('run-panel').classList.contains('stale')")
            == json!(true)
    );

    // Fixed with a backspace: no mistakes, the panels live again.
    let seen = browser.analyses();
    browser.backspace();
    browser.wait_for_analysis(seen);
    browser.wait_for("!document.querySelector('#diagnostics li.error')");
    assert_eq!(browser.text_of("#diagnostics li"), "No mistakes found.");
    assert!(
        browser.eval("document.getElementById('run-panel').classList.contains('stale')")
            == json!(false)
    );

    // The rate changed (with stray spaces, for Save to format): the totals
    // become the changed program's, and the diff shows the 30 more stars.
    let seen = browser.analyses();
    browser.place(BREAKFAST.0, false);
    browser.type_text("earn  15   stars");
    browser.wait_for_analysis(seen);
    let changed = edit(&bean_stars(), BREAKFAST.0, "earn  15   stars");
    let after = run_summary(&changed);
    assert_ne!(after["points"][0]["issued"], before["points"][0]["issued"]);
    browser.wait_for(&format!(
        "document.querySelector({issued:?}).textContent === {:?}",
        after["points"][0]["issued"].as_str().unwrap()
    ));
    assert_eq!(
        browser.text_of("#diff-overall tr:nth-child(2) td:nth-child(4)"),
        format!("+{BREAKFAST_MORE_STARS}")
    );
    assert_eq!(
        browser.eval("document.getElementById('text').value"),
        json!(changed)
    );
    if let Ok(path) = std::env::var("LOYALTY_SCREENSHOT") {
        // Ann's story beside the change, for the README.
        browser.wait_for("document.getElementById('story').textContent.includes('ann')");
        browser.screenshot(&root().join(path));
    }

    // Saved with Ctrl-S: the file is the formatted program, and so is the
    // editor's text; against it, nothing changes any more.
    let seen = browser.analyses();
    for kind in ["keyDown", "keyUp"] {
        browser.send(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": "s", "code": "KeyS", "windowsVirtualKeyCode": 83, "modifiers": 2}),
        );
    }
    browser.wait_for("document.body.dataset.saves === '1'");
    let formatted = loyalty::syntax::format(&changed).unwrap();
    assert_ne!(formatted, changed);
    assert_eq!(std::fs::read_to_string(&served.program).unwrap(), formatted);
    assert_eq!(
        browser.eval("document.getElementById('text').value"),
        json!(formatted)
    );
    browser.wait_for_analysis(seen);
    browser.wait_for(
        "document.querySelector('#diff-overall tr:nth-child(2) td:nth-child(4)').textContent === '0'",
    );
    assert!(browser.text_of("#status").starts_with("as on disk"));
}
