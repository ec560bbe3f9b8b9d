use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = xuexin::cli::Cli::parse();
    let serving = matches!(cli.command, xuexin::cli::Command::Serve { .. });
    xuexin::telemetry::init(!serving);
    match xuexin::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xuexin: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
