//! The servers of the suite: switchboard (release binary, a config file written here, `--set`
//! overrides, readiness from `/readyz`), and the peers it is measured against, each started
//! fresh, pinned to the server core, on free loopback ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::eio::EioTarget;
use crate::error::{Context, Result};
use crate::mqtt::MqttTarget;
use crate::procs::{self, Proc, Spawn, free_port, local};

/// Paths and pinning shared by everything the suite starts.
#[derive(Debug, Clone)]
pub struct Env {
    /// The repository root.
    pub root: PathBuf,
    /// Where configs, logs and results go (`target/bench`).
    pub out: PathBuf,
    /// The switchboard binary.
    pub switchboard: PathBuf,
    /// This binary (for the relay).
    pub this_exe: PathBuf,
    /// The core servers are pinned to.
    pub server_core: Option<usize>,
    /// The core the generator and its helpers (upstream, stock clients) run on.
    pub gen_core: Option<usize>,
}

impl Env {
    /// `tests/bench/node`.
    pub fn node_dir(&self) -> PathBuf {
        self.root.join("tests/bench/node")
    }

    /// Scratch files of this run.
    pub fn run_dir(&self) -> PathBuf {
        self.out.join("run")
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let dir = self.run_dir();
        std::fs::create_dir_all(&dir).context(|| format!("create {}", dir.display()))?;
        let p = dir.join(name);
        std::fs::write(&p, text).context(|| format!("write {}", p.display()))?;
        Ok(p)
    }
}

/// The kinds of server the suite runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerKind {
    /// switchboard with these `--set` overrides.
    Switchboard(Vec<(String, String)>),
    /// mosquitto 2 from Debian.
    Mosquitto,
    /// The Node engine.io 6 server, echoing (`false`) or broadcasting (`true`).
    NodeEngineIo {
        /// Broadcast every message to every session.
        broadcast: bool,
    },
    /// The Node socket.io 4 server with the control events over an in-memory pub/sub.
    NodeSocketIo,
    /// The Node broker of electron-common-ipc 16.
    NodeIpcBroker,
    /// node-http-proxy 1.18, with or without a keep-alive agent.
    NodeHttpProxy {
        /// Use `new http.Agent({keepAlive: true})`.
        keepalive: bool,
    },
    /// nginx as a keep-alive reverse proxy.
    NginxProxy,
    /// The generator's own byte relay ("mqtt" or "ipc"), to measure the generator itself.
    Relay(&'static str),
}

impl ServerKind {
    /// A short name for tables.
    pub fn label(&self) -> String {
        match self {
            ServerKind::Switchboard(_) => "switchboard".to_owned(),
            ServerKind::Mosquitto => "mosquitto".to_owned(),
            ServerKind::NodeEngineIo { .. } => "engine.io (Node)".to_owned(),
            ServerKind::NodeSocketIo => "socket.io (Node)".to_owned(),
            ServerKind::NodeIpcBroker => "electron-common-ipc broker (Node)".to_owned(),
            ServerKind::NodeHttpProxy { keepalive: true } => {
                "node-http-proxy (keep-alive agent)".to_owned()
            }
            ServerKind::NodeHttpProxy { keepalive: false } => {
                "node-http-proxy (no agent)".to_owned()
            }
            ServerKind::NginxProxy => "nginx (keep-alive proxy)".to_owned(),
            ServerKind::Relay(p) => format!("generator via {p} byte relay"),
        }
    }
}

/// Where a running server can be reached, per protocol.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// MQTT over TCP.
    pub mqtt: Option<MqttTarget>,
    /// MQTT over WebSocket.
    pub mqtt_ws: Option<MqttTarget>,
    /// Engine.IO.
    pub eio: Option<EioTarget>,
    /// Socket.IO (its Engine.IO path).
    pub sio: Option<EioTarget>,
    /// IPC bus.
    pub ipc: Option<SocketAddr>,
    /// HTTP (the proxy front; requests go to `/up/`).
    pub http: Option<SocketAddr>,
    /// The admin server (switchboard only).
    pub admin: Option<SocketAddr>,
}

/// A started server.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub proc: Proc,
    /// Its endpoints.
    pub endpoints: Endpoints,
}

/// The switchboard listeners of one run.
#[derive(Debug, Clone, Copy)]
pub struct SwitchboardPorts {
    /// HTTP front.
    pub http: u16,
    /// Admin.
    pub admin: u16,
    /// MQTT TCP.
    pub mqtt: u16,
    /// IPC bus.
    pub ipc: u16,
}

impl SwitchboardPorts {
    /// Four free ports.
    pub fn free() -> Result<SwitchboardPorts> {
        Ok(SwitchboardPorts {
            http: free_port()?,
            admin: free_port()?,
            mqtt: free_port()?,
            ipc: free_port()?,
        })
    }

    /// The endpoints switchboard serves on these ports (whether each protocol is actually
    /// served is found out by [`crate::discover`]).
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            mqtt: Some(MqttTarget {
                addr: local(self.mqtt),
                ws_path: None,
            }),
            mqtt_ws: Some(MqttTarget {
                addr: local(self.http),
                ws_path: Some("/mqtt".to_owned()),
            }),
            eio: Some(EioTarget {
                addr: local(self.http),
                path: "/engine.io/".to_owned(),
            }),
            sio: Some(EioTarget {
                addr: local(self.http),
                path: "/socket.io/".to_owned(),
            }),
            ipc: Some(local(self.ipc)),
            http: Some(local(self.http)),
            admin: Some(local(self.admin)),
        }
    }
}

/// The switchboard configuration file of the suite.
pub fn switchboard_config(p: &SwitchboardPorts, upstream: Option<u16>) -> String {
    let mut s = format!(
        "# Written by switchboard-bench.\n\
         [http]\nlisten = \"127.0.0.1:{}\"\n\n\
         [admin]\nlisten = \"127.0.0.1:{}\"\n\n\
         [mqtt]\nlisten = \"127.0.0.1:{}\"\n\n\
         [ipc]\nlisten = \"127.0.0.1:{}\"\n\n\
         [fabric]\nsys_interval_ms = 0\n\n\
         [auth]\nanonymous = true\n\n\
         [telemetry]\nlog_level = \"warn\"\n\n\
         [shutdown]\ngrace_ms = 1000\n",
        p.http, p.admin, p.mqtt, p.ipc
    );
    if let Some(u) = upstream {
        s.push_str(&format!(
            "\n[[proxy.routes]]\nname = \"bench\"\npath_prefix = \"/up\"\n\
             targets = [\"http://127.0.0.1:{u}\"]\nstrip_prefix = true\n"
        ));
    }
    s
}

/// Starts `kind` (pinned to the server core) and waits until it serves.
pub async fn start(env: &Env, kind: &ServerKind, upstream: Option<u16>) -> Result<Server> {
    let logs = env.out.join("logs");
    let limit = Duration::from_secs(20);
    match kind {
        ServerKind::Switchboard(overrides) => {
            let ports = SwitchboardPorts::free()?;
            let cfg = env.write("switchboard.toml", &switchboard_config(&ports, upstream))?;
            let mut args = vec!["--config".to_owned(), cfg.display().to_string()];
            for (k, v) in overrides {
                args.push("--set".to_owned());
                args.push(format!("{k}={v}"));
            }
            let spawn = Spawn {
                name: "switchboard".to_owned(),
                program: env.switchboard.display().to_string(),
                args,
                env: vec![],
                core: env.server_core,
                cwd: None,
            };
            let mut proc = spawn.start(&logs)?;
            procs::wait_http_ok(&mut proc, local(ports.admin), "/readyz", limit).await?;
            Ok(Server {
                proc,
                endpoints: ports.endpoints(),
            })
        }
        ServerKind::Mosquitto => {
            let port = free_port()?;
            let ws_port = free_port()?;
            // mosquitto 2.0.11 refuses a configuration whose only listener is a WebSocket one,
            // so the WebSocket listener always comes with the TCP one.
            let cfg = env.write(
                "mosquitto.conf",
                &format!(
                    "# Written by switchboard-bench: defaults except persistence and logging.\n\
                     listener {port} 127.0.0.1\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n\
                     allow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n"
                ),
            )?;
            let spawn = Spawn::new(
                "mosquitto",
                "mosquitto",
                &["-c", &cfg.display().to_string()],
            )
            .pinned(env.server_core);
            let mut proc = spawn.start(&logs)?;
            procs::wait_port(&mut proc, local(port), limit).await?;
            Ok(Server {
                proc,
                endpoints: Endpoints {
                    mqtt: Some(MqttTarget {
                        addr: local(port),
                        ws_path: None,
                    }),
                    mqtt_ws: Some(MqttTarget {
                        addr: local(ws_port),
                        ws_path: Some("/mqtt".to_owned()),
                    }),
                    ..Endpoints::default()
                },
            })
        }
        ServerKind::NodeEngineIo { broadcast } => {
            let port = free_port()?;
            let mode = if *broadcast { "broadcast" } else { "echo" };
            let mut proc = node(
                env,
                "engineio",
                "eio-server.js",
                &["--port", &port.to_string(), "--mode", mode],
            )
            .start(&logs)?;
            procs::wait_port(&mut proc, local(port), limit).await?;
            Ok(Server {
                proc,
                endpoints: Endpoints {
                    eio: Some(EioTarget {
                        addr: local(port),
                        path: "/engine.io/".to_owned(),
                    }),
                    ..Endpoints::default()
                },
            })
        }
        ServerKind::NodeSocketIo => {
            let port = free_port()?;
            let mut proc = node(
                env,
                "socketio",
                "sio-server.js",
                &["--port", &port.to_string()],
            )
            .start(&logs)?;
            procs::wait_port(&mut proc, local(port), limit).await?;
            Ok(Server {
                proc,
                endpoints: Endpoints {
                    sio: Some(EioTarget {
                        addr: local(port),
                        path: "/socket.io/".to_owned(),
                    }),
                    ..Endpoints::default()
                },
            })
        }
        ServerKind::NodeIpcBroker => {
            let port = free_port()?;
            let mut proc = node(
                env,
                "ipc-broker",
                "ipc-broker.js",
                &["--port", &port.to_string()],
            )
            .start(&logs)?;
            procs::wait_port(&mut proc, local(port), limit).await?;
            Ok(Server {
                proc,
                endpoints: Endpoints {
                    ipc: Some(local(port)),
                    ..Endpoints::default()
                },
            })
        }
        ServerKind::NodeHttpProxy { keepalive } => {
            let port = free_port()?;
            let target = format!("http://127.0.0.1:{}", upstream.unwrap_or(80));
            let agent = if *keepalive { "keepalive" } else { "none" };
            let mut proc = node(
                env,
                "node-http-proxy",
                "http-proxy.js",
                &[
                    "--port",
                    &port.to_string(),
                    "--target",
                    &target,
                    "--agent",
                    agent,
                ],
            )
            .start(&logs)?;
            procs::wait_port(&mut proc, local(port), limit).await?;
            Ok(Server {
                proc,
                endpoints: Endpoints {
                    http: Some(local(port)),
                    ..Endpoints::default()
                },
            })
        }
        ServerKind::NginxProxy => {
            let port = free_port()?;
            let conf = nginx_conf(
                env,
                "nginx-proxy",
                &format!(
                    "upstream up {{ server 127.0.0.1:{}; keepalive 64; }}\n\
                     server {{\n listen 127.0.0.1:{port};\n location /up/ {{\n  proxy_pass http://up/;\n  \
                     proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n  \
                     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n  \
                     proxy_set_header X-Forwarded-Proto $scheme;\n }}\n}}\n",
                    upstream.unwrap_or(80)
                ),
            )?;
            let mut proc = nginx_spawn(env, "nginx-proxy", &conf, env.server_core).start(&logs)?;
            procs::wait_port(&mut proc, local(port), limit).await?;
            Ok(Server {
                proc,
                endpoints: Endpoints {
                    http: Some(local(port)),
                    ..Endpoints::default()
                },
            })
        }
        ServerKind::Relay(proto) => {
            let port = free_port()?;
            let spawn = Spawn::new(
                &format!("relay-{proto}"),
                &env.this_exe.display().to_string(),
                &["relay", "--proto", proto, "--port", &port.to_string()],
            )
            .pinned(env.server_core);
            let mut proc = spawn.start(&logs)?;
            procs::wait_port(&mut proc, local(port), limit).await?;
            let mut endpoints = Endpoints::default();
            if *proto == "mqtt" {
                endpoints.mqtt = Some(MqttTarget {
                    addr: local(port),
                    ws_path: None,
                });
            } else {
                endpoints.ipc = Some(local(port));
            }
            Ok(Server { proc, endpoints })
        }
    }
}

fn node(env: &Env, name: &str, script: &str, args: &[&str]) -> Spawn {
    let mut all = vec![script.to_owned()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    Spawn {
        name: name.to_owned(),
        program: "node".to_owned(),
        args: all,
        env: vec![],
        core: env.server_core,
        cwd: Some(env.node_dir()),
    }
}

fn nginx_conf(env: &Env, name: &str, servers: &str) -> Result<PathBuf> {
    let dir = env.run_dir().join(name);
    std::fs::create_dir_all(dir.join("tmp")).context(|| format!("create {}", dir.display()))?;
    let d = dir.display();
    let user = if is_root() { "user root;\n" } else { "" };
    let text = format!(
        "# Written by switchboard-bench.\n{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 16384; }}\n\
         http {{\n access_log off;\n keepalive_requests 100000000;\n \
         client_body_temp_path {d}/tmp/body;\n proxy_temp_path {d}/tmp/proxy;\n \
         fastcgi_temp_path {d}/tmp/fastcgi;\n uwsgi_temp_path {d}/tmp/uwsgi;\n \
         scgi_temp_path {d}/tmp/scgi;\n{servers}}}\n"
    );
    env.write(&format!("{name}.conf"), &text)
}

fn nginx_spawn(env: &Env, name: &str, conf: &Path, core: Option<usize>) -> Spawn {
    let prefix = env.run_dir().join(name);
    Spawn::new(
        name,
        "nginx",
        &[
            "-p",
            &prefix.display().to_string(),
            "-c",
            &conf.display().to_string(),
        ],
    )
    .pinned(core)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The upstream every proxy forwards to: nginx serving a static 13-byte response, pinned to
/// the generator's core so that the proxy under test has its core to itself.
pub async fn start_upstream(env: &Env) -> Result<(Proc, u16)> {
    let port = free_port()?;
    let conf = nginx_conf(
        env,
        "nginx-upstream",
        &format!(
            "server {{\n listen 127.0.0.1:{port};\n location / {{\n  default_type text/plain;\n  \
             return 200 \"Hello, World!\";\n }}\n}}\n"
        ),
    )?;
    let mut proc =
        nginx_spawn(env, "nginx-upstream", &conf, env.gen_core).start(&env.out.join("logs"))?;
    procs::wait_port(&mut proc, local(port), Duration::from_secs(10)).await?;
    Ok((proc, port))
}
