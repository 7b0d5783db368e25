//! The alternative spellings compose accepts for one value, normalised while typing:
//! string-or-list, list-or-map (`K=V` entries or a mapping), shell commands, short-or-long
//! syntax lists, Go durations and go-units sizes.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::units::{format_duration, parse_duration, parse_ram_bytes, split_shell_words};

/// A Go duration in nanoseconds, written `10s`, `1m30s`, … and printed the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub i64);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(GoDuration)
            .map_err(de::Error::custom)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// A size in bytes, written as a number of bytes or `512M`, `1g`, …; printed as a quoted
/// string of bytes (`"536870912"`), as `docker stack config` prints it and as its schema
/// requires (`memory: 536870912` unquoted is refused by docker with "must be a string").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub i64);

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// For `serialize_with` where docker prints a size as a plain integer (`tmpfs.size`).
pub fn bytes_as_integer<S: Serializer>(size: &Option<ByteSize>, s: S) -> Result<S::Ok, S::Error> {
    match size {
        Some(b) => s.serialize_i64(b.0),
        None => s.serialize_none(),
    }
}

/// For `skip_serializing_if`: docker omits these booleans when false.
pub fn is_unset_or_false(b: &Option<bool>) -> bool {
    !b.unwrap_or(false)
}

/// For `skip_serializing_if`: docker omits a zero update delay or monitor period.
pub fn is_unset_or_zero_duration(d: &Option<GoDuration>) -> bool {
    d.is_none_or(|d| d.0 == 0)
}

/// For `skip_serializing_if`: docker omits a zero failure ratio.
pub fn is_unset_or_zero(f: &Option<f64>) -> bool {
    f.is_none_or(|f| f == 0.0)
}

/// For `skip_serializing_if`: docker omits an empty command or entrypoint.
pub fn is_unset_or_empty(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 512M or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                i64::try_from(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                Ok(ByteSize(v as i64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_ram_bytes(v).map(ByteSize).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Visits "a string or a list of strings" (and null), the shape of many compose keys.
struct StringsVisitor<F>(F, &'static str);

impl<'de, T, F: Fn(Vec<String>, bool) -> Result<T, String>> Visitor<'de> for StringsVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        (self.0)(Vec::new(), false).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(vec![v.to_string()], true).map_err(E::custom)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        (self.0)(items, false).map_err(de::Error::custom)
    }
}

/// `key: value` or `key: [a, b]` → a list.
pub fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringsVisitor(
        |v, _| Ok(v),
        "a string or a list of strings",
    ))
}

/// `command: "sh -c 'x'"` (split like a shell) or `command: [sh, -c, x]`; null is unset.
pub fn opt_command<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a command string or a list of strings")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            split_shell_words(v).map(Some).map_err(E::custom)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            StringsVisitor(|v, _| Ok(v), "").visit_seq(seq).map(Some)
        }
    }
    d.deserialize_any(V)
}

/// `healthcheck.test`: a string means `["CMD-SHELL", s]`, a list is taken as is.
pub fn health_test<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_any(StringsVisitor(
        |v: Vec<String>, was_string: bool| {
            if v.is_empty() && !was_string {
                return Ok(None);
            }
            Ok(Some(if was_string {
                let mut shell = vec!["CMD-SHELL".to_string()];
                shell.extend(v);
                shell
            } else {
                v
            }))
        },
        "a string or a list of strings",
    ))
}

/// Visits `[K=V, …]` or `{K: V, …}` into pairs; a list entry without `=` or a null map
/// value gives `None`.
struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<(String, Option<String>)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of KEY=VALUE strings or a mapping")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            match item.split_once('=') {
                Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                None => out.push((item, None)),
            }
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, MapScalar>()? {
            out.push((k, v.0));
        }
        Ok(out)
    }
}

/// A value of a `KEY: value` mapping (`environment`, `labels`, …): the schema allows a string,
/// a number or null, and refuses a boolean, which would otherwise reach the container as the
/// text `true`.
struct MapScalar(Option<String>);

impl<'de> Deserialize<'de> for MapScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MapScalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<MapScalar, E> {
                Ok(MapScalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<MapScalar, E> {
                Ok(MapScalar(None))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MapScalar, E> {
                Err(E::custom(format!(
                    "must be a string, number or null, found the boolean {v} (quote it)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MapScalar, E> {
                Ok(MapScalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MapScalar, E> {
                Ok(MapScalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MapScalar, E> {
                Ok(MapScalar(Some(v.to_string())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MapScalar, E> {
                Ok(MapScalar(Some(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// `environment`: list or map; a bare `KEY` (or `KEY:` with null) is `None`, resolved later
/// from the environment.
pub fn env_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    Ok(d.deserialize_any(PairsVisitor)?.into_iter().collect())
}

/// `labels`, `sysctls`, `deploy.labels`, …: list or map; a missing value is `""`.
pub fn label_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(d.deserialize_any(PairsVisitor)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// `extra_hosts`: `["host:ip"]` or `{host: ip}`, normalised to `host:ip` strings.
pub fn extra_hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of host:ip strings or a mapping of host to ip")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            StringsVisitor(|v, _| Ok(v), "").visit_seq(seq)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = BTreeMap::new();
            while let Some((host, ip)) = map.next_entry::<String, String>()? {
                pairs.insert(host, ip);
            }
            // docker prints (and applies) a mapping's hosts sorted by name.
            Ok(pairs
                .into_iter()
                .map(|(host, ip)| format!("{host}:{ip}"))
                .collect())
        }
    }
    d.deserialize_any(V)
}

/// `external: true`. The legacy `external: {name: x}` form is refused with a hint.
pub fn external_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<bool, A::Error> {
            Err(de::Error::custom(
                "external: {name: …} is no longer supported; use `external: true` and `name: …`",
            ))
        }
    }
    d.deserialize_bool(V)
}

/// An item that has a short string syntax besides its long mapping syntax.
pub trait ShortSyntax: Sized {
    /// Parses the short syntax; one string may stand for several items (port ranges).
    fn from_short(text: &str) -> Result<Vec<Self>, String>;
}

/// A list whose items are short strings or long mappings (`ports`, `volumes`, `secrets`).
pub fn short_or_long_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: ShortSyntax + Deserialize<'de>,
{
    let items: Option<Vec<ShortOrLong<T>>> = Option::deserialize(d)?;
    Ok(items.into_iter().flatten().flat_map(|i| i.0).collect())
}

struct ShortOrLong<T>(Vec<T>);

impl<'de, T: ShortSyntax + Deserialize<'de>> Deserialize<'de> for ShortOrLong<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: ShortSyntax + Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ShortOrLong<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (short syntax) or a mapping (long syntax)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::from_short(v).map(ShortOrLong).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| ShortOrLong(vec![t]))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// For `skip_serializing_if` on plain booleans.
pub fn is_false(b: &bool) -> bool {
    !*b
}
