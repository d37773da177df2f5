//! The `companion` binary: all logic lives in the library.

fn main() -> std::process::ExitCode {
    companion::cli::main()
}
