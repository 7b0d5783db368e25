//! Compose files for `stack deploy` and `stack config`: the client-side half of Docker stacks.
//!
//! The pipeline, one module per step, mirrors docker/cli `cli/compose`:
//!
//! 1. [`yaml`] parses each file into a [`yaml::Node`] tree that remembers line and column;
//! 2. [`interpolate`] substitutes `$VAR`, `${VAR:-default}`, … in every string value (not in
//!    keys), from the environment and the `.env` file beside the first compose file;
//! 3. [`sanitize`] sets `x-` extension keys and the keys Swarm ignores aside as [`extras`]
//!    (printed by `stack config`, never deployed), collecting Docker's
//!    `Ignoring unsupported options: …` warning;
//! 4. [`de`] types the tree into the [`model`] structs; an unknown key is an error naming the
//!    key, the file, the line and the column;
//! 5. [`resolve`] applies `env_file`, bare `environment` entries and relative paths;
//! 6. [`merge`] folds several `-c` files into one, as `docker compose -f a -f b config` does;
//! 7. [`convert`] turns the result into Engine API specs ([`StackPlan`]), as docker/cli
//!    `cli/compose/convert` does, with `<stack>_` names and `com.docker.stack.*` labels;
//! 8. [`render`] prints the merged project like `docker stack config`.
//!
//! Everything is pure: the environment is a lookup function and files come through a reader,
//! so tests need no real environment or disk. [`load_files`] is the one thin helper that
//! reads real files.

pub mod convert;
pub mod de;
pub mod dotenv;
pub mod error;
pub mod extras;
pub mod interpolate;
pub mod loader;
pub mod merge;
pub mod model;
pub mod render;
pub mod resolve;
pub mod sanitize;
pub mod units;
pub mod version;
pub mod yaml;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod fuzz_tests;

pub use convert::{
    FileObjectPlan, LABEL_IMAGE, LABEL_NAMESPACE, NetworkPlan, ObjectSource, StackPlan, convert,
};
pub use error::{ConvertError, LoadError};
pub use loader::{ComposeFile, load, load_files};
pub use merge::merge;
pub use model::Compose;
pub use render::render_config;
