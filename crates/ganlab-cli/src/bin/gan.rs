//! `gan`: the toolkit's command line (see `ganlab_cli::main`).

fn main() {
    ganlab_cli::main();
}
