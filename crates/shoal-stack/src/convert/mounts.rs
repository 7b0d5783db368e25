//! Service `volumes:` and `tmpfs:` → container mounts (docker/cli `convert/volume.go`).
//!
//! A named volume's source becomes `<stack>_<name>` (or the volume's `name:`), with the
//! stack label and driver of its top-level definition unless it is external; an anonymous
//! volume keeps no source; bind sources were made absolute when loading. `tmpfs:` entries
//! (`/run` or `/run:size=64m,mode=1777`) become tmpfs mounts; options other than `size`,
//! `mode` and `ro` are ignored (API 1.44 has no tmpfs flags).

use shoal_types::api::{
    Mount, MountBindOptions, MountTmpfsOptions, MountType, MountVolumeOptions,
    MountVolumeOptionsDriverConfig,
};

use super::{scoped, with_stack_label};
use crate::error::ConvertError;
use crate::model::{Compose, ServiceVolume};
use crate::units::parse_ram_bytes;

pub(super) fn convert_mounts(
    stack: &str,
    service: &str,
    volumes: &[ServiceVolume],
    tmpfs: &[String],
    project: &Compose,
) -> Result<Vec<Mount>, ConvertError> {
    let mut out = Vec::new();
    for v in volumes {
        out.push(convert_volume(stack, service, v, project)?);
    }
    for spec in tmpfs {
        out.push(convert_tmpfs_entry(service, spec)?);
    }
    Ok(out)
}

fn invalid(service: &str, target: &str, message: &str) -> ConvertError {
    ConvertError::InvalidMount {
        service: service.to_string(),
        target: target.to_string(),
        message: message.to_string(),
    }
}

fn base_mount(v: &ServiceVolume, kind: MountType) -> Mount {
    Mount {
        typ: Some(kind),
        target: Some(v.target.clone()),
        source: v.source.clone(),
        read_only: v.read_only.then_some(true),
        consistency: v.consistency.clone(),
        ..Mount::default()
    }
}

fn convert_volume(
    stack: &str,
    service: &str,
    v: &ServiceVolume,
    project: &Compose,
) -> Result<Mount, ConvertError> {
    let t = v.target.as_str();
    match v.kind.as_str() {
        "volume" => {
            if v.tmpfs.is_some() || v.bind.is_some() {
                return Err(invalid(
                    service,
                    t,
                    "bind and tmpfs options are incompatible with type volume",
                ));
            }
            let mut mount = base_mount(v, MountType::VOLUME);
            let Some(source) = &v.source else {
                return Ok(mount);
            };
            let def = project
                .volumes
                .get(source)
                .ok_or_else(|| ConvertError::UndefinedVolume {
                    service: service.to_string(),
                    volume: source.clone(),
                })?;
            mount.source = Some(def.name.clone().unwrap_or_else(|| scoped(stack, source)));
            let mut options = MountVolumeOptions::default();
            if let Some(vo) = &v.volume {
                options.no_copy = vo.nocopy.then_some(true);
                options.subpath = vo.subpath.clone();
            }
            if !def.external {
                options.labels = Some(with_stack_label(stack, &def.labels));
                if def.driver.is_some() || !def.driver_opts.is_empty() {
                    options.driver_config = Some(MountVolumeOptionsDriverConfig {
                        name: def.driver.clone(),
                        options: (!def.driver_opts.is_empty())
                            .then(|| def.driver_opts.clone().into_iter().collect()),
                    });
                }
            }
            mount.volume_options = Some(options);
            Ok(mount)
        }
        "bind" => {
            if v.source.as_deref().unwrap_or("").is_empty() {
                return Err(invalid(
                    service,
                    t,
                    "invalid bind source, source cannot be empty",
                ));
            }
            if v.volume.is_some() || v.tmpfs.is_some() {
                return Err(invalid(
                    service,
                    t,
                    "volume and tmpfs options are incompatible with type bind",
                ));
            }
            let mut mount = base_mount(v, MountType::BIND);
            if let Some(bind) = &v.bind {
                let propagation = match &bind.propagation {
                    Some(p) => Some(p.parse().map_err(|_| {
                        invalid(service, t, &format!("invalid bind propagation {p:?}"))
                    })?),
                    None => None,
                };
                mount.bind_options = Some(MountBindOptions {
                    propagation,
                    ..MountBindOptions::default()
                });
            }
            Ok(mount)
        }
        "tmpfs" => {
            if v.source.is_some() {
                return Err(invalid(
                    service,
                    t,
                    "invalid tmpfs source, source must be empty",
                ));
            }
            if v.volume.is_some() || v.bind.is_some() {
                return Err(invalid(
                    service,
                    t,
                    "volume and bind options are incompatible with type tmpfs",
                ));
            }
            let mut mount = base_mount(v, MountType::TMPFS);
            if let Some(opts) = &v.tmpfs {
                mount.tmpfs_options = Some(MountTmpfsOptions {
                    size_bytes: opts.size.map(|s| s.0),
                    mode: opts.mode.map(i64::from),
                    options: None,
                });
            }
            Ok(mount)
        }
        other => Err(invalid(
            service,
            t,
            &format!("volume type must be volume, bind or tmpfs, not {other:?}"),
        )),
    }
}

fn convert_tmpfs_entry(service: &str, spec: &str) -> Result<Mount, ConvertError> {
    let (target, options) = spec.split_once(':').unwrap_or((spec, ""));
    let mut tmpfs = MountTmpfsOptions::default();
    let mut read_only = None;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", size)) => {
                tmpfs.size_bytes =
                    Some(parse_ram_bytes(size).map_err(|e| invalid(service, target, &e))?);
            }
            Some(("mode", mode)) => {
                tmpfs.mode = Some(i64::from_str_radix(mode, 8).map_err(|_| {
                    invalid(service, target, &format!("invalid tmpfs mode {mode:?}"))
                })?);
            }
            None if option == "ro" => read_only = Some(true),
            _ => {}
        }
    }
    let has_options = tmpfs.size_bytes.is_some() || tmpfs.mode.is_some();
    Ok(Mount {
        typ: Some(MountType::TMPFS),
        target: Some(target.to_string()),
        read_only,
        tmpfs_options: has_options.then_some(tmpfs),
        ..Mount::default()
    })
}
