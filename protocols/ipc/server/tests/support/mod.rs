//! A wire-level IPC client and a broker started in-process, for the broker's tests.

#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use prometheus::Registry;
use switchboard_fabric::{AllowAll, Authorizer, Fabric};
use switchboard_ipc::{IpcConfig, IpcHandle, IpcService};
use switchboard_ipc_proto::{Command, Packet, PacketCodec, Peer, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const WAIT: Duration = Duration::from_secs(5);

/// A broker serving on an ephemeral loopback port.
pub struct Broker {
    pub addr: SocketAddr,
    pub fabric: Fabric,
    pub handle: IpcHandle,
    pub registry: Registry,
    pub stop: CancellationToken,
    pub tracker: TaskTracker,
}

impl Broker {
    pub async fn start() -> Broker {
        Broker::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut IpcConfig)) -> Broker {
        Broker::start_full(configure, Arc::new(AllowAll)).await
    }

    pub async fn start_full(
        configure: impl FnOnce(&mut IpcConfig),
        authorizer: Arc<dyn Authorizer>,
    ) -> Broker {
        let mut config = IpcConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..IpcConfig::default()
        };
        configure(&mut config);
        let fabric = Fabric::standalone();
        let registry = Registry::new();
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let service =
            IpcService::new(config, fabric.clone(), authorizer, &registry).expect("valid config");
        let handle = service.handle();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tracker.spawn(service.serve(listener, None, stop.clone()));
        Broker {
            addr,
            fabric,
            handle,
            registry,
            stop,
            tracker,
        }
    }

    pub async fn client(&self, name: &str) -> Client {
        Client::connect(self.addr, name).await
    }

    /// Cancels the stop token and waits for every task to end.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .expect("the broker's tasks end after stop");
    }

    pub async fn wait_for(&self, what: &str, mut cond: impl FnMut(&Broker) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !cond(self) {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// One IPC client speaking the wire protocol directly.
pub struct Client {
    pub stream: TcpStream,
    pub peer: Peer,
    buf: BytesMut,
    codec: PacketCodec,
}

impl Client {
    /// Connects without a handshake.
    pub async fn raw(addr: SocketAddr) -> TcpStream {
        TcpStream::connect(addr).await.unwrap()
    }

    /// Connects and sends `HAN` for a peer named `name`.
    pub async fn connect(addr: SocketAddr, name: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut client = Client {
            stream,
            peer: Peer::node(format!("id-{name}"), name),
            buf: BytesMut::new(),
            codec: PacketCodec::default(),
        };
        let han = Packet::from_command(Command::handshake(client.peer.clone())).unwrap();
        client.write(&han).await;
        client
    }

    pub async fn write(&mut self, packet: &Packet) {
        self.stream.write_all(packet.frame()).await.unwrap();
    }

    pub async fn listen(&mut self, channel: &str) {
        let lica =
            Packet::from_command(Command::add_listener(vec![self.peer.clone()], channel)).unwrap();
        self.write(&lica).await;
    }

    pub async fn unlisten(&mut self, channel: &str) {
        let licr = Packet::from_command(Command::remove_listener(vec![self.peer.clone()], channel))
            .unwrap();
        self.write(&licr).await;
    }

    /// Sends `MES` on `channel`; returns the packet sent.
    pub async fn send(&mut self, channel: &str, args: &[Value]) -> Packet {
        let p = Packet::from_message(Command::send(channel, self.peer.clone()), args).unwrap();
        self.write(&p).await;
        p
    }

    /// Sends a targeted `MES`.
    pub async fn send_to(&mut self, target: &Peer, channel: &str, args: &[Value]) -> Packet {
        let command = Command::send(channel, self.peer.clone()).with_target(target.clone());
        let p = Packet::from_message(command, args).unwrap();
        self.write(&p).await;
        p
    }

    /// Sends a request `MES` with correlation `id`.
    pub async fn request(&mut self, channel: &str, id: &str, args: &[Value]) -> Packet {
        let command = Command::send(channel, self.peer.clone()).with_request(id);
        let p = Packet::from_message(command, args).unwrap();
        self.write(&p).await;
        p
    }

    /// Answers `request` with an `RQR`.
    pub async fn respond(&mut self, request: &Packet, resolve: bool, args: &[Value]) -> Packet {
        let command = Command::response_to(request.command(), self.peer.clone(), resolve).unwrap();
        let p = Packet::from_message(command, args).unwrap();
        self.write(&p).await;
        p
    }

    /// Waits until everything this client sent before has been processed by the broker: a
    /// message addressed to itself comes back.
    pub async fn sync(&mut self) {
        let me = self.peer.clone();
        let marker = self.send_to(&me, "__sync", &[]).await;
        loop {
            let p = self.recv().await;
            if p.frame() == marker.frame() {
                return;
            }
        }
    }

    /// The next packet (fails after [`WAIT`]).
    pub async fn recv(&mut self) -> Packet {
        match tokio::time::timeout(WAIT, self.next()).await {
            Ok(Some(p)) => p,
            Ok(None) => panic!("{}: connection closed while waiting", self.peer.id),
            Err(_) => panic!("{}: nothing received within {WAIT:?}", self.peer.id),
        }
    }

    /// The next packet on a channel other than `__sync`, or `None` at EOF.
    pub async fn next(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf).unwrap() {
                return Some(p);
            }
            let n = self.stream.read_buf(&mut self.buf).await.ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// Asserts that nothing but the own sync marker arrives before a round trip completes.
    pub async fn expect_nothing(&mut self) {
        let me = self.peer.clone();
        let marker = self.send_to(&me, "__sync", &[]).await;
        let p = self.recv().await;
        assert_eq!(
            p.frame(),
            marker.frame(),
            "{} received an unexpected packet: {:?}",
            self.peer.id,
            p.command()
        );
    }

    /// Asserts that the broker ends the connection.
    pub async fn expect_closed(&mut self) {
        match tokio::time::timeout(WAIT, async {
            loop {
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => self.buf.clear(),
                }
            }
        })
        .await
        {
            Ok(()) => {}
            Err(_) => panic!("{}: the broker did not close the connection", self.peer.id),
        }
    }
}

/// Asserts that `stream` is closed by the broker.
pub async fn expect_eof(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the broker did not close the connection");
}
