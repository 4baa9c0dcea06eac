//! tresor-seal (placeholder until its owner fills it in).
