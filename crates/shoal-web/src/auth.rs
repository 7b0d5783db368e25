//! The login token (`<data-root>/web-token`, mode 0600) and the sessions it opens.
//!
//! The token is 32 random bytes in hex. Logging in with it opens a session: a random session
//! id in an `HttpOnly; SameSite=Strict` cookie, and a per-session CSRF token that every action
//! must send back in the `X-Shoal-Csrf` header. Rotating the token ends every session.

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The token file's name under the data root.
pub const TOKEN_FILE: &str = "web-token";
/// The session cookie's name.
pub const COOKIE: &str = "shoal_session";
/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest is dropped past this (each login makes one).
pub const MAX_SESSIONS: usize = 256;

/// Why the token file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("web token file {path}: {op}: {source}")]
pub struct TokenError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A fresh token or session id: 32 random bytes, hex.
pub fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Whether `s` is a well-formed token (64 lowercase hex digits).
pub fn well_formed(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Compares two strings in time that depends on their lengths only.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    generation: u64,
    created: Instant,
}

/// The token and the open sessions of one daemon (shared by the web server and the
/// `/shoal/web/token` endpoint on the API socket).
pub struct WebAuth {
    path: PathBuf,
    token: RwLock<(String, u64)>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl WebAuth {
    /// Reads `<data_root>/web-token`, writing a new one if there is none (or it is not a
    /// token: an edited file is replaced, never trusted).
    pub fn load_or_create(data_root: &Path) -> Result<WebAuth, TokenError> {
        let path = data_root.join(TOKEN_FILE);
        let token = match std::fs::read_to_string(&path) {
            Ok(s) if well_formed(s.trim()) => s.trim().to_string(),
            Ok(_) => write_new(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_new(&path)?,
            Err(source) => {
                return Err(TokenError {
                    op: "read",
                    path,
                    source,
                });
            }
        };
        Ok(WebAuth {
            path,
            token: RwLock::new((token, 0)),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The current token.
    pub fn token(&self) -> String {
        self.token.read().0.clone()
    }

    /// Writes a new token and ends every session. Returns the new token.
    pub fn rotate(&self) -> Result<String, TokenError> {
        let token = write_new(&self.path)?;
        let mut t = self.token.write();
        *t = (token.clone(), t.1 + 1);
        self.sessions.lock().clear();
        Ok(token)
    }

    /// Opens a session if `offered` is the token: `(session id, csrf token)`.
    pub fn login(&self, offered: &str) -> Option<(String, String)> {
        let (token, generation) = self.token.read().clone();
        if !constant_time_eq(offered.trim(), &token) {
            return None;
        }
        let id = random_hex();
        let csrf = random_hex();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.created.elapsed() < SESSION_TTL && s.generation == generation);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                generation,
                created: Instant::now(),
            },
        );
        Some((id, csrf))
    }

    /// The CSRF token of a live session.
    pub fn session(&self, id: &str) -> Option<String> {
        let generation = self.token.read().1;
        let sessions = self.sessions.lock();
        let s = sessions.get(id)?;
        (s.generation == generation && s.created.elapsed() < SESSION_TTL).then(|| s.csrf.clone())
    }

    /// Ends a session.
    pub fn logout(&self, id: &str) {
        self.sessions.lock().remove(id);
    }
}

fn write_new(path: &Path) -> Result<String, TokenError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let token = random_hex();
    let err = |op| {
        move |source| TokenError {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err("create"))?;
    // An existing temp file keeps its mode through `open`: set it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err("chmod"))?;
    f.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(err("write"))?;
    std::fs::rename(&tmp, path).map_err(err("rename"))?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_token_is_created_private_and_kept_across_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = WebAuth::load_or_create(dir.path()).expect("create");
        assert!(well_formed(&a.token()));
        let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = WebAuth::load_or_create(dir.path()).expect("load");
        assert_eq!(a.token(), b.token());
    }

    #[test]
    fn a_file_that_is_not_a_token_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(TOKEN_FILE), "guessable\n").expect("write");
        let a = WebAuth::load_or_create(dir.path()).expect("load");
        assert!(well_formed(&a.token()));
    }

    #[test]
    fn login_needs_the_token_and_rotation_ends_sessions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = WebAuth::load_or_create(dir.path()).expect("create");
        assert!(a.login("wrong").is_none());
        assert!(a.login(&"0".repeat(64)).is_none());
        let (id, csrf) = a.login(&a.token()).expect("login");
        assert_eq!(a.session(&id), Some(csrf));
        assert_eq!(a.session("other"), None);
        let old = a.token();
        let new = a.rotate().expect("rotate");
        assert_ne!(old, new);
        assert_eq!(a.session(&id), None);
        assert!(a.login(&old).is_none());
        let on_disk = std::fs::read_to_string(dir.path().join(TOKEN_FILE)).expect("read");
        assert_eq!(on_disk.trim(), new);
    }

    #[test]
    fn logout_ends_the_session() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = WebAuth::load_or_create(dir.path()).expect("create");
        let (id, _) = a.login(&a.token()).expect("login");
        a.logout(&id);
        assert_eq!(a.session(&id), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        let h = "a=1; shoal_session=abc; b=2";
        assert_eq!(cookie_value(h, COOKIE), Some("abc"));
        assert_eq!(cookie_value(h, "c"), None);
        assert_eq!(cookie_value("", COOKIE), None);
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
