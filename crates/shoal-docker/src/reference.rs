//! Image references as the pull endpoint wants them.
//!
//! `POST /images/create?fromImage=x` without a tag pulls *every* tag of `x`, so the tag (or
//! digest) is split off and `latest` supplied when there is none, as the docker CLI does.

/// `(repository, tag or digest)` of an image reference.
pub fn pull_parts(image: &str) -> (&str, &str) {
    if let Some((name, digest)) = image.split_once('@') {
        // A digest wins over any tag: `name:tag@sha256:…` pulls by digest.
        let repo = strip_tag(name).0;
        return (repo, digest);
    }
    let (repo, tag) = strip_tag(image);
    (repo, tag.unwrap_or("latest"))
}

/// Splits `repo:tag`, not mistaking a registry port (`host:5000/repo`) for a tag.
fn strip_tag(name: &str) -> (&str, Option<&str>) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_default_to_latest_and_ports_are_not_tags() {
        assert_eq!(pull_parts("busybox"), ("busybox", "latest"));
        assert_eq!(pull_parts("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(
            pull_parts("shoal-test/does-not-exist:1"),
            ("shoal-test/does-not-exist", "1")
        );
        assert_eq!(
            pull_parts("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(
            pull_parts("localhost:5000/app:2"),
            ("localhost:5000/app", "2")
        );
    }

    #[test]
    fn digests_are_pulled_by_digest() {
        assert_eq!(pull_parts("app@sha256:abc"), ("app", "sha256:abc"));
        assert_eq!(pull_parts("app:1@sha256:abc"), ("app", "sha256:abc"));
    }
}
