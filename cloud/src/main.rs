//! `cloud`: see `cloud --help`. Everything lives in the library (`cloud::cli`).

fn main() -> std::process::ExitCode {
    cloud::cli::main()
}
