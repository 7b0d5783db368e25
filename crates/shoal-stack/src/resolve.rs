//! What docker/cli's loader settles right after typing each file, before merging:
//!
//! - `env_file` files are read (relative to the project directory) and, with `environment`
//!   on top, form the service environment; a bare or empty entry takes the variable's value
//!   when the environment has it (docker/cli `resolveEnvironment`);
//! - relative bind sources and secret/config `file:` paths become absolute against the
//!   project directory (the directory of the first compose file); `~` is `$HOME`;
//! - an external network, volume, secret or config without `name:` is named by its key.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::dotenv::parse_env_file;
use crate::error::LoadError;
use crate::interpolate::Lookup;
use crate::model::{Compose, Service};

/// Reads a file named in the project (an `env_file`); injected so tests need no disk.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> io::Result<String>;

/// Resolves one typed file in place.
pub fn resolve(
    compose: &mut Compose,
    working_dir: &Path,
    lookup: Lookup<'_>,
    read: ReadFile<'_>,
) -> Result<(), LoadError> {
    for service in compose.services.values_mut() {
        resolve_environment(service, working_dir, lookup, read)?;
        for volume in &mut service.volumes {
            if volume.kind == "bind"
                && let Some(source) = &volume.source
            {
                volume.source = Some(absolute(working_dir, source, lookup));
            }
        }
    }
    for def in compose
        .secrets
        .values_mut()
        .chain(compose.configs.values_mut())
    {
        if let Some(file) = &def.file {
            def.file = Some(absolute(working_dir, file, lookup));
        }
    }
    for (key, def) in compose.secrets.iter_mut().chain(compose.configs.iter_mut()) {
        if def.external && def.name.is_none() {
            def.name = Some(key.clone());
        }
    }
    for (key, def) in compose.networks.iter_mut() {
        if def.external && def.name.is_none() {
            def.name = Some(key.clone());
        }
    }
    for (key, def) in compose.volumes.iter_mut() {
        if def.external && def.name.is_none() {
            def.name = Some(key.clone());
        }
    }
    Ok(())
}

fn resolve_environment(
    service: &mut Service,
    working_dir: &Path,
    lookup: Lookup<'_>,
    read: ReadFile<'_>,
) -> Result<(), LoadError> {
    if service.env_file.is_empty() {
        fill_from_lookup(&mut service.environment, lookup);
        return Ok(());
    }
    let mut merged = std::collections::BTreeMap::new();
    for file in &service.env_file {
        let path = PathBuf::from(absolute(working_dir, file, lookup));
        let text = read(&path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        for (k, v) in parse_env_file(&text, &path.to_string_lossy(), lookup)? {
            merged.insert(k, Some(v));
        }
    }
    fill_from_lookup(&mut merged, lookup);
    for (k, v) in std::mem::take(&mut service.environment) {
        merged.insert(k, v);
    }
    fill_from_lookup(&mut merged, lookup);
    service.environment = merged;
    Ok(())
}

/// docker/cli `updateEnvironment`: the environment wins over a missing or empty value.
fn fill_from_lookup(
    env: &mut std::collections::BTreeMap<String, Option<String>>,
    lookup: Lookup<'_>,
) {
    for (k, v) in env.iter_mut() {
        if v.as_deref().is_none_or(str::is_empty)
            && let Some(found) = lookup(k)
        {
            *v = Some(found);
        }
    }
}

/// `path` made absolute as docker/cli does: an absolute path is kept exactly as written
/// (`/data/` stays `/data/`), `~` is replaced by `$HOME` and the rest kept as written, and a
/// relative path is joined to `base` with `.`/`..` removed lexically (as Go's
/// `filepath.Join` cleans, so `./rel/` becomes `/proj/rel`).
pub fn absolute(base: &Path, path: &str, lookup: Lookup<'_>) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    if let Some(rest) = path.strip_prefix('~')
        && (rest.is_empty() || rest.starts_with('/'))
        && let Some(home) = lookup("HOME")
    {
        return format!("{home}{rest}");
    }
    let joined = base.join(path);
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other.as_os_str()),
        }
    }
    clean.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/home/u".into()),
            "FROM_ENV" => Some("env".into()),
            _ => None,
        }
    }

    #[test]
    fn paths_are_cleaned_and_tilde_expanded() {
        let base = Path::new("/proj");
        assert_eq!(absolute(base, "./conf/../x", &env), "/proj/x");
        assert_eq!(absolute(base, "/abs", &env), "/abs");
        assert_eq!(absolute(base, "./rel/", &env), "/proj/rel");
        assert_eq!(
            absolute(base, "/abs/", &env),
            "/abs/",
            "absolute: as written"
        );
        assert_eq!(absolute(base, "/a//b/../c", &env), "/a//b/../c");
        assert_eq!(absolute(base, "~/h/", &env), "/home/u/h/");
        assert_eq!(absolute(base, "~/data", &env), "/home/u/data");
    }

    #[test]
    fn env_file_then_environment_then_process_environment() {
        let mut service = Service {
            env_file: vec!["app.env".into()],
            ..Service::default()
        };
        service
            .environment
            .insert("B".into(), Some("from-yaml".into()));
        service.environment.insert("FROM_ENV".into(), None);
        service.environment.insert("UNRESOLVED".into(), None);
        let read = |p: &Path| {
            assert_eq!(p, Path::new("/proj/app.env"));
            Ok("A=1\nB=2\n".to_string())
        };
        resolve_environment(&mut service, Path::new("/proj"), &env, &read).unwrap();
        let got: Vec<(&str, Option<&str>)> = service
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", Some("1")),
                ("B", Some("from-yaml")),
                ("FROM_ENV", Some("env")),
                ("UNRESOLVED", None)
            ]
        );
    }
}
