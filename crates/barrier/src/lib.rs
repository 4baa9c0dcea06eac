//! tresor-barrier (placeholder until its owner fills it in).
