use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    booking_monitor::memory::limit_arenas();
    let cli = booking_monitor::app::Cli::parse();
    ExitCode::from(booking_monitor::app::main(cli) as u8)
}
