//! The labrunner binary: all the work is in the library.

fn main() -> std::process::ExitCode {
    labrunner::ui::crash::install();
    std::process::ExitCode::from(labrunner::run(std::env::args_os()))
}
