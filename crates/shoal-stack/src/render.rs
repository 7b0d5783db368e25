//! `stack config`: the merged, interpolated project printed as YAML, the same data
//! `docker stack config` prints. Keys come out in the model's field order and maps sorted,
//! every list in its long syntax, durations as Go prints them, memory sizes as strings of
//! bytes, attachments without options as `null`; the `x-*` fields and the keys Swarm ignores
//! ([`crate::extras`]) are put back in.

use crate::model::Compose;
use crate::yaml::parse;

/// Prints `project` as YAML.
///
/// The model holds only strings, numbers, booleans, lists and string-keyed maps, which the
/// serializer always accepts and our parser reads back; should either still fail, the
/// message is printed as a YAML comment rather than lost.
pub fn render_config(project: &Compose) -> String {
    let print = |e: &dyn std::fmt::Display| format!("# cannot print the project: {e}\n");
    let text = match serde_saphyr::to_string(project) {
        Ok(text) => text,
        Err(e) => return print(&e),
    };
    let mut root = match parse(&text, "stack config") {
        Ok(root) => root,
        Err(e) => return print(&e),
    };
    project.extras.restore(&mut root);
    serde_saphyr::to_string(&root).unwrap_or_else(|e| print(&e))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::loader::{ComposeFile, load};

    #[test]
    fn renders_the_normalised_project_stably() {
        let text = r#"
version: "3.8"
services:
  web:
    image: nginx:${TAG:-1.27}
    command: nginx -g "daemon off;"
    ports: ["8080:80"]
    environment: [B=2, A=1]
    deploy:
      update_config: {delay: 90s}
      resources: {limits: {memory: 1g}}
"#;
        let files = [ComposeFile {
            name: "a.yml".into(),
            content: text.into(),
        }];
        let project = load(&files, Path::new("/p"), &|_| None, &|_| Ok(String::new())).unwrap();
        let out = render_config(&project);
        let expected = r#"version: "3.8"
services:
  web:
    image: nginx:1.27
    command:
    - nginx
    - -g
    - daemon off;
    environment:
      A: "1"
      B: "2"
    ports:
    - mode: ingress
      target: 80
      published: 8080
      protocol: tcp
    deploy:
      resources:
        limits:
          memory: "1073741824"
      update_config:
        delay: 1m30s
"#;
        assert_eq!(out, expected);
        assert_eq!(render_config(&project), out, "stable");
    }
}
