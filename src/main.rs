#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match xuexin::cli::Cli::parse_with_file() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("xuexin: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let json_logs = match &cli.command {
        xuexin::cli::Command::Serve { settings } => settings.log_format == "json",
        _ => xuexin::config::Settings::from_env().is_ok_and(|s| s.log_format == "json"),
    };
    let serving = matches!(cli.command, xuexin::cli::Command::Serve { .. });
    xuexin::telemetry::init(!serving, json_logs);
    match xuexin::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xuexin: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
