use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    xuexin::telemetry::init();
    let cli = xuexin::cli::Cli::parse();
    match xuexin::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xuexin: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
