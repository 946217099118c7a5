//! Connections as the hub accepts them. When a request cannot even be parsed (bytes
//! that are not HTTP, a URI or a header section too long), the HTTP server answers on
//! its own with an empty 400, 414 or 431 and closes the connection; this wraps each
//! connection so that such an answer goes out as a problem document like every other
//! error. The hub's own answers are never touched: every 4xx it writes has a body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The hub's listener.
#[derive(Debug)]
pub(crate) struct ProblemListener(pub(crate) TcpListener);

impl axum::serve::Listener for ProblemListener {
    type Io = Connection;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Connection, std::net::SocketAddr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        // Answers are written whole; waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        (
            Connection {
                inner: stream,
                pending: Vec::new(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }
}

/// An accepted connection.
#[derive(Debug)]
pub(crate) struct Connection {
    inner: TcpStream,
    /// A rewritten answer not yet fully written.
    pending: Vec<u8>,
}

/// The problem document for the HTTP server's own answer `head`, if it is one: a 400,
/// 414 or 431 head with an empty body.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    // The server's own answers are a short head alone; anything longer is not one, and
    // is passed on without being looked at further.
    if head.len() > 512 || !head.starts_with(b"HTTP/1.") {
        return None;
    }
    let (status, code, detail) = match head.get(9..12)? {
        b"400" => (
            400,
            "malformed_request",
            "the request is not well-formed HTTP",
        ),
        b"414" => (414, "uri_too_long", "the request's URI is too long"),
        b"431" => (
            431,
            "headers_too_large",
            "the request's header section is too large",
        ),
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    let lower = text.to_ascii_lowercase();
    if !lower.ends_with("\r\n\r\n") || !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let title = http::StatusCode::from_u16(status)
        .ok()?
        .canonical_reason()
        .unwrap_or("Error");
    let request_id = super::request_id::from_header(None);
    tracing::info!(request_id = %request_id, status, code, "refused a request that could not be parsed");
    let body = serde_json::json!({
        "type": format!("urn:switchyard:problem:{code}"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    })
    .to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl Connection {
    /// Writes what is pending; `Ready(Ok)` once nothing is.
    fn flush_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.flush_pending(cx))?;
        if let Some(problem) = rewrite(buf) {
            self.pending = problem;
            let _ = self.flush_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.flush_pending(cx))?;
        let filled: Vec<&io::IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).collect();
        if let [only] = filled.as_slice()
            && let Some(problem) = rewrite(only)
        {
            self.pending = problem;
            let _ = self.flush_pending(cx)?;
            return Poll::Ready(Ok(only.len()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.flush_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.flush_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_parser_answers_are_rewritten() {
        let canned = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n";
        let rewritten = String::from_utf8(rewrite(canned).unwrap()).unwrap();
        assert!(rewritten.starts_with("HTTP/1.1 431 "), "{rewritten}");
        assert!(rewritten.contains("application/problem+json"));
        assert!(rewritten.contains("\"code\":\"headers_too_large\""));
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").is_some());
        for untouched in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"{\"partial\": \"body\"}",
        ] {
            assert!(
                rewrite(untouched).is_none(),
                "{}",
                String::from_utf8_lossy(untouched)
            );
        }
    }
}
