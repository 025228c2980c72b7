//! Output files that are never half-written.
//!
//! [`AtomicFile`]: one file, written under a temporary name beside its
//! place (`.ledger.csv.loyalty-tmp`) and renamed into place only once it
//! is complete and synced; dropped before that (an error, a panic), its
//! temporary file is removed. A killed process leaves the temporary file,
//! which the next write of the same file replaces.
//!
//! [`Folder`]: the files of one run, put in place together, with a summary
//! written last that lists each file with its rows, bytes and SHA-256, so
//! that a summary always describes the files beside it. [`Folder::commit`]:
//!
//! 1. every file is already complete under its temporary name (a failure or
//!    a kill before this point leaves the previous run's files untouched);
//! 2. the previous summary is removed;
//! 3. the files are renamed into place, and the files the previous summary
//!    listed that this run did not write are removed;
//! 4. the new summary is renamed into place.
//!
//! A failure or a kill during 2–4 leaves no summary. Only files a previous
//! summary listed by plain name are ever removed: anything else in the
//! folder is not the tool's and is left alone. One run at a time may write
//! to a folder.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

/// The suffix of a file being written; it starts with a dot, so it is hidden.
const TEMPORARY: &str = ".loyalty-tmp";

/// A file operation that failed: what was done, to which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{}`: {source}", path.display())]
pub struct Error {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Error {
    fn new(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error {
            action,
            path,
            source,
        }
    }
}

/// A temporary file, removed when dropped unless it was renamed into place.
struct Temporary(Option<PathBuf>);

impl Temporary {
    /// Renames the file to `target`; if that fails, it is removed on drop.
    fn rename(mut self, target: &Path) -> Result<(), Error> {
        if let Some(path) = &self.0 {
            std::fs::rename(path, target).map_err(Error::new("write", target))?;
            self.0 = None;
        }
        Ok(())
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Nothing more can be done about a file that will not go.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A file written under a temporary name and renamed into place by
/// [`AtomicFile::commit`]: until then, whatever was at its place stays.
pub struct AtomicFile {
    out: BufWriter<File>,
    temporary: Temporary,
    target: PathBuf,
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<AtomicFile, Error> {
        let name = target.file_name().ok_or_else(|| {
            Error::new("write", target)(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
        let mut hidden = OsString::from(".");
        hidden.push(name);
        hidden.push(TEMPORARY);
        let path = target.with_file_name(hidden);
        let file = File::create(&path).map_err(Error::new("write", target))?;
        Ok(AtomicFile {
            out: BufWriter::with_capacity(1 << 16, file),
            temporary: Temporary(Some(path)),
            target: target.to_path_buf(),
        })
    }

    /// Empties the file (still under its temporary name).
    fn start_over(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let file = self.out.get_mut();
        file.set_len(0)?;
        file.rewind()
    }

    /// Flushed and synced to the disk, still under its temporary name.
    fn close(self) -> Result<Closed, Error> {
        self.close_syncing(false)
    }

    /// Flushed, still under its temporary name, and synced to the disk:
    /// here, or on a thread of its own when `aside` (joined when the file
    /// is put in place).
    fn close_syncing(self, aside: bool) -> Result<Closed, Error> {
        let failed = Error::new("write", &self.target);
        let file = self.out.into_inner().map_err(|e| failed(e.into_error()))?;
        let syncing = if aside {
            let sync = std::thread::Builder::new().spawn(move || file.sync_all());
            Some(sync.map_err(Error::new("write", &self.target))?)
        } else {
            file.sync_all().map_err(Error::new("write", &self.target))?;
            None
        };
        Ok(Closed {
            temporary: self.temporary,
            target: self.target,
            syncing,
        })
    }

    /// Completes the file and renames it into place.
    pub fn commit(self) -> Result<(), Error> {
        self.close()?.put_in_place()
    }

    /// Replaces `target` with `bytes` at once.
    pub fn replace(target: &Path, bytes: &[u8]) -> Result<(), Error> {
        let mut file = AtomicFile::create(target)?;
        file.write_all(bytes).map_err(Error::new("write", target))?;
        file.commit()
    }
}

/// Replaces the file at `path` with `bytes` at once, keeping its
/// permissions; through a symbolic link, the file it points to is replaced.
/// How `loyalty fmt` and `loyalty serve` write a program back.
pub fn rewrite(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let target = std::fs::canonicalize(path).map_err(Error::new("find", path))?;
    let permissions = std::fs::metadata(&target)
        .map_err(Error::new("read", path))?
        .permissions();
    AtomicFile::replace(&target, bytes)?;
    std::fs::set_permissions(&target, permissions)
        .map_err(Error::new("set the permissions of", path))
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A complete file under its temporary name.
struct Closed {
    temporary: Temporary,
    target: PathBuf,
    /// Its sync to the disk, going on on a thread of its own.
    syncing: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Closed {
    /// Renames the file into place, once it is synced.
    fn put_in_place(self) -> Result<(), Error> {
        let Closed {
            temporary,
            target,
            syncing,
        } = self;
        if let Some(syncing) = syncing {
            let synced = syncing
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            synced.map_err(Error::new("write", &target))?;
        }
        temporary.rename(&target)
    }
}

/// A file of a run as its summary lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// The file's name in the folder.
    pub name: String,
    /// For a CSV file, its records after the header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    pub bytes: u64,
    /// The SHA-256 of the file's bytes, in lowercase hex, as `sha256sum`
    /// prints it.
    pub sha256: String,
}

/// The records of CSV text, counted as it is written: line breaks outside
/// quotes (a quoted field may hold line breaks; a doubled quote inside one
/// toggles twice).
#[derive(Default)]
struct Records {
    lines: u64,
    quoted: bool,
}

impl Records {
    fn add(&mut self, bytes: &[u8]) {
        // Most text has no quote: its line breaks are counted as fast as
        // the bytes can be scanned.
        if !self.quoted && !bytes.contains(&b'"') {
            self.lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            return;
        }
        for &byte in bytes {
            match byte {
                b'"' => self.quoted = !self.quoted,
                b'\n' if !self.quoted => self.lines += 1,
                _ => {}
            }
        }
    }
}

/// A file of a [`Folder`] being written: its bytes are counted and hashed
/// (and a CSV file's records counted) on the way.
pub struct FolderFile {
    file: AtomicFile,
    name: String,
    sha256: Sha256,
    bytes: u64,
    records: Option<Records>,
}

impl FolderFile {
    /// Empties the file, as if nothing had been written to it.
    pub fn start_over(&mut self) -> io::Result<()> {
        self.file.start_over()?;
        self.sha256 = Sha256::new();
        self.bytes = 0;
        if let Some(records) = &mut self.records {
            *records = Records::default();
        }
        Ok(())
    }
}

impl Write for FolderFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all(buf)?;
        self.sha256.update(buf);
        self.bytes += buf.len() as u64;
        if let Some(records) = &mut self.records {
            records.add(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Summary, files and all, as the summary file holds them.
#[derive(Serialize)]
struct WithFiles<'a, S> {
    #[serde(flatten)]
    summary: &'a S,
    files: &'a [Listed],
}

/// The summary file's text: `summary` and the `files` of the run, as
/// `Folder::commit` writes it (and `run --format json` prints it).
pub fn summary_document(summary: &impl Serialize, files: &[Listed]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&WithFiles { summary, files }).map(|json| json + "\n")
}

/// What the tool reads of a previous summary: the files it listed.
#[derive(Deserialize)]
struct Previous {
    #[serde(default)]
    files: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

/// The output folder of one run. See the module's documentation.
pub struct Folder {
    dir: PathBuf,
    /// The summary's file name (`summary.json`).
    summary: String,
    /// The files the previous summary listed.
    previous: Vec<String>,
    /// The names of the files created so far, in order.
    created: Vec<String>,
    /// The files complete under their temporary names, in order.
    complete: Vec<(Closed, Listed)>,
    /// Whether each file added is synced to the disk on a thread of its
    /// own (`Folder::syncing_aside`).
    sync_aside: bool,
}

impl Folder {
    /// Creates the folder if missing and reads which files the previous
    /// run's summary (named `summary`) listed. A summary that is not the
    /// tool's JSON, or lists no files, lists nothing.
    pub fn open(dir: &Path, summary: &str) -> Result<Folder, Error> {
        std::fs::create_dir_all(dir).map_err(Error::new("create the folder", dir))?;
        let path = dir.join(summary);
        let previous = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Previous>(&bytes)
                .map(|p| p.files.into_iter().map(|f| f.name).collect())
                .unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::new("read", &path)(e)),
        };
        Ok(Folder {
            dir: dir.to_path_buf(),
            summary: summary.to_string(),
            previous,
            created: Vec::new(),
            complete: Vec::new(),
            sync_aside: false,
        })
    }

    /// Each file added synced to the disk on a thread of its own while the
    /// next is written, when `aside` (the files are put in place only once
    /// synced, as always).
    pub fn syncing_aside(self, aside: bool) -> Folder {
        Folder {
            sync_aside: aside,
            ..self
        }
    }

    /// Writes `bytes` to `path`: as one of the run's files when `path` is
    /// in the folder, else on its own, replaced whole right away (and not
    /// listed).
    pub fn write_at(&mut self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        match self.name_of(path) {
            Some(name) => self.write(&name, |f| f.write_all(bytes)),
            None => AtomicFile::replace(path, bytes),
        }
    }

    /// The name under which `path` would be a file of this folder, if it
    /// is one: its parent is the folder.
    fn name_of(&self, path: &Path) -> Option<String> {
        let name = path.file_name()?.to_str()?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let same = std::fs::canonicalize(parent).ok()? == std::fs::canonicalize(&self.dir).ok()?;
        same.then(|| name.to_string())
    }

    /// Where the file `name` of the run goes.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Starts the file `name` (a plain file name, not the summary's, not
    /// one created before). A `.csv` file's records are counted.
    pub fn create(&mut self, name: &str) -> Result<FolderFile, Error> {
        let path = self.dir.join(name);
        let refuse = |why: &str| {
            Error::new("write", &path)(io::Error::new(io::ErrorKind::InvalidInput, why))
        };
        if !plain(name) || name == self.summary {
            return Err(refuse("not a name for one of the run's files"));
        }
        if self.created.iter().any(|c| c == name) {
            return Err(refuse("the run writes this file already"));
        }
        let file = AtomicFile::create(&path)?;
        self.created.push(name.to_string());
        Ok(FolderFile {
            file,
            name: name.to_string(),
            sha256: Sha256::new(),
            bytes: 0,
            records: name.ends_with(".csv").then(Records::default),
        })
    }

    /// Adds a file written in full to the run's files.
    pub fn add(&mut self, file: FolderFile) -> Result<(), Error> {
        let FolderFile {
            file,
            name,
            sha256,
            bytes,
            records,
        } = file;
        let closed = file.close_syncing(self.sync_aside)?;
        let listed = Listed {
            name,
            // The header is not a row.
            rows: records.map(|r| r.lines.saturating_sub(1)),
            bytes,
            sha256: sha256
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        };
        self.complete.push((closed, listed));
        Ok(())
    }

    /// Creates the file `name`, has `write` write it, and adds it.
    pub fn write(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut FolderFile) -> io::Result<()>,
    ) -> Result<(), Error> {
        let mut file = self.create(name)?;
        write(&mut file).map_err(Error::new("write", &self.dir.join(name)))?;
        self.add(file)
    }

    /// Puts the run's files in place and writes `summary` with the list of
    /// them last (see the module's documentation); returns the list.
    pub fn commit(self, summary: &impl Serialize) -> Result<Vec<Listed>, Error> {
        let Folder {
            dir,
            summary: summary_name,
            previous,
            created: _,
            complete,
            sync_aside: _,
        } = self;
        let summary_path = dir.join(&summary_name);
        let (closed, listed): (Vec<Closed>, Vec<Listed>) = complete.into_iter().unzip();
        let json = summary_document(summary, &listed)
            .map_err(|e| Error::new("write", &summary_path)(io::Error::other(e)))?;
        let mut summary_file = AtomicFile::create(&summary_path)?;
        summary_file
            .write_all(json.as_bytes())
            .map_err(Error::new("write", &summary_path))?;
        let summary_file = summary_file.close()?;

        remove(&summary_path)?;
        for file in closed {
            file.put_in_place()?;
        }
        for name in previous
            .iter()
            .filter(|name| plain(name) && **name != summary_name)
            .filter(|name| !listed.iter().any(|l| l.name == **name))
        {
            let path = dir.join(name);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                remove(&path)?;
            }
        }
        sync(&dir);
        summary_file.put_in_place()?;
        sync(&dir);
        Ok(listed)
    }
}

/// A file's own name, with no folder in it.
fn plain(name: &str) -> bool {
    !name.contains(['/', '\\']) && Path::new(name).file_name() == Some(OsStr::new(name))
}

/// Removes a file; one already gone is fine.
fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::new("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Syncs a folder's entries (the renames in it) to the disk where the
/// system can: best effort, as some file systems refuse.
fn sync(dir: &Path) {
    #[cfg(unix)]
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A writer that fails after `left` bytes, as a full disk does.
    struct Full<'a> {
        inner: &'a mut FolderFile,
        left: usize,
    }

    impl Write for Full<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.left {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.left -= buf.len();
            self.inner.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }

    #[test]
    fn csv_records_are_counted_with_line_breaks_in_quotes() {
        let mut records = Records::default();
        for piece in [
            "a,b\n1,\"two\nlines\"\n",
            "2,\"say \"\"hi",
            "\"\"\"\n3,x\n",
            "4,y\n5,\"z",
            "\nz\n",
            "\"\n",
        ] {
            records.add(piece.as_bytes());
        }
        assert_eq!(records.lines, 6);
    }

    #[test]
    fn a_failing_writer_leaves_the_previous_set_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::open(dir.path(), "summary.json").unwrap();
        folder.write("a.csv", |f| f.write_all(b"h\n1\n")).unwrap();
        folder.commit(&serde_json::json!({"run": 1})).unwrap();
        let before = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();

        let mut folder = Folder::open(dir.path(), "summary.json").unwrap();
        folder.write("b.csv", |f| f.write_all(b"h\n")).unwrap();
        let failed = folder.write("a.csv", |f| {
            let mut full = Full { inner: f, left: 4 };
            full.write_all(b"h\n1\n2\n")
        });
        let message = failed.unwrap_err().to_string();
        assert!(
            message.contains("a.csv") && message.contains("disk full"),
            "{message}"
        );
        drop(folder);
        assert_eq!(names(dir.path()), ["a.csv", "summary.json"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
            before
        );
    }

    #[test]
    fn files_synced_aside_are_put_in_place_as_files_synced_in_turn() {
        let root = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        for aside in [false, true] {
            let dir = root.path().join(format!("{aside}"));
            let mut folder = Folder::open(&dir, "summary.json")
                .unwrap()
                .syncing_aside(aside);
            folder.write("a.csv", |f| f.write_all(b"h\n1\n")).unwrap();
            folder.write("b.csv", |f| f.write_all(b"h\n")).unwrap();
            let listed = folder.commit(&serde_json::json!({"run": 1})).unwrap();
            assert_eq!(names(&dir), ["a.csv", "b.csv", "summary.json"]);
            let files = ["a.csv", "b.csv", "summary.json"]
                .map(|name| std::fs::read_to_string(dir.join(name)).unwrap());
            written.push((listed, files));
        }
        assert_eq!(written[0], written[1]);
    }

    #[test]
    fn the_summary_lists_the_files_and_only_listed_files_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let mut folder = Folder::open(&dir, "summary.json").unwrap();
        folder
            .write("a.csv", |f| f.write_all(b"h\n1\n\"x\ny\"\n"))
            .unwrap();
        folder.write("b.html", |f| f.write_all(b"<p>")).unwrap();
        let listed = folder.commit(&serde_json::json!({"run": 1})).unwrap();
        assert_eq!(listed[0].rows, Some(2));
        assert_eq!((listed[1].rows, listed[1].bytes), (None, 3));
        assert_eq!(
            listed[1].sha256,
            "33f2799467177287a29260780a107ac98ea63dd6165f67fcc0d74767d0a82090"
        );
        std::fs::write(dir.join("c.csv"), "mine").unwrap();
        std::fs::write(root.path().join("outside"), "mine").unwrap();
        // A summary naming files elsewhere, or itself, removes none of them.
        let summary = dir.join("summary.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        assert_eq!(json["run"], 1);
        json["files"].as_array_mut().unwrap().extend(
            ["../outside", "summary.json", ".", ""]
                .map(|name| serde_json::json!({"name": name, "bytes": 0, "sha256": ""})),
        );
        std::fs::write(&summary, json.to_string()).unwrap();

        let mut folder = Folder::open(&dir, "summary.json").unwrap();
        folder.write("a.csv", |f| f.write_all(b"h\n")).unwrap();
        folder.commit(&serde_json::json!({"run": 2})).unwrap();
        assert_eq!(names(&dir), ["a.csv", "c.csv", "summary.json"]);
        assert!(root.path().join("outside").exists());
    }
}
