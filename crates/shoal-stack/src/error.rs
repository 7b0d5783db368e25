//! Errors of loading compose files and of converting them to specs.
//!
//! Load errors name the file and, where the problem is in the file, the line, the column
//! and the dotted path of the key (`services.web.deploy`), so a user can jump to it.

use std::path::PathBuf;

use thiserror::Error;

/// Reading, parsing, interpolating or typing compose files failed.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("no compose file given")]
    NoFiles,

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{file}:{line}:{column}: invalid YAML: {message}")]
    Yaml {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },

    #[error(
        "{file}:{line}:{column}: version must be a string (quote it: an unquoted 3.10 is the number 3.1)"
    )]
    VersionNotString {
        file: String,
        line: u64,
        column: u64,
    },

    #[error(
        "{file}: unsupported Compose file version: {version} (docker stack reads format 3.0 to 3.13)"
    )]
    UnsupportedVersion { file: String, version: String },

    #[error("version mismatched between two composefiles : {first} and {second}")]
    VersionMismatch { first: String, second: String },

    #[error("{file}: top-level object must be a mapping")]
    NotAMapping { file: String },

    #[error("{file}:{line}:{column}: {path}: {message}")]
    Interpolation {
        file: String,
        line: u64,
        column: u64,
        path: String,
        message: String,
    },

    #[error("{file}:{line}:{column}: unknown key \"{key}\" in {path}")]
    UnknownKey {
        file: String,
        line: u64,
        column: u64,
        path: String,
        key: String,
    },

    #[error("{file}:{line}:{column}: {path}: {message}")]
    Invalid {
        file: String,
        line: u64,
        column: u64,
        path: String,
        message: String,
    },

    #[error("{file}:{line}: {message}")]
    EnvFile {
        file: String,
        line: usize,
        message: String,
    },
}

/// A loaded project cannot be turned into Engine API specs.
#[derive(Debug, Error, PartialEq)]
pub enum ConvertError {
    #[error("service {service}: no image given")]
    MissingImage { service: String },

    #[error("service {service}: undefined network \"{network}\"")]
    UndefinedNetwork { service: String, network: String },

    #[error("service {service}: undefined volume \"{volume}\"")]
    UndefinedVolume { service: String, volume: String },

    #[error("service {service}: undefined secret \"{secret}\"")]
    UndefinedSecret { service: String, secret: String },

    #[error("service {service}: undefined config \"{config}\"")]
    UndefinedConfig { service: String, config: String },

    #[error("service {service}: {field}: invalid value \"{value}\" ({expected})")]
    InvalidValue {
        service: String,
        field: String,
        value: String,
        expected: String,
    },

    #[error("service {service}: replicas can only be used with replicated or replicated-job mode")]
    ReplicasWithGlobalMode { service: String },

    #[error("service {service}: healthcheck: test and disable can't be set at the same time")]
    HealthcheckTestAndDisable { service: String },

    #[error("service {service}: volume {target}: {message}")]
    InvalidMount {
        service: String,
        target: String,
        message: String,
    },

    #[error("{kind} {name}: neither file nor external is set")]
    NoObjectSource { kind: String, name: String },
}
