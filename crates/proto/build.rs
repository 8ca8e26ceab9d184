//! Compiles `proto/alter/**/v1/*.proto` with protox (pure Rust), so no system `protoc` is needed.
use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "alter/identity/v1/verifier.proto",
        "alter/identity/v1/signin.proto",
        "alter/admin/v1/admin.proto",
        "alter/directory/v1/directory.proto",
        "alter/events/v1/events.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("alter_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
