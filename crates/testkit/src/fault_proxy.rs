//! A TCP proxy on a fixed loopback port that can be stopped (the port refuses connections and
//! every connection through it is cut) and started again: a KMS outage that moto, which keeps
//! its keys in memory, survives.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(10);

/// Forwards connections from its own loopback port to `target` while started.
pub struct FaultProxy {
    port: u16,
    target: SocketAddr,
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    accept: JoinHandle<()>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    /// A started proxy to `target` on a free port.
    pub fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut p = FaultProxy {
            port,
            target,
            running: None,
        };
        p.run(listener);
        p
    }

    /// The endpoint URL nodes use.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether it forwards now.
    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Listens on the same port again.
    pub fn resume(&mut self) {
        if self.running.is_some() {
            return;
        }
        // The port was ours a moment ago; std sets SO_REUSEADDR, so only a foreign process
        // binding it in between can make this fail.
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.run(listener);
    }

    /// Closes the port and cuts every open connection (also idle pooled ones).
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop.store(true, Ordering::SeqCst);
            r.accept.join().ok();
            for c in r.conns.lock().unwrap().drain(..) {
                c.shutdown(Shutdown::Both).ok();
            }
        }
    }

    fn run(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let target = self.target;
        let accept = {
            let (stop, conns) = (stop.clone(), conns.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => forward(client, target, &conns),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(ACCEPT_POLL);
                        }
                        Err(_) => std::thread::sleep(ACCEPT_POLL),
                    }
                }
                // The listener is dropped here: the port refuses connections.
            })
        };
        self.running = Some(Running {
            stop,
            accept,
            conns,
        });
    }
}

/// Connects to `target` and pumps bytes both ways on two threads.
fn forward(client: TcpStream, target: SocketAddr, conns: &Mutex<Vec<TcpStream>>) {
    client.set_nonblocking(false).ok();
    let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
        client.shutdown(Shutdown::Both).ok();
        return;
    };
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    {
        let mut list = conns.lock().unwrap();
        list.push(client.try_clone().unwrap());
        list.push(upstream.try_clone().unwrap());
    }
    std::thread::spawn(move || pump(client, u2));
    std::thread::spawn(move || pump(upstream, c2));
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    to.shutdown(Shutdown::Write).ok();
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop();
    }
}
