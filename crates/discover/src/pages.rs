//! Following `NextToken` through the pages of an answer, with guards against a provider that
//! never stops paging.

use std::future::Future;
use std::net::IpAddr;

use crate::DiscoverError;
use crate::ec2_xml::InstancesPage;

/// Most pages followed in one discovery.
pub(crate) const MAX_PAGES: usize = 1000;

/// Fetches pages (`fetch(None)` first, then each page's token) until one has no token, and
/// returns the addresses of all pages, each once, in order.
pub(crate) async fn collect_pages<F, Fut>(mut fetch: F) -> Result<Vec<IpAddr>, DiscoverError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<InstancesPage, DiscoverError>>,
{
    let mut addrs: Vec<IpAddr> = Vec::new();
    let mut seen_tokens: Vec<String> = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let page = fetch(token.take()).await?;
        for a in page.addrs {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        match page.next_token {
            None => return Ok(addrs),
            Some(t) if seen_tokens.contains(&t) => {
                return Err(DiscoverError::malformed(
                    "the provider returned the same page token twice",
                ));
            }
            Some(t) => {
                seen_tokens.push(t.clone());
                token = Some(t);
            }
        }
    }
    Err(DiscoverError::malformed(format!(
        "more than {MAX_PAGES} pages of instances"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(addrs: &[&str], next: Option<&str>) -> InstancesPage {
        InstancesPage {
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            next_token: next.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn follows_tokens_until_the_last_page() {
        let mut asked = Vec::new();
        let got = collect_pages(|t| {
            asked.push(t.clone());
            let p = match t.as_deref() {
                None => page(&["10.0.0.1", "10.0.0.2"], Some("p2")),
                Some("p2") => page(&["10.0.0.2"], Some("p3")),
                Some("p3") => page(&["10.0.0.3"], None),
                Some(other) => panic!("unexpected token {other}"),
            };
            async move { Ok(p) }
        })
        .await
        .unwrap();
        assert_eq!(
            got,
            ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
                .iter()
                .map(|a| a.parse::<IpAddr>().unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(asked, vec![None, Some("p2".into()), Some("p3".into())]);
    }

    #[tokio::test]
    async fn a_failing_page_fails_the_discovery() {
        let e = collect_pages(|t| async move {
            match t {
                None => Ok(page(&["10.0.0.1"], Some("p2"))),
                Some(_) => Err(DiscoverError::Unavailable("gone".into())),
            }
        })
        .await
        .unwrap_err();
        assert!(matches!(e, DiscoverError::Unavailable(_)));
    }

    #[tokio::test]
    async fn a_repeating_token_is_refused() {
        let mut calls = 0;
        let e = collect_pages(|t| {
            calls += 1;
            let next = if t.is_none() { "a" } else { "b" };
            async move { Ok(page(&[], Some(next))) }
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("same page token"), "{e}");
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn endless_paging_is_cut_off() {
        let mut n = 0u64;
        let e = collect_pages(|_| {
            n += 1;
            let next = n.to_string();
            async move { Ok(page(&[], Some(&next))) }
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        assert_eq!(n, MAX_PAGES as u64);
    }
}
