//! Requests the broker answers itself: `/electron-common-ipc/queryState` and
//! `/electron-common-ipc/serviceAvailable`.
//!
//! The electron-common-ipc README documents both channels ("this information can be
//! retrieved from an IpcBusClient through the channel ..."), but the 16.x Node broker has no
//! such responder any more (reference §2.8): a `request` on them is never answered and the
//! requester's own timeout rejects it. switchboard answers them, so a stock client asks with
//! `client.request('/electron-common-ipc/queryState', timeout)` and gets `{ payload }`.
//!
//! **queryState** answers with the object the 16.x Node broker builds for its Electron
//! bridge (`QueryStateBroker`, sent there in `QUSTR`): `type: "broker"`, a `contextId`,
//! `channels` (`{name, refCount}` per channel, the sum over its listeners) and `peers`
//! (`{peer, channels}` per listening peer, with its own reference counts). It is filled with
//! every subscription of the gateway, as the HTTP `/subscriptions` view lists them:
//!
//! | source | `peers` key and `peer` | `channels` key |
//! |---|---|---|
//! | IPC listener | the peer's id, the peer itself (`id`, `type`, `name`) | the channel |
//! | a fabric subscription of another protocol (MQTT, Engine.IO, Socket.IO ...) | the client id (`mqtt:sensor-1`), `{id: <client id>, type: 4, name: <its id within its protocol>}` | the filter without the `mount` prefix; a filter outside the mount as it is (wildcards included) |
//! | a subscription another protocol keeps outside the fabric (`held_subscriptions`) | as above | as above, its count as the reference count |
//!
//! Each `peers` entry also carries `protocol` and `client` (the client registry's id); the
//! gateway's own plumbing (the protocol bridges' subscribers) is left out. At most
//! [`MAX_STATE_ENTRIES`] (peer, channel) pairs are listed; `truncated: true` says when some
//! were left out.
//!
//! **serviceAvailable** answers `true` or `false`: whether the service named by the request's
//! first arg is started ([`crate::services`]).
//!
//! Both requests go through the ACL like any message (write on the channel), and are routed
//! as usual as well, so a peer listening on the channel may answer too (the first answer
//! wins).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use switchboard_fabric::ClientId;
use switchboard_ipc_proto::{Command, JsonText, Packet, RawPacket, Value};

use crate::broker::Broker;
use crate::metrics::reason;
use crate::router::ConnId;

/// The channel whose requests the broker answers with its state.
pub const QUERY_STATE_CHANNEL: &str = "/electron-common-ipc/queryState";

/// The channel whose requests the broker answers with whether a service is available: the
/// request's first arg is the service name, the answer `true` or `false`.
pub const SERVICE_AVAILABLE_CHANNEL: &str = "/electron-common-ipc/serviceAvailable";

/// Most (peer, channel) pairs a queryState answer lists.
pub const MAX_STATE_ENTRIES: usize = 65_536;

/// The `type` given to peers of other protocols (`IpcBusProcessType.Undefined`).
const OTHER_PROTOCOL_TYPE: i64 = 4;

/// A request the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Query {
    /// `/electron-common-ipc/queryState`.
    State,
    /// `/electron-common-ipc/serviceAvailable`.
    ServiceAvailable,
}

impl Query {
    /// The query a request on `channel` is, if any.
    pub(crate) fn of(channel: &str) -> Option<Query> {
        match channel {
            QUERY_STATE_CHANNEL => Some(Query::State),
            SERVICE_AVAILABLE_CHANNEL => Some(Query::ServiceAvailable),
            _ => None,
        }
    }
}

/// `QueryStateChannel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChannel {
    /// The channel.
    pub name: String,
    /// Listener references.
    pub ref_count: u64,
}

/// `IpcBusPeer`, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatePeerId {
    /// The peer id (for other protocols, the client id).
    pub id: String,
    /// The process type (for other protocols, 4: Undefined).
    #[serde(rename = "type")]
    pub process_type: i64,
    /// The peer name (for other protocols, the client's id within its protocol).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `QueryStatePeer`, plus the protocol and the client registry's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatePeer {
    /// Who.
    pub peer: StatePeerId,
    /// What it listens to.
    pub channels: BTreeMap<String, StateChannel>,
    /// Its protocol (`ipc`, `mqtt`, `engineio`...).
    pub protocol: String,
    /// Its connection's id in the client registry (`ipc:ipc-3`, `mqtt:sensor-1`).
    pub client: String,
}

/// `QueryStateBroker`, filled with every protocol's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryState {
    /// Always `"broker"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `Node-<the gateway's peer id>`.
    pub context_id: String,
    /// Every channel with its total reference count.
    pub channels: BTreeMap<String, StateChannel>,
    /// Every listening peer, by id.
    pub peers: BTreeMap<String, StatePeer>,
    /// Whether [`MAX_STATE_ENTRIES`] cut the listing short.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl QueryState {
    fn add(&mut self, key: &str, make: impl FnOnce() -> StatePeer, channel: &str, count: u64) {
        let total = self
            .channels
            .entry(channel.to_owned())
            .or_insert_with(|| StateChannel {
                name: channel.to_owned(),
                ref_count: 0,
            });
        total.ref_count += count;
        let peer = self.peers.entry(key.to_owned()).or_insert_with(make);
        peer.channels
            .entry(channel.to_owned())
            .or_insert_with(|| StateChannel {
                name: channel.to_owned(),
                ref_count: 0,
            })
            .ref_count += count;
    }
}

fn other_peer(client: &ClientId) -> StatePeer {
    StatePeer {
        peer: StatePeerId {
            id: client.to_string(),
            process_type: OTHER_PROTOCOL_TYPE,
            name: Some(client.local().to_owned()),
        },
        channels: BTreeMap::new(),
        protocol: client.protocol().to_owned(),
        client: client.to_string(),
    }
}

impl Broker {
    /// The broker's state in the shape of the Node broker's `QueryStateBroker`, with the
    /// subscriptions of every protocol.
    pub(crate) fn query_state(&self) -> QueryState {
        let mut state = QueryState {
            kind: "broker",
            context_id: format!("Node-{}", self.gateway.id.as_str()),
            channels: BTreeMap::new(),
            peers: BTreeMap::new(),
            truncated: false,
        };
        let mut budget = MAX_STATE_ENTRIES;
        let listeners = self.router.listeners(budget.saturating_add(1));
        state.truncated |= listeners.len() > budget;
        for (channel, peer, conn, count) in listeners.into_iter().take(budget) {
            let make = || StatePeer {
                peer: StatePeerId {
                    id: peer.id.as_str().to_owned(),
                    process_type: peer.process_type.code(),
                    name: peer.name.clone(),
                },
                channels: BTreeMap::new(),
                protocol: "ipc".to_owned(),
                client: ClientId::new("ipc", conn.client_id()).to_string(),
            };
            state.add(peer.id.as_str(), make, &channel, u64::from(count));
            budget -= 1;
        }
        for sub in self.fabric.subscriptions(None) {
            if sub.internal || &*sub.protocol == "ipc" {
                continue;
            }
            if budget == 0 {
                state.truncated = true;
                break;
            }
            budget -= 1;
            // The subscriber's labels name its client in every protocol so far; otherwise
            // the registry knows which client attached it.
            let guess = ClientId::new(sub.protocol.clone(), sub.client.clone());
            let clients = self.fabric.clients();
            let client = if clients.contains(&guess) {
                guess
            } else {
                clients.client_of(sub.subscriber).unwrap_or(guess)
            };
            let channel = self.listed_channel(&sub.filter);
            state.add(&client.to_string(), || other_peer(&client), channel, 1);
        }
        for (client, held) in self.fabric.clients().held_subscriptions() {
            if client.protocol() == "ipc" {
                continue;
            }
            if budget == 0 {
                state.truncated = true;
                break;
            }
            budget -= 1;
            let channel = self.listed_channel(&held.filter);
            state.add(
                &client.to_string(),
                || other_peer(&client),
                channel,
                u64::from(held.count),
            );
        }
        state
    }

    /// How a fabric filter is listed as a channel: without the mount prefix when it has it.
    fn listed_channel<'f>(&self, filter: &'f str) -> &'f str {
        filter
            .strip_prefix(self.config.mount.as_str())
            .filter(|c| !self.config.mount.is_empty() && !c.is_empty())
            .unwrap_or(filter)
    }

    /// Answers a request on one of the channels the broker serves itself.
    pub(crate) fn answer_query(self: &Arc<Self>, conn: ConnId, raw: &RawPacket, query: Query) {
        let packet = match raw.clone().into_packet() {
            Ok(packet) => packet,
            Err(_) => {
                self.metrics.dropped(reason::BAD_PACKET);
                return;
            }
        };
        let answer = match query {
            Query::State => match JsonText::from_serialize(&self.query_state()) {
                Ok(json) => Value::Json(json),
                Err(_) => return,
            },
            Query::ServiceAvailable => {
                let name = match packet.args_lenient().ok().as_deref() {
                    Some([Value::String(name), ..]) => name.clone(),
                    _ => String::new(),
                };
                Value::Bool(self.service_available(&name))
            }
        };
        let Ok(response) = Command::response_to(packet.command(), self.gateway.clone(), true)
        else {
            return;
        };
        match Packet::from_message(response, &[answer]) {
            Ok(reply) => self.send_to_conn(conn, reply.into_frame()),
            Err(_) => self.metrics.dropped(reason::BAD_PAYLOAD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_recognised_by_channel() {
        assert_eq!(Query::of(QUERY_STATE_CHANNEL), Some(Query::State));
        assert_eq!(
            Query::of("/electron-common-ipc/serviceAvailable"),
            Some(Query::ServiceAvailable)
        );
        assert_eq!(Query::of("/electron-ipc-bus/queryState"), None);
    }

    #[test]
    fn the_state_serializes_in_the_node_brokers_shape() {
        let mut state = QueryState {
            kind: "broker",
            context_id: "Node-x".into(),
            channels: BTreeMap::new(),
            peers: BTreeMap::new(),
            truncated: false,
        };
        let client = ClientId::new("mqtt", "sensor-1");
        state.add("mqtt:sensor-1", || other_peer(&client), "news", 1);
        state.add("mqtt:sensor-1", || other_peer(&client), "news", 2);
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "broker",
                "contextId": "Node-x",
                "channels": {"news": {"name": "news", "refCount": 3}},
                "peers": {"mqtt:sensor-1": {
                    "peer": {"id": "mqtt:sensor-1", "type": 4, "name": "sensor-1"},
                    "channels": {"news": {"name": "news", "refCount": 3}},
                    "protocol": "mqtt",
                    "client": "mqtt:sensor-1"
                }}
            })
        );
    }
}
