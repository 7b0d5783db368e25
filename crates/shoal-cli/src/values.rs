//! Helpers for reading and editing JSON objects by path.
//!
//! Update commands (`swarm update`, `node update`, `service update`) GET an object, change a
//! few fields of its spec and POST the whole spec back. Editing the JSON rather than a typed
//! copy keeps every field the daemon sent, including ones this CLI does not know.

use serde_json::{Map, Value};

/// The value at `path`, if every step exists.
pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(*key))
}

/// The string at `path`, or `""`.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or_default()
}

/// The unsigned integer at `path`, or 0.
pub fn u64_at(v: &Value, path: &[&str]) -> u64 {
    get(v, path).and_then(Value::as_u64).unwrap_or_default()
}

/// The integer at `path`, or 0.
pub fn i64_at(v: &Value, path: &[&str]) -> i64 {
    get(v, path).and_then(Value::as_i64).unwrap_or_default()
}

/// The boolean at `path`, or false.
pub fn bool_at(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool).unwrap_or_default()
}

/// A mutable object at `path`, creating empty objects (and replacing non-objects) on the way.
pub fn object_mut<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for key in path {
        cur = ensure_object(cur)
            .entry(key.to_string())
            .or_insert(Value::Null);
    }
    ensure_object(cur)
}

fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
        .expect("invariant: the value was just made an object")
}

/// Sets `path` to `value`, creating parent objects.
pub fn set(v: &mut Value, path: &[&str], value: Value) {
    if let Some((last, parents)) = path.split_last() {
        object_mut(v, parents).insert(last.to_string(), value);
    } else {
        *v = value;
    }
}

/// Removes the key at `path`, if present.
pub fn remove(v: &mut Value, path: &[&str]) {
    if let Some((last, parents)) = path.split_last()
        && let Some(Value::Object(map)) = parents
            .iter()
            .try_fold(&mut *v, |cur, key| cur.get_mut(*key))
    {
        map.remove(*last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_creates_parents_and_keeps_siblings() {
        let mut v = json!({"Spec": {"Name": "default", "Raft": null}});
        set(
            &mut v,
            &["Spec", "Orchestration", "TaskHistoryRetentionLimit"],
            json!(10),
        );
        set(&mut v, &["Spec", "Raft", "SnapshotInterval"], json!(5));
        assert_eq!(
            v,
            json!({"Spec": {"Name": "default", "Raft": {"SnapshotInterval": 5}, "Orchestration": {"TaskHistoryRetentionLimit": 10}}})
        );
        assert_eq!(u64_at(&v, &["Spec", "Raft", "SnapshotInterval"]), 5);
        assert_eq!(str_at(&v, &["Spec", "Name"]), "default");
        remove(&mut v, &["Spec", "Raft"]);
        assert!(get(&v, &["Spec", "Raft"]).is_none());
    }
}
