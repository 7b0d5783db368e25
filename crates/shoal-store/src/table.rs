//! One table: objects by id, plus a unique name index and secondary indexes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a table needs from its objects.
pub trait Indexed: Clone {
    fn id(&self) -> &str;
    /// Unique name, for kinds whose names are unique.
    fn unique_name(&self) -> Option<&str> {
        None
    }
    /// Secondary index entries `(index, key)`, e.g. `("service", <service id>)` for a task.
    fn secondary(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Objects of one kind.
#[derive(Debug, Clone)]
pub struct Table<T> {
    by_id: BTreeMap<String, T>,
    by_name: HashMap<String, String>,
    secondary: HashMap<(&'static str, String), BTreeSet<String>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            by_id: BTreeMap::new(),
            by_name: HashMap::new(),
            secondary: HashMap::new(),
        }
    }
}

impl<T: Indexed> Table<T> {
    pub fn get(&self, id: &str) -> Option<&T> {
        self.by_id.get(id)
    }

    pub fn by_name(&self, name: &str) -> Option<&T> {
        self.by_name.get(name).and_then(|id| self.by_id.get(id))
    }

    /// Objects whose secondary index `index` has `key`, in id order.
    pub fn find(&self, index: &'static str, key: &str) -> Vec<&T> {
        self.secondary
            .get(&(index, key.to_string()))
            .map(|ids| ids.iter().filter_map(|id| self.by_id.get(id)).collect())
            .unwrap_or_default()
    }

    /// Objects whose id starts with `prefix`.
    pub fn with_prefix(&self, prefix: &str) -> Vec<&T> {
        self.by_id
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The id holding `name`, if any.
    pub fn name_owner(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(String::as_str)
    }

    /// Inserts or replaces, keeping the indexes right. Callers check constraints first.
    pub fn put(&mut self, obj: T) -> Option<T> {
        // Most updates (a task's status, a node's heartbeat state) keep every index key: replace
        // in place rather than unindex and reindex.
        if let Some(existing) = self.by_id.get_mut(obj.id())
            && existing.unique_name() == obj.unique_name()
            && existing.secondary() == obj.secondary()
        {
            return Some(std::mem::replace(existing, obj));
        }
        let old = self.remove(obj.id());
        if let Some(name) = obj.unique_name() {
            self.by_name.insert(name.to_string(), obj.id().to_string());
        }
        for key in obj.secondary() {
            self.secondary
                .entry(key)
                .or_default()
                .insert(obj.id().to_string());
        }
        self.by_id.insert(obj.id().to_string(), obj);
        old
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        let old = self.by_id.remove(id)?;
        if let Some(name) = old.unique_name()
            && self.by_name.get(name).map(String::as_str) == Some(id)
        {
            self.by_name.remove(name);
        }
        for key in old.secondary() {
            if let Some(set) = self.secondary.get_mut(&key) {
                set.remove(id);
                if set.is_empty() {
                    self.secondary.remove(&key);
                }
            }
        }
        Some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Item {
        id: String,
        name: String,
        group: String,
        value: u32,
    }

    impl Indexed for Item {
        fn id(&self) -> &str {
            &self.id
        }
        fn unique_name(&self) -> Option<&str> {
            Some(&self.name)
        }
        fn secondary(&self) -> Vec<(&'static str, String)> {
            vec![("group", self.group.clone())]
        }
    }

    fn item(id: &str, name: &str, group: &str, value: u32) -> Item {
        Item {
            id: id.into(),
            name: name.into(),
            group: group.into(),
            value,
        }
    }

    fn ids(found: Vec<&Item>) -> Vec<&str> {
        found.into_iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn replacing_with_the_same_keys_and_with_new_keys_keeps_indexes_right() {
        let mut t = Table::default();
        t.put(item("a", "alpha", "g1", 1));
        t.put(item("b", "beta", "g1", 1));
        let old = t.put(item("a", "alpha", "g1", 2));
        assert_eq!(old.map(|o| o.value), Some(1));
        assert_eq!(t.get("a").map(|i| i.value), Some(2));
        assert_eq!(ids(t.find("group", "g1")), ["a", "b"]);

        t.put(item("a", "alpha2", "g2", 3));
        assert_eq!(ids(t.find("group", "g1")), ["b"]);
        assert_eq!(ids(t.find("group", "g2")), ["a"]);
        assert!(t.by_name("alpha").is_none());
        assert_eq!(t.by_name("alpha2").map(|i| i.value), Some(3));
        assert_eq!(t.len(), 2);
    }
}
