//! tresor-core (placeholder until its owner fills it in).
