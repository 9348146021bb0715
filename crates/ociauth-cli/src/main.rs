fn main() {
    let _ = clap::Command::new("ociauth");
    let _ = jmespath::compile("data");
}
