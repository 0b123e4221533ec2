//! The admin HTTP API (`/api/v1/`) against a gateway with real clients of every protocol
//! (MQTT 5, engine.io-client, socket.io-client, electron-common-ipc):
//! listings, kicks, publish and request, retained values, the live stream and its resumption,
//! access control. One test binary, split by concept.

mod access;
mod clients;
mod messages;
mod services;
mod socketio;
mod stream;
mod support;
