//! moto in server mode with real Step Functions execution, for the emulated end-to-end suite.
//!
//! moto's interpreter calls a Task's Lambda through a boto3 client at
//! `http://localhost:$MOTO_PORT`, and its own Lambda needs Docker. So moto listens on one port
//! and is told (`MOTO_PORT`) that it lives on another, where a small proxy answers: Lambda
//! invocations go to `cargo lambda watch` (the function ARN in the path becomes the binary
//! name, and a handler error, which watch answers as HTTP 500, becomes the 200 with
//! `X-Amz-Function-Error: Unhandled` that Lambda answers, so the `errorType` reaches `Retry`
//! and `Catch`); every other request goes to moto. Clients of the test use the proxy's URL.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::http::pause;
use crate::watch::free_port;

/// A moto server with real execution, behind the Lambda-forwarding proxy.
pub struct Emulator {
    moto: Child,
    /// The proxy's URL: the endpoint of every emulated service for the test and the functions.
    pub url: String,
}

impl Emulator {
    /// Starts moto (`scripts/moto-exec-server.py`: moto's server, which `scripts/test.sh`
    /// installs, with a fix for one of its defects) and the proxy,
    /// which sends Lambda invocations to `cargo lambda watch` on `watch_port`, and turns on
    /// moto's real Step Functions execution.
    pub async fn start(watch_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
        let proxy_port = listener.local_addr().expect("bound").port();
        let moto_port = free_port();
        // moto's server with the fix for its second StartExecution of a machine.
        let moto = Command::new("python3")
            .arg(crate::watch::workspace().join("scripts/moto-exec-server.py"))
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .env("MOTO_PORT", proxy_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let upstream = format!("http://127.0.0.1:{moto_port}");
        let watch = format!("http://127.0.0.1:{watch_port}");
        let client = reqwest::Client::new();
        let state = (upstream.clone(), watch, client.clone());
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (upstream, watch, client) = state.clone();
            async move { forward(&upstream, &watch, &client, method, uri, headers, body).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.expect("proxy runs") });
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{upstream}/moto-api/")).send().await.is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            pause(100).await;
        }
        let config = serde_json::json!({ "stepfunctions": { "execute_state_machine": true } });
        let request = client.post(format!("{upstream}/moto-api/config")).header("content-type", "application/json");
        let answer = request.body(config.to_string()).send().await.expect("config");
        assert!(answer.status().is_success(), "moto accepts the execution setting");
        Self { moto, url: format!("http://127.0.0.1:{proxy_port}") }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}

/// The binary a Lambda invocation path names: `/2015-03-31/functions/<name or ARN>/invocations`.
fn invoked_function(path: &str) -> Option<String> {
    let name = path.strip_prefix("/2015-03-31/functions/")?.strip_suffix("/invocations")?;
    let name = name.replace("%3A", ":").replace("%3a", ":");
    // arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
    Some(match name.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", _, _, "function", function, ..] => (*function).to_owned(),
        _ => name,
    })
}

async fn forward(
    upstream: &str,
    watch: &str,
    client: &reqwest::Client,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let invoked = invoked_function(uri.path());
    let target = match &invoked {
        Some(function) => format!("{watch}/2015-03-31/functions/{function}/invocations"),
        None => format!("{upstream}{}", uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")),
    };
    let mut request = client.request(method, target).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out.insert(name.clone(), value.clone());
        }
    }
    if invoked.is_some() && status == StatusCode::INTERNAL_SERVER_ERROR {
        status = StatusCode::OK;
        out.insert("x-amz-function-error", "Unhandled".parse().expect("a header value"));
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    (status, out, bytes).into_response()
}

/// A Step Functions client for the emulator at `url` (test credentials, us-east-1).
pub fn step_functions(url: &str) -> aws_sdk_sfn::Client {
    use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

/// Registers `definition` as the state machine `name`; returns its ARN.
pub async fn register(client: &aws_sdk_sfn::Client, name: &str, definition: String) -> String {
    let created = client
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/test")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {}", aws_sdk_sfn::error::DisplayErrorContext(&e)));
    created.state_machine_arn().to_owned()
}

#[cfg(test)]
mod tests {
    use super::invoked_function;

    #[test]
    fn invocation_paths_name_the_binary() {
        let arn =
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Async-worker/invocations";
        assert_eq!(invoked_function(arn).as_deref(), Some("sync-worker"));
        assert_eq!(invoked_function("/2015-03-31/functions/sync-worker/invocations").as_deref(), Some("sync-worker"));
        assert_eq!(invoked_function("/"), None);
    }
}
