//! Leases under the barrier: one JSON entry per lease at `id/<lease id>` of a storage view
//! (the core gives the manager `sys/expire/`).

use tresor_storage::{Backend, View, list_recursive};

use crate::entry::LeaseEntry;
use crate::error::ExpirationError;

/// The stored leases.
#[derive(Clone)]
pub struct LeaseStore {
    view: View,
}

const ID: &str = "id/";

impl LeaseStore {
    /// Leases kept in `view`.
    pub fn new(view: View) -> Self {
        Self { view }
    }

    /// The lease `id`, if stored.
    pub async fn get(&self, id: &str) -> Result<Option<LeaseEntry>, ExpirationError> {
        match self.view.get(&format!("{ID}{id}")).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| {
                ExpirationError::Corrupt {
                    id: id.to_owned(),
                    source,
                }
            }),
        }
    }

    /// Stores `e`.
    pub async fn put(&self, e: &LeaseEntry) -> Result<(), ExpirationError> {
        let bytes = serde_json::to_vec(e).map_err(|source| ExpirationError::Corrupt {
            id: e.lease_id.clone(),
            source,
        })?;
        self.view.put(&format!("{ID}{}", e.lease_id), bytes).await?;
        Ok(())
    }

    /// Deletes the lease `id`.
    pub async fn delete(&self, id: &str) -> Result<(), ExpirationError> {
        self.view.delete(&format!("{ID}{id}")).await?;
        Ok(())
    }

    /// The children of `prefix` one level down (`creds/` for a directory), as a LIST shows.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, ExpirationError> {
        Ok(self.view.list(&format!("{ID}{prefix}")).await?)
    }

    /// Every lease id starting with `prefix` (a directory prefix ends with `/`).
    pub async fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ExpirationError> {
        // List the directory the prefix is in, then keep what starts with the prefix's tail.
        let (dir, tail) = match prefix.rfind('/') {
            Some(i) => prefix.split_at(i + 1),
            None => ("", prefix),
        };
        let mut out = Vec::new();
        for child in self.view.list(&format!("{ID}{dir}")).await? {
            if !child.starts_with(tail) {
                continue;
            }
            let full = format!("{dir}{child}");
            if child.ends_with('/') {
                let below = list_recursive(&self.view, &format!("{ID}{full}")).await?;
                out.extend(
                    below
                        .into_iter()
                        .filter_map(|k| k.strip_prefix(ID).map(str::to_owned)),
                );
            } else {
                out.push(full);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every stored lease id.
    pub async fn all_ids(&self) -> Result<Vec<String>, ExpirationError> {
        self.ids_with_prefix("").await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn lease(id: &str) -> LeaseEntry {
        LeaseEntry {
            lease_id: id.into(),
            path: String::new(),
            mount_point: String::new(),
            mount_accessor: String::new(),
            issue_time: 0,
            expire_time: 0,
            last_renewal_time: None,
            max_expire_time: 0,
            renewable: false,
            internal: Default::default(),
            revoke_attempts: 0,
            next_attempt: 0,
            irrevocable: false,
            revoke_error: None,
        }
    }

    #[tokio::test]
    async fn prefixes_select_whole_subtrees_and_partial_names() {
        let s = LeaseStore::new(View::new(
            Arc::new(tresor_storage::InMemBackend::new()),
            "sys/expire/",
        ));
        for id in [
            "db/creds/app/a1",
            "db/creds/app/a2",
            "db/creds/apple/b1",
            "db/creds/other/c1",
            "kv/x/d1",
        ] {
            s.put(&lease(id)).await.expect("put");
        }
        assert_eq!(
            s.ids_with_prefix("db/creds/app/").await.expect("ids"),
            vec!["db/creds/app/a1", "db/creds/app/a2"]
        );
        assert_eq!(
            s.ids_with_prefix("db/creds/app").await.expect("ids").len(),
            3
        );
        assert_eq!(
            s.ids_with_prefix("db/creds/app/a1").await.expect("ids"),
            vec!["db/creds/app/a1"]
        );
        assert_eq!(s.all_ids().await.expect("all").len(), 5);
        assert_eq!(
            s.list("db/creds/").await.expect("list"),
            vec!["app/", "apple/", "other/"]
        );
        s.delete("kv/x/d1").await.expect("delete");
        assert!(s.get("kv/x/d1").await.expect("get").is_none());
        assert_eq!(
            s.get("db/creds/app/a1")
                .await
                .expect("get")
                .expect("some")
                .lease_id,
            "db/creds/app/a1"
        );
    }
}
