//! Moving bytes without holding them: request bodies streamed to a backend (one put
//! for a small body, a multipart upload of equal parts for a large one) while their
//! size and SHA-256 are computed and the size limit enforced, and objects streamed back
//! out in large chunks.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use sha2::{Digest as _, Sha256};
use switchyard_providers::storage::object_store::path::Path;
use switchyard_providers::storage::object_store::{
    self, Attribute, Attributes, GetResult, GetResultPayload, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, WriteMultipart,
};

/// Parts of one upload in flight to the backend at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Bytes read from a local file per chunk of a download.
const FILE_CHUNK: usize = 256 * 1024;

/// What was written.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the client sent nothing for {0:?}")]
    Idle(Duration),
    #[error("the request body could not be read: {0}")]
    Body(axum::Error),
    #[error("the backend refused the write: {0}")]
    Backend(#[from] object_store::Error),
}

/// How a write goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteSpec<'a> {
    pub(crate) limit: Option<u64>,
    pub(crate) part_size: usize,
    pub(crate) idle: Duration,
    /// Sent to backends that keep it (S3, GCS), so that their own signed URLs answer
    /// with it; `None` for backends that keep no attributes.
    pub(crate) content_type: Option<&'a str>,
}

/// Streams `body` to `path`. Nothing is left at `path` (or in a half-finished multipart
/// upload) when this fails; what the path held before stays.
///
/// A body refused for its size is read on (and discarded) up to [`DRAIN_BYTES`] more
/// within [`DRAIN_TIME`], so that a client still sending gets to read the 413 instead
/// of a broken connection; past those bounds the connection is closed.
pub(crate) async fn write(
    store: &dyn ObjectStore,
    path: &Path,
    body: Body,
    spec: WriteSpec<'_>,
) -> Result<Written, WriteError> {
    let mut chunks = body.into_data_stream();
    let written = write_chunks(store, path, &mut chunks, spec).await;
    if let Err(WriteError::TooLarge(_)) = &written {
        let drain = async {
            let mut left = DRAIN_BYTES;
            while let Some(Ok(bytes)) = chunks.next().await {
                left = left.saturating_sub(bytes.len());
                if left == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    }
    written
}

/// The most of a refused body read and discarded after the refusal.
const DRAIN_BYTES: usize = 64 << 20;

/// The longest a refused body is read on after the refusal.
const DRAIN_TIME: Duration = Duration::from_secs(5);

async fn write_chunks(
    store: &dyn ObjectStore,
    path: &Path,
    chunks: &mut axum::body::BodyDataStream,
    spec: WriteSpec<'_>,
) -> Result<Written, WriteError> {
    let mut attributes = Attributes::new();
    if let Some(ct) = spec.content_type {
        attributes.insert(Attribute::ContentType, ct.to_string().into());
    }
    let mut hasher = Hasher::start();
    let mut size: u64 = 0;
    // The body's first chunks, kept as they came (not copied) until they make a part.
    let mut first: Vec<Bytes> = Vec::new();
    let mut first_len = 0usize;
    let mut next = async || -> Result<Option<Bytes>, WriteError> {
        match tokio::time::timeout(spec.idle, chunks.next()).await {
            Err(_) => Err(WriteError::Idle(spec.idle)),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => Err(WriteError::Body(e)),
            Ok(Some(Ok(bytes))) => Ok(Some(bytes)),
        }
    };
    let counted = |bytes: &Bytes, size: &mut u64| {
        *size += bytes.len() as u64;
        if let Some(limit) = spec.limit
            && *size > limit
        {
            return Err(WriteError::TooLarge(limit));
        }
        Ok(())
    };
    // Small bodies go up in one request.
    while first_len <= spec.part_size {
        let Some(bytes) = next().await? else {
            let put = PutOptions {
                attributes,
                ..PutOptions::default()
            };
            store
                .put_opts(path, first.into_iter().collect::<PutPayload>(), put)
                .await?;
            return Ok(Written {
                size,
                sha256: hasher.finish().await,
            });
        };
        counted(&bytes, &mut size)?;
        hasher.update(bytes.clone()).await;
        first_len += bytes.len();
        first.push(bytes);
    }
    let options = PutMultipartOptions {
        attributes,
        ..PutMultipartOptions::default()
    };
    let upload = store.put_multipart_opts(path, options).await?;
    let mut parts = WriteMultipart::new_with_chunk_size(upload, spec.part_size);
    for bytes in first {
        parts.put(bytes);
    }
    let streamed = async {
        while let Some(bytes) = next().await? {
            counted(&bytes, &mut size)?;
            hasher.update(bytes.clone()).await;
            parts.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            parts.put(bytes);
        }
        Ok::<(), WriteError>(())
    }
    .await;
    match streamed {
        Ok(()) => {
            parts.finish().await?;
            Ok(Written {
                size,
                sha256: hasher.finish().await,
            })
        }
        Err(e) => {
            if let Err(abort) = parts.abort().await {
                tracing::warn!(error = %abort, "aborting a refused multipart upload failed; the backend expires it");
            }
            Err(e)
        }
    }
}

/// SHA-256 computed on another task, so that hashing overlaps with receiving the next
/// chunks and writing the last ones. Chunks are shared, not copied, and handed over in
/// batches of about [`Hasher::BATCH`] bytes to keep the hand-overs few.
struct Hasher {
    chunks: Option<tokio::sync::mpsc::Sender<Vec<Bytes>>>,
    batch: Vec<Bytes>,
    batched: usize,
    digest: tokio::task::JoinHandle<String>,
}

impl Hasher {
    const BATCH: usize = 1 << 20;
    /// Batches waiting to be hashed; a full queue makes the writer wait.
    const QUEUE: usize = 8;

    fn start() -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(Self::QUEUE);
        let digest = tokio::spawn(async move {
            let mut hasher = Sha256::new();
            while let Some(batch) = rx.recv().await {
                for chunk in batch {
                    hasher.update(&chunk);
                }
            }
            hex::encode(hasher.finalize())
        });
        Self {
            chunks: Some(tx),
            batch: Vec::new(),
            batched: 0,
            digest,
        }
    }

    async fn update(&mut self, chunk: Bytes) {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= Self::BATCH {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        self.batched = 0;
        if let (Some(tx), false) = (&self.chunks, batch.is_empty()) {
            let _ = tx.send(batch).await;
        }
    }

    async fn finish(mut self) -> String {
        self.flush().await;
        drop(self.chunks.take());
        (&mut self.digest).await.unwrap_or_default()
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        self.digest.abort();
    }
}

/// The object's bytes as a stream; a local file is read in large chunks.
pub(crate) fn bytes(result: GetResult) -> BoxStream<'static, Result<Bytes, object_store::Error>> {
    match result.payload {
        GetResultPayload::File(file, _) => {
            let range = result.range;
            futures_util::stream::unfold(
                (Some(file), range.start, range.end),
                |(file, at, end)| async move {
                    let file = file?;
                    if at >= end {
                        return None;
                    }
                    let want = FILE_CHUNK.min((end - at) as usize);
                    let read = tokio::task::spawn_blocking(move || {
                        use std::io::{Read as _, Seek as _, SeekFrom};
                        let mut file = file;
                        let mut buf = vec![0u8; want];
                        file.seek(SeekFrom::Start(at))?;
                        file.read_exact(&mut buf)?;
                        Ok::<_, std::io::Error>((file, buf))
                    })
                    .await;
                    match read {
                        Ok(Ok((file, buf))) => {
                            let n = buf.len() as u64;
                            Some((Ok(Bytes::from(buf)), (Some(file), at + n, end)))
                        }
                        Ok(Err(e)) => Some((Err(generic(e)), (None, end, end))),
                        Err(e) => Some((Err(generic(e)), (None, end, end))),
                    }
                },
            )
            .boxed()
        }
        GetResultPayload::Stream(_) => result.into_stream(),
    }
}

fn generic(e: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: "local",
        source: Box::new(e),
    }
}

/// Reads the whole object to compute its size and SHA-256, a chunk at a time.
pub(crate) async fn digest(result: GetResult) -> Result<Written, object_store::Error> {
    let mut stream = bytes(result);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok(Written {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}
