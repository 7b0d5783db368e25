//! Root CA, node certificates, join tokens, unlock keys, rustls configs.
