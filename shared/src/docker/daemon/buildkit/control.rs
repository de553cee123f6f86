//! The BuildKit control API of the daemon, reached the way buildx's docker driver reaches it: an
//! HTTP `POST /grpc` upgraded to h2c on the Engine API socket. bollard keeps its own control
//! client private to the solve, so the build's status stream (`Control.Status` for the build's
//! ref) needs this second connection beside it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint, Uri};

/// The largest status message accepted: the size buildkitd itself allows.
const MAX_MESSAGE: usize = 16 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A control client on the daemon at `host` (`unix://…`, `tcp://…` or `http://…`).
pub async fn connect(host: &str) -> Result<ControlClient<Channel>, BoxError> {
    let dialer = Dialer {
        host: host.to_string(),
    };
    // The URI only satisfies tonic: the dialer decides where the connection goes.
    let channel = Endpoint::from_static("http://docker.invalid")
        .connect_with_connector(dialer)
        .await?;
    Ok(ControlClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// Opens one upgraded `/grpc` connection per call.
#[derive(Clone)]
struct Dialer {
    host: String,
}

impl tonic::codegen::Service<Uri> for Dialer {
    type Response = Upgraded;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let host = self.host.clone();
        Box::pin(async move { dial(&host).await })
    }
}

async fn dial(host: &str) -> Result<Upgraded, BoxError> {
    if let Some(path) = host.strip_prefix("unix://") {
        upgrade(tokio::net::UnixStream::connect(path).await?).await
    } else if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        upgrade(tokio::net::TcpStream::connect(addr.trim_end_matches('/')).await?).await
    } else {
        Err(format!("no BuildKit progress over {host} (only unix:// and tcp:// sockets)").into())
    }
}

/// Sends the upgrade request on `io` and returns the connection once the daemon switched it.
async fn upgrade<S>(io: S) -> Result<Upgraded, BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn.with_upgrades());
    let request = hyper::Request::post("/grpc")
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "h2c")
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!("the daemon answered /grpc with {}", response.status()).into());
    }
    Ok(hyper::upgrade::on(response).await?)
}
