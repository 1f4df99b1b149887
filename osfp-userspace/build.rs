//! Builds the XDP program (osfp-ebpf) for bpfel-unknown-none with the stable toolchain
//! and `-Z build-std=core` (RUSTC_BOOTSTRAP=1 for that nested cargo only), and leaves
//! the object at $OUT_DIR/osfp for `include_bytes!`. AYA_BUILD_SKIP=1 skips it and
//! leaves an empty object: the library and its pure tests still build, `osfp run` says
//! the program is missing.
use anyhow::{anyhow, Context as _};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let meta = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = meta
        .packages
        .iter()
        .find(|p| p.name.as_str() == "osfp-ebpf")
        .ok_or_else(|| anyhow!("osfp-ebpf package not found"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent"))?;
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("osfp");
    let skip =
        std::env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if skip {
        if !out.exists() {
            std::fs::write(&out, b"")?;
        }
        println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
        return Ok(());
    }
    // The nested cargo inherits this; the host build is unaffected.
    std::env::set_var("RUSTC_BOOTSTRAP", "1");
    aya_build::build_ebpf(
        [Package {
            name: "osfp-ebpf",
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        Toolchain::Custom("stable"),
    )
}
