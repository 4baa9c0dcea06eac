//! tresor-token (placeholder until its owner fills it in).
