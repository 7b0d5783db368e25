//! Issuing and reading node certificates.

use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::UNIX_EPOCH;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

fn issue(role: Role) -> (RootCa, String) {
    let root = RootCa::generate(now()).expect("root");
    let key = NodeKey::generate().expect("key");
    let csr = key.csr_pem().expect("csr");
    let cert = root
        .sign_csr(
            &csr,
            "node1abc",
            role,
            "cluster9",
            DEFAULT_NODE_CERT_VALIDITY,
            now(),
        )
        .expect("sign");
    (root, cert)
}

#[test]
fn signed_cert_carries_identity_and_validity() {
    let (_, pem) = issue(Role::Manager);
    let info = CertInfo::parse(&pem).expect("parse");
    assert_eq!(info.node_id, "node1abc");
    assert_eq!(info.role, Role::Manager);
    assert_eq!(info.cluster_id, "cluster9");
    assert_eq!(info.not_before, now() - CERT_BACKDATE);
    assert_eq!(info.not_after, now() + DEFAULT_NODE_CERT_VALIDITY);
    let (_, worker) = issue(Role::Worker);
    assert_eq!(CertInfo::parse(&worker).expect("parse").role, Role::Worker);
}

#[test]
fn signed_cert_has_sans_and_ekus() {
    let (_, pem) = issue(Role::Worker);
    let der = first_cert_der("test", &pem).expect("der");
    let (_, cert) = X509Certificate::from_der(&der).expect("x509");
    let eku = cert.extended_key_usage().expect("eku").expect("eku").value;
    assert!(eku.server_auth && eku.client_auth);
    let san = cert
        .subject_alternative_name()
        .expect("san")
        .expect("san")
        .value;
    let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
    assert_eq!(names, ["DNSName(swarm-worker)", "DNSName(node1abc)"]);
    assert!(!cert.is_ca());
}

#[test]
fn csr_subject_and_extensions_are_ignored() {
    let root = RootCa::generate(now()).expect("root");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = CertificateParams::new(vec!["evil.example".to_owned()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "attacker");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 2, 3, 4, 5],
        vec![0x05, 0x00],
    )];
    let csr = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let pem = root
        .sign_csr(
            &csr,
            "n1",
            Role::Worker,
            "c1",
            MIN_NODE_CERT_VALIDITY,
            now(),
        )
        .expect("sign");
    let info = CertInfo::parse(&pem).expect("parse");
    assert_eq!(info.node_id, "n1");
    let der = first_cert_der("test", &pem).expect("der");
    assert!(!X509Certificate::from_der(&der).expect("x509").1.is_ca());
}

#[test]
fn tampered_csr_and_short_validity_are_rejected() {
    let root = RootCa::generate(now()).expect("root");
    let csr = NodeKey::generate().expect("key").csr_pem().expect("csr");
    let err = root
        .sign_csr(
            &csr,
            "n1",
            Role::Worker,
            "c1",
            Duration::from_secs(3599),
            now(),
        )
        .expect_err("too short");
    assert_eq!(
        err.to_string(),
        "minimum certificate expiry time is: 1h0m0s"
    );
    assert!(
        root.sign_csr(
            "garbage",
            "n1",
            Role::Worker,
            "c1",
            MIN_NODE_CERT_VALIDITY,
            now()
        )
        .is_err()
    );
    let mut der = CertificateSigningRequestDer::from_pem_slice(csr.as_bytes())
        .expect("der")
        .as_ref()
        .to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    use base64::Engine as _;
    let tampered = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let err = root
        .sign_csr(
            &tampered,
            "n1",
            Role::Worker,
            "c1",
            MIN_NODE_CERT_VALIDITY,
            now(),
        )
        .expect_err("tampered");
    assert!(err.to_string().starts_with("sign node CSR"), "{err}");
}

#[test]
fn cert_expiry_minimum_is_one_hour() {
    assert!(validate_cert_expiry(MIN_NODE_CERT_VALIDITY).is_ok());
    assert!(validate_cert_expiry(DEFAULT_NODE_CERT_VALIDITY).is_ok());
    assert_eq!(
        validate_cert_expiry(Duration::from_secs(60)),
        Err(CertExpiryError)
    );
}

#[test]
fn renewal_falls_between_half_and_eighty_percent() {
    let mut rng = StdRng::seed_from_u64(5);
    let nb = now();
    let na = nb + Duration::from_secs(1000);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let at = renewal_at(nb, na, &mut rng);
        let secs = at.duration_since(nb).expect("after").as_secs();
        assert!((500..800).contains(&secs), "{secs}");
        seen.insert(secs);
    }
    assert!(seen.len() > 50);
    assert_eq!(renewal_at(na, nb, &mut rng), na);
}
