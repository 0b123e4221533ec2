//! mosquitto-format password files: parsing, hashing and constant-time verification.
//!
//! A line is `user:hash`. The hash is recognised by its shape:
//!
//! | shape | written by | check |
//! |---|---|---|
//! | `$7$<iterations>$<base64 salt, 12 bytes>$<base64 hash, 64 bytes>` | `mosquitto_passwd` (2.0 default) | PBKDF2-HMAC-SHA512 |
//! | `$6$<base64 salt, 12 bytes>$<base64 hash, 64 bytes>` (hash ends in `==`) | `mosquitto_passwd -H sha512` (1.x) | `SHA512(password ‖ salt)`, one round |
//! | `$6$[rounds=N$]<salt>$<86 characters of ./0-9A-Za-z>` | aMQTT (`crypt` SHA-512) | sha512-crypt |
//! | `$argon2id$...` (also `argon2i`, `argon2d`) | aMQTT (pwdlib), mosquitto 2.1 | Argon2 |
//!
//! Both `$6$` formats share a prefix, so they are told apart by the hash field: mosquitto's is
//! 88 characters of standard base64 ending in `==`, crypt's is 86 characters of crypt's alphabet.
//!
//! Parsing follows mosquitto (`pwfile__parse`): a line whose first character is `#` is a comment, the
//! user name is the text before the first `:`, the hash runs to the next `:`, and both are trimmed of
//! blanks. Unlike mosquitto, which drops a bad entry with a log line, any malformed line is an error
//! naming the file and the line, so a typo never silently locks a user out.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose::STANDARD};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::error::LoadError;

/// Iterations `mosquitto_passwd` uses for `$7$` by default (`PW_DEFAULT_ITERATIONS`).
pub const DEFAULT_ITERATIONS: u32 = 101;

/// The largest iteration count: mosquitto parses it into a C `int`.
pub const MAX_ITERATIONS: u32 = i32::MAX as u32;

/// The salt length mosquitto uses and requires, in bytes.
pub const SALT_LEN: usize = 12;

/// The SHA-512 digest length, in bytes.
pub const HASH_LEN: usize = 64;

/// Longest user name or hash field mosquitto accepts, in bytes.
pub const MAX_FIELD_LEN: usize = 65_535;

/// Largest password file read, in bytes.
pub const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;

const CRYPT_HASH_LEN: usize = 86;

/// mosquitto decodes base64 with OpenSSL, which does not insist on padding; accept both.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A stored password hash.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// mosquitto `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2Sha512 {
        /// PBKDF2 iterations.
        iterations: u32,
        /// The salt (12 bytes in files mosquitto reads).
        salt: Vec<u8>,
        /// The derived key.
        hash: [u8; HASH_LEN],
    },
    /// mosquitto `$6$`: `SHA512(password ‖ salt)`.
    Sha512 {
        /// The salt.
        salt: Vec<u8>,
        /// The digest.
        hash: [u8; HASH_LEN],
    },
    /// crypt(3) SHA-512 (`$6$[rounds=N$]salt$hash`), as aMQTT files may hold.
    Sha512Crypt {
        /// Rounds (5 000 when the string names none).
        rounds: usize,
        /// The salt as written (crypt uses at most 16 characters).
        salt: String,
        /// The 86-character crypt-base64 hash.
        hash: String,
    },
    /// An Argon2 PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    Argon2(String),
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Pbkdf2Sha512 { iterations, .. } => {
                write!(f, "Pbkdf2Sha512 {{ iterations: {iterations}, .. }}")
            }
            PasswordHash::Sha512 { .. } => f.write_str("Sha512 { .. }"),
            PasswordHash::Sha512Crypt { rounds, .. } => {
                write!(f, "Sha512Crypt {{ rounds: {rounds}, .. }}")
            }
            PasswordHash::Argon2(_) => f.write_str("Argon2(..)"),
        }
    }
}

fn decode_field(what: &str, field: &str, len: usize) -> Result<Vec<u8>, String> {
    let bytes = BASE64_LENIENT
        .decode(field)
        .map_err(|e| format!("the {what} is not valid base64 ({e})"))?;
    if bytes.len() != len {
        return Err(format!(
            "the {what} decodes to {} bytes; mosquitto requires {len}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn decode_hash(field: &str) -> Result<[u8; HASH_LEN], String> {
    let bytes = decode_field("hash", field, HASH_LEN)?;
    let mut hash = [0u8; HASH_LEN];
    hash.copy_from_slice(&bytes);
    Ok(hash)
}

fn is_crypt_alphabet(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

const UNKNOWN_FORMAT: &str = "unknown password hash format; expected mosquitto's `$7$` \
     (what mosquitto_passwd and `switchboard passwd` write) or `$6$`, or an aMQTT `$argon2id$` or \
     sha512-crypt hash. Plain-text passwords are not accepted: set the password with \
     `switchboard passwd FILE USER`";

impl PasswordHash {
    /// Parses the hash field of a password-file line. The error says what is wrong.
    pub fn parse(text: &str) -> Result<PasswordHash, String> {
        if let Some(rest) = text.strip_prefix("$7$") {
            let fields: Vec<&str> = rest.split('$').collect();
            let [iterations, salt, hash] = fields[..] else {
                return Err("a `$7$` hash has the form `$7$<iterations>$<salt>$<hash>`".into());
            };
            let iterations = iterations
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_ITERATIONS).contains(n))
                .ok_or_else(|| {
                    format!("the iteration count `{iterations}` is not a number from 1 to {MAX_ITERATIONS}")
                })?;
            return Ok(PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt: decode_field("salt", salt, SALT_LEN)?,
                hash: decode_hash(hash)?,
            });
        }
        if let Some(rest) = text.strip_prefix("$6$") {
            return Self::parse_six(rest);
        }
        if text.starts_with("$argon2id$")
            || text.starts_with("$argon2i$")
            || text.starts_with("$argon2d$")
        {
            let parsed = argon2::PasswordHash::new(text)
                .map_err(|e| format!("malformed Argon2 hash ({e})"))?;
            argon2::Params::try_from(&parsed)
                .map_err(|e| format!("malformed Argon2 parameters ({e})"))?;
            if parsed.salt.is_none() || parsed.hash.is_none() {
                return Err("an Argon2 hash needs a salt and a hash after its parameters".into());
            }
            return Ok(PasswordHash::Argon2(text.to_owned()));
        }
        if ["$2a$", "$2b$", "$2y$"].iter().any(|p| text.starts_with(p)) {
            return Err(
                "bcrypt hashes are not supported; set the password again with \
                 `switchboard passwd FILE USER`"
                    .into(),
            );
        }
        Err(UNKNOWN_FORMAT.into())
    }

    /// `$6$...`: mosquitto's salted SHA-512 or crypt's sha512-crypt, told apart by shape.
    fn parse_six(rest: &str) -> Result<PasswordHash, String> {
        let fields: Vec<&str> = rest.split('$').collect();
        match fields[..] {
            [rounds, salt, hash] if rounds.starts_with("rounds=") => {
                let rounds = rounds["rounds=".len()..]
                    .parse::<usize>()
                    .ok()
                    .filter(|r| (1_000..=999_999_999).contains(r))
                    .ok_or_else(|| {
                        "sha512-crypt `rounds=` must be a number from 1000 to 999999999".to_owned()
                    })?;
                Self::crypt(rounds, salt, hash)
            }
            [salt, hash] if hash.len() == CRYPT_HASH_LEN && is_crypt_alphabet(hash) => {
                Self::crypt(5_000, salt, hash)
            }
            [salt, hash] => Ok(PasswordHash::Sha512 {
                salt: decode_field("salt", salt, SALT_LEN)?,
                hash: decode_hash(hash)?,
            }),
            _ => Err("a `$6$` hash has the form `$6$<salt>$<hash>`".into()),
        }
    }

    fn crypt(rounds: usize, salt: &str, hash: &str) -> Result<PasswordHash, String> {
        if hash.len() != CRYPT_HASH_LEN || !is_crypt_alphabet(hash) {
            return Err("a sha512-crypt hash is 86 characters of `./0-9A-Za-z`".into());
        }
        Ok(PasswordHash::Sha512Crypt {
            rounds,
            salt: salt.to_owned(),
            hash: hash.to_owned(),
        })
    }

    /// A new `$7$` hash of `password` with a random 12-byte salt, as `mosquitto_passwd` makes.
    pub fn pbkdf2_sha512(password: &[u8], iterations: u32) -> PasswordHash {
        let salt: [u8; SALT_LEN] = rand::random();
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::pbkdf2_hmac::<Sha512>(password, &salt, iterations, &mut hash);
        PasswordHash::Pbkdf2Sha512 {
            iterations,
            salt: salt.to_vec(),
            hash,
        }
    }

    /// A new mosquitto `$6$` hash (`mosquitto_passwd -H sha512`): kept for old brokers only.
    pub fn sha512(password: &[u8]) -> PasswordHash {
        let salt: [u8; SALT_LEN] = rand::random();
        PasswordHash::Sha512 {
            salt: salt.to_vec(),
            hash: sha512_salted(password, &salt),
        }
    }

    /// The hash as it is written in a password file.
    pub fn encode(&self) -> String {
        match self {
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => format!(
                "$7${iterations}${}${}",
                STANDARD.encode(salt),
                STANDARD.encode(hash)
            ),
            PasswordHash::Sha512 { salt, hash } => {
                format!("$6${}${}", STANDARD.encode(salt), STANDARD.encode(hash))
            }
            PasswordHash::Sha512Crypt { rounds, salt, hash } => {
                if *rounds == 5_000 {
                    format!("$6${salt}${hash}")
                } else {
                    format!("$6$rounds={rounds}${salt}${hash}")
                }
            }
            PasswordHash::Argon2(s) => s.clone(),
        }
    }

    /// A short name of the scheme, for logs.
    pub fn scheme(&self) -> &'static str {
        match self {
            PasswordHash::Pbkdf2Sha512 { .. } => "pbkdf2-sha512",
            PasswordHash::Sha512 { .. } => "sha512",
            PasswordHash::Sha512Crypt { .. } => "sha512-crypt",
            PasswordHash::Argon2(_) => "argon2",
        }
    }

    /// Whether `password` matches, compared in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                let mut derived = [0u8; HASH_LEN];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut derived);
                derived.ct_eq(hash).into()
            }
            PasswordHash::Sha512 { salt, hash } => sha512_salted(password, salt).ct_eq(hash).into(),
            PasswordHash::Sha512Crypt { rounds, salt, hash } => {
                let Ok(params) = sha_crypt::Sha512Params::new(*rounds) else {
                    return false;
                };
                match sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &params) {
                    Ok(computed) => computed.as_bytes().ct_eq(hash.as_bytes()).into(),
                    Err(_) => false,
                }
            }
            PasswordHash::Argon2(phc) => {
                use argon2::PasswordVerifier as _;
                match argon2::PasswordHash::new(phc) {
                    Ok(parsed) => argon2::Argon2::default()
                        .verify_password(password, &parsed)
                        .is_ok(),
                    Err(_) => false,
                }
            }
        }
    }
}

fn sha512_salted(password: &[u8], salt: &[u8]) -> [u8; HASH_LEN] {
    let mut hasher = Sha512::new();
    hasher.update(password);
    hasher.update(salt);
    hasher.finalize().into()
}

/// One parsed line of a password file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswdLine<'a> {
    /// A comment or a blank line.
    Blank,
    /// `user:hash`, both trimmed; the hash not yet checked.
    Entry {
        /// The user name.
        user: &'a str,
        /// The hash field.
        hash: &'a str,
    },
}

/// Splits one password-file line the way mosquitto does. The error says what is wrong.
pub fn split_line(line: &str) -> Result<PasswdLine<'_>, String> {
    if line.starts_with('#') {
        return Ok(PasswdLine::Blank);
    }
    let Some((user, rest)) = line.split_once(':') else {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            return Ok(PasswdLine::Blank);
        }
        return Err("expected `user:hash` (no `:` on this line)".into());
    };
    let user = user.trim();
    // strtok(3) skips empty fields, so `user::hash` names the hash `hash`.
    let hash = rest
        .split(':')
        .find(|f| !f.is_empty())
        .unwrap_or_default()
        .trim();
    if user.is_empty() {
        return Err("the user name before `:` is empty".into());
    }
    if user.len() > MAX_FIELD_LEN {
        return Err(format!(
            "the user name is longer than {MAX_FIELD_LEN} bytes"
        ));
    }
    if hash.is_empty() {
        return Err(format!("user `{user}` has no password hash after `:`"));
    }
    if hash.len() > MAX_FIELD_LEN {
        return Err(format!(
            "the password hash is longer than {MAX_FIELD_LEN} bytes"
        ));
    }
    Ok(PasswdLine::Entry { user, hash })
}

/// The outcome of checking a user's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The user exists and the password matches.
    Valid,
    /// The user exists and the password does not match.
    WrongPassword,
    /// No such user.
    UnknownUser,
}

/// The users of one password file.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    users: HashMap<String, PasswordHash>,
}

/// A hash of nothing, checked for unknown users so that a wrong user name costs as much time as a
/// wrong password and user names cannot be probed by timing.
fn decoy() -> &'static PasswordHash {
    static DECOY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| PasswordHash::pbkdf2_sha512(b"", DEFAULT_ITERATIONS))
}

impl PasswordFile {
    /// Reads and parses `path` (`key` is the config key naming it, for errors).
    pub fn load(key: &'static str, path: &Path) -> Result<PasswordFile, LoadError> {
        let text = crate::read_text(key, path, MAX_FILE_LEN)?;
        PasswordFile::parse(key, path, &text)
    }

    /// Parses the text of a password file; `path` only names it in errors.
    pub fn parse(key: &'static str, path: &Path, text: &str) -> Result<PasswordFile, LoadError> {
        let mut users: HashMap<String, (PasswordHash, usize)> = HashMap::new();
        for (index, line) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let err = |message: String| LoadError::Line {
                key,
                path: path.to_owned(),
                line: line_no,
                message,
            };
            let PasswdLine::Entry { user, hash } = split_line(line).map_err(err)? else {
                continue;
            };
            let parsed =
                PasswordHash::parse(hash).map_err(|m| err(format!("user `{user}`: {m}")))?;
            if let Some((_, first)) = users.get(user) {
                return Err(err(format!(
                    "user `{user}` is already defined on line {first}; keep one entry per user"
                )));
            }
            users.insert(user.to_owned(), (parsed, line_no));
        }
        Ok(PasswordFile {
            users: users.into_iter().map(|(u, (h, _))| (u, h)).collect(),
        })
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The stored hash of `user`.
    pub fn get(&self, user: &str) -> Option<&PasswordHash> {
        self.users.get(user)
    }

    /// Checks `password` for `user`. An unknown user takes as long as a wrong password.
    pub fn verify(&self, user: &str, password: &[u8]) -> Verification {
        match self.users.get(user) {
            Some(hash) => {
                if hash.verify(password) {
                    Verification::Valid
                } else {
                    Verification::WrongPassword
                }
            }
            None => {
                let _ = decoy().verify(password);
                Verification::UnknownUser
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample line of the reference (`mosquitto_passwd`, password `secret1`).
    const ALICE: &str = "$7$101$jI/PpSd3+CdvpBKh$7JGoIqv4k6aVtwL0uyn5LA6KayUZMeWMYpr5NChiDc/daTC/MQr2ptRLROMAIQa1yk09Pwynwtk+v0N3FkobeQ==";

    #[test]
    fn reference_sample_verifies() {
        let h = PasswordHash::parse(ALICE).unwrap();
        assert!(
            matches!(
                h,
                PasswordHash::Pbkdf2Sha512 {
                    iterations: 101,
                    ..
                }
            ),
            "{h:?}"
        );
        assert!(h.verify(b"secret1"));
        assert!(!h.verify(b"secret2"));
        assert!(!h.verify(b""));
        assert_eq!(h.encode(), ALICE, "re-encoding gives mosquitto's text back");
    }

    #[test]
    fn new_hashes_round_trip_through_text() {
        for h in [
            PasswordHash::pbkdf2_sha512(b"pw", DEFAULT_ITERATIONS),
            PasswordHash::pbkdf2_sha512(b"pw", 1),
            PasswordHash::sha512(b"pw"),
        ] {
            let text = h.encode();
            let back = PasswordHash::parse(&text).unwrap();
            assert_eq!(back, h);
            assert!(back.verify(b"pw"));
            assert!(!back.verify(b"pW"));
        }
        let text = PasswordHash::pbkdf2_sha512(b"x", 101).encode();
        let fields: Vec<&str> = text.split('$').collect();
        assert_eq!(fields[..3], ["", "7", "101"]);
        assert_eq!(fields[3].len(), 16, "12-byte salt → 16 base64 characters");
        assert_eq!(fields[4].len(), 88, "64-byte hash → 88 base64 characters");
        assert!(fields[4].ends_with("=="));
    }

    #[test]
    fn the_two_six_formats_are_told_apart() {
        let mosq = PasswordHash::sha512(b"pw").encode();
        assert!(matches!(
            PasswordHash::parse(&mosq).unwrap(),
            PasswordHash::Sha512 { .. }
        ));
        // glibc crypt("pw", "$6$saltsalt$") and with rounds.
        let crypt = sha_crypt::sha512_simple("pw", &sha_crypt::Sha512Params::default()).unwrap();
        let parsed = PasswordHash::parse(&crypt).unwrap();
        assert!(
            matches!(parsed, PasswordHash::Sha512Crypt { rounds: 5000, .. }),
            "{parsed:?}"
        );
        assert!(parsed.verify(b"pw"));
        assert!(!parsed.verify(b"px"));
        let rounds =
            sha_crypt::sha512_simple("pw", &sha_crypt::Sha512Params::new(1_000).unwrap()).unwrap();
        assert!(rounds.contains("rounds=1000"));
        let parsed = PasswordHash::parse(&rounds).unwrap();
        assert!(parsed.verify(b"pw"));
        assert_eq!(parsed.encode(), rounds);
    }

    #[test]
    fn known_crypt_vector() {
        // From the SHA-crypt specification's test vectors (Drepper), rounds=5000 implied.
        let h = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        let parsed = PasswordHash::parse(h).unwrap();
        assert!(parsed.verify(b"Hello world!"));
        assert!(!parsed.verify(b"Hello world"));
    }

    #[test]
    fn argon2_phc_strings_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let phc = argon2::Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let parsed = PasswordHash::parse(&phc).unwrap();
        assert_eq!(parsed.scheme(), "argon2");
        assert!(parsed.verify(b"pw"));
        assert!(!parsed.verify(b"px"));
        assert!(PasswordHash::parse("$argon2id$v=19$garbage").is_err());
    }

    #[test]
    fn malformed_hashes_say_why() {
        let cases = [
            ("plain", "unknown password hash format"),
            ("$7$101$abc", "form `$7$<iterations>$<salt>$<hash>`"),
            ("$7$0$AAAAAAAAAAAAAAAA$x", "iteration count `0`"),
            ("$7$ten$AAAAAAAAAAAAAAAA$x", "iteration count `ten`"),
            ("$7$101$AAAA$AAAA", "the salt decodes to 3 bytes"),
            ("$7$101$!!!!$AAAA", "the salt is not valid base64"),
            (
                "$7$101$AAAAAAAAAAAAAAAA$AAAA",
                "the hash decodes to 3 bytes",
            ),
            ("$6$onlyone", "form `$6$<salt>$<hash>`"),
            ("$6$rounds=5$salt$x", "rounds="),
            ("$2b$10$abcdefghijklmnopqrstuv", "bcrypt"),
        ];
        for (text, needle) in cases {
            let e = PasswordHash::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn lines_split_like_mosquitto() {
        assert_eq!(split_line("# x:y"), Ok(PasswdLine::Blank));
        assert_eq!(split_line(""), Ok(PasswdLine::Blank));
        assert_eq!(split_line("   \r"), Ok(PasswdLine::Blank));
        assert_eq!(split_line("  # indented comment"), Ok(PasswdLine::Blank));
        assert_eq!(
            split_line(" bob : $7$x : trailing\r"),
            Ok(PasswdLine::Entry {
                user: "bob",
                hash: "$7$x"
            })
        );
        assert!(split_line("bob").unwrap_err().contains("no `:`"));
        assert!(split_line(":$7$x").unwrap_err().contains("empty"));
        assert!(split_line("bob:").unwrap_err().contains("no password hash"));
        assert!(
            split_line("bob:  :x")
                .unwrap_err()
                .contains("no password hash")
        );
        assert_eq!(
            split_line("bob::$7$x"),
            Ok(PasswdLine::Entry {
                user: "bob",
                hash: "$7$x"
            })
        );
    }

    #[test]
    fn files_name_the_bad_line() {
        let path = Path::new("/etc/passwd-test");
        let text = format!("# users\n\nalice:{ALICE}\nbob:secret\n");
        let e = PasswordFile::parse("auth.password_file", path, &text).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/etc/passwd-test, line 4: user `bob`"), "{s}");
        assert_eq!(e.key(), "auth.password_file");

        let dup = format!("alice:{ALICE}\nalice:{ALICE}\n");
        let e = PasswordFile::parse("k", path, &dup)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("already defined on line 1"),
            "{e}"
        );
    }

    #[test]
    fn files_verify_users() {
        let text = format!("# users\r\nalice:{ALICE}\r\n\r\n");
        let f = PasswordFile::parse("k", Path::new("p"), &text).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f.verify("alice", b"secret1"), Verification::Valid);
        assert_eq!(f.verify("alice", b"nope"), Verification::WrongPassword);
        assert_eq!(f.verify("mallory", b"secret1"), Verification::UnknownUser);
    }
}
