//! Who is asking: the kube-apiserver proves itself with its front-proxy
//! client certificate and names the end user in request headers. What to
//! trust comes from the `kube-system/extension-apiserver-authentication`
//! ConfigMap, as for any extension API server.

use super::routes::percent_decode;
use http::HeaderMap;
use std::collections::BTreeMap;

pub const CONFIG_MAP_NAMESPACE: &str = "kube-system";
pub const CONFIG_MAP_NAME: &str = "extension-apiserver-authentication";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthnError {
    #[error(
        "the {CONFIG_MAP_NAMESPACE}/{CONFIG_MAP_NAME} ConfigMap has no requestheader-client-ca-file: \
         the API server runs without --requestheader-client-ca-file, so it cannot proxy to extension API servers"
    )]
    NoClientCa,
    #[error(
        "{CONFIG_MAP_NAMESPACE}/{CONFIG_MAP_NAME}: {key} is not a JSON list of strings: {reason}"
    )]
    BadList { key: String, reason: String },
}

/// How the front proxy identifies itself and the user.
#[derive(Clone, Debug, PartialEq)]
pub struct FrontProxy {
    /// PEM bundle the front-proxy client certificate must chain to.
    pub client_ca: String,
    /// Common names it may have; empty means any name the CA signed.
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_prefixes: Vec<String>,
}

/// The end user, as the front proxy vouches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl FrontProxy {
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Self, AuthnError> {
        let list = |key: &str| -> Result<Vec<String>, AuthnError> {
            match data.get(key) {
                None => Ok(Vec::new()),
                Some(v) => serde_json::from_str(v).map_err(|e| AuthnError::BadList {
                    key: key.into(),
                    reason: e.to_string(),
                }),
            }
        };
        let client_ca = data
            .get("requestheader-client-ca-file")
            .filter(|v| !v.trim().is_empty())
            .ok_or(AuthnError::NoClientCa)?
            .clone();
        let or = |v: Vec<String>, default: &str| {
            if v.is_empty() {
                vec![default.to_string()]
            } else {
                v
            }
        };
        Ok(Self {
            client_ca,
            allowed_names: list("requestheader-allowed-names")?,
            username_headers: or(list("requestheader-username-headers")?, "X-Remote-User"),
            group_headers: or(list("requestheader-group-headers")?, "X-Remote-Group"),
            extra_prefixes: or(
                list("requestheader-extra-headers-prefix")?,
                "X-Remote-Extra-",
            ),
        })
    }

    /// Whether a verified client certificate with this common name is the
    /// front proxy.
    pub fn allows(&self, common_name: Option<&str>) -> bool {
        self.allowed_names.is_empty()
            || common_name.is_some_and(|cn| self.allowed_names.iter().any(|n| n == cn))
    }

    /// The user named in the headers; `None` when no user header is set.
    pub fn user(&self, headers: &HeaderMap) -> Option<User> {
        let name = self
            .username_headers
            .iter()
            .find_map(|h| headers.get(h.as_str())?.to_str().ok())
            .filter(|n| !n.is_empty())?
            .to_string();
        let groups = self
            .group_headers
            .iter()
            .flat_map(|h| headers.get_all(h.as_str()))
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in headers {
            let key = self
                .extra_prefixes
                .iter()
                .find_map(|p| k.as_str().strip_prefix(p.to_ascii_lowercase().as_str()));
            if let (Some(key), Ok(v)) = (key, v.to_str()) {
                extra
                    // Keys are percent-encoded in header names (`a%2fb` is `a/b`).
                    .entry(percent_decode(key).to_ascii_lowercase())
                    .or_default()
                    .push(v.to_string());
            }
        }
        Some(User {
            name,
            groups,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map() -> BTreeMap<String, String> {
        [
            (
                "requestheader-client-ca-file",
                "-----BEGIN CERTIFICATE-----\n…",
            ),
            ("requestheader-allowed-names", r#"["front-proxy-client"]"#),
            ("requestheader-username-headers", r#"["X-Remote-User"]"#),
            ("requestheader-group-headers", r#"["X-Remote-Group"]"#),
            (
                "requestheader-extra-headers-prefix",
                r#"["X-Remote-Extra-"]"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn reads_the_config_map() {
        let fp = FrontProxy::from_config_map(&config_map()).unwrap();
        assert!(fp.allows(Some("front-proxy-client")));
        assert!(!fp.allows(Some("someone-else")));
        assert!(!fp.allows(None));
        let mut cm = config_map();
        cm.remove("requestheader-allowed-names");
        assert!(
            FrontProxy::from_config_map(&cm)
                .unwrap()
                .allows(Some("anyone"))
        );
        cm.remove("requestheader-client-ca-file");
        assert_eq!(
            FrontProxy::from_config_map(&cm),
            Err(AuthnError::NoClientCa)
        );
        let mut cm = config_map();
        cm.insert(
            "requestheader-group-headers".into(),
            "X-Remote-Group".into(),
        );
        assert!(matches!(
            FrontProxy::from_config_map(&cm),
            Err(AuthnError::BadList { .. })
        ));
    }

    #[test]
    fn reads_the_user_from_headers() {
        let fp = FrontProxy::from_config_map(&config_map()).unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(fp.user(&h), None);
        h.insert("x-remote-user", "alice".parse().unwrap());
        h.append("x-remote-group", "dev".parse().unwrap());
        h.append("x-remote-group", "system:authenticated".parse().unwrap());
        h.append("x-remote-extra-scopes", "a".parse().unwrap());
        h.append("x-remote-extra-example.org%2fteam", "blue".parse().unwrap());
        let u = fp.user(&h).unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["dev", "system:authenticated"]);
        assert_eq!(u.extra["scopes"], ["a"]);
        assert_eq!(u.extra["example.org/team"], ["blue"]);
    }
}
