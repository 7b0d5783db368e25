//! `-H/--host` values: docker accepts `unix:///path`; shoal also accepts a plain path.
//!
//! Every socket address is normalised to a filesystem path once, at argument parsing, so the
//! rest of the crate only ever sees paths.

/// The daemon's API socket when neither `-H` nor `SHOAL_HOST` is given.
pub const DEFAULT_HOST: &str = "/run/shoal/shoal.sock";

/// The container engine socket the daemon drives by default.
pub const DEFAULT_ENGINE: &str = "/var/run/docker.sock";

/// Turns `unix:///run/x.sock` or `/run/x.sock` into `/run/x.sock`.
///
/// Errors name the value, as clap prints them next to the flag. TCP hosts are refused: shoal
/// serves its API only on a Unix socket.
pub fn normalize_host(value: &str) -> Result<String, String> {
    let value = value.trim();
    let path = match value.split_once("://") {
        Some(("unix", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "unsupported protocol '{scheme}' in host '{value}': only unix sockets are supported"
            ));
        }
        None => value,
    };
    if path.is_empty() {
        return Err(format!("invalid host '{value}': empty socket path"));
    }
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_urls_and_plain_paths_become_paths() {
        assert_eq!(
            normalize_host("unix:///run/shoal/shoal.sock").as_deref(),
            Ok("/run/shoal/shoal.sock")
        );
        assert_eq!(normalize_host("/tmp/a.sock").as_deref(), Ok("/tmp/a.sock"));
        assert_eq!(
            normalize_host("relative.sock").as_deref(),
            Ok("relative.sock")
        );
    }

    #[test]
    fn tcp_and_empty_hosts_are_refused() {
        assert!(normalize_host("tcp://127.0.0.1:2375").is_err());
        assert!(normalize_host("unix://").is_err());
        assert!(normalize_host("").is_err());
    }
}
