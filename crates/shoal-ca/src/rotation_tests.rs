//! Cross-signing and chain verification during a root rotation.

use std::sync::Arc;
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;

use super::*;
use crate::node_cert::{DEFAULT_NODE_CERT_VALIDITY, NodeKey, Role};

fn leaf(ca: &RootCa, id: &str) -> String {
    let key = NodeKey::generate().expect("key");
    ca.sign_csr(
        &key.csr_pem().expect("csr"),
        id,
        Role::Manager,
        "cluster1",
        DEFAULT_NODE_CERT_VALIDITY,
        SystemTime::now(),
    )
    .expect("sign")
}

fn store(pems: &[&str]) -> Arc<RootCertStore> {
    let mut s = RootCertStore::empty();
    for pem in pems {
        for der in cert_ders("test", pem).expect("pem") {
            s.add(CertificateDer::from(der)).expect("add root");
        }
    }
    Arc::new(s)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies `chain_pem` as a manager server certificate against `roots`.
fn server_ok(chain_pem: &str, roots: &[&str]) -> bool {
    let v = WebPkiServerVerifier::builder_with_provider(store(roots), provider())
        .build()
        .expect("verifier");
    let chain: Vec<CertificateDer<'static>> = cert_ders("test", chain_pem)
        .expect("chain")
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let name = ServerName::try_from("swarm-manager").expect("name");
    v.verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
        .is_ok()
}

/// Verifies `chain_pem` as a client certificate against `roots` (the mTLS server side).
fn client_ok(chain_pem: &str, roots: &[&str]) -> bool {
    let v = WebPkiClientVerifier::builder_with_provider(store(roots), provider())
        .build()
        .expect("verifier");
    let chain: Vec<CertificateDer<'static>> = cert_ders("test", chain_pem)
        .expect("chain")
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    v.verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
        .is_ok()
}

struct Rotation {
    old: RootCa,
    new: RootCa,
    cross: String,
}

fn rotation() -> Rotation {
    let old = RootCa::generate(SystemTime::now()).expect("old root");
    let new = RootCa::generate(SystemTime::now()).expect("new root");
    let cross = old.cross_sign(new.cert_pem()).expect("cross-sign");
    Rotation { old, new, cross }
}

#[test]
fn the_cross_signed_intermediate_has_the_new_roots_subject_and_key_and_the_old_roots_signature() {
    let r = rotation();
    let der = first_cert_der("t", &r.cross).expect("der");
    let (_, cross) = X509Certificate::from_der(&der).expect("parse");
    let new_der = first_cert_der("t", r.new.cert_pem()).expect("der");
    let (_, new) = X509Certificate::from_der(&new_der).expect("parse");
    let old_der = first_cert_der("t", r.old.cert_pem()).expect("der");
    let (_, old) = X509Certificate::from_der(&old_der).expect("parse");
    assert!(cross.is_ca());
    assert_eq!(cross.subject().as_raw(), new.subject().as_raw());
    assert_eq!(cross.public_key().raw, new.public_key().raw);
    assert_eq!(cross.issuer().as_raw(), old.subject().as_raw());
    assert!(cross.verify_signature(Some(old.public_key())).is_ok());
    assert!(cross.verify_signature(Some(new.public_key())).is_err());
    assert_eq!(
        cross.validity().not_after.timestamp(),
        new.validity().not_after.timestamp()
    );
}

#[test]
fn a_new_key_certificate_with_the_intermediate_verifies_against_the_old_root_alone() {
    let r = rotation();
    let chain = with_intermediate(&leaf(&r.new, "n1"), Some(&r.cross));
    assert!(server_ok(&chain, &[r.old.cert_pem()]), "old root only");
    assert!(
        client_ok(&chain, &[r.old.cert_pem()]),
        "old root only, mTLS"
    );
    assert!(server_ok(&chain, &[r.new.cert_pem()]), "new root only");
    assert!(
        client_ok(&chain, &[r.new.cert_pem()]),
        "new root only, mTLS"
    );
    assert!(server_ok(&chain, &[r.old.cert_pem(), r.new.cert_pem()]));
    // Without the intermediate, an old-root-only peer cannot verify it.
    let bare = leaf(&r.new, "n2");
    assert!(!server_ok(&bare, &[r.old.cert_pem()]));
    assert!(server_ok(&bare, &[r.new.cert_pem()]));
    // Old certificates still verify while both roots are trusted, not after.
    let old_leaf = leaf(&r.old, "n3");
    assert!(client_ok(&old_leaf, &[r.old.cert_pem(), r.new.cert_pem()]));
    assert!(!client_ok(&old_leaf, &[r.new.cert_pem()]));
}

#[test]
fn an_unrelated_root_cannot_be_reached_through_the_intermediate() {
    let r = rotation();
    let stranger = RootCa::generate(SystemTime::now()).expect("root");
    let chain = with_intermediate(&leaf(&r.new, "n1"), Some(&r.cross));
    assert!(!server_ok(&chain, &[stranger.cert_pem()]));
}

#[test]
fn issuer_info_names_the_new_root_for_a_cross_signed_chain() {
    let r = rotation();
    let chain = with_intermediate(&leaf(&r.new, "n1"), Some(&r.cross));
    let want = IssuerInfo::of_ca(r.new.cert_pem()).expect("issuer");
    let got = IssuerInfo::of_leaf(&chain, r.old.cert_pem())
        .expect("of leaf")
        .expect("found");
    assert_eq!(got, want);
    assert_ne!(want, IssuerInfo::of_ca(r.old.cert_pem()).expect("old"));
    assert!(issued_by(&chain, r.new.cert_pem()).expect("check"));
    assert!(!issued_by(&chain, r.old.cert_pem()).expect("check"));
    let old_leaf = leaf(&r.old, "n2");
    assert!(issued_by(&old_leaf, r.old.cert_pem()).expect("check"));
    assert!(!issued_by(&old_leaf, r.new.cert_pem()).expect("check"));
    assert_eq!(
        IssuerInfo::of_leaf(&old_leaf, r.new.cert_pem()).expect("of leaf"),
        None
    );
}

#[test]
fn normalized_pem_is_stable_and_matches_rcgen_output() {
    let r = rotation();
    let n = normalize_pem(r.old.cert_pem()).expect("normalize");
    assert_eq!(n, r.old.cert_pem(), "rcgen already writes this spelling");
    let crlf = r.old.cert_pem().replace('\n', "\r\n");
    assert_eq!(normalize_pem(&crlf).expect("normalize"), n);
    let bundle = format!("{}{}", r.old.cert_pem(), r.new.cert_pem());
    assert_eq!(
        normalize_pem(&bundle).expect("normalize"),
        format!("{}{}", n, normalize_pem(r.new.cert_pem()).expect("n"))
    );
    assert!(normalize_pem("junk").is_err());
}

#[test]
fn cross_signing_refuses_a_leaf() {
    let r = rotation();
    assert!(r.old.cross_sign(&leaf(&r.new, "n1")).is_err());
}
