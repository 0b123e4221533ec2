//! Scale-out: gateways in this process (node ids n1, n2, n3) share one topic space through a
//! nats-server (Debian's package) that each test starts on a free port with JetStream in a
//! temporary directory.
//!
//! - [`interop_cluster_flow`]: messages, retained values, requests and Engine.IO polling across
//!   nodes, and a NATS restart losing no QoS 1 message;
//! - [`interop_cluster_auth`]: NATS with user/password, token and TLS (server and client
//!   certificates): the right settings link the nodes, wrong ones leave the link down with the
//!   key to fix in `/readyz` while local traffic flows;
//! - [`interop_cluster_shared`]: MQTT 5 shared subscriptions balanced across replicas.
//!
//! Module names carry "interop" so nextest runs them in the interop group (two at a time): each
//! starts a NATS server, several gateways and sometimes the stock Node IPC client.

mod interop_cluster_auth;
mod interop_cluster_flow;
mod interop_cluster_shared;
mod support;
