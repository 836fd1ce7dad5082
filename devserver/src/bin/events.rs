//! Writes the sample events to `events/` (or, with `--check`, fails if they differ).

use std::path::PathBuf;

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files: Vec<(String, String)> = devserver::events::samples()
        .iter()
        .map(|s| (s.file.to_owned(), s.render()))
        .collect();
    files.push(("manifest.json".into(), devserver::events::manifest()));
    let mut stale = 0;
    for (file, text) in files {
        let path = root.join(&file);
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                eprintln!("stale: events/{file}");
                stale += 1;
            }
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("create events dir");
            }
            std::fs::write(&path, text).expect("write event");
            println!("wrote events/{file}");
        }
    }
    if stale > 0 {
        eprintln!("{stale} sample event(s) differ; run `cargo run -p devserver --bin events`");
        std::process::exit(1);
    }
}
