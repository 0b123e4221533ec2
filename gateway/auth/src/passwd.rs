//! Editing password files, as `mosquitto_passwd` does: what `switchboard passwd` runs.
//!
//! Entries are written as mosquitto 2.0 writes them (`user:$7$<iterations>$<salt>$<hash>`), so the
//! file works with mosquitto too. Other lines (comments, other users, hashes in any format) are kept
//! byte for byte. Unlike `mosquitto_passwd`, which rewrites the file in place, the new content is
//! written to a temporary file next to it and renamed over it, so a crash or a full disk never
//! leaves half a file; the old file's permissions (and owner, when allowed) are kept, and a new file
//! is readable by its owner only.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::PasswdError;
use crate::password::{MAX_FIELD_LEN, MAX_ITERATIONS, PasswordHash};

/// The hash `switchboard passwd` writes (`-H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashKind {
    /// `$7$`, PBKDF2-SHA512 (`sha512-pbkdf2`, the default).
    #[default]
    Pbkdf2Sha512,
    /// `$6$`, one round of salted SHA-512 (`sha512`, for mosquitto 1.x only).
    Sha512,
}

impl HashKind {
    /// Parses mosquitto_passwd's `-H` names.
    pub fn from_name(name: &str) -> Option<HashKind> {
        match name {
            "sha512-pbkdf2" => Some(HashKind::Pbkdf2Sha512),
            "sha512" => Some(HashKind::Sha512),
            _ => None,
        }
    }
}

/// What [`set_password`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The user was new.
    Added,
    /// The user's entry was replaced.
    Updated,
}

/// Checks a user name the way `mosquitto_passwd` does: not empty, at most 65 535 bytes, no `:` and
/// no control characters.
pub fn validate_username(user: &str) -> Result<(), PasswdError> {
    if user.is_empty() {
        return Err(PasswdError::InvalidUsername("it is empty"));
    }
    if user.len() > MAX_FIELD_LEN {
        return Err(PasswdError::InvalidUsername(
            "it must be less than 65536 bytes long",
        ));
    }
    if user.chars().any(char::is_control) {
        return Err(PasswdError::InvalidUsername(
            "it must not contain control characters",
        ));
    }
    if user.contains(':') {
        return Err(PasswdError::InvalidUsername(
            "it must not contain the ':' character",
        ));
    }
    if user != user.trim() {
        return Err(PasswdError::InvalidUsername(
            "it must not start or end with blanks (they are trimmed when the file is read)",
        ));
    }
    Ok(())
}

/// The line (with its newline) for `user` with `password`.
pub fn entry_line(
    user: &str,
    password: &[u8],
    kind: HashKind,
    iterations: u32,
) -> Result<String, PasswdError> {
    validate_username(user)?;
    if password.len() > MAX_FIELD_LEN {
        return Err(PasswdError::InvalidPassword(
            "it must be less than 65536 bytes long",
        ));
    }
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(PasswdError::InvalidIterations);
    }
    let hash = match kind {
        HashKind::Pbkdf2Sha512 => PasswordHash::pbkdf2_sha512(password, iterations),
        HashKind::Sha512 => PasswordHash::sha512(password),
    };
    Ok(format!("{user}:{}\n", hash.encode()))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PasswdError + '_ {
    move |source| PasswdError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates or overwrites `path` with a single entry (`mosquitto_passwd -c`).
pub fn create(
    path: &Path,
    user: &str,
    password: &[u8],
    kind: HashKind,
    iterations: u32,
) -> Result<(), PasswdError> {
    let line = entry_line(user, password, kind, iterations)?;
    write_atomically(path, line.as_bytes())
}

/// Adds `user` to the existing file `path`, or replaces its entry.
pub fn set_password(
    path: &Path,
    user: &str,
    password: &[u8],
    kind: HashKind,
    iterations: u32,
) -> Result<Change, PasswdError> {
    let line = entry_line(user, password, kind, iterations)?;
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    let mut out = String::with_capacity(text.len() + line.len());
    let mut change = Change::Added;
    for existing in lines_with_endings(&text) {
        if change == Change::Added && names_user(existing, user) {
            out.push_str(&line);
            change = Change::Updated;
        } else {
            out.push_str(existing);
        }
    }
    if change == Change::Added {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
    }
    write_atomically(path, out.as_bytes())?;
    Ok(change)
}

/// Removes every entry of `user` from `path` (`mosquitto_passwd -D`).
pub fn delete_user(path: &Path, user: &str) -> Result<(), PasswdError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    for existing in lines_with_endings(&text) {
        if names_user(existing, user) {
            found = true;
        } else {
            out.push_str(existing);
        }
    }
    if !found {
        return Err(PasswdError::UserNotFound(user.to_owned()));
    }
    write_atomically(path, out.as_bytes())
}

fn lines_with_endings(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
}

fn names_user(line: &str, user: &str) -> bool {
    let bare = line.trim_end_matches(['\n', '\r']);
    !bare.starts_with('#') && bare.split_once(':').is_some_and(|(u, _)| u.trim() == user)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "passwd".to_owned());
    let suffix: u64 = rand::random();
    path.with_file_name(format!(".{name}.tmp-{suffix:016x}"))
}

/// Writes `data` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), PasswdError> {
    let tmp = temp_path(path);
    let previous = fs::metadata(path).ok();
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(data)?;
        if let Some(meta) = &previous {
            fs::set_permissions(&tmp, meta.permissions())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt as _;
                // Keep the owner when we may (root editing a file owned by the service user).
                let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
            }
        }
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordFile;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-passwd-{}-{name}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir.join("passwd")
    }

    fn load(path: &Path) -> PasswordFile {
        PasswordFile::load("auth.password_file", path).unwrap()
    }

    #[test]
    fn create_add_update_delete() {
        let path = scratch("cycle");
        create(&path, "alice", b"a1", HashKind::Pbkdf2Sha512, 101).unwrap();
        assert_eq!(
            set_password(&path, "bob", b"b1", HashKind::Pbkdf2Sha512, 1000).unwrap(),
            Change::Added
        );
        assert_eq!(
            set_password(&path, "alice", b"a2", HashKind::Pbkdf2Sha512, 101).unwrap(),
            Change::Updated
        );
        let f = load(&path);
        assert_eq!(f.len(), 2);
        assert_eq!(f.verify("alice", b"a2"), crate::Verification::Valid);
        assert_eq!(f.verify("alice", b"a1"), crate::Verification::WrongPassword);
        assert_eq!(f.verify("bob", b"b1"), crate::Verification::Valid);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("alice:$7$101$"), "order kept: {text}");
        assert!(text.contains("\nbob:$7$1000$"), "{text}");
        delete_user(&path, "alice").unwrap();
        assert!(load(&path).get("alice").is_none());
        assert!(matches!(
            delete_user(&path, "alice"),
            Err(PasswdError::UserNotFound(_))
        ));
    }

    #[test]
    fn other_lines_are_kept_byte_for_byte() {
        let path = scratch("keep");
        let original = "# managed by hand\r\ncarol:$6$rounds=5000$x$y\n\n";
        fs::write(&path, original).unwrap();
        set_password(&path, "dave", b"d", HashKind::Sha512, 101).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original), "{text:?}");
        assert!(text[original.len()..].starts_with("dave:$6$"), "{text:?}");
        // A file without a final newline gets one before the new entry.
        fs::write(&path, "# x").unwrap();
        set_password(&path, "erin", b"e", HashKind::Pbkdf2Sha512, 101).unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .starts_with("# x\nerin:$7$")
        );
    }

    #[cfg(unix)]
    #[test]
    fn permissions_new_files_private_existing_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = scratch("perm");
        create(&path, "a", b"a", HashKind::Pbkdf2Sha512, 101).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        set_password(&path, "b", b"b", HashKind::Pbkdf2Sha512, 101).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn user_names_and_parameters_are_checked() {
        for bad in ["", "a:b", "tab\there", "new\nline", " padded"] {
            assert!(
                matches!(
                    entry_line(bad, b"p", HashKind::Pbkdf2Sha512, 101),
                    Err(PasswdError::InvalidUsername(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            entry_line("u", b"p", HashKind::Pbkdf2Sha512, 0),
            Err(PasswdError::InvalidIterations)
        ));
        assert!(entry_line("John Smith", b"", HashKind::Pbkdf2Sha512, 1).is_ok());
        let missing = scratch("missing").with_file_name("absent");
        assert!(matches!(
            set_password(&missing, "u", b"p", HashKind::Pbkdf2Sha512, 101),
            Err(PasswdError::Io { .. })
        ));
    }
}
