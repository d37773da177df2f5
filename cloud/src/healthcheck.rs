//! `cloud healthcheck`: asks a running `cloud serve` for `GET /healthz` and exits 0
//! only on a 200. Container images carry no curl, so their `HEALTHCHECK` runs the
//! binary itself; it reads the same `--listen`/`CLOUD_LISTEN` as `serve`, so the
//! image's environment is enough.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Body;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Where to knock: the listen address, with an unspecified IP (`0.0.0.0`, `::`)
/// replaced by the loopback address of the same family.
pub fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `GET http://<target>/healthz` within `timeout`; an error names what failed.
pub async fn check(listen: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let addr = target(listen);
    tokio::time::timeout(timeout, get_healthz(addr))
        .await
        .with_context(|| format!("no answer from http://{addr}/healthz within {} s", timeout.as_secs()))?
}

async fn get_healthz(addr: SocketAddr) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}; is `cloud serve` listening there?"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get("/healthz").header(hyper::header::HOST, addr.to_string()).body(Body::empty())?;
    let response = sender.send_request(request).await.with_context(|| format!("GET http://{addr}/healthz failed"))?;
    if !response.status().is_success() {
        bail!("http://{addr}/healthz answered {}", response.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_checked_on_loopback() {
        assert_eq!(target("0.0.0.0:3001".parse().unwrap()), "127.0.0.1:3001".parse().unwrap());
        assert_eq!(target("[::]:3001".parse().unwrap()), "[::1]:3001".parse().unwrap());
        assert_eq!(target("10.0.0.5:80".parse().unwrap()), "10.0.0.5:80".parse().unwrap());
    }

    #[tokio::test]
    async fn answers_only_when_a_server_says_200() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        check(addr, Duration::from_secs(5)).await.unwrap();
        server.abort();
        let _ = server.await;
        // Nothing listens there any more.
        let err = check(addr, Duration::from_secs(5)).await.unwrap_err();
        assert!(format!("{err:#}").contains("cannot connect"), "{err:#}");
    }
}
