//! Names the build for `lmrelay --version`: the commit it was built from — `LMRELAY_COMMIT`
//! when set (builds without a git checkout: a container context, a source package), else
//! `git rev-parse`, else "unknown".

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LMRELAY_COMMIT");
    let commit = std::env::var("LMRELAY_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=LMRELAY_COMMIT={}", commit.trim());
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn git_commit() -> Option<String> {
    let dir = git(&["rev-parse", "--absolute-git-dir"])?;
    // A new commit or checkout moves HEAD (or its reflog): build again then, and only then
    // (a path that does not exist would rerun this script on every build).
    for f in ["HEAD", "logs/HEAD"] {
        let p = Path::new(&dir).join(f);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}
