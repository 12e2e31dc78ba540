//! The `baithak` binary: parse the command line and hand over to [`baithak::cli`].

fn main() -> std::process::ExitCode {
    baithak::cli::main()
}
