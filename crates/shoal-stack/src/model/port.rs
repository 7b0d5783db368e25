//! `ports:` entries: the short syntax `[ip:][published:]target[/protocol]` with optional
//! ranges (`8080-8081:80-81`), and the long syntax `{target, published, protocol, mode}`.

use serde::{Deserialize, Serialize};

use super::syntax::ShortSyntax;

/// One published port, in the long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// `ingress` (routing mesh) or `host`; the short syntax sets `ingress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub target: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u32>,
    /// `tcp`, `udp` or `sctp`; the short syntax sets `tcp` unless it says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

fn parse_range(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("invalid port {text:?}");
    let (start, end) = text.split_once('-').unwrap_or((text, text));
    let start: u16 = start.parse().map_err(|_| bad())?;
    let end: u16 = end.parse().map_err(|_| bad())?;
    if end < start {
        return Err(format!("invalid port range {text:?}"));
    }
    Ok((u32::from(start), u32::from(end)))
}

impl ShortSyntax for ServicePort {
    fn from_short(spec: &str) -> Result<Vec<Self>, String> {
        let (rest, protocol) = match spec.rsplit_once('/') {
            Some((r, p)) => (r, p.to_ascii_lowercase()),
            None => (spec, "tcp".to_string()),
        };
        // The host IP (IPv6 in brackets) only matters to `docker run`; Swarm ignores it.
        let parts: Vec<&str> = match rest.rsplit_once(':') {
            None => vec![rest],
            Some((front, target)) => match front.rsplit_once(':') {
                None if front.starts_with('[') => vec!["", target],
                None => vec![front, target],
                Some((_ip, published)) => vec![published, target],
            },
        };
        let (published, target) = match parts.as_slice() {
            [target] => ("", *target),
            [published, target] => (*published, *target),
            _ => return Err(format!("invalid port {spec:?}")),
        };
        let (t_start, t_end) = parse_range(target)?;
        let published = if published.is_empty() {
            None
        } else {
            Some(parse_range(published)?)
        };
        if let Some((p_start, p_end)) = published
            && p_end - p_start != t_end - t_start
        {
            return Err(format!(
                "invalid port {spec:?}: published and target ranges differ in size"
            ));
        }
        Ok((0..=t_end - t_start)
            .map(|i| ServicePort {
                mode: Some("ingress".to_string()),
                target: t_start + i,
                published: published.map(|(p, _)| p + i),
                protocol: Some(protocol.clone()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(published: Option<u32>, target: u32, protocol: &str) -> ServicePort {
        ServicePort {
            mode: Some("ingress".into()),
            target,
            published,
            protocol: Some(protocol.into()),
        }
    }

    #[test]
    fn short_syntax_forms() {
        assert_eq!(
            ServicePort::from_short("80").unwrap(),
            vec![port(None, 80, "tcp")]
        );
        assert_eq!(
            ServicePort::from_short("8080:80/udp").unwrap(),
            vec![port(Some(8080), 80, "udp")]
        );
        assert_eq!(
            ServicePort::from_short("127.0.0.1:8080:80").unwrap(),
            vec![port(Some(8080), 80, "tcp")]
        );
        assert_eq!(
            ServicePort::from_short("9090-9091:8080-8081").unwrap(),
            vec![port(Some(9090), 8080, "tcp"), port(Some(9091), 8081, "tcp")]
        );
        assert_eq!(ServicePort::from_short("3000-3001").unwrap().len(), 2);
        assert!(ServicePort::from_short("8080:80-81").is_err());
        assert!(ServicePort::from_short("http").is_err());
    }
}
