//! `sync-api`: reads configuration, builds the shared state once per cold start, and hands the
//! router to the Lambda runtime.
//!
//! Besides its own group's routes, it is the HTTP API's catch-all (`$default`) route: API
//! Gateway sends it every request no explicit route matches (`HEAD` on any `GET` route, a
//! wrong method, an unknown path), so it serves every route, and `HEAD`, 405 with `Allow` and
//! 404 answer in the contract's shape. See `template.yaml`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_logging();
    let state = shared::runtime::state_from_env().unwrap_or_else(|e| shared::runtime::exit_on_config_error(e));
    lambda_http::run(shared::api::serve(shared::api::all_routes(), state)).await
}
