//! One topic space for every protocol, end to end, with the real clients of each ecosystem:
//! browsers on engine.io-client 6 speaking the control protocol, desktop apps on
//! electron-common-ipc 16.0.4, devices on rumqttc (MQTT 3.1.1 and 5).
//!
//! - [`interop_pairs`]: every pair of protocols both ways, with the payload mapping;
//! - [`interop_state`]: retained values for late subscribers, wills, a reconnecting browser's
//!   QoS 1 guarantee, topic mounts;
//! - [`interop_requests`]: request/reply across protocols, answers and rejections;
//! - [`interop_acl`]: one user and ACL model: the same ACL denies the same topic to the same
//!   user on every protocol;
//! - [`interop_slow`]: stalled consumers of every protocol never slow an MQTT publisher, and
//!   their drops are counted per protocol in `/metrics`.

mod interop_acl;
mod interop_pairs;
mod interop_requests;
mod interop_slow;
mod interop_state;
mod support;
