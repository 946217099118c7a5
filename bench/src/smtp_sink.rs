//! An in-process SMTP sink for benchmarks: accepts every message, keeps none, counts
//! them.
//!
//! It speaks what an SMTP client such as lettre needs: the greeting, `EHLO`/`HELO`
//! (advertising `PIPELINING`, `8BITMIME` and `SMTPUTF8`), `MAIL`, `RCPT`, `DATA` (the
//! body ends at a line holding a single `.`; dot-stuffed lines are simply part of the
//! body), `RSET`, `NOOP` and `QUIT`; anything else gets `502`. Each connection is a Tokio
//! task with buffered reads and writes; replies are flushed only when the client has
//! nothing more pipelined, and lines are read into one reused buffer.
//!
//! A message counts once its body's final `.` line has been read, before the `250` is
//! sent, so a client that saw the `250` always finds it counted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running sink. Dropping it stops accepting connections; open ones finish on their
/// own.
#[derive(Debug)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    /// Messages accepted so far.
    pub received: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Starts a sink on `127.0.0.1` and a free port.
pub async fn start() -> io::Result<SmtpSink> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let accept = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let counter = Arc::clone(&counter);
                    tokio::spawn(async move {
                        // A client hanging up mid-session is not the sink's concern.
                        let _ = serve(stream, &counter).await;
                    });
                }
                // Out of file descriptors or similar: let some connections close.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    Ok(SmtpSink {
        addr,
        received,
        accept,
    })
}

const GREETING: &[u8] = b"220 smtp-sink ESMTP ready\r\n";
const EHLO: &[u8] = b"250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
const HELO: &[u8] = b"250 smtp-sink\r\n";
const OK: &[u8] = b"250 2.0.0 Ok\r\n";
const SENDER_OK: &[u8] = b"250 2.1.0 Ok\r\n";
const RECIPIENT_OK: &[u8] = b"250 2.1.5 Ok\r\n";
const START_DATA: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";
const QUEUED: &[u8] = b"250 2.0.0 Ok: queued\r\n";
const BYE: &[u8] = b"221 2.0.0 Bye\r\n";
const NEED_MAIL: &[u8] = b"503 5.5.1 Error: need MAIL command\r\n";
const NEED_RCPT: &[u8] = b"503 5.5.1 Error: need RCPT command\r\n";
const UNKNOWN: &[u8] = b"502 5.5.2 Error: command not recognized\r\n";

/// One client's session.
struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    line: Vec<u8>,
}

impl Session {
    /// Reads the next line into `self.line`; `false` at end of stream. Pending replies
    /// are flushed first unless the client has already pipelined more input.
    async fn next_line(&mut self) -> io::Result<bool> {
        if self.reader.buffer().is_empty() && !self.writer.buffer().is_empty() {
            self.writer.flush().await?;
        }
        self.line.clear();
        Ok(self.reader.read_until(b'\n', &mut self.line).await? > 0)
    }

    /// Reads a message body through its final `.` line; `false` if the stream ended
    /// first.
    async fn skip_body(&mut self) -> io::Result<bool> {
        while self.next_line().await? {
            if self.line == b".\r\n" || self.line == b".\n" {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

async fn serve(stream: TcpStream, received: &AtomicU64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut session = Session {
        reader: BufReader::with_capacity(64 * 1024, read),
        writer: BufWriter::with_capacity(16 * 1024, write),
        line: Vec::with_capacity(1024),
    };
    session.writer.write_all(GREETING).await?;
    let mut has_sender = false;
    let mut has_recipient = false;

    while session.next_line().await? {
        let reply = match command(&session.line) {
            Command::Ehlo => EHLO,
            Command::Helo => HELO,
            Command::Mail => {
                has_sender = true;
                has_recipient = false;
                SENDER_OK
            }
            Command::Rcpt if has_sender => {
                has_recipient = true;
                RECIPIENT_OK
            }
            Command::Rcpt => NEED_MAIL,
            Command::Data if has_recipient => {
                session.writer.write_all(START_DATA).await?;
                if !session.skip_body().await? {
                    return Ok(());
                }
                received.fetch_add(1, Ordering::Relaxed);
                has_sender = false;
                has_recipient = false;
                QUEUED
            }
            Command::Data => NEED_RCPT,
            Command::Rset => {
                has_sender = false;
                has_recipient = false;
                OK
            }
            Command::Noop => OK,
            Command::Quit => {
                session.writer.write_all(BYE).await?;
                session.writer.flush().await?;
                return Ok(());
            }
            Command::Unknown => UNKNOWN,
        };
        session.writer.write_all(reply).await?;
    }
    session.writer.flush().await
}

enum Command {
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    Rset,
    Noop,
    Quit,
    Unknown,
}

/// The command a line starts with, matched without case and without allocating.
fn command(line: &[u8]) -> Command {
    let Some(verb) = line.get(..4) else {
        return Command::Unknown;
    };
    // Verbs are four letters, followed by a space or the end of the line.
    if !matches!(line.get(4), None | Some(b' ' | b'\r' | b'\n')) {
        return Command::Unknown;
    }
    const VERBS: [(&[u8; 4], Command); 8] = [
        (b"EHLO", Command::Ehlo),
        (b"HELO", Command::Helo),
        (b"MAIL", Command::Mail),
        (b"RCPT", Command::Rcpt),
        (b"DATA", Command::Data),
        (b"RSET", Command::Rset),
        (b"NOOP", Command::Noop),
        (b"QUIT", Command::Quit),
    ];
    VERBS
        .into_iter()
        .find(|(name, _)| verb.eq_ignore_ascii_case(*name))
        .map_or(Command::Unknown, |(_, command)| command)
}

#[cfg(test)]
mod tests {
    use super::*;

    use switchyard_core::message::Category;
    use switchyard_providers::email::smtp::{SmtpConfig, SmtpTls};
    use switchyard_providers::email::{Email, EmailProviderConfig};
    use tokio::io::AsyncReadExt as _;

    #[tokio::test]
    async fn counts_messages_sent_through_the_smtp_provider() {
        let sink = start().await.expect("sink");
        let provider = EmailProviderConfig::Smtp(SmtpConfig {
            name: None,
            priority: 0,
            timeout_secs: Some(10),
            url: format!("smtp://{}", sink.addr).into(),
            tls: SmtpTls::None,
            pool_size: Some(8),
            from: None,
            ca_file: None,
        })
        .build_with_env(&switchyard_providers::http_client(), &|_| None)
        .expect("smtp provider");

        let mut sends = tokio::task::JoinSet::new();
        for i in 0..100 {
            let provider = Arc::clone(&provider);
            sends.spawn(async move {
                let email = Email {
                    message_id: format!("msg_bench{i}"),
                    from: "bench@acme.test".into(),
                    to: vec!["sink@example.test".into()],
                    cc: vec![],
                    bcc: vec!["copy@example.test".into()],
                    reply_to: None,
                    subject: format!("message {i}"),
                    // A line starting with a dot is dot-stuffed on the wire.
                    text: Some(format!(".hidden dot\n.\nbody of message {i}\n")),
                    html: None,
                    attachments: vec![],
                    category: Category::Transactional,
                };
                provider.send(&email).await
            });
        }
        while let Some(result) = sends.join_next().await {
            result.expect("task").expect("sent");
        }
        assert_eq!(sink.received.load(Ordering::Relaxed), 100);
    }

    #[tokio::test]
    async fn answers_a_pipelined_session_in_order() {
        let sink = start().await.expect("sink");
        let mut stream = TcpStream::connect(sink.addr).await.expect("connect");
        let session = concat!(
            "ehlo client\r\n",
            "RCPT TO:<early@example.test>\r\n",
            "MAIL FROM:<a@acme.test>\r\n",
            "RCPT TO:<b@example.test>\r\n",
            "DATA\r\n",
            "Subject: dots\r\n\r\n",
            "..stuffed\r\n",
            ". not the end\r\n",
            ".\r\n",
            "NOOP\r\n",
            "VRFY b\r\n",
            "MAIL FROM:<a@acme.test>\r\n",
            "RSET\r\n",
            "DATA\r\n",
            "QUIT\r\n",
        );
        stream.write_all(session.as_bytes()).await.expect("write");
        let mut replies = String::new();
        stream.read_to_string(&mut replies).await.expect("read");
        let codes: Vec<&str> = replies
            .lines()
            .filter(|l| l.as_bytes().get(3) == Some(&b' '))
            .map(|l| &l[..3])
            .collect();
        assert_eq!(
            codes,
            [
                "220", "250", "503", "250", "250", "354", "250", "250", "502", "250", "250", "503",
                "221"
            ],
            "{replies}"
        );
        assert!(
            replies.contains("250-PIPELINING\r\n250-8BITMIME\r\n"),
            "{replies}"
        );
        assert_eq!(sink.received.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_mid_message_is_not_counted() {
        let sink = start().await.expect("sink");
        let mut stream = TcpStream::connect(sink.addr).await.expect("connect");
        stream
            .write_all(
                b"HELO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\npartial\r\n",
            )
            .await
            .expect("write");
        drop(stream);
        let second = TcpStream::connect(sink.addr)
            .await
            .expect("sink still accepts");
        drop(second);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sink.received.load(Ordering::Relaxed), 0);
    }
}
