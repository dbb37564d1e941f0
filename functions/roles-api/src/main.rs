//! `roles-api`: reads configuration, builds the shared state once per cold start, and hands the
//! group's router to the Lambda runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_logging();
    let state = shared::runtime::state_from_env().unwrap_or_else(|e| shared::runtime::exit_on_config_error(e));
    lambda_http::run(shared::api::serve(shared::api::role_routes(), state)).await
}
