//! The one loop both outbound paths use to reach a destination: pick an
//! endpoint, connect to it, and when it cannot be reached mark it failed
//! (so balancing avoids it for a while) and try another.

use super::{
    answer::Endpoint,
    destination::{Destination, Pick},
};
use crate::{error::ProxyError, routes};
use std::{future::Future, sync::Arc};

/// Endpoints tried for one request or connection before giving up.
pub const CONNECT_ATTEMPTS: usize = 3;

/// Where the loop got to.
pub enum Connected<T> {
    /// Reached this endpoint; `T` is what `connect` made of it.
    Endpoint(Arc<Endpoint>, T),
    /// The destination is no longer meshed: forward as it is.
    Passthrough,
}

/// Picks an endpoint of `to` that `usable` accepts (for the HTTP request
/// `req`, or a connection when `None`) and connects to it with `connect`,
/// up to [`CONNECT_ATTEMPTS`] endpoints. Fails with `Unavailable` when
/// there is none to pick, with the last `Connect` error when none answered.
pub async fn connect_any<T, F, Fut>(
    to: &Destination,
    req: Option<&routes::Request<'_>>,
    usable: impl Fn(&Endpoint) -> bool,
    connect: F,
) -> Result<Connected<T>, ProxyError>
where
    F: FnMut(Arc<Endpoint>) -> Fut,
    Fut: Future<Output = Result<T, ProxyError>>,
{
    connect_with(|| to.pick(req, &usable), connect).await
}

/// The same loop over the endpoints `pick` chooses.
pub async fn connect_with<T, F, Fut>(
    mut pick: impl FnMut() -> Pick,
    mut connect: F,
) -> Result<Connected<T>, ProxyError>
where
    F: FnMut(Arc<Endpoint>) -> Fut,
    Fut: Future<Output = Result<T, ProxyError>>,
{
    let mut last_error = None;
    for _ in 0..CONNECT_ATTEMPTS {
        let e = match pick() {
            Pick::Endpoint(e) => e,
            Pick::Passthrough => return Ok(Connected::Passthrough),
            Pick::Unavailable(reason) => return Err(ProxyError::Unavailable(reason)),
        };
        match connect(e.clone()).await {
            Ok(t) => return Ok(Connected::Endpoint(e, t)),
            Err(error) => {
                e.load.failed();
                tracing::info!(endpoint = %e.addr, id = ?e.id, %error, "endpoint failed; trying another");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| ProxyError::Connect("no endpoint could be reached".into())))
}
