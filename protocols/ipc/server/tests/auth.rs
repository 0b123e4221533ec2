//! The one ACL model applied to IPC: connections are anonymous clients; `addListener` needs
//! `subscribe` on the channel's topic, `send`/`request` need `publish`.

mod support;

use std::sync::Arc;

use support::{Broker, Client, expect_eof};
use switchboard_fabric::{Access, AuthError, Authorizer, Credentials, Identity};
use switchboard_ipc_proto::Value;

/// Anonymous clients may do anything except listen to `secret/…` and send on `readonly/…`
/// (topics as the authorizer sees them: with the mount).
#[derive(Debug)]
struct Rules {
    anonymous: bool,
}

impl Authorizer for Rules {
    fn authenticate(
        &self,
        _protocol: &str,
        client_id: &str,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError> {
        match (credentials, self.anonymous) {
            (Credentials::Anonymous, true) => Ok(Identity::anonymous(client_id)),
            _ => Err(AuthError::NotAuthorized),
        }
    }

    fn authorize(&self, _identity: &Identity, access: Access, topic: &str) -> bool {
        !(access == Access::Subscribe && topic.starts_with("m/secret/")
            || access == Access::Write && topic.starts_with("m/readonly/"))
    }
}

async fn broker(anonymous: bool) -> Broker {
    Broker::start_full(|c| c.mount = "m/".to_owned(), Arc::new(Rules { anonymous })).await
}

#[tokio::test]
async fn listeners_and_senders_are_checked_against_the_acl() {
    let broker = broker(true).await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    a.listen("secret/x").await;
    a.listen("open").await;
    a.listen("readonly/news").await;
    a.sync().await;
    assert!(!broker.handle.has_listeners("secret/x"));
    assert!(broker.handle.has_listeners("open"));
    // Refused sends reach nobody; allowed ones do.
    b.send("readonly/news", &["not allowed".into()]).await;
    let sent = b.send("open", &[Value::from("fine")]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    assert_eq!(broker.handle.metrics().drops("not_authorized"), 2);
    broker.shutdown().await;
}

#[tokio::test]
async fn without_anonymous_access_connections_are_refused() {
    let broker = broker(false).await;
    let mut stream = Client::raw(broker.addr).await;
    expect_eof(&mut stream).await;
    broker
        .wait_for("the refusal to be counted", |b| {
            b.handle.metrics().protocol.connections.get() == 0 && b.handle.stats().connections == 0
        })
        .await;
    broker.shutdown().await;
}
