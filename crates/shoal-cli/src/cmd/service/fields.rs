//! Parsers for the structured values of service flags: `--publish`, `--mount`,
//! `--secret`/`--config` and `--network`.

use shoal_types::api::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, Mount,
    MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig,
};
use std::collections::HashMap;
use std::str::FromStr;

/// `-p 8080:80`, `-p 80`, `-p 8080:80/udp`, `-p 8000-8001:80-81` or the long form
/// `published=8080,target=80,protocol=udp,mode=host`.
pub fn ports(value: &str) -> Result<Vec<EndpointPortConfig>, String> {
    let long = value.split(',').all(|f| {
        f.split_once('=')
            .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
    });
    if long {
        let mut p = EndpointPortConfig {
            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::INGRESS),
            ..Default::default()
        };
        for field in value.split(',') {
            let lower = field.to_lowercase();
            let (k, v) = lower
                .split_once('=')
                .ok_or_else(|| format!("invalid field: {field}"))?;
            match k {
                "protocol" => {
                    p.protocol = Some(match v {
                        "tcp" => EndpointPortConfigProtocolEnum::TCP,
                        "udp" => EndpointPortConfigProtocolEnum::UDP,
                        "sctp" => EndpointPortConfigProtocolEnum::SCTP,
                        _ => return Err(format!("invalid protocol value '{v}'")),
                    })
                }
                "mode" => {
                    p.publish_mode = Some(match v {
                        "ingress" => EndpointPortConfigPublishModeEnum::INGRESS,
                        "host" => EndpointPortConfigPublishModeEnum::HOST,
                        _ => {
                            return Err(format!(
                                "invalid publish mode value ({v}): must be either 'ingress' or 'host'"
                            ));
                        }
                    })
                }
                "target" => p.target_port = Some(port_number(v, "target")?),
                "published" => p.published_port = Some(port_number(v, "published")?),
                _ => return Err(format!("invalid field key: {k}")),
            }
        }
        if p.target_port.unwrap_or(0) == 0 {
            return Err("missing mandatory field 'target'".to_string());
        }
        return Ok(vec![p]);
    }
    let (spec, proto) = match value.rsplit_once('/') {
        Some((s, p)) => (s, p.to_lowercase()),
        None => (value, "tcp".to_string()),
    };
    let protocol = match proto.as_str() {
        "tcp" => EndpointPortConfigProtocolEnum::TCP,
        "udp" => EndpointPortConfigProtocolEnum::UDP,
        "sctp" => EndpointPortConfigProtocolEnum::SCTP,
        _ => return Err(format!("invalid proto: {proto}")),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (published, target) = match parts.as_slice() {
        [t] => ("", *t),
        [p, t] => (*p, *t),
        [ip, _, _] if !ip.is_empty() => return Err("hostip is not supported".to_string()),
        [_, p, t] => (*p, *t),
        _ => return Err(format!("invalid port format: {value}")),
    };
    let targets = port_range(target, value)?;
    let publisheds = if published.is_empty() {
        vec![0; targets.len()]
    } else {
        port_range(published, value)?
    };
    if publisheds.len() != targets.len() {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {target} and {published}"
        ));
    }
    Ok(targets
        .into_iter()
        .zip(publisheds)
        .map(|(t, p)| EndpointPortConfig {
            protocol: Some(protocol),
            target_port: Some(t),
            published_port: Some(p),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::INGRESS),
            ..Default::default()
        })
        .collect())
}

fn port_number(v: &str, what: &str) -> Result<i64, String> {
    v.parse::<u16>()
        .map(i64::from)
        .map_err(|_| format!("invalid {what} port ({v}): value must be an integer"))
}

fn port_range(s: &str, whole: &str) -> Result<Vec<i64>, String> {
    let bad = || format!("invalid port: {whole}");
    match s.split_once('-') {
        Some((a, b)) => {
            let a: u16 = a.parse().map_err(|_| bad())?;
            let b: u16 = b.parse().map_err(|_| bad())?;
            if b < a {
                return Err(bad());
            }
            Ok((a..=b).map(i64::from).collect())
        }
        None => Ok(vec![i64::from(s.parse::<u16>().map_err(|_| bad())?)]),
    }
}

/// `--mount type=bind,source=/a,target=/b,readonly` (default type `volume`).
pub fn mount(value: &str) -> Result<Mount, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("value is empty".to_string());
    }
    let mut m = Mount {
        typ: Some(MountType::VOLUME),
        ..Default::default()
    };
    for field in value.split(',') {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        if val.is_none()
            && !matches!(
                key.as_str(),
                "readonly" | "ro" | "volume-nocopy" | "bind-create-src"
            )
        {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        }
        let v = val.unwrap_or_default();
        match key.as_str() {
            "type" => {
                m.typ = Some(
                    MountType::from_str(&v.to_lowercase())
                        .map_err(|_| format!("invalid mount type: {v}"))?,
                )
            }
            "source" | "src" => m.source = Some(v.to_string()),
            "target" | "dst" | "destination" => m.target = Some(v.to_string()),
            "readonly" | "ro" => m.read_only = Some(bool_value(&key, val)?),
            "consistency" => m.consistency = Some(v.to_lowercase()),
            "bind-propagation" => {
                let p = MountBindOptionsPropagationEnum::from_str(&v.to_lowercase())
                    .map_err(|_| format!("invalid value for {key}: {v}"))?;
                m.bind_options
                    .get_or_insert_with(MountBindOptions::default)
                    .propagation = Some(p);
            }
            "bind-create-src" => {
                m.bind_options
                    .get_or_insert_with(MountBindOptions::default)
                    .create_mountpoint = Some(bool_value(&key, val)?)
            }
            "volume-nocopy" => {
                m.volume_options
                    .get_or_insert_with(MountVolumeOptions::default)
                    .no_copy = Some(bool_value(&key, val)?)
            }
            "volume-subpath" => {
                m.volume_options
                    .get_or_insert_with(MountVolumeOptions::default)
                    .subpath = Some(v.to_string())
            }
            "volume-label" => {
                let (k, lv) = crate::parse::key_value(v);
                let opts = m
                    .volume_options
                    .get_or_insert_with(MountVolumeOptions::default);
                opts.labels.get_or_insert_with(HashMap::new).insert(k, lv);
            }
            "volume-driver" => {
                let opts = m
                    .volume_options
                    .get_or_insert_with(MountVolumeOptions::default);
                opts.driver_config
                    .get_or_insert_with(MountVolumeOptionsDriverConfig::default)
                    .name = Some(v.to_string());
            }
            "volume-opt" => {
                let (k, ov) = crate::parse::key_value(v);
                let opts = m
                    .volume_options
                    .get_or_insert_with(MountVolumeOptions::default);
                let driver = opts
                    .driver_config
                    .get_or_insert_with(MountVolumeOptionsDriverConfig::default);
                driver
                    .options
                    .get_or_insert_with(HashMap::new)
                    .insert(k, ov);
            }
            "tmpfs-size" => {
                let size = crate::parse::ram_in_bytes(v)
                    .map_err(|_| format!("invalid value for {key}: {v}"))?;
                m.tmpfs_options
                    .get_or_insert_with(MountTmpfsOptions::default)
                    .size_bytes = Some(size);
            }
            "tmpfs-mode" => {
                let mode = i64::from_str_radix(v, 8)
                    .map_err(|_| format!("invalid value for {key}: {v}"))?;
                m.tmpfs_options
                    .get_or_insert_with(MountTmpfsOptions::default)
                    .mode = Some(mode);
            }
            _ => return Err(format!("unknown option '{key}' in '{field}'")),
        }
    }
    if m.target.as_deref().unwrap_or_default().is_empty() {
        return Err("target is required".to_string());
    }
    if m.typ == Some(MountType::BIND) && m.source.as_deref().unwrap_or_default().is_empty() {
        return Err("source is required when specifying bind mounts".to_string());
    }
    Ok(m)
}

fn bool_value(key: &str, val: Option<&str>) -> Result<bool, String> {
    match val.map(str::to_lowercase).as_deref() {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(v) => Err(format!(
            "invalid value for '{key}': invalid boolean value (\"{v}\"): must be one of \"true\", \"1\", \"false\", or \"0\" (default \"true\")"
        )),
    }
}

/// A `--secret`/`--config` reference before its ID is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub source: String,
    pub target: String,
    pub uid: String,
    pub gid: String,
    pub mode: u32,
}

/// `name` or `source=name,target=path,uid=0,gid=0,mode=0400` (docker's `SecretOpt`).
pub fn file_ref(value: &str) -> Result<FileRef, String> {
    let mut r = FileRef {
        source: String::new(),
        target: String::new(),
        uid: "0".into(),
        gid: "0".into(),
        mode: 0o444,
    };
    if !value.contains('=') {
        r.source = value.to_string();
        r.target = value.to_string();
        return Ok(r);
    }
    for field in value.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.to_lowercase().as_str() {
            "source" | "src" => r.source = v.to_string(),
            "target" => r.target = v.to_string(),
            "uid" => r.uid = v.to_string(),
            "gid" => r.gid = v.to_string(),
            "mode" => {
                r.mode =
                    u32::from_str_radix(v, 8).map_err(|_| format!("invalid mode specified: {v}"))?
            }
            _ => return Err(format!("invalid field in secret request: {k}")),
        }
    }
    if r.source.is_empty() {
        return Err("source is required".to_string());
    }
    if r.target.is_empty() {
        r.target = r.source.clone();
    }
    Ok(r)
}

/// A `--network` value: a name, or `name=x,alias=y,driver-opt=k=v`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkRef {
    pub target: String,
    pub aliases: Vec<String>,
    pub driver_opts: HashMap<String, String>,
}

pub fn network(value: &str) -> Result<NetworkRef, String> {
    let mut n = NetworkRef::default();
    if !value.contains('=') {
        n.target = value.to_string();
        return Ok(n);
    }
    for field in value.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.to_lowercase().as_str() {
            "name" => n.target = v.to_string(),
            "alias" => n.aliases.push(v.to_string()),
            "driver-opt" => {
                let (dk, dv) = crate::parse::key_value(v);
                n.driver_opts.insert(dk, dv);
            }
            _ => return Err(format!("invalid field key {k}")),
        }
    }
    if n.target.is_empty() {
        return Err("network name/id is not specified".to_string());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_port_syntax() {
        let p = ports("8080:80").expect("valid");
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].published_port, p[0].target_port),
            (Some(8080), Some(80))
        );
        assert_eq!(p[0].protocol, Some(EndpointPortConfigProtocolEnum::TCP));
        let p = ports("53:53/udp").expect("valid");
        assert_eq!(p[0].protocol, Some(EndpointPortConfigProtocolEnum::UDP));
        let p = ports("80").expect("valid");
        assert_eq!(p[0].published_port, Some(0));
        assert_eq!(ports("8000-8001:80-81").expect("valid").len(), 2);
        let p = ports("published=8080,target=80,mode=host").expect("valid");
        assert_eq!(
            p[0].publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert!(ports("published=8080").is_err());
        assert!(ports("1.2.3.4:80:80").is_err());
    }

    #[test]
    fn mounts_parse_like_docker() {
        let m = mount("type=bind,source=/data,target=/srv,readonly").expect("valid");
        assert_eq!(m.typ, Some(MountType::BIND));
        assert_eq!(m.read_only, Some(true));
        let m = mount("src=vol,dst=/v").expect("valid");
        assert_eq!(m.typ, Some(MountType::VOLUME));
        assert!(mount("type=bind,target=/x").is_err());
        assert!(mount("source=a").is_err());
        assert!(mount("bogus=1,target=/a").is_err());
    }

    #[test]
    fn secret_references_default_like_docker() {
        assert_eq!(
            file_ref("db").expect("valid"),
            FileRef {
                source: "db".into(),
                target: "db".into(),
                uid: "0".into(),
                gid: "0".into(),
                mode: 0o444
            }
        );
        let r = file_ref("source=db,target=pw,mode=0400").expect("valid");
        assert_eq!((r.target.as_str(), r.mode), ("pw", 0o400));
    }
}
