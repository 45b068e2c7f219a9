//! Which build a report describes: the program's own version line and the checkout's revision.

use std::path::Path;

/// The first line a command prints, if it runs and succeeds.
pub fn command_output(program: &Path, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().next().map(|l| l.trim().to_owned())
}

/// The git revision of the working directory, `-dirty` if it has local changes; `None` outside
/// a checkout.
pub fn revision() -> Option<String> {
    let git = Path::new("git");
    let head = command_output(git, &["rev-parse", "--short", "HEAD"])?;
    let dirty = std::process::Command::new(git)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}
