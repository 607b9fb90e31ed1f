//! wasm-oci <out-dir> <tag> <registry> <module.wasm>...
//! Writes <out-dir>/<plugin>/ (OCI layout), <out-dir>/<plugin>.digest and
//! <out-dir>/pins/<plugin>.yaml. The plugin name is the file stem with `_` → `-`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), Some(tag), Some(registry), modules) = (
        args.first(),
        args.get(1),
        args.get(2),
        args.get(3..).unwrap_or_default(),
    ) else {
        eprintln!("usage: wasm-oci <out-dir> <tag> <registry> <module.wasm>...");
        return ExitCode::from(2);
    };
    if modules.is_empty() {
        eprintln!("wasm-oci: no modules given");
        return ExitCode::from(2);
    }
    let out = Path::new(out);
    for m in modules {
        let path = Path::new(m);
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            eprintln!("wasm-oci: bad module path {m}");
            return ExitCode::from(2);
        };
        let name = stem.replace('_', "-");
        let result = std::fs::read(path).and_then(|bytes| {
            let w = wasm_oci::write_layout(&out.join(&name), &name, tag, &bytes)?;
            std::fs::create_dir_all(out.join("pins"))?;
            std::fs::write(
                out.join("pins").join(format!("{name}.yaml")),
                wasm_oci::pin_patch(&name, registry, tag, &w),
            )?;
            std::fs::write(
                out.join(format!("{name}.digest")),
                format!("{}\n", w.manifest_digest),
            )?;
            Ok(w)
        });
        match result {
            Ok(w) => println!(
                "{:<40} manifest {}  module {}",
                out.join(&name).display(),
                w.manifest_digest,
                w.module_digest
            ),
            Err(e) => {
                eprintln!("wasm-oci: {m}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
