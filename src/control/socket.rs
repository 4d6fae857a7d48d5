//! The control socket: `serve` listens on `<data-dir>/control.sock`; the CLI connects to it
//! when the store is held by that server.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::{Reply, Request, SOCKET_NAME};

/// The longest request line the server reads.
const MAX_REQUEST: usize = 64 * 1024;

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Listens until `stop` fires; each connection gets one request answered by `answer`. Only
/// processes of the data directory's owner are served. Binding fails (and the server goes
/// on without the channel, saying so) where the path is too long for a Unix socket.
pub fn listen<F, Fut>(data_dir: &Path, answer: F, stop: CancellationToken) -> anyhow::Result<()>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send,
{
    let path = path(data_dir);
    let owner = std::fs::metadata(data_dir)
        .with_context(|| format!("cannot read {}", data_dir.display()))?
        .uid();
    // Left by a server that died: this process holds the store now, so it is not in use.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "control socket: accept failed");
                        continue;
                    }
                },
            };
            // The mode keeps others out; the peer's uid is the second lock.
            match stream.peer_cred() {
                Ok(peer) if peer.uid() == owner || peer.uid() == 0 => {}
                other => {
                    tracing::warn!(?other, "control socket: refused a process of another user");
                    continue;
                }
            }
            let answer = answer.clone();
            tokio::spawn(async move {
                if let Err(error) = serve_one(stream, &*answer).await {
                    tracing::warn!(%error, "control socket: request failed");
                }
            });
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

async fn serve_one<F, Fut>(stream: tokio::net::UnixStream, answer: &F) -> anyhow::Result<()>
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    reader.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => answer(request).await,
        Err(error) => Reply::Error(format!("unreadable request: {error}")),
    };
    let mut text = serde_json::to_string(&reply)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await?;
    Ok(())
}

/// Sends one request to the server holding `data_dir`; `None` if no server listens there.
pub fn call(data_dir: &Path, request: &Request) -> anyhow::Result<Option<Reply>> {
    let path = path(data_dir);
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(&path) else {
        return Ok(None);
    };
    let mut text = serde_json::to_string(request)?;
    text.push('\n');
    stream.write_all(text.as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .context("the server closed the control socket without answering")?;
    let reply = serde_json::from_str(&line).with_context(|| {
        format!(
            "unreadable answer from the server on {}: {line:?}",
            path.display()
        )
    })?;
    Ok(Some(reply))
}
