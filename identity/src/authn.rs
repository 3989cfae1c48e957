//! Who the caller is: its projected ServiceAccount token, checked by the
//! Kubernetes API server (TokenReview) for weft's audience.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};
use std::future::Future;
use weft_api::contract::token;

/// A ServiceAccount, as the API server vouches for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    /// The token is invalid, expired, or not bound to weft's audience.
    #[error("the token was not accepted: {0}")]
    Rejected(String),
    /// A valid token, but not a ServiceAccount's.
    #[error("the token belongs to {0}, not a ServiceAccount")]
    NotServiceAccount(String),
    /// The reviewer could not be asked (the API server is unreachable…).
    #[error("the token could not be reviewed: {0}")]
    Unavailable(String),
}

/// Checks tokens. The server uses [`KubeTokenReviewer`]; unit tests use a
/// fixed table.
pub trait TokenReviewer: Send + Sync + 'static {
    fn review(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<ServiceAccount, AuthnError>> + Send;
}

/// TokenReview through the Kubernetes API.
#[derive(Clone)]
pub struct KubeTokenReviewer {
    api: Api<TokenReview>,
}

impl KubeTokenReviewer {
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::all(client),
        }
    }
}

impl TokenReviewer for KubeTokenReviewer {
    async fn review(&self, tok: &str) -> Result<ServiceAccount, AuthnError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(tok.to_string()),
                audiences: Some(vec![token::AUDIENCE.to_string()]),
            },
            ..Default::default()
        };
        let done = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| AuthnError::Unavailable(e.to_string()))?;
        let status = done.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Err(AuthnError::Rejected(
                status.error.unwrap_or_else(|| "not authenticated".into()),
            ));
        }
        // The API server only authenticates a token for the audiences it
        // was minted for; check that ours is among them all the same.
        if !status
            .audiences
            .unwrap_or_default()
            .iter()
            .any(|a| a == token::AUDIENCE)
        {
            return Err(AuthnError::Rejected(format!(
                "the token is not bound to the {:?} audience",
                token::AUDIENCE
            )));
        }
        let username = status.user.and_then(|u| u.username).unwrap_or_default();
        service_account_of(&username)
    }
}

/// `system:serviceaccount:<ns>:<name>` → the ServiceAccount.
pub fn service_account_of(username: &str) -> Result<ServiceAccount, AuthnError> {
    match username
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains(':') => {
            Ok(ServiceAccount {
                namespace: ns.to_string(),
                name: name.to_string(),
            })
        }
        _ => Err(AuthnError::NotServiceAccount(username.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(
            service_account_of("system:serviceaccount:shop:web"),
            Ok(ServiceAccount {
                namespace: "shop".into(),
                name: "web".into()
            })
        );
        for bad in [
            "alice",
            "system:serviceaccount:shop",
            "system:serviceaccount::web",
            "system:serviceaccount:a:b:c",
        ] {
            assert!(
                matches!(
                    service_account_of(bad),
                    Err(AuthnError::NotServiceAccount(_))
                ),
                "{bad}"
            );
        }
    }
}
