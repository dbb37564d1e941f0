//! `cargo lambda watch` for the tests that run the function binaries on the real Lambda
//! runtime: started in its own process group on a loopback port, stopped with the test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::pause;

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("workspace root")
}

/// `cargo` with the variables `cargo test` sets for a test process removed. Build scripts
/// (ring's, aws-lc-sys's) rerun when `CARGO_MANIFEST_DIR` and its kind change, and a rerun
/// rebuilds the whole SDK twice: once here and again in the next outer build.
pub fn cargo() -> Command {
    let mut command = Command::new("cargo");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_test = ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_BIN_", "CARGO_CRATE_", "CARGO_PRIMARY_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || ["CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"].contains(&name.as_ref());
        if set_by_cargo_test {
            command.env_remove(name.as_ref());
        }
    }
    command.current_dir(workspace());
    command
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `cargo lambda watch` in its own process group, stopped with the test.
pub struct Watch {
    child: Child,
    /// Where watch listens (invocations and function URLs).
    pub port: u16,
    /// Where watch's own output goes, shown when it stops early.
    log: PathBuf,
}

impl Watch {
    /// Starts watch with the variables of `env_file` for every function, on a free port.
    pub fn start(env_file: &Path) -> Self {
        Self::start_on(env_file, free_port())
    }

    /// [`Watch::start`] on `port`.
    pub fn start_on(env_file: &Path, port: u16) -> Self {
        let log = std::env::temp_dir().join(format!("lambda-e2e-watch-{}.log", uuid::Uuid::new_v4()));
        let output = std::fs::File::create(&log).expect("watch log");
        let child = std::os::unix::process::CommandExt::process_group(
            cargo()
                .args(["lambda", "watch", "--ignore-changes", "--quiet", "--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &port.to_string(), "--timeout", "120", "--env-file"])
                .arg(env_file)
                .stdout(Stdio::null())
                .stderr(output),
            0,
        )
        .spawn()
        .expect("cargo lambda is installed (scripts/test.sh installs it)");
        Self { child, port, log }
    }

    /// Waits until watch listens; fails at once, with watch's output, when it exits (an env
    /// file it cannot parse, say).
    pub async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                let output = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("cargo lambda watch exited ({status}): {output}");
            }
            assert!(Instant::now() < deadline, "cargo lambda watch did not start listening");
            pause(100).await;
        }
    }

    /// `cargo lambda invoke <function> --data-file <file>`: the function's JSON answer, or the
    /// error text when the invocation failed.
    pub fn invoke(&self, function: &str, file: &Path) -> Result<Value, String> {
        let output = cargo()
            .args(["lambda", "invoke", function, "--output-format", "json", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string(), "--data-file"])
            .arg(file)
            .output()
            .expect("cargo lambda invoke runs");
        if output.status.success() {
            serde_json::from_slice(&output.stdout).map_err(|e| format!("{}: not JSON: {e}", file.display()))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// The function URL of `function`.
    pub fn url(&self, function: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/{function}", self.port)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
        if std::env::var_os("KEEP_WATCH_LOG").is_none() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A temporary file (the env file cargo lambda reads, or an event with its token filled
/// in), removed when dropped.
pub struct EnvFile(pub PathBuf);

impl EnvFile {
    /// Writes `content` to a new temporary file.
    pub fn write(content: &str) -> Self {
        let path = std::env::temp_dir().join(format!("lambda-e2e-{}.env", uuid::Uuid::new_v4()));
        std::fs::File::create(&path).and_then(|mut f| f.write_all(content.as_bytes())).unwrap();
        Self(path)
    }
}

impl Drop for EnvFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The variables every function needs against `store`, with the test issuer at `issuer` and
/// the development service keys: one `NAME=value` line each, as `--env-file` reads them.
pub fn function_env(store: &shared::store::Store, issuer: &str) -> Vec<String> {
    use shared::auth::dev;
    let services = crate::http::service_keys().config(&dev::DEV_SERVICES).expect("service keys");
    vec![
        format!("TABLE_NAME={}", store.table()),
        format!("DYNAMODB_ENDPOINT={}", crate::endpoint()),
        format!("KINDE_ISSUER_URL={issuer}"),
        format!("KINDE_AUDIENCE={}", dev::DEV_KINDE_AUDIENCE),
        // Quoted: cargo lambda's env-file parser refuses unquoted JSON.
        format!("SERVICE_KEYS='{services}'"),
        format!("CURSOR_SIGNING_KEY={}", dev::DEV_CURSOR_KEY),
        "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true".to_owned(),
        "RUST_LOG=warn".to_owned(),
    ]
}
