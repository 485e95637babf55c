//! One doc's blocks run in order, as a reader at a shell would: bash in a scratch directory
//! (HOME there, no `MAILTRIP_*` inherited, the test build's `mailtrip` first on PATH), the
//! variables a block sets kept for the next, servers left running in the background until
//! the doc is done. A doc's fixed ports (`--submission-port 2587`) and `/tmp/` paths are
//! swapped for free ports and a private directory, and swapped back in what comes out.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The fixed ports the docs use. Each gets a free port for the run (below the ephemeral
/// range); the same number in any block of the doc means the same port.
pub const DOC_PORTS: &[u16] = &[2525, 2587, 2588, 2993, 2994, 8025, 8026, 9599];

/// How long one block may run.
const BLOCK_LIMIT: Duration = Duration::from_secs(90);

/// What one command or block did.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub struct Session {
    pub work: PathBuf,
    /// Doc text → what runs instead (`/tmp/` → the private directory, ports).
    subst: Vec<(String, String)>,
    /// Real ports → the doc's, to put back in output.
    ports_back: BTreeMap<u16, u16>,
    background: Vec<(String, Child)>,
    counter: usize,
}

impl Session {
    pub fn new(name: &str) -> Session {
        let work = std::env::temp_dir().join(format!(
            "mailtrip-doctest-{}-{}",
            std::process::id(),
            name.replace(['/', '.'], "-")
        ));
        let _ = std::fs::remove_dir_all(&work);
        for dir in ["tmp", ".doctest", ".config"] {
            std::fs::create_dir_all(work.join(dir)).expect("work dir");
        }
        let mut subst = vec![("/tmp/".to_string(), format!("{}/tmp/", work.display()))];
        let mut ports_back = BTreeMap::new();
        for doc in DOC_PORTS {
            let real = free_port_below_ephemeral(&ports_back);
            subst.push((doc.to_string(), real.to_string()));
            ports_back.insert(real, *doc);
        }
        Session {
            work,
            subst,
            ports_back,
            background: Vec::new(),
            counter: 0,
        }
    }

    /// `text` as it runs here.
    pub fn localize(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (doc, real) in &self.subst {
            if doc.starts_with('/') {
                out = out.replace(doc.as_str(), real);
            } else {
                let re = regex::Regex::new(&format!(r"\b{doc}\b")).unwrap();
                out = re.replace_all(&out, real.as_str()).into_owned();
            }
        }
        out
    }

    /// Output as the doc would show it: the doc's ports and `/tmp/` back in place.
    pub fn delocalize(&self, text: &str) -> String {
        let mut out = text.replace(&format!("{}/tmp/", self.work.display()), "/tmp/");
        out = out.replace(&self.work.display().to_string(), "~");
        // Every run of digits, so that `127.0.0.1_31317` (a token file name) counts too.
        let re = regex::Regex::new(r"\d+").unwrap();
        re.replace_all(&out, |c: &regex::Captures| {
            let n: u16 = c[0].parse().unwrap_or(0);
            match self.ports_back.get(&n) {
                Some(doc) => doc.to_string(),
                None => c[0].to_string(),
            }
        })
        .into_owned()
    }

    fn next_path(&mut self, what: &str) -> PathBuf {
        self.counter += 1;
        self.work
            .join(".doctest")
            .join(format!("{:03}-{what}", self.counter))
    }

    /// A bash script that runs `body` with the variables earlier blocks left.
    fn script(&self, body: &str, record_argv: Option<&Path>) -> String {
        let env = self.work.join(".doctest/env");
        let mut s = format!(
            "cd {work:?}\n[ -f {env:?} ] && source {env:?}\n",
            work = self.work
        );
        match record_argv {
            None => s.push_str(&format!(
                // The variables the block leaves (but bash's own) are there for the next.
                "trap 'declare -p | grep -E \"^declare -[-x] [A-Za-z_][A-Za-z0-9_]*=\" \
                 | grep -vE \"^declare -[-x] (BASH[A-Z_]*|PWD|OLDPWD|SHLVL|_|SHELLOPTS|IFS|PS[0-9]|OPTERR|OPTIND|COLUMNS|LINES|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|HISTCMD|DIRSTACK|GROUPS|EPOCH[A-Z]*|SRANDOM|RANDOM|SECONDS|LINENO)=\" > {env:?}' EXIT\n\
                 set -eo pipefail\n\
                 cargo() {{ if [ \"$1 $2 $3\" = \"run --release --\" ]; then shift 3; mailtrip \"$@\"; \
                 else echo \"doctest: not running cargo $*\" >&2; fi; }}\n",
                // README's first command, `cargo run --release -- check`, is this build's
                // `mailtrip check`; `cargo test` is the run this is part of.
            )),
            Some(argv) => s.push_str(&format!(
                // Flags only: `mailtrip` records its arguments, and every other command
                // but variable assignments and `export` is skipped (with extdebug, a DEBUG
                // trap that fails skips the command). Nothing is kept for later blocks.
                "mailtrip() {{ printf '%s\\0' \"$#\" \"$@\" >> {argv:?}; }}\n\
                 cargo() {{ if [ \"$1 $2 $3\" = \"run --release --\" ]; then shift 3; mailtrip \"$@\"; fi; }}\n\
                 doctest_allow() {{ [[ ${{FUNCNAME[1]:-main}} != main ]] \
                 || [[ $BASH_COMMAND =~ ^(mailtrip|cargo|export)([[:space:]]|$) ]] \
                 || [[ $BASH_COMMAND =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; }}\n\
                 shopt -s extdebug\n\
                 trap doctest_allow DEBUG\n"
            )),
        }
        s.push_str(body);
        s.push('\n');
        s
    }

    fn command(&self, script: &Path) -> Command {
        let bin = Path::new(crate::util::BIN);
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("MAILTRIP_") || k.starts_with("RUST_LOG") || k.starts_with("CARGO_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg(script)
            .current_dir(&self.work)
            .env("PATH", path)
            .env("HOME", &self.work)
            .env("XDG_CONFIG_HOME", self.work.join(".config"))
            .env("TMPDIR", self.work.join("tmp"))
            .env("NO_COLOR", "1")
            .env("WORK", &self.work)
            // `mailtrip monitor`'s default listen address is the doc's 9599 too.
            .env(
                "MAILTRIP_LISTEN",
                format!("127.0.0.1:{}", self.localize("9599")),
            )
            .stdin(Stdio::null())
            .process_group(0);
        cmd
    }

    /// Starts bash on a doc's shell text (localized), stdout and stderr going to files.
    fn spawn(&mut self, what: &str, body: &str) -> (Child, PathBuf, PathBuf) {
        let script_path = self.next_path(what);
        std::fs::write(&script_path, self.script(&self.localize(body), None)).expect("script");
        let out = script_path.with_extension("out");
        let err = script_path.with_extension("err");
        let child = self
            .command(&script_path)
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .spawn()
            .expect("bash");
        (child, out, err)
    }

    /// Runs a shell text to the end (at most [`BLOCK_LIMIT`]).
    pub fn run(&mut self, at: &str, body: &str) -> Ran {
        let (mut child, out, err) = self.spawn("block.sh", body);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if started.elapsed() > BLOCK_LIMIT {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Whatever the block left running in its process group goes with it.
        kill_group(&child, libc::SIGKILL);
        let _ = child.wait();
        let read = |p: &Path| self.delocalize(&std::fs::read_to_string(p).unwrap_or_default());
        let mut ran = Ran {
            code: status.and_then(|s| s.code()),
            stdout: read(&out),
            stderr: read(&err),
        };
        if status.is_none() {
            ran.stderr.push_str(&format!(
                "\n[doctest: {at} still running after {BLOCK_LIMIT:?}: stopped]\n"
            ));
        }
        ran
    }

    /// Starts a shell text that does not end by itself (a server) and returns once it wrote
    /// its first line (on stderr when `on_stderr`), with what it wrote so far. With `replaces`
    /// the ones started before are stopped first.
    pub fn start(&mut self, at: &str, body: &str, on_stderr: bool, replaces: bool) -> Ran {
        if replaces {
            self.stop_background();
        }
        let (mut child, out, err) = self.spawn("background.sh", body);
        let watched = if on_stderr { &err } else { &out };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(watched).unwrap_or_default();
            if text.contains('\n') {
                break;
            }
            if let Some(status) = child.try_wait().expect("wait") {
                panic!(
                    "{at}: ended ({status}) before writing a line\nstdout:\n{}\nstderr:\n{}",
                    std::fs::read_to_string(&out).unwrap_or_default(),
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{at}: no line after 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let first_line = |p: &Path| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            self.delocalize(text.split_inclusive('\n').next().unwrap_or_default())
        };
        let ran = Ran {
            code: None,
            stdout: first_line(&out),
            stderr: first_line(&err),
        };
        self.background.push((at.to_string(), child));
        ran
    }

    /// Runs a block in flags-only mode: the argument lists it gives `mailtrip`, nothing run.
    pub fn argv_of(&mut self, at: &str, body: &str) -> Vec<Vec<String>> {
        let argv = self.next_path("argv");
        let script_path = self.next_path("flags.sh");
        std::fs::write(&script_path, self.script(body, Some(&argv))).expect("script");
        let out = self
            .command(&script_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{at}: bash could not read it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = std::fs::read(&argv).unwrap_or_default();
        let mut words = raw
            .split(|b| *b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned());
        let mut all = Vec::new();
        while let Some(n) = words.next() {
            let Ok(n) = n.parse::<usize>() else { break };
            all.push(words.by_ref().take(n).collect());
        }
        all
    }

    /// Writes a doc's file into the work directory.
    pub fn write(&self, path: &str, text: &str) {
        let path = self.work.join(self.localize(path));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("dir");
        }
        std::fs::write(path, self.localize(text)).expect("write");
    }

    /// Everything a background block wrote on stderr so far (for failure messages).
    pub fn background_log(&self) -> String {
        let mut s = String::new();
        for entry in std::fs::read_dir(self.work.join(".doctest"))
            .into_iter()
            .flatten()
        {
            let p = entry.expect("entry").path();
            if p.to_string_lossy().contains("background")
                && p.extension().is_some_and(|e| e == "err")
            {
                s.push_str(&format!(
                    "--- {}\n{}",
                    p.display(),
                    std::fs::read_to_string(&p).unwrap_or_default()
                ));
            }
        }
        s
    }
}

/// A free port below the kernel's ephemeral range, so that no server's port 0 can ever be
/// given one of them (the output's ports are mapped back to the doc's by number).
fn free_port_below_ephemeral(taken: &BTreeMap<u16, u16>) -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low <= 20000 {
        // No room below the range: an ephemeral port, which a server's port 0 could in
        // principle be given again (then that output's port would read as the doc's).
        return crate::util::free_port();
    }
    for _ in 0..1000 {
        let port = rand::random_range(10000..low);
        if !taken.contains_key(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 10000..{low}");
}

fn kill_group(child: &Child, signal: i32) {
    // The block runs in its own process group (process_group(0)): its id is the child's.
    let pgid = child.id() as i32;
    // SAFETY: kill(2) with a negative pid signals that process group, which we created.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

impl Session {
    /// Stops the background blocks (SIGTERM, then SIGKILL after 3 s).
    fn stop_background(&mut self) {
        for (_, child) in &mut self.background {
            kill_group(child, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (_, child) in &mut self.background {
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            kill_group(child, libc::SIGKILL);
            let _ = child.wait();
        }
        self.background.clear();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_background();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}
