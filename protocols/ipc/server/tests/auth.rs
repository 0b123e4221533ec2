//! The one ACL model applied to IPC: with `trust = "local"` (the default) every connection is
//! let in and named after its peer; with `trust = "none"` connections are anonymous clients.
//! `addListener` needs `subscribe` on the channel's topic, `send`/`request` need `publish`.

mod support;

use std::sync::Arc;

use support::{Broker, Client, expect_eof};
use switchboard_fabric::{Access, AuthError, Authorizer, Credentials, Identity};
use switchboard_ipc::IpcTrust;
use switchboard_ipc_proto::Value;

/// Clients may do anything except listen to `secret/…` and send on `readonly/…` (topics as the
/// authorizer sees them: with the mount); the user `viewer` may not send at all.
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

    fn authorize(&self, identity: &Identity, access: Access, topic: &str) -> bool {
        assert!(
            !identity.client_id.contains(['+', '#']),
            "IPC client ids must not contain wildcards: {}",
            identity.client_id
        );
        if identity.user.as_deref() == Some("viewer") && access == Access::Write {
            return false;
        }
        !(access == Access::Subscribe && topic.starts_with("m/secret/")
            || access == Access::Write && topic.starts_with("m/readonly/"))
    }
}

async fn broker(anonymous: bool, trust: IpcTrust) -> Broker {
    Broker::start_full(
        |c| {
            c.mount = "m/".to_owned();
            c.trust = trust;
        },
        Arc::new(Rules { anonymous }),
    )
    .await
}

#[tokio::test]
async fn listeners_and_senders_are_checked_against_the_acl() {
    let broker = broker(true, IpcTrust::None).await;
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
async fn untrusted_connections_are_refused_without_anonymous_access() {
    let broker = broker(false, IpcTrust::None).await;
    let mut stream = Client::raw(broker.addr).await;
    expect_eof(&mut stream).await;
    broker
        .wait_for("the refusal to be counted", |b| {
            b.handle.metrics().protocol.connections.get() == 0 && b.handle.stats().connections == 0
        })
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn trusted_local_connections_are_let_in_and_named_after_their_peer() {
    // Anonymous access is off, yet local IPC peers are let in (the default trust).
    let broker = broker(false, IpcTrust::Local).await;
    let mut listener = broker.client("listener").await;
    let mut viewer = broker.client("viewer").await;
    let mut writer = broker.client("writer").await;
    listener.listen("open").await;
    listener.listen("secret/x").await;
    listener.sync().await;
    assert!(broker.handle.has_listeners("open"));
    assert!(!broker.handle.has_listeners("secret/x"));
    // The peer named `viewer` has that user's rights: its send is refused.
    viewer.send("open", &["from viewer".into()]).await;
    broker
        .wait_for("the viewer's send to be refused", |b| {
            b.handle.metrics().drops("not_authorized") == 2
        })
        .await;
    let sent = writer.send("open", &["from writer".into()]).await;
    assert_eq!(listener.recv().await.frame(), sent.frame());
    assert_eq!(broker.handle.stats().connections, 3);
    broker.shutdown().await;
}
