//! The load pipeline for one or more compose files: parse → interpolate → sanitize → type →
//! resolve → merge. [`load`] is pure (contents, environment and file reads are passed in);
//! [`load_files`] is the thin helper that reads real files and the `.env` beside the first.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::de::from_node;
use crate::dotenv::parse_dotenv;
use crate::error::LoadError;
use crate::interpolate::{Lookup, interpolate_tree};
use crate::merge::merge;
use crate::model::Compose;
use crate::resolve::{ReadFile, resolve};
use crate::sanitize::{sanitize, unsupported_warning};
use crate::version::{file_version, project_version};
use crate::yaml::{Value, parse};

/// One compose file's contents; `name` is how errors refer to it (usually its path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeFile {
    pub name: String,
    pub content: String,
}

/// Loads and merges `files` in order. `working_dir` is the project directory (that of the
/// first file) against which relative paths resolve; `lookup` gives interpolation variables
/// (the environment, then `.env`); `read` reads `env_file`s.
pub fn load(
    files: &[ComposeFile],
    working_dir: &Path,
    lookup: Lookup<'_>,
    read: ReadFile<'_>,
) -> Result<Compose, LoadError> {
    if files.is_empty() {
        return Err(LoadError::NoFiles);
    }
    let mut ignored = BTreeSet::new();
    let mut project: Option<Compose> = None;
    let mut version: Option<String> = None;
    for file in files {
        let mut root = parse(&file.content, &file.name)?;
        if !matches!(root.value, Value::Map(_)) {
            return Err(LoadError::NotAMapping {
                file: file.name.clone(),
            });
        }
        let this_version = file_version(&root, &file.name)?;
        match &version {
            Some(first) => project_version(first, &this_version)?,
            None => version = Some(this_version),
        }
        interpolate_tree(&mut root, &file.name, lookup)?;
        let (ignored_here, extras) = sanitize(&mut root);
        ignored.extend(ignored_here);
        let mut typed: Compose = from_node(&root, &file.name)?;
        typed.extras = extras;
        resolve(&mut typed, working_dir, lookup, read)?;
        project = Some(match project {
            Some(base) => merge(base, typed),
            None => typed,
        });
    }
    let mut project = project.unwrap_or_default();
    project.version = version;
    if project.name.is_some() {
        for (kind, defs) in [("config", &project.configs), ("secret", &project.secrets)] {
            for (name, def) in defs {
                if let Some(driver) = &def.template_driver {
                    project.warnings.push(format!(
                    "Ignoring template_driver {driver} of {kind} {name}: shoal does not render templates"
                ));
                }
            }
        }
        project.warnings.push(
            "Ignoring the top-level name: a stack takes its name from the command line".into(),
        );
    }
    project.warnings.extend(unsupported_warning(&ignored));
    Ok(project)
}

/// The directory of the first compose file. `Path::new("stack.yml").parent()` is
/// `Some("")`, which cannot be made absolute: a bare file name means the current directory.
fn project_dir(first: &Path) -> &Path {
    first
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Reads `paths` and the `.env` file beside the first one, then [`load`]s them. `env` is
/// the process environment; it wins over `.env`.
pub fn load_files(paths: &[PathBuf], env: Lookup<'_>) -> Result<Compose, LoadError> {
    let first = paths.first().ok_or(LoadError::NoFiles)?;
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        files.push(ComposeFile {
            name: path.to_string_lossy().into_owned(),
            content: read(path)?,
        });
    }
    let parent = project_dir(first);
    let working_dir = std::path::absolute(parent).map_err(|source| LoadError::Read {
        path: parent.to_path_buf(),
        source,
    })?;
    let dotenv_path = working_dir.join(".env");
    let dotenv = match std::fs::read_to_string(&dotenv_path) {
        Ok(text) => parse_dotenv(&text, &dotenv_path.to_string_lossy())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Default::default(),
        Err(source) => {
            return Err(LoadError::Read {
                path: dotenv_path,
                source,
            });
        }
    };
    let lookup = |name: &str| env(name).or_else(|| dotenv.get(name).cloned());
    let read_text = |path: &Path| std::fs::read_to_string(path);
    load(&files, &working_dir, &lookup, &read_text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn file(name: &str, content: &str) -> ComposeFile {
        ComposeFile {
            name: name.into(),
            content: content.into(),
        }
    }

    fn no_files(p: &Path) -> io::Result<String> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            p.display().to_string(),
        ))
    }

    #[test]
    fn environment_wins_over_dotenv() {
        let dotenv = parse_dotenv("TAG=from-dotenv\nPORT=8000\n", ".env").unwrap();
        let env: BTreeMap<&str, &str> = [("TAG", "from-env")].into();
        let lookup = |k: &str| {
            env.get(k)
                .map(|v| v.to_string())
                .or_else(|| dotenv.get(k).cloned())
        };
        let text = "services:\n  web:\n    image: nginx:${TAG}\n    ports: [\"${PORT}:80\"]\n";
        let project = load(&[file("a.yml", text)], Path::new("/p"), &lookup, &no_files).unwrap();
        let web = &project.services["web"];
        assert_eq!(web.image.as_deref(), Some("nginx:from-env"));
        assert_eq!(web.ports[0].published, Some(8000));
    }

    #[test]
    fn unknown_key_error_names_key_file_and_line() {
        let text = "services:\n  web:\n    image: a\n    deploy:\n      replicas: 2\n      replica_count: 3\n";
        let err = load(
            &[file("stack.yml", text)],
            Path::new("/p"),
            &|_| None,
            &no_files,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "stack.yml:6:7: unknown key \"replica_count\" in services.web.deploy"
        );
        let err = load(
            &[file("s.yml", "servces: {}\n")],
            Path::new("/p"),
            &|_| None,
            &no_files,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "s.yml:1:1: unknown key \"servces\" in (top level)");
    }

    #[test]
    fn unknown_key_in_long_syntax_and_bad_short_syntax_are_located() {
        let text = "services:\n  web:\n    image: a\n    ports:\n      - target: 80\n        publish: 8080\n";
        let err = load(
            &[file("p.yml", text)],
            Path::new("/p"),
            &|_| None,
            &no_files,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "p.yml:6:9: unknown key \"publish\" in services.web.ports[0]"
        );
        let text = "services:\n  web:\n    image: a\n    ports: [\"80:http\"]\n";
        let err = load(
            &[file("p.yml", text)],
            Path::new("/p"),
            &|_| None,
            &no_files,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "p.yml:4:13: services.web.ports[0]: invalid port \"http\""
        );
    }

    #[test]
    fn ignored_keys_produce_one_sorted_warning_over_all_files() {
        let a = "services:\n  web:\n    image: a\n    build: .\n    privileged: true\n";
        let b = "services:\n  web:\n    depends_on: [db]\n";
        let project = load(
            &[file("a", a), file("b", b)],
            Path::new("/p"),
            &|_| None,
            &no_files,
        )
        .unwrap();
        assert_eq!(
            project.warnings,
            vec!["Ignoring unsupported options: build, depends_on, privileged".to_string()]
        );
    }

    #[test]
    fn yaml_1_1_booleans_reach_the_service_as_written() {
        let text = "services:\n  web:\n    image: a\n    command: [echo, on]\n    environment: {A: yes, B: Off}\n    networks: [n]\nnetworks:\n  n:\n";
        let project = load(&[file("a", text)], Path::new("/p"), &|_| None, &no_files).unwrap();
        let web = &project.services["web"];
        assert_eq!(web.command, Some(vec!["echo".into(), "on".into()]));
        assert_eq!(web.environment["A"].as_deref(), Some("yes"));
        assert_eq!(web.environment["B"].as_deref(), Some("Off"));
        assert!(web.networks.contains_key("n"), "{:?}", web.networks);
    }

    #[test]
    fn booleans_are_refused_where_docker_refuses_them() {
        let cases = [
            (
                "services:\n  w:\n    image: a\n    environment: {A: true}\n",
                "a:4:22: services.w.environment.A: must be a string, number or null, found the boolean true (quote it)",
            ),
            (
                "services:\n  w:\n    image: a\n    labels: {l: false}\n",
                "a:4:17: services.w.labels.l: must be a string, number or null, found the boolean false (quote it)",
            ),
            (
                "services:\n  w:\n    image: a\n    read_only: yes\n",
                "a:4:16: services.w.read_only: must be a boolean, found \"yes\"",
            ),
        ];
        for (text, want) in cases {
            let err = load(&[file("a", text)], Path::new("/p"), &|_| None, &no_files)
                .unwrap_err()
                .to_string();
            assert_eq!(err, want);
        }
    }

    #[test]
    fn compose_spec_extensions_load_with_warnings_and_stay_in_stack_config() {
        let text = "name: proj\nservices:\n  web:\n    image: a\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    image: b\n";
        let project = load(&[file("a", text)], Path::new("/p"), &|_| None, &no_files).unwrap();
        assert_eq!(
            project.warnings,
            vec![
                "Ignoring the top-level name: a stack takes its name from the command line"
                    .to_string(),
                "Ignoring unsupported options: depends_on".to_string(),
            ]
        );
        let printed = crate::render::render_config(&project);
        assert!(
            printed.contains("depends_on:\n      db:\n        condition: service_healthy"),
            "{printed}"
        );
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        let err = load(
            &[file("l.yml", "- a\n")],
            Path::new("/p"),
            &|_| None,
            &no_files,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "l.yml: top-level object must be a mapping");
    }

    #[test]
    fn load_files_reads_the_dotenv_beside_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "TAG=dotenv\nREPLICAS=2\n").unwrap();
        std::fs::write(dir.path().join("pass.txt"), "x").unwrap();
        let a = dir.path().join("a.yml");
        std::fs::write(
            &a,
            "services:\n  web:\n    image: n:${TAG}\n    deploy:\n      replicas: ${REPLICAS}\nsecrets:\n  p: {file: ./pass.txt}\n",
        )
        .unwrap();
        let env = |k: &str| (k == "TAG").then(|| "env".to_string());
        let project = load_files(&[a], &env).unwrap();
        let web = &project.services["web"];
        assert_eq!(web.image.as_deref(), Some("n:env"));
        assert_eq!(web.deploy.as_ref().unwrap().replicas, Some(2));
        let file = project.secrets["p"].file.clone().unwrap();
        assert_eq!(
            Path::new(&file),
            std::path::absolute(dir.path().join("pass.txt")).unwrap()
        );
    }

    #[test]
    fn a_bare_file_name_is_in_the_current_directory() {
        assert_eq!(project_dir(Path::new("stack.yml")), Path::new("."));
        assert_eq!(project_dir(Path::new("a/stack.yml")), Path::new("a"));
        assert_eq!(project_dir(Path::new("/stack.yml")), Path::new("/"));
    }
}
