//! The README's quick start, run as a reader would run it: `procgate demo` on a port of its own,
//! then the ```sh blocks of the "Quick start" section, in order, in one `bash -euo pipefail`.
//! Not in the contract suite: it runs the binary's `demo` subcommand (its own private cluster)
//! and the README's own shell commands.
//!
//! The rules, so that nothing is skipped or rewritten silently:
//! - A block right after a `<!-- readme-test: skip ... -->` line is not run (the one that starts
//!   `scripts/demo.sh`: this test starts `procgate demo` itself).
//! - What the reader fills in from the demo's output is filled in the same way: `demo-...` (the
//!   token), `http://127.0.0.1:3000` (the API), `postgres://...` (the database) and
//!   `/path/to/procgate` (the binary).
//! - `curl` is wrapped by a shell function that runs the real curl and records each call's HTTP
//!   status and body: every call must answer 2xx, as the README shows only successes.
//! - A `# {...}` or `# HTTP/...` comment (continued on `#  ` lines) is the shape of the answer of
//!   the curl just above it, or of the next curl when a plain comment comes before it. Each
//!   `"key":value` in it must be in that answer as written, except values that vary from run to
//!   run: a job id (any 32 hex digits) stands for any job id, and of `progress`,
//!   `last_event_id` and `event_id` only the key is checked.
//!   `# HTTP/1.1 202 Accepted ...` is the status line.
//! - The ```json block after a block is the job the last curl read: the same fields, and the
//!   same values where they do not vary.
//! - Every `NAME=$(...)` assignment must capture something; a `/jobs/$NAME` one, a job id.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

const SKIP_MARKER: &str = "<!-- readme-test: skip";
/// Keys whose values differ from run to run: only their presence is checked.
const VARYING_KEYS: &[&str] = &["progress", "last_event_id", "event_id"];
/// A job's fields whose values the README's example job shows as they will be.
const STABLE_JOB_FIELDS: &[&str] = &[
    "attempt_history",
    "attempts",
    "cancel_requested",
    "error",
    "max_attempts",
    "owner",
    "params",
    "priority",
    "procedure_name",
    "progress",
    "result",
    "status",
];

/// A fenced block of the Quick start section.
struct Fence {
    /// Its first line's number in README.md (1-based), for messages.
    line: usize,
    lang: String,
    text: String,
    skipped: bool,
}

/// What an answer must look like.
enum Shape {
    StatusLine(String),
    Pairs(String),
    Job(Json),
}

#[test]
fn the_readme_quick_start_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let fences = quick_start_fences(&readme);
    let runnable: Vec<&Fence> = fences.iter().filter(|f| f.lang == "sh" && !f.skipped).collect();
    assert!(runnable.len() >= 3, "the Quick start has too few runnable ```sh blocks: {}", runnable.len());
    assert!(
        fences.iter().any(|f| f.skipped && f.text.contains("scripts/demo.sh")),
        "the block that starts scripts/demo.sh should be marked `{SKIP_MARKER}`"
    );

    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let fill = |text: &str| {
        text.replace("export TOKEN=demo-...", &format!("export TOKEN={}", demo.token))
            .replace("http://127.0.0.1:3000", &demo.api)
            .replace("postgres://...", &demo.database)
            .replace("/path/to/procgate", &demo.binary)
    };

    // The script: the curl wrapper, then each block (filled in, its shape comments turned into
    // checks), then the captured variables.
    let log = dir.path().join("readme.log");
    let mut script = prelude(dir.path(), &log);
    let mut shapes: Vec<Shape> = Vec::new();
    let mut run_blocks: Vec<&Fence> = Vec::new();
    for (i, fence) in fences.iter().enumerate() {
        if fence.skipped {
            eprintln!("readme: skipping the block at README.md:{} (marked {SKIP_MARKER})", fence.line);
            continue;
        }
        match fence.lang.as_str() {
            "sh" => {
                script += &format!("__block {}\n", run_blocks.len());
                run_blocks.push(fence);
                script += &with_checks(&fill(&fence.text), &mut shapes);
                // A ```json block right after this one is the job its last curl read.
                if let Some(next) = fences.get(i + 1).filter(|f| f.lang == "json") {
                    let job = serde_json::from_str(&next.text)
                        .unwrap_or_else(|e| panic!("the json block at README.md:{} does not parse: {e}", next.line));
                    script += &format!("__expect_last {}\n", shapes.len());
                    shapes.push(Shape::Job(job));
                }
            }
            "json" => {
                let after_a_run = i > 0 && fences[i - 1].lang == "sh" && !fences[i - 1].skipped;
                assert!(after_a_run, "README.md:{}: a ```json block that follows no run ```sh block", fence.line);
            }
            other => panic!("README.md:{}: a ```{other} block in the Quick start: run it or mark it", fence.line),
        }
    }
    let captured = captured_variables(&runnable);
    for (name, _) in &captured {
        script += &format!("printf 'var\\t%s\\t%s\\n' {name} \"${{{name}-}}\" >>\"$__log\"\n");
    }
    let script_path = dir.path().join("quick-start.sh");
    std::fs::write(&script_path, &script).unwrap();

    let output_path = dir.path().join("output.txt");
    let ok = run_with_deadline(&script_path, dir.path(), &output_path, Duration::from_secs(180));
    let output = std::fs::read_to_string(&output_path).unwrap_or_default();
    let records = std::fs::read_to_string(&log).unwrap_or_default();
    let block_output = |n: usize| {
        let marker = format!("=== README block {n} ===");
        output.split(&marker).nth(1).map(|rest| rest.split("=== README block").next().unwrap_or("")).unwrap_or("")
    };
    let current_block =
        records.lines().filter_map(|l| l.strip_prefix("block\t")).next_back().map(|n| n.parse().unwrap());
    if let Err(why) = ok {
        let n = current_block.unwrap_or(0);
        let fence = run_blocks[n];
        panic!(
            "the README block at README.md:{} {why}.\n--- the block ---\n{}\n--- its output ---\n{}",
            fence.line,
            fence.text,
            block_output(n)
        );
    }

    // The checks, against what the wrapper recorded.
    let mut calls: HashMap<usize, (String, String)> = HashMap::new();
    let mut expectations = Vec::new();
    let mut variables = HashMap::new();
    for line in records.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[0] {
            "curl" => {
                let n: usize = fields[1].parse().unwrap();
                let status = fields[2].to_string();
                let body = std::fs::read_to_string(dir.path().join(format!("curl-{n}.body"))).unwrap_or_default();
                assert!(
                    status.split(' ').nth(1).is_some_and(|code| code.starts_with('2')),
                    "curl {} answered {status:?}, not 2xx:\n{body}",
                    fields.get(3).unwrap_or(&"")
                );
                calls.insert(n, (status, body));
            }
            "expect" => expectations.push((fields[1].parse::<usize>().unwrap(), fields[2].parse::<usize>().unwrap())),
            "var" => {
                variables.insert(fields[1].to_string(), fields.get(2).unwrap_or(&"").to_string());
            }
            _ => {}
        }
    }
    assert!(!calls.is_empty(), "no curl ran:\n{output}");
    let checked: BTreeSet<usize> = expectations.iter().map(|(shape, _)| *shape).collect();
    assert_eq!(checked.len(), shapes.len(), "some shape comments were never reached:\n{records}");
    for (shape, call) in expectations {
        let (status, body) = calls.get(&call).unwrap_or_else(|| panic!("no curl ran before shape {shape}"));
        if let Err(why) = check_shape(&shapes[shape], status, body) {
            panic!("curl #{call} does not answer what the README shows: {why}\n--- its answer ---\n{body}");
        }
    }
    for (name, is_job) in captured {
        let value = variables.get(&name).map(String::as_str).unwrap_or("");
        assert!(!value.is_empty(), "${name} captured nothing:\n{output}");
        if is_job {
            assert!(is_job_id(value), "${name} is not a job id: {value:?}");
        }
    }
    // Ctrl-C stops the demo: the gateway and its cluster.
    demo.stop();
}

/// The fenced blocks between "## Quick start" and the next "## " heading.
fn quick_start_fences(readme: &str) -> Vec<Fence> {
    let mut fences = Vec::new();
    let mut in_section = false;
    let mut previous = "";
    let mut lines = readme.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if line.starts_with("## ") {
            in_section = line == "## Quick start";
            continue;
        }
        if in_section {
            if let Some(lang) = line.strip_prefix("```").filter(|l| !l.is_empty()) {
                let mut text = String::new();
                for (_, inner) in lines.by_ref() {
                    if inner.starts_with("```") {
                        break;
                    }
                    text += inner;
                    text += "\n";
                }
                let skipped = previous.trim_start().starts_with(SKIP_MARKER);
                fences.push(Fence { line: number + 1, lang: lang.trim().to_string(), text, skipped });
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    assert!(!fences.is_empty(), "README.md has no \"## Quick start\" section with code blocks");
    fences
}

/// The shell functions the blocks run with: `curl` recorded, and the markers the test reads.
fn prelude(dir: &Path, log: &Path) -> String {
    format!(
        r#"__dir='{dir}'
__log='{log}'
: >"$__log"
__calls() {{ grep -c '^curl' "$__log" || true; }}
curl() {{
  local n rc=0 status
  n=$(( $(__calls) + 1 ))
  command curl -D "$__dir/curl-$n.headers" "$@" >"$__dir/curl-$n.body" || rc=$?
  cat "$__dir/curl-$n.body"
  status=$(grep -a '^HTTP/' "$__dir/curl-$n.headers" 2>/dev/null | tail -n1 | tr -d '\r' || true)
  local args="$*"
  printf 'curl\t%s\t%s\t%s\n' "$n" "$status" "${{args//$'\n'/ }}" >>"$__log"
  if [ -s "$__dir/next-expect" ]; then
    printf 'expect\t%s\t%s\n' "$(cat "$__dir/next-expect")" "$n" >>"$__log"
    : >"$__dir/next-expect"
  fi
  return $rc
}}
__expect_last() {{ printf 'expect\t%s\t%s\n' "$1" "$(__calls)" >>"$__log"; }}
__expect_next() {{ echo "$1" >"$__dir/next-expect"; }}
__block() {{ printf 'block\t%s\n' "$1" >>"$__log"; printf '\n=== README block %s ===\n' "$1"; }}
"#,
        dir = dir.display(),
        log = log.display()
    )
}

/// A block with a check after (or before) each shape comment: `# {...}` or `# HTTP/...`,
/// continued on lines that start with `#  `.
fn with_checks(block: &str, shapes: &mut Vec<Shape>) -> String {
    let lines: Vec<&str> = block.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let shape_start = line.starts_with("# {") || line.starts_with("# HTTP/");
        if !shape_start {
            out += line;
            out += "\n";
            i += 1;
            continue;
        }
        let mut text = line[2..].to_string();
        let mut end = i + 1;
        while end < lines.len() && lines[end].starts_with("#  ") {
            text += lines[end][1..].trim();
            end += 1;
        }
        // After a command: its answer. After a comment or a blank line: the next command's.
        let after_command = i > 0 && !lines[i - 1].trim().is_empty() && !lines[i - 1].trim_start().starts_with('#');
        let check = if after_command { "__expect_last" } else { "__expect_next" };
        out += &format!("{check} {}\n", shapes.len());
        shapes.push(if text.starts_with("HTTP/") {
            Shape::StatusLine(text.split(" ...").next().unwrap().trim().to_string())
        } else {
            Shape::Pairs(text)
        });
        for kept in &lines[i..end] {
            out += kept;
            out += "\n";
        }
        i = end;
    }
    out
}

/// Every `NAME=$(` assignment in the blocks, and whether it is used as a job id (`/jobs/$NAME`).
fn captured_variables(blocks: &[&Fence]) -> Vec<(String, bool)> {
    let all: String = blocks.iter().map(|b| b.text.as_str()).collect();
    let mut names: Vec<(String, bool)> = Vec::new();
    for line in all.lines() {
        let trimmed = line.trim_start();
        let Some((name, _)) = trimmed.split_once("=$(") else { continue };
        let is_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
        if is_name && !names.iter().any(|(n, _)| n == name) {
            let is_job = all.contains(&format!("/jobs/${name}"));
            names.push((name.to_string(), is_job));
        }
    }
    names
}

fn check_shape(shape: &Shape, status: &str, body: &str) -> Result<(), String> {
    match shape {
        Shape::StatusLine(expected) => {
            if status.starts_with(expected.as_str()) {
                Ok(())
            } else {
                Err(format!("status line {status:?}, the README shows {expected:?}"))
            }
        }
        Shape::Pairs(text) => {
            let body = mask_job_ids(body);
            for (key, value) in pairs(text) {
                let wanted = match value {
                    Some(value) if !VARYING_KEYS.contains(&key.as_str()) => {
                        format!("\"{key}\":{}", mask_job_ids(&value))
                    }
                    _ => format!("\"{key}\":"),
                };
                if !body.contains(&wanted) {
                    return Err(format!("{wanted} is not in the answer (the README shows {text})"));
                }
            }
            Ok(())
        }
        Shape::Job(expected) => {
            let actual: Json = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
            let keys = |j: &Json| j.as_object().map(|o| o.keys().cloned().collect::<BTreeSet<_>>()).unwrap_or_default();
            if keys(expected) != keys(&actual) {
                return Err(format!(
                    "the job's fields differ: README {:?}, answer {:?}",
                    keys(expected),
                    keys(&actual)
                ));
            }
            for field in STABLE_JOB_FIELDS {
                if expected.get(field) != actual.get(field) {
                    return Err(format!("{field}: README {:?}, answer {:?}", expected.get(field), actual.get(field)));
                }
            }
            Ok(())
        }
    }
}

/// The `"key":value` pairs of a shape comment; the value when it is a literal (a string, a
/// number, true, false, null), `None` for an object, an array or an elision.
fn pairs(text: &str) -> Vec<(String, Option<String>)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let end = string_end(bytes, i);
        if bytes.get(end) != Some(&b':') {
            i = end;
            continue;
        }
        let key = text[i + 1..end - 1].to_string();
        let start = end + 1;
        let stop = match bytes.get(start) {
            Some(b'"') => string_end(bytes, start),
            Some(_) => start + text[start..].find([',', '}', ']', ' ']).unwrap_or(text.len() - start),
            None => start,
        };
        let literal = &text[start..stop];
        let is_literal = !literal.is_empty() && !literal.starts_with(['{', '[', '.']);
        found.push((key, is_literal.then(|| literal.to_string())));
        // Into an object or array, past a literal.
        i = if is_literal { stop } else { start };
    }
    found
}

/// The index just after the string that starts at `start` (a `"`).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `text` with every job id (a word of 32 hex digits) replaced by `<id>`.
fn mask_job_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        out += if is_job_id(&word) { "<id>" } else { &word };
        word.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

fn is_job_id(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Runs the script with `bash -euo pipefail`, its output in `output`; an error says why it failed.
fn run_with_deadline(script: &Path, dir: &Path, output: &Path, deadline: Duration) -> Result<(), String> {
    let out = std::fs::File::create(output).unwrap();
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail"])
        .arg(script)
        .current_dir(dir)
        .env_remove("TOKEN")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("run bash");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return if status.success() { Ok(()) } else { Err(format!("failed ({status})")) };
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not finish within {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `procgate demo` on a free port, as `scripts/demo.sh` runs it, and what it printed.
struct Demo {
    child: Option<Child>,
    api: String,
    token: String,
    database: String,
    binary: String,
}

impl Demo {
    fn start(dir: &Path) -> Demo {
        let stderr = dir.join("demo.stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_procgate"))
            .arg("demo")
            .current_dir(dir) // no .env of the developer's
            .env("PORT", "0")
            .env("RUST_LOG", "warn")
            .env_remove("HOST")
            .env_remove("API_TOKENS")
            .env_remove("API_TOKEN")
            .env_remove("API_NO_AUTH")
            .env_remove("PROCEDURE_ALLOWLIST")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start procgate demo");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut demo = Demo {
            child: Some(child),
            api: String::new(),
            token: String::new(),
            database: String::new(),
            binary: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut printed = String::new();
        while demo.api.is_empty() || demo.token.is_empty() || demo.database.is_empty() || demo.binary.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "procgate demo did not print its API, token, database and binary in time:\n{printed}\n--- stderr ---\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
            printed += &line;
            printed += "\n";
            let value = |label: &str| line.trim_start().strip_prefix(label).map(|v| v.trim().to_string());
            if let Some(v) = value("API:") {
                demo.api = v;
            } else if let Some(v) = value("token:") {
                demo.token = v;
            } else if let Some(v) = value("database:") {
                demo.database = v.split_whitespace().next().unwrap_or_default().to_string();
            } else if let Some(v) = value("binary:") {
                demo.binary = v;
            }
        }
        assert!(demo.token.starts_with("demo-"), "the demo made no token of its own:\n{printed}");
        demo
    }

    /// Ctrl-C, as the README says; the demo must stop by itself.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let status = interrupt_and_wait(&mut child, Duration::from_secs(60));
        assert!(status.is_some_and(|s| s.success()), "procgate demo did not stop cleanly on Ctrl-C: {status:?}");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if interrupt_and_wait(&mut child, Duration::from_secs(20)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// SIGINT to this child, then its exit status if it exits before the deadline.
fn interrupt_and_wait(child: &mut Child, deadline: Duration) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
