//! The hyper plumbing shared by the local instance and the replay server.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

pub(crate) mod reply;

use reply::{Body, Reply};

pub(crate) type RespBody = BoxBody<Bytes, io::Error>;

/// Returned by a service to make hyper drop the connection without answering.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose (fault injection)")
    }
}

impl std::error::Error for DropConnection {}

/// Something that answers requests.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Response<RespBody>, DropConnection>> + Send;
}

/// A running accept loop. Dropping it stops the loop, closes the listener and aborts every
/// connection task.
#[derive(Debug)]
pub(crate) struct ServerTask {
    task: Option<JoinHandle<()>>,
    pub(crate) addr: SocketAddr,
}

impl ServerTask {
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub(crate) async fn spawn<H: Handler>(
    handler: Arc<H>,
    tls: Option<TlsAcceptor>,
    bind: SocketAddr,
) -> io::Result<ServerTask> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // Owning the connection tasks here means aborting this task aborts them too.
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        conns.spawn(serve_connection(stream, peer, handler.clone(), tls.clone()));
                    }
                    // Out of descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Ok(ServerTask {
        task: Some(task),
        addr,
    })
}

async fn serve_connection<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    tls: Option<TlsAcceptor>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| handler.clone().handle(req, peer));
    let builder = auto::Builder::new(TokioExecutor::new());
    // Connection errors (client went away, injected resets) end only this connection.
    match tls {
        Some(acceptor) => {
            if let Ok(tls_stream) = acceptor.accept(stream).await {
                let _ = builder
                    .serve_connection(TokioIo::new(tls_stream), service)
                    .await;
            }
        }
        None => {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> RespBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Sends one chunk, then fails, so hyper aborts the connection mid-body. The pause between
/// the two lets hyper flush the head and the chunk first: a client must see a response whose
/// body stops short, not a connection that dies before any answer.
struct CutOffBody {
    chunk: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
    failed: bool,
}

impl hyper::body::Body for CutOffBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(chunk) = self.chunk.take() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if self.failed {
            return Poll::Ready(None);
        }
        if self.pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.failed = true;
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "body cut off on purpose (fault injection)",
        ))))
    }
}

pub(crate) fn to_response(reply: Reply) -> Result<Response<RespBody>, DropConnection> {
    let status = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder().status(status);
    for (k, v) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            builder = builder.header(name, value);
        }
    }
    let body = match reply.body {
        Body::Reset => return Err(DropConnection),
        Body::Full(bytes) => full(bytes),
        Body::Truncated { declared, sent } => {
            builder = builder.header(http::header::CONTENT_LENGTH, declared.to_string());
            CutOffBody {
                chunk: Some(sent),
                pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
                failed: false,
            }
            .boxed()
        }
    };
    builder
        .body(body)
        .or_else(|_| Ok(Response::new(full("response could not be built"))))
}
