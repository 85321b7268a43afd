//! A minimal HTTP/1.1 client over `TcpStream` for tests that drive a real `nextbest serve`
//! process: enough for JSON requests to our own server, no dependency.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One keep-alive HTTP/1.1 connection: enough client for JSON posts to our own server.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(port: u16) -> Option<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        Some(Connection {
            reader: BufReader::new(stream),
        })
    }

    /// Waits up to `seconds` for each answer (10 by default): for heavy queries on a loaded
    /// machine.
    #[allow(dead_code)]
    pub fn patient(self, seconds: u64) -> Option<Connection> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(seconds)))
            .ok()?;
        Some(self)
    }

    /// The status and body, or `None` once the server is gone.
    pub fn request(&mut self, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
        self.request_with(method, path, body, &[])
    }

    /// As [`Connection::request`], with extra headers (`("Authorization", "Bearer …")`).
    pub fn request_with(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Option<(u16, Value)> {
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(body.as_bytes()).ok()?;
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut length = 0;
        loop {
            line.clear();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok()?;
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).ok()?;
        Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}

pub fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(mut c) = Connection::open(port) {
            if let Some((200, _)) = c.request("GET", "/readyz", "") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not become ready");
}
