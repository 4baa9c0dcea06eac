//! tresor-crypto (placeholder until its owner fills it in).
