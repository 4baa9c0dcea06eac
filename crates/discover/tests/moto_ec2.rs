#![allow(clippy::unwrap_used)]
//! Auto-join discovery against moto_server, a local EC2. Instances are only listed, never
//! contacted.

use std::collections::BTreeSet;
use std::net::IpAddr;

use aws_credential_types::Credentials;
use tresor_discover::{DiscoverError, DiscoverOptions, Ec2Client, discover_with};

/// An AMI moto ships with.
const AMI: &str = "ami-12c6146b";

/// A running moto_server (from `tresor-testkit`), killed on drop.
struct Moto(tresor_testkit::moto::Moto);

impl Moto {
    fn start() -> Moto {
        Moto(tresor_testkit::moto::Moto::start())
    }

    fn start_with_env(env: &[(&str, &str)]) -> Moto {
        Moto(tresor_testkit::moto::Moto::start_with_env(env))
    }

    fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// A signed EC2 client with dummy credentials (moto accepts any unless told to check).
    fn admin(&self) -> Ec2Client {
        self.client("testing", "testing")
    }

    fn client(&self, key_id: &str, secret: &str) -> Ec2Client {
        Ec2Client::with_credentials(
            self.endpoint().parse().unwrap(),
            "us-east-1".to_owned(),
            Credentials::new(key_id, secret, None, None, "test"),
        )
        .unwrap()
    }

    /// An IAM Query API call with a placeholder signature: moto routes by the credential
    /// scope and checks nothing during the first actions. Returns the body.
    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut form = params.to_vec();
        form.push(("Version", "2010-05-08"));
        let response = reqwest::Client::new()
            .post(self.endpoint())
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=00",
            )
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        body
    }
}

/// Texts of the elements at exactly `path` (root first, local names).
fn values_at(xml: &str, path: &[&str]) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut out = Vec::new();
    for token in xmlparser::Tokenizer::from(xml) {
        match token.unwrap() {
            xmlparser::Token::ElementStart { local, .. } => {
                stack.push(local.as_str().to_owned());
                text.clear();
            }
            xmlparser::Token::Text { text: t } => text.push_str(t.as_str()),
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                _ => {
                    if stack.iter().map(String::as_str).eq(path.iter().copied()) {
                        out.push(text.trim().to_owned());
                    }
                    stack.pop();
                    text.clear();
                }
            },
            _ => {}
        }
    }
    out
}

/// Launches one instance (its own reservation) tagged `key=value`; returns (id, private IP).
async fn run_instance(ec2: &Ec2Client, key: &str, value: &str) -> (String, IpAddr) {
    let xml = ec2
        .call(&[
            ("Action", "RunInstances"),
            ("ImageId", AMI),
            ("InstanceType", "t3.micro"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", key),
            ("TagSpecification.1.Tag.1.Value", value),
        ])
        .await
        .unwrap();
    let ids = values_at(
        &xml,
        &["RunInstancesResponse", "instancesSet", "item", "instanceId"],
    );
    let ips = values_at(
        &xml,
        &[
            "RunInstancesResponse",
            "instancesSet",
            "item",
            "privateIpAddress",
        ],
    );
    assert_eq!((ids.len(), ips.len()), (1, 1), "{xml}");
    (ids[0].clone(), ips[0].parse().unwrap())
}

async fn stop_instance(ec2: &Ec2Client, id: &str) {
    let xml = ec2
        .call(&[("Action", "StopInstances"), ("InstanceId.1", id)])
        .await
        .unwrap();
    assert_eq!(
        values_at(
            &xml,
            &[
                "StopInstancesResponse",
                "instancesSet",
                "item",
                "instanceId"
            ]
        ),
        vec![id.to_owned()]
    );
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn query(moto: &Moto, tag_value: &str) -> String {
    format!(
        "provider=aws region=us-east-1 tag_key=Name tag_value={tag_value} \
         access_key_id=testing secret_access_key=testing endpoint={}",
        moto.endpoint()
    )
}

#[tokio::test]
async fn finds_only_the_running_instances_carrying_the_tag() {
    let moto = Moto::start();
    let ec2 = moto.admin();
    let a = run_instance(&ec2, "Name", "tresor-test").await;
    let b = run_instance(&ec2, "Name", "tresor-test").await;
    let stopped = run_instance(&ec2, "Name", "tresor-test").await;
    let _other_value = run_instance(&ec2, "Name", "something-else").await;
    let _other_key = run_instance(&ec2, "Role", "tresor-test").await;
    stop_instance(&ec2, &stopped.0).await;

    let options = DiscoverOptions {
        env: &no_env,
        page_size: None,
    };
    let found = discover_with(&query(&moto, "tresor-test"), &options)
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([a.1, b.1])
    );

    // No match is an empty answer, not an error.
    let none = discover_with(&query(&moto, "nobody"), &options)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn follows_next_token_across_pages_and_reads_the_endpoint_from_env() {
    let moto = Moto::start();
    let ec2 = moto.admin();
    let mut want = BTreeSet::new();
    // moto pages by reservation and EC2's smallest page is 5: 7 reservations make 2 pages.
    for _ in 0..7 {
        want.insert(run_instance(&ec2, "Name", "paged").await.1);
    }
    let endpoint = moto.endpoint();
    let env = move |k: &str| (k == "AWS_EC2_ENDPOINT").then(|| endpoint.clone());
    let options = DiscoverOptions {
        env: &env,
        page_size: Some(5),
    };
    let found = discover_with(
        "provider=aws region=us-east-1 tag_key=Name tag_value=paged \
         access_key_id=testing secret_access_key=testing",
        &options,
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 7, "{found:?}");
    assert_eq!(found.into_iter().collect::<BTreeSet<_>>(), want);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_reported_as_unavailable() {
    let port = tresor_testkit::ports::free_port();
    let options = DiscoverOptions {
        env: &no_env,
        page_size: None,
    };
    let e = discover_with(
        &format!(
            "provider=aws region=us-east-1 tag_key=Name tag_value=x \
             access_key_id=testing secret_access_key=hunter2 endpoint=http://127.0.0.1:{port}"
        ),
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, DiscoverError::Unavailable(_)), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test]
async fn an_error_answer_carries_the_ec2_code() {
    let moto = Moto::start();
    let e = moto
        .admin()
        .call(&[
            ("Action", "StopInstances"),
            ("InstanceId.1", "i-0000000000000000"),
        ])
        .await
        .unwrap_err();
    match e {
        DiscoverError::Api { status, code, .. } => {
            assert_eq!(status, 400);
            assert!(code.starts_with("InvalidInstanceID"), "{code}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn requests_are_signed_with_sigv4_that_moto_verifies() {
    // moto checks signatures (and IAM policies) after the first three actions: the IAM setup.
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    moto.iam(&[("Action", "CreateUser"), ("UserName", "tresor")])
        .await;
    moto.iam(&[
        ("Action", "PutUserPolicy"),
        ("UserName", "tresor"),
        ("PolicyName", "ec2"),
        (
            "PolicyDocument",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
        ),
    ])
    .await;
    let xml = moto
        .iam(&[("Action", "CreateAccessKey"), ("UserName", "tresor")])
        .await;
    let key = [
        "CreateAccessKeyResponse",
        "CreateAccessKeyResult",
        "AccessKey",
    ];
    let id = values_at(&xml, &[&key[..], &["AccessKeyId"]].concat());
    let secret = values_at(&xml, &[&key[..], &["SecretAccessKey"]].concat());
    assert_eq!((id.len(), secret.len()), (1, 1), "{xml}");

    let ec2 = moto.client(&id[0], &secret[0]);
    let (_, ip) = run_instance(&ec2, "Name", "signed").await;
    let options = DiscoverOptions {
        env: &no_env,
        page_size: None,
    };
    let spec = |secret: &str| {
        format!(
            "provider=aws region=us-east-1 tag_key=Name tag_value=signed \
             access_key_id={} secret_access_key=\"{secret}\" endpoint={}",
            id[0],
            moto.endpoint()
        )
    };
    assert_eq!(
        discover_with(&spec(&secret[0]), &options).await.unwrap(),
        vec![ip]
    );

    let e = discover_with(&spec("not-the-secret"), &options)
        .await
        .unwrap_err();
    match &e {
        DiscoverError::Api { code, status, .. } => {
            // What EC2 answers for a signature made with the wrong secret.
            assert_eq!(code, "AuthFailure", "{e}");
            assert_eq!(*status, 401, "{e}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!e.to_string().contains("not-the-secret"), "{e}");
}
