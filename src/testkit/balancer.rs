//! A round-robin HTTP load balancer on loopback: what a reverse proxy (Caddy, nginx, a cloud
//! load balancer) does in front of several Baithak instances, for the multi-instance tests, the
//! chaos run, the scale benchmark and `scripts/topology` on machines without Docker.
//!
//! Each request goes to the next instance in turn. An instance that refuses the connection or
//! drops it before answering is skipped and the request goes to the next one (a real proxy's
//! passive health check), so a killed instance costs its in-flight requests a retry by the
//! sender, never an answer from nobody. The instance list can change while it runs (an instance
//! restarted on a new port).
//!
//! Written by hand rather than taken from a crate: it is forty lines over reqwest and axum,
//! which the project has already, and a proxy crate would bring its own HTTP stack.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// A running balancer.
pub struct Balancer {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    /// Base URLs of the instances (`http://127.0.0.1:8081`).
    instances: Mutex<Vec<String>>,
    next: AtomicUsize,
    /// Requests answered, per instance base URL, in the order instances were first seen.
    served: Mutex<Vec<(String, usize)>>,
    client: reqwest::Client,
}

impl Balancer {
    /// Starts on `listen` (port 0 for any) in front of `instances` (base URLs).
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn start(listen: SocketAddr, instances: Vec<String>) -> std::io::Result<Balancer> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            instances: Mutex::new(instances),
            next: AtomicUsize::new(0),
            served: Mutex::new(Vec::new()),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .map_err(std::io::Error::other)?,
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Balancer {
            address,
            shared,
            server,
        })
    }

    /// Where it listens.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://{address}{path}`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Replaces the instance list.
    pub fn set_instances(&self, instances: Vec<String>) {
        *lock(&self.shared.instances) = instances;
    }

    /// Requests answered so far by each instance that answered any.
    #[must_use]
    pub fn served(&self) -> Vec<(String, usize)> {
        lock(&self.shared.served).clone()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hop-by-hop and length headers, which the proxy's own HTTP stack sets.
const SKIPPED: &[&str] = &["host", "connection", "content-length", "transfer-encoding"];

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let instances = lock(&shared.instances).clone();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    for _ in 0..instances.len() {
        let at = shared.next.fetch_add(1, Ordering::Relaxed) % instances.len();
        let base = &instances[at];
        let mut request = shared
            .client
            .request(method.clone(), format!("{base}{path}"))
            .body(body.clone());
        for (name, value) in &headers {
            if !SKIPPED.contains(&name.as_str()) {
                request = request.header(name, value);
            }
        }
        let Ok(response) = request.send().await else {
            continue;
        };
        let status = response.status();
        let mut out = HeaderMap::new();
        for (name, value) in response.headers() {
            if !SKIPPED.contains(&name.as_str()) {
                out.insert(name, value.clone());
            }
        }
        let Ok(bytes) = response.bytes().await else {
            continue;
        };
        {
            let mut served = lock(&shared.served);
            match served.iter_mut().find(|(b, _)| b == base) {
                Some((_, n)) => *n += 1,
                None => served.push((base.clone(), 1)),
            }
        }
        return (status, out, bytes).into_response();
    }
    (StatusCode::BAD_GATEWAY, "no instance answered").into_response()
}
