//! weft-identity's token check against the real kube-apiserver: a projected
//! token for weft's audience proves its ServiceAccount; a token for another
//! audience, or garbage, proves nothing.

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::api::{Api, PostParams};
use weft_api::contract::token;
use weft_e2e::{client, with_temp_ns};
use weft_identity::authn::{AuthnError, KubeTokenReviewer, TokenReviewer};

async fn token_for(sas: &Api<ServiceAccount>, sa: &str, audience: &str) -> anyhow::Result<String> {
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![audience.into()],
            expiration_seconds: Some(token::MIN_EXPIRATION_SECONDS),
            ..Default::default()
        },
        ..Default::default()
    };
    let rsp = sas
        .create_token_request(sa, &PostParams::default(), &req)
        .await?;
    Ok(rsp.status.map(|s| s.token).unwrap_or_default())
}

#[tokio::test]
async fn tokens_are_checked_by_the_api_server_for_weft_s_audience() -> anyhow::Result<()> {
    let client = client().await?;
    with_temp_ns(&client, |client, ns| async move {
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        let mut sa = ServiceAccount::default();
        sa.metadata.name = Some("web".into());
        sas.create(&PostParams::default(), &sa).await?;
        let reviewer = KubeTokenReviewer::new(client.clone());

        let good = token_for(&sas, "web", token::AUDIENCE).await?;
        let who = reviewer.review(&good).await?;
        assert_eq!(
            (who.namespace.as_str(), who.name.as_str()),
            (ns.as_str(), "web")
        );

        let other = token_for(&sas, "web", "some-other-service").await?;
        let err = reviewer.review(&other).await.unwrap_err();
        assert!(matches!(err, AuthnError::Rejected(_)), "{err}");

        let err = reviewer.review("not.a.jwt").await.unwrap_err();
        assert!(matches!(err, AuthnError::Rejected(_)), "{err}");
        Ok(())
    })
    .await
}
