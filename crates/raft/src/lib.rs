//! tresor-raft (placeholder until its owner fills it in).
