//! The service directory: which electron-common-ipc services are up, and on which peer.
//!
//! In electron-common-ipc 16 a service is a plain client-level convention (reference §2.8);
//! the Node broker keeps no record of it. A service `name` hosted by an `IpcBusService`:
//! - listens on `/electron-ipc-bus/ipc-service/<name>/call` while it is started (its
//!   `__getServiceStatus` reports `started` = "that listener exists");
//! - announces itself with a `MES` on `/electron-ipc-bus/ipc-service/<name>/event` whose only
//!   arg is `{"eventName":"service-event-start","args":[status]}`, where `status` is
//!   `{"started":true,"callHandlers":[...],"supportEventEmitter":bool[,"direct":bool]}`, right
//!   after adding that listener; and with `service-event-stop` right before removing it.
//!
//! An `IpcBusServiceProxy` considers the service available after a `__getServiceStatus` call
//! answered with `started: true` or a start event, and unavailable after a stop event. The
//! broker sees both the listener and the events, so it can answer the same question without
//! asking anyone: a service is **listed** while some connection listens on its call channel,
//! and **started** unless the last event from that connection was a stop. The status details
//! (call handlers, event emitter support, `direct`) come from the last start event, when one
//! was seen.
//!
//! [`ServiceDirectory`] is the public, cheap handle on that knowledge (for the HTTP API's
//! `GET /services/{name}`); the broker also answers requests on
//! [`SERVICE_AVAILABLE_CHANNEL`](crate::query::SERVICE_AVAILABLE_CHANNEL) with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use switchboard_fabric::ClientId;
use switchboard_ipc_proto::{Packet, Peer, Value};

use crate::broker::Broker;
use crate::router::ConnId;

/// Prefix of every service channel (`getServiceNamespace` of the stock library).
pub const SERVICE_PREFIX: &str = "/electron-ipc-bus/ipc-service/";

/// Most call handler names kept from one start event.
const MAX_HANDLERS: usize = 256;

/// Longest call handler name kept.
const MAX_HANDLER_LEN: usize = 256;

/// Largest service event frame the broker looks into (a status is a few hundred bytes).
const MAX_EVENT_FRAME: usize = 64 * 1024;

/// What a service channel is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceChannel<'a> {
    /// `<prefix><name>/call`: the service listens here while started.
    Call(&'a str),
    /// `<prefix><name>/event`: the service announces start, stop and its own events here.
    Event(&'a str),
}

/// Classifies a channel: a service's call or event channel, or `None`.
pub(crate) fn service_channel(channel: &str) -> Option<ServiceChannel<'_>> {
    let rest = channel.strip_prefix(SERVICE_PREFIX)?;
    if let Some(name) = rest.strip_suffix("/call") {
        return (!name.is_empty()).then_some(ServiceChannel::Call(name));
    }
    let name = rest.strip_suffix("/event")?;
    (!name.is_empty()).then_some(ServiceChannel::Event(name))
}

/// The call channel of service `name`.
pub fn call_channel(name: &str) -> String {
    format!("{SERVICE_PREFIX}{name}/call")
}

/// The status a service announces in its start event (`IpcBusService.ServiceStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    #[serde(default)]
    pub(crate) started: bool,
    #[serde(default)]
    pub(crate) call_handlers: Vec<String>,
    #[serde(default)]
    pub(crate) support_event_emitter: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) direct: Option<bool>,
}

/// A start or stop event, as read from an event channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceEvent {
    /// `service-event-start` with the service's status.
    Start(Status),
    /// `service-event-stop`.
    Stop,
}

#[derive(Deserialize)]
struct EventMessage {
    #[serde(rename = "eventName")]
    event_name: String,
    #[serde(default)]
    args: Vec<serde_json::Value>,
}

/// Reads a service event message's args: `None` for anything but a start or stop event
/// (wrapper events, malformed args).
pub(crate) fn parse_event(args: &[Value]) -> Option<ServiceEvent> {
    let [Value::Json(json)] = args else {
        return None;
    };
    let message: EventMessage = json.parse().ok()?;
    match message.event_name.as_str() {
        "service-event-start" => {
            let mut status: Status = message
                .args
                .into_iter()
                .next()
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or_default();
            status.call_handlers.retain(|h| h.len() <= MAX_HANDLER_LEN);
            status.call_handlers.truncate(MAX_HANDLERS);
            Some(ServiceEvent::Start(status))
        }
        "service-event-stop" => Some(ServiceEvent::Stop),
        _ => None,
    }
}

/// One connection providing one service.
#[derive(Debug, Clone)]
struct Provider {
    conn: ConnId,
    /// The connection's client id in the fabric's client registry (`ipc:ipc-7`).
    client: String,
    /// The peers of the connection that listen on the call channel (a process's clients
    /// share their listeners, so there may be several).
    listeners: Vec<Peer>,
    /// When the call channel listener appeared.
    since: SystemTime,
    /// The last start event: its sender and status.
    started_by: Option<(Peer, Status)>,
    /// Whether the last event was a stop.
    stopped: bool,
}

impl Provider {
    fn info(&self, name: &str, providers: usize) -> ServiceInfo {
        let peer = match &self.started_by {
            Some((peer, _)) => Some(peer),
            None => self.listeners.first(),
        };
        let status = self.started_by.as_ref().map(|(_, s)| s);
        ServiceInfo {
            name: name.to_owned(),
            peer: peer.map(|p| p.id.as_str().to_owned()).unwrap_or_default(),
            peer_name: peer.and_then(|p| p.name.clone()),
            client: self.client.clone(),
            since_ms: self
                .since
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            started: !self.stopped,
            status_known: status.is_some(),
            call_handlers: status.map(|s| s.call_handlers.clone()).unwrap_or_default(),
            support_event_emitter: status.is_some_and(|s| s.support_event_emitter),
            direct: status.and_then(|s| s.direct),
            providers,
        }
    }
}

/// The broker's table of services: name → providing connections. Its size is bounded by the
/// listeners the routing table admits (one provider per connection and call channel).
#[derive(Debug, Default)]
pub(crate) struct ServiceTable {
    services: Mutex<HashMap<String, Vec<Provider>>>,
}

impl ServiceTable {
    /// `conn` (client `client`) now listens on service `name`'s call channel with `peers`.
    pub(crate) fn listening(&self, name: &str, conn: ConnId, client: &str, peers: &[Peer]) {
        let mut services = self.services.lock();
        let providers = services.entry(name.to_owned()).or_default();
        match providers.iter_mut().find(|p| p.conn == conn) {
            Some(p) => {
                for peer in peers {
                    if !p.listeners.iter().any(|l| l.id == peer.id) {
                        p.listeners.push(peer.clone());
                    }
                }
            }
            None => providers.push(Provider {
                conn,
                client: client.to_owned(),
                listeners: peers.to_vec(),
                since: SystemTime::now(),
                started_by: None,
                stopped: false,
            }),
        }
    }

    /// A start or stop event from `sender` on `conn` for service `name`. Ignored when the
    /// connection does not provide the service (its listener was refused, or is gone).
    pub(crate) fn event(&self, name: &str, conn: ConnId, sender: &Peer, event: ServiceEvent) {
        let mut services = self.services.lock();
        let Some(p) = services
            .get_mut(name)
            .and_then(|ps| ps.iter_mut().find(|p| p.conn == conn))
        else {
            return;
        };
        match event {
            ServiceEvent::Start(status) => {
                p.stopped = false;
                p.started_by = Some((sender.clone(), status));
            }
            ServiceEvent::Stop => p.stopped = true,
        }
    }

    /// Drops the providers of `conn` for which `listens(call channel)` is false (every one
    /// when the connection is gone).
    pub(crate) fn prune(&self, conn: ConnId, listens: impl Fn(&str) -> bool) {
        let mut services = self.services.lock();
        services.retain(|name, providers| {
            providers.retain(|p| p.conn != conn || listens(&call_channel(name)));
            !providers.is_empty()
        });
    }

    /// Whether `conn` provides any service (so that a listener removal needs a prune).
    pub(crate) fn provides(&self, conn: ConnId) -> bool {
        self.services
            .lock()
            .values()
            .any(|ps| ps.iter().any(|p| p.conn == conn))
    }

    /// The providers of `name` still listening (by `listens(conn, call channel)`), as infos:
    /// started ones first, then the oldest.
    pub(crate) fn infos(
        &self,
        name: &str,
        listens: &impl Fn(ConnId, &str) -> bool,
    ) -> Vec<ServiceInfo> {
        let channel = call_channel(name);
        let services = self.services.lock();
        let Some(providers) = services.get(name) else {
            return Vec::new();
        };
        let live: Vec<&Provider> = providers
            .iter()
            .filter(|p| listens(p.conn, &channel))
            .collect();
        let mut infos: Vec<ServiceInfo> = live.iter().map(|p| p.info(name, live.len())).collect();
        infos.sort_by(|a, b| {
            (!a.started, a.since_ms, &a.peer).cmp(&(!b.started, b.since_ms, &b.peer))
        });
        infos
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.services.lock().keys().cloned().collect();
        names.sort();
        names
    }
}

/// One service as the broker knows it: who provides it and the status it announced.
///
/// Serialized with these field names (snake case) for the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// The service name (`CreateIpcBusService(client, name, ...)`).
    pub name: String,
    /// The id of the peer providing it: the sender of its start event, or else a peer
    /// listening on its call channel.
    pub peer: String,
    /// That peer's `peerName`, if it has one.
    pub peer_name: Option<String>,
    /// The providing connection's id in the client registry (`ipc:ipc-7`).
    pub client: String,
    /// When the service's call channel listener appeared, in milliseconds since the Unix
    /// epoch.
    pub since_ms: u64,
    /// Whether the service is started, i.e. what `isServiceAvailable` and a proxy's
    /// `isStarted` say: it listens on its call channel and its last event was not a stop.
    pub started: bool,
    /// Whether a start event was seen, so that the three fields below are the service's own.
    pub status_known: bool,
    /// The call handlers the start event listed (`ServiceStatus.callHandlers`).
    pub call_handlers: Vec<String>,
    /// `ServiceStatus.supportEventEmitter` from the start event.
    pub support_event_emitter: bool,
    /// `ServiceStatus.direct` from the start event, when present.
    pub direct: Option<bool>,
    /// How many connections provide a service of this name (a proxy's call goes to all of
    /// them; the first answer wins).
    pub providers: usize,
}

/// A cheap, cloneable handle on the broker's services, for the HTTP API (`GET
/// /services/{name}`). Get it from [`IpcService::services`](crate::IpcService::services) or
/// [`IpcHandle::services`](crate::IpcHandle::services); it stays valid while and after the
/// service runs (once the broker is gone every service is gone with it).
#[derive(Clone)]
pub struct ServiceDirectory {
    broker: Arc<Broker>,
}

impl std::fmt::Debug for ServiceDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDirectory")
            .field("services", &self.broker.services.names().len())
            .finish()
    }
}

impl ServiceDirectory {
    pub(crate) fn new(broker: Arc<Broker>) -> ServiceDirectory {
        ServiceDirectory { broker }
    }

    fn listens(&self) -> impl Fn(ConnId, &str) -> bool + '_ {
        |conn, channel| self.broker.router.listens(conn, channel)
    }

    /// The service `name`, if a connection provides it: a started provider when there is
    /// one, else the oldest. `None` when nobody listens on its call channel.
    pub fn lookup(&self, name: &str) -> Option<ServiceInfo> {
        self.broker
            .services
            .infos(name, &self.listens())
            .into_iter()
            .next()
    }

    /// Whether service `name` is available: provided and started (electron-common-ipc's
    /// `isServiceAvailable(name)`).
    pub fn is_available(&self, name: &str) -> bool {
        self.lookup(name).is_some_and(|s| s.started)
    }

    /// Every provider of every service, by name, then started ones first, then the oldest.
    pub fn list(&self) -> Vec<ServiceInfo> {
        let listens = self.listens();
        self.broker
            .services
            .names()
            .iter()
            .flat_map(|name| self.broker.services.infos(name, &listens))
            .collect()
    }
}

impl Broker {
    /// A listener of `conn` on a service's call channel was accepted. Recorded only when the
    /// routing table holds it (a `LICA` naming only other connections' peers adds nothing),
    /// so the service table stays within the routing table's limits.
    pub(crate) fn service_listening(&self, name: &str, conn: ConnId, client: &str, peers: &[Peer]) {
        if !self.router.listens(conn, &call_channel(name)) {
            return;
        }
        let on_conn: Vec<Peer> = peers
            .iter()
            .filter(|p| matches!(self.router.endpoint(p.id.as_str()), Some((c, _)) if c == conn))
            .cloned()
            .collect();
        let client = ClientId::new("ipc", client).to_string();
        self.services.listening(name, conn, &client, &on_conn);
    }

    /// Whether service `name` is provided and started.
    pub(crate) fn service_available(&self, name: &str) -> bool {
        self.services
            .infos(name, &|conn, channel| self.router.listens(conn, channel))
            .first()
            .is_some_and(|s| s.started)
    }

    /// Listeners of `conn` went away (or the connection closed): forget what it no longer
    /// provides.
    pub(crate) fn services_changed(&self, conn: ConnId) {
        if self.services.provides(conn) {
            self.services
                .prune(conn, |channel| self.router.listens(conn, channel));
        }
    }

    /// A message on service `name`'s event channel from `conn`: records start and stop.
    pub(crate) fn service_event(&self, conn: ConnId, name: &str, frame: &bytes::Bytes) {
        if frame.len() > MAX_EVENT_FRAME {
            return;
        }
        let Ok(packet) = Packet::parse(frame.clone()) else {
            return;
        };
        let Some(sender) = packet.command().peer.clone() else {
            return;
        };
        let Some(event) = packet.args_lenient().ok().as_deref().and_then(parse_event) else {
            return;
        };
        self.services.event(name, conn, &sender, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_ipc_proto::JsonText;

    fn json(text: &str) -> Value {
        Value::Json(JsonText::new(text).unwrap())
    }

    #[test]
    fn service_channels_are_recognised() {
        assert_eq!(
            service_channel("/electron-ipc-bus/ipc-service/calc/call"),
            Some(ServiceChannel::Call("calc"))
        );
        assert_eq!(
            service_channel("/electron-ipc-bus/ipc-service/a/b/event"),
            Some(ServiceChannel::Event("a/b"))
        );
        assert_eq!(service_channel("/electron-ipc-bus/ipc-service//call"), None);
        assert_eq!(service_channel("/electron-ipc-bus/ipc-service/calc"), None);
        assert_eq!(service_channel("calc/call"), None);
        assert_eq!(
            call_channel("calc"),
            "/electron-ipc-bus/ipc-service/calc/call"
        );
    }

    #[test]
    fn start_and_stop_events_are_read_and_others_ignored() {
        let start = json(
            r#"{"eventName":"service-event-start","args":[{"started":true,"callHandlers":["add","slowMul"],"supportEventEmitter":true}]}"#,
        );
        assert_eq!(
            parse_event(&[start]),
            Some(ServiceEvent::Start(Status {
                started: true,
                call_handlers: vec!["add".into(), "slowMul".into()],
                support_event_emitter: true,
                direct: None,
            }))
        );
        let stop = json(r#"{"eventName":"service-event-stop","args":[{}]}"#);
        assert_eq!(parse_event(&[stop]), Some(ServiceEvent::Stop));
        let wrapper = json(r#"{"eventName":"service-wrapper-event","args":["tick",[7]]}"#);
        assert_eq!(parse_event(&[wrapper]), None);
        assert_eq!(parse_event(&[Value::from("service-event-start")]), None);
        assert_eq!(parse_event(&[]), None);
        // A start event with a status of the wrong shape still starts the service.
        let odd = json(r#"{"eventName":"service-event-start","args":[42]}"#);
        assert_eq!(
            parse_event(&[odd]),
            Some(ServiceEvent::Start(Status::default()))
        );
        let long = "h".repeat(MAX_HANDLER_LEN + 1);
        let many: Vec<String> = (0..MAX_HANDLERS + 5).map(|i| format!("\"f{i}\"")).collect();
        let big = json(&format!(
            r#"{{"eventName":"service-event-start","args":[{{"callHandlers":["{long}",{}]}}]}}"#,
            many.join(",")
        ));
        let Some(ServiceEvent::Start(status)) = parse_event(&[big]) else {
            panic!("a start event");
        };
        assert_eq!(status.call_handlers.len(), MAX_HANDLERS);
        assert_eq!(status.call_handlers[0], "f0");
    }

    #[test]
    fn the_table_follows_listeners_and_events() {
        let table = ServiceTable::default();
        let a = Peer::node("a", "svc-host");
        let b = Peer::node("b", "other");
        let listens_all = |_: ConnId, _: &str| true;
        table.listening("calc", ConnId(1), "ipc:ipc-1", &[a.clone(), b.clone()]);
        let infos = table.infos("calc", &listens_all);
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].peer, "a");
        assert!(infos[0].started && !infos[0].status_known);
        // The start event names the hosting peer and its status.
        let status = Status {
            started: true,
            call_handlers: vec!["add".into()],
            support_event_emitter: false,
            direct: Some(true),
        };
        table.event("calc", ConnId(1), &b, ServiceEvent::Start(status));
        let info = &table.infos("calc", &listens_all)[0];
        assert_eq!(
            (info.peer.as_str(), info.peer_name.as_deref()),
            ("b", Some("other"))
        );
        assert_eq!(info.call_handlers, ["add"]);
        assert_eq!(info.direct, Some(true));
        assert!(info.status_known);
        // An event from a connection that does not provide the service changes nothing.
        table.event("calc", ConnId(2), &a, ServiceEvent::Stop);
        assert!(table.infos("calc", &listens_all)[0].started);
        table.event("calc", ConnId(1), &b, ServiceEvent::Stop);
        assert!(!table.infos("calc", &listens_all)[0].started);
        // A second provider that is started comes first.
        table.listening("calc", ConnId(2), "ipc:ipc-2", std::slice::from_ref(&a));
        let infos = table.infos("calc", &listens_all);
        assert_eq!(
            (infos[0].client.as_str(), infos[0].providers),
            ("ipc:ipc-2", 2)
        );
        // Providers whose listener is gone are not listed, and pruned.
        let infos = table.infos("calc", &|c: ConnId, _: &str| c == ConnId(1));
        assert_eq!(infos.len(), 1);
        table.prune(ConnId(2), |_| false);
        assert!(table.provides(ConnId(1)) && !table.provides(ConnId(2)));
        table.prune(ConnId(1), |_| false);
        assert!(table.names().is_empty());
    }
}
