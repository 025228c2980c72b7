//! `loyalty serve`: a local web page to edit a program and see, on every
//! edit that checks, what it does to the sample events — the run's totals
//! and liability, the `diff` against the file on disk, one member's
//! `explain`, and with a scenario the simulated cost band — and to save it
//! back formatted.
//!
//! The server answers on 127.0.0.1 only. Its HTTP is the few lines of
//! `http` over `std::net`, a thread per connection, rather than a crate:
//! one user on the loopback, a page and a few calls with a body of JSON
//! need none of keep-alive, chunked bodies, TLS or an async runtime, and
//! `tiny_http` or `axum` and `tokio` would add their build time and
//! dependencies for nothing the page uses; the bounds on every request
//! (head, body, time, connections) are written out in `http` and here.
//!
//! The page and its script and style are compiled into the binary
//! (`page.html`, `page.js`, `page.css`): nothing is fetched from anywhere
//! else, and the answers' Content-Security-Policy says so to the browser.
//! A web page open in the same browser must not be able to use the server
//! (to overwrite the program, say): every request must name the server
//! itself as its Host (which defeats DNS rebinding), and a call must be a
//! `POST` of `application/json` (which another site's page cannot send
//! without the browser asking first, and the server never says yes) whose
//! Origin, when sent, is the page's own.
//!
//! The calls (`api`) carry the editor's text; the server keeps nothing
//! between them but the files given at start, and reads the program on
//! disk anew for each diff. Mistakes in the text are diagnostics in the
//! answer, never an error status.

mod api;
mod http;

use crate::compile::ir::Program;
use crate::events::{self, Format};
use crate::run::Records;
use http::{Request, Response};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Connections served at once; more are answered 503 at once.
const MOST_CONNECTIONS: usize = 16;

/// What to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The program edited, read for each diff and written by Save.
    pub program: PathBuf,
    /// The sample events, read once at start.
    pub events: Vec<PathBuf>,
    /// A simulation scenario, read once at start.
    pub scenario: Option<PathBuf>,
    /// Runs of each simulation.
    pub runs: u64,
    /// 0 for any free port.
    pub port: u16,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on 127.0.0.1:{port}: {source} (--port 0 takes any free port)")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot tell the format of `{}`: name it .csv, .jsonl or .yaml", path.display())]
    EventFormat { path: PathBuf },
    #[error("--runs {0}: from 1 to {most}", most = crate::simulate::MOST_RUNS)]
    Runs(u64),
}

/// An event file, as read at start.
struct EventFile {
    name: String,
    format: Format,
    bytes: Vec<u8>,
}

/// A scenario file, as read at start.
struct ScenarioFile {
    name: String,
    source: String,
}

/// What every call may read: the files given at start.
struct State {
    program: PathBuf,
    events: Vec<EventFile>,
    scenario: Option<ScenarioFile>,
    runs: u64,
    /// Held while a simulation runs: one at a time, however many are asked.
    simulating: Mutex<()>,
    /// The names the server answers to: `127.0.0.1:PORT`, `localhost:PORT`.
    hosts: [String; 2],
}

impl State {
    /// The sample events, typed by `program` (or rejected), file after file.
    fn records<'a>(&'a self, program: &'a Program) -> Records<'a> {
        Box::new(self.events.iter().flat_map(move |file| {
            events::read(program, file.format, file.bytes.as_slice(), &file.name)
        }))
    }
}

/// A server bound to its port, not answering yet.
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
}

impl Server {
    /// Reads the event files and the scenario, and binds 127.0.0.1.
    pub fn bind(config: &Config) -> Result<Server, Error> {
        if config.runs == 0 || config.runs > crate::simulate::MOST_RUNS {
            return Err(Error::Runs(config.runs));
        }
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let events = config
            .events
            .iter()
            .map(|path| {
                let format = Format::from_path(path)
                    .ok_or_else(|| Error::EventFormat { path: path.clone() })?;
                Ok(EventFile {
                    name: path.display().to_string(),
                    format,
                    bytes: read(path)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let scenario = match &config.scenario {
            Some(path) => Some(ScenarioFile {
                name: path.display().to_string(),
                source: std::fs::read_to_string(path).map_err(|source| Error::Read {
                    path: path.clone(),
                    source,
                })?,
            }),
            None => None,
        };
        // The program is read by each call; reading it now says at start
        // that it cannot be.
        read(&config.program)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).map_err(|source| {
            Error::Listen {
                port: config.port,
                source,
            }
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| Error::Listen {
                port: config.port,
                source,
            })?
            .port();
        Ok(Server {
            listener,
            state: Arc::new(State {
                program: config.program.clone(),
                events,
                scenario,
                runs: config.runs,
                simulating: Mutex::new(()),
                hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            }),
        })
    }

    /// Where the page is.
    pub fn address(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Answers connections until the process ends, each on a thread of its
    /// own, at most [`MOST_CONNECTIONS`] at once. A connection that fails
    /// (the browser went away) is dropped.
    pub fn run(self) {
        let open = Arc::new(AtomicUsize::new(0));
        for stream in self.listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if open.load(Ordering::SeqCst) >= MOST_CONNECTIONS {
                let busy = Response::refusal(503, "too many connections at once");
                // The browser may have gone; nothing more to do then.
                let _ = http::write_response(&mut stream, &busy);
                continue;
            }
            open.fetch_add(1, Ordering::SeqCst);
            let state = Arc::clone(&self.state);
            let done = Arc::clone(&open);
            let spawned = std::thread::Builder::new()
                .name("loyalty-serve".to_string())
                .spawn(move || {
                    // A connection whose client went away is done with.
                    let _ = answer(&state, stream);
                    done.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Reads one request, answers it and closes the connection.
fn answer(state: &State, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(http::READ_WAIT))?;
    stream.set_write_timeout(Some(http::TIME_TO_SEND))?;
    let response = match http::read_request(&mut stream) {
        Ok(request) => route(state, &request),
        Err(refusal) => refusal,
    };
    http::write_response(&mut stream, &response)?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// The page's files and the calls, after the checks that keep other
/// sites' pages out.
fn route(state: &State, request: &Request) -> Response {
    let ours = |value: Option<&str>, scheme: &str| {
        value.is_some_and(|v| {
            state
                .hosts
                .iter()
                .any(|host| v.eq_ignore_ascii_case(&format!("{scheme}{host}")))
        })
    };
    if !ours(request.header("host"), "") {
        return Response::refusal(403, "this server answers only to 127.0.0.1 and localhost");
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => Response::asset("text/html; charset=utf-8", include_str!("page.html")),
        ("GET", "/page.js") => {
            Response::asset("text/javascript; charset=utf-8", include_str!("page.js"))
        }
        ("GET", "/page.css") => {
            Response::asset("text/css; charset=utf-8", include_str!("page.css"))
        }
        ("POST", path) if path.starts_with("/api/") => {
            let json = request
                .header("content-type")
                .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
            if !json {
                return Response::refusal(415, "calls are sent as application/json");
            }
            if request.header("origin").is_some() && !ours(request.header("origin"), "http://") {
                return Response::refusal(403, "calls come from the page this server serves");
            }
            api::call(state, path, &request.body)
        }
        (_, "/" | "/page.js" | "/page.css") => {
            Response::refusal(405, "the page's files are read with GET")
        }
        (_, path) if path.starts_with("/api/") => {
            Response::refusal(405, "calls are sent with POST")
        }
        _ => Response::refusal(404, "no such page"),
    }
}
