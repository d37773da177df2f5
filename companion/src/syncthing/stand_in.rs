//! For unit tests only: a loopback HTTP server that answers like a Syncthing
//! version no binary here can run (2.x), from answers written down from its
//! source. Each request gets `answer(path_and_query)`; one request per
//! connection, so no HTTP parsing beyond the request line is needed.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Status, content type and body of one answer.
pub(crate) type Answer = (u16, &'static str, String);

/// Starts the server; returns its base URL. It lives as long as the runtime.
pub(crate) async fn serve(answer: fn(&str) -> Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 8192];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]);
            let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, content_type, body) = answer(&target);
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    url
}
