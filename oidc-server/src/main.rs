use clap::Parser;
use tracing_subscriber::EnvFilter;

// glibc's malloc kept ~350 MiB resident after a benchmark run (an arena per blocking-pool thread,
// each holding freed 19 MiB argon2 blocks) and showed up as ~15% of the token endpoint's CPU in
// `perf` (locks, consolidation); mimalloc returns memory and scales across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // IAM_LOG_FORMAT=json: one JSON object per line (with the request span's id) for log
    // collectors; the default is text for people.
    let json = std::env::var("IAM_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        fmt.json().with_current_span(true).init();
    } else {
        fmt.init();
    }
    let cli = oidc_server::cli::Cli::parse();
    match oidc_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
