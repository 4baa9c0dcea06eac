//! Reading EC2 Query API answers: `DescribeInstancesResponse` pages and `<Response><Errors>`
//! error bodies. Pure; built on the `xmlparser` tokenizer with a path stack.

use std::net::IpAddr;

use xmlparser::{ElementEnd, Token, Tokenizer};

use crate::DiscoverError;
use crate::aws_spec::AddrType;

/// What one `DescribeInstances` page says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct InstancesPage {
    /// Addresses of the running instances on this page, in document order.
    pub(crate) addrs: Vec<IpAddr>,
    /// Token for the next page, when there is one.
    pub(crate) next_token: Option<String>,
}

/// One instance while it is being read.
#[derive(Default)]
struct Instance {
    state: Option<String>,
    private_v4: Option<String>,
    public_v4: Option<String>,
    v6: Vec<String>,
}

impl Instance {
    /// The addresses of `kind` this instance contributes (none unless it is running; an
    /// instance without a state element is taken as running, the request filter already
    /// asked for running ones).
    fn addresses(self, kind: AddrType) -> Vec<String> {
        if self.state.as_deref().is_some_and(|s| s != "running") {
            return Vec::new();
        }
        match kind {
            AddrType::PrivateV4 => self.private_v4.into_iter().collect(),
            AddrType::PublicV4 => self.public_v4.into_iter().collect(),
            AddrType::V6 => self.v6,
        }
    }
}

/// Element path of an instance inside `DescribeInstancesResponse`, below the root.
const INSTANCE_PATH: [&str; 4] = ["reservationSet", "item", "instancesSet", "item"];

/// Parses one page of a `DescribeInstances` answer.
pub(crate) fn parse_describe_instances(
    xml: &str,
    kind: AddrType,
) -> Result<InstancesPage, DiscoverError> {
    let mut page = InstancesPage::default();
    let mut current: Option<Instance> = None;
    let mut raw = Vec::new();
    let mut seen_root = false;
    walk(xml, |event| {
        match event {
            Event::Open(path) => {
                if path.len() == 1 {
                    if path[0] != "DescribeInstancesResponse" {
                        return Err(DiscoverError::malformed(format!(
                            "expected DescribeInstancesResponse, got <{}>",
                            path[0]
                        )));
                    }
                    seen_root = true;
                }
                if is_instance(path) {
                    current = Some(Instance::default());
                }
            }
            Event::Close(path, text) => {
                if is_instance(path) {
                    if let Some(i) = current.take() {
                        raw.extend(i.addresses(kind));
                    }
                } else if path.len() > 5 && is_instance(&path[..5]) {
                    if let Some(i) = current.as_mut() {
                        record(i, &path[5..], text);
                    }
                } else if path.len() == 2 && path[1] == "nextToken" && !text.trim().is_empty() {
                    page.next_token = Some(text.trim().to_owned());
                }
            }
        }
        Ok(())
    })?;
    if !seen_root {
        return Err(DiscoverError::malformed(
            "no DescribeInstancesResponse element",
        ));
    }
    for a in raw {
        let ip = a
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| DiscoverError::malformed(format!("{a:?} is not an IP address")))?;
        if !page.addrs.contains(&ip) {
            page.addrs.push(ip);
        }
    }
    Ok(page)
}

fn is_instance(path: &[String]) -> bool {
    path.len() == 5 && path[1..].iter().zip(INSTANCE_PATH).all(|(a, b)| a == b)
}

/// Files a leaf below an instance `<item>` (`rel` is the path relative to it).
fn record(i: &mut Instance, rel: &[String], text: &str) {
    let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    match rel.as_slice() {
        ["privateIpAddress"] => i.private_v4 = Some(text.to_owned()),
        ["ipAddress"] => i.public_v4 = Some(text.to_owned()),
        ["instanceState", "name"] => i.state = Some(text.to_owned()),
        [
            "networkInterfaceSet",
            "item",
            "ipv6AddressesSet",
            "item",
            "ipv6Address",
        ] => {
            i.v6.push(text.to_owned());
        }
        _ => {}
    }
}

/// The first `<Code>` and `<Message>` of an error body: EC2's `<Response><Errors><Error>` or
/// the `<ErrorResponse><Error>` other Query APIs use.
pub(crate) fn parse_error(xml: &str) -> Option<(String, String)> {
    let mut code = None;
    let mut message = None;
    let _ = walk(xml, |event| {
        if let Event::Close(path, text) = event {
            let names: Vec<&str> = path.iter().map(String::as_str).collect();
            match names.as_slice() {
                [.., "Error", "Code"] if code.is_none() => code = Some(text.to_owned()),
                [.., "Error", "Message"] if message.is_none() => {
                    message = Some(text.to_owned());
                }
                _ => {}
            }
        }
        Ok(())
    });
    code.map(|c| (c, message.unwrap_or_default()))
}

/// A step through the document: an element opened (path includes it), or closed with the
/// text directly inside it (entities resolved).
enum Event<'a> {
    Open(&'a [String]),
    Close(&'a [String], &'a str),
}

/// Walks `xml`, calling `f` for each element start and end. Checks that tags balance.
fn walk(
    xml: &str,
    mut f: impl FnMut(Event<'_>) -> Result<(), DiscoverError>,
) -> Result<(), DiscoverError> {
    let bad = |e: &dyn std::fmt::Display| DiscoverError::malformed(e.to_string());
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    for token in Tokenizer::from(xml) {
        match token.map_err(|e| bad(&e))? {
            Token::ElementStart { local, .. } => {
                stack.push(local.as_str().to_owned());
                text.clear();
                f(Event::Open(&stack))?;
            }
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Empty => {
                    f(Event::Close(&stack, ""))?;
                    stack.pop();
                    text.clear();
                }
                ElementEnd::Close(_, local) => {
                    if stack.last().map(String::as_str) != Some(local.as_str()) {
                        return Err(bad(&format!("unexpected </{}>", local.as_str())));
                    }
                    f(Event::Close(&stack, &text))?;
                    stack.pop();
                    text.clear();
                }
            },
            Token::Text { text: t } => text.push_str(&unescape(t.as_str())?),
            Token::Cdata { text: t, .. } => text.push_str(t.as_str()),
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(bad(&format!("document ends inside <{open}>")));
    }
    Ok(())
}

/// Resolves the predefined XML entities and numeric character references.
pub(crate) fn unescape(s: &str) -> Result<String, DiscoverError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .ok_or_else(|| DiscoverError::malformed("unterminated entity"))?;
        let name = &after[..semi];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| DiscoverError::malformed(format!("unknown entity &{name};")))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(state: &str, private: &str, public: Option<&str>, v6: &[&str]) -> String {
        let public = public.map_or(String::new(), |p| format!("<ipAddress>{p}</ipAddress>"));
        let v6: String = v6
            .iter()
            .map(|a| format!("<item><ipv6Address>{a}</ipv6Address></item>"))
            .collect();
        format!(
            "<item><instanceId>i-1</instanceId><instanceState><code>16</code>\
             <name>{state}</name></instanceState><privateDnsName>ip.internal</privateDnsName>\
             <privateIpAddress>{private}</privateIpAddress>{public}\
             <networkInterfaceSet><item><privateIpAddress>192.0.2.99</privateIpAddress>\
             <privateIpAddressesSet><item><privateIpAddress>192.0.2.98</privateIpAddress>\
             </item></privateIpAddressesSet><ipv6AddressesSet>{v6}</ipv6AddressesSet>\
             </item></networkInterfaceSet><tagSet><item><key>Name</key><value>v</value>\
             </item></tagSet></item>"
        )
    }

    fn response(reservations: &[Vec<String>], next: Option<&str>) -> String {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse \
             xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId>\
             <reservationSet>",
        );
        for r in reservations {
            xml.push_str("<item><reservationId>r-1</reservationId><groupSet/><instancesSet>");
            for i in r {
                xml.push_str(i);
            }
            xml.push_str("</instancesSet></item>");
        }
        xml.push_str("</reservationSet>");
        if let Some(n) = next {
            xml.push_str(&format!("<nextToken>{n}</nextToken>"));
        }
        xml.push_str("</DescribeInstancesResponse>");
        xml
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn private_v4_of_running_instances_only() {
        let xml = response(
            &[
                vec![
                    instance("running", "10.0.0.1", Some("203.0.113.1"), &[]),
                    instance("stopped", "10.0.0.2", None, &[]),
                ],
                vec![instance("running", "10.0.0.3", None, &["2001:db8::3"])],
            ],
            None,
        );
        let page = parse_describe_instances(&xml, AddrType::PrivateV4).unwrap();
        assert_eq!(page.addrs, ips(&["10.0.0.1", "10.0.0.3"]));
        assert_eq!(page.next_token, None);
    }

    #[test]
    fn public_v4_skips_instances_without_one() {
        let xml = response(
            &[vec![
                instance("running", "10.0.0.1", Some("203.0.113.1"), &[]),
                instance("running", "10.0.0.2", None, &[]),
            ]],
            None,
        );
        let page = parse_describe_instances(&xml, AddrType::PublicV4).unwrap();
        assert_eq!(page.addrs, ips(&["203.0.113.1"]));
    }

    #[test]
    fn v6_collects_every_interface_address() {
        let xml = response(
            &[vec![
                instance("running", "10.0.0.1", None, &["2001:db8::1", "2001:db8::2"]),
                instance("pending", "10.0.0.2", None, &["2001:db8::9"]),
            ]],
            None,
        );
        let page = parse_describe_instances(&xml, AddrType::V6).unwrap();
        assert_eq!(page.addrs, ips(&["2001:db8::1", "2001:db8::2"]));
    }

    #[test]
    fn next_token_is_read_and_unescaped() {
        let xml = response(&[vec![]], Some("abc&amp;d&#61;&#x3D;"));
        let page = parse_describe_instances(&xml, AddrType::PrivateV4).unwrap();
        assert!(page.addrs.is_empty());
        assert_eq!(page.next_token.as_deref(), Some("abc&d=="));
        let xml = response(&[], Some(""));
        let page = parse_describe_instances(&xml, AddrType::PrivateV4).unwrap();
        assert_eq!(page.next_token, None);
    }

    #[test]
    fn duplicate_addresses_are_reported_once() {
        let i = instance("running", "10.0.0.1", None, &[]);
        let xml = response(&[vec![i.clone()], vec![i]], None);
        let page = parse_describe_instances(&xml, AddrType::PrivateV4).unwrap();
        assert_eq!(page.addrs, ips(&["10.0.0.1"]));
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "<DescribeInstancesResponse><reservationSet>",
            "<DescribeInstancesResponse></reservationSet>",
            "<Other/>",
            "not xml <",
            "",
        ] {
            assert!(
                matches!(
                    parse_describe_instances(bad, AddrType::PrivateV4),
                    Err(DiscoverError::Malformed { .. })
                ),
                "{bad}"
            );
        }
        let xml = response(&[vec![instance("running", "10.0.0.300", None, &[])]], None);
        let e = parse_describe_instances(&xml, AddrType::PrivateV4).unwrap_err();
        assert!(e.to_string().contains("10.0.0.300"), "{e}");
    }

    #[test]
    fn error_bodies_yield_code_and_message() {
        let xml = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>AuthFailure</Code>\
                   <Message>AWS was not able to validate &quot;it&quot;</Message></Error>\
                   </Errors><RequestID>x</RequestID></Response>";
        assert_eq!(
            parse_error(xml),
            Some((
                "AuthFailure".to_owned(),
                "AWS was not able to validate \"it\"".to_owned()
            ))
        );
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>\
                   </Error></ErrorResponse>";
        assert_eq!(
            parse_error(xml),
            Some(("SignatureDoesNotMatch".to_owned(), String::new()))
        );
        assert_eq!(parse_error("<html>502 Bad Gateway</html>"), None);
        assert_eq!(parse_error(""), None);
    }

    #[test]
    fn unescape_resolves_entities_and_refuses_unknown_ones() {
        assert_eq!(unescape("a &lt;b&gt; &apos;&quot;").unwrap(), "a <b> '\"");
        assert_eq!(unescape("&#233;&#xE9;").unwrap(), "éé");
        assert!(unescape("&nbsp;").is_err());
        assert!(unescape("a & b").is_err());
    }
}
