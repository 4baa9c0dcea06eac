//! tresor-http (placeholder until its owner fills it in).
