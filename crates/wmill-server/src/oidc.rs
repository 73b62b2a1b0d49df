//! Single sign-on with OpenID Connect providers: discovery (retried in the background while a
//! provider cannot be reached), the authorization request (code flow, PKCE S256, `state`,
//! `nonce`) and the verification of what comes back (code exchange, ID token signature
//! against the provider's JWKS with one refetch for an unknown key, `iss`, `aud`, `azp`,
//! `exp`, `iat`, `nonce`, `email_verified`). The JOSE work is the `openidconnect` crate's;
//! this module only configures it strictly: asymmetric algorithms only (no `none`, no HMAC,
//! whose key would be the client secret), no other audience trusted, a small clock skew.
//!
//! HTTP goes through `ureq` (rustls), on tokio's blocking pool, never following redirects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, Client,
    ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, IdTokenFields, IdTokenVerifier, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::config::OidcSpec;

/// Clock skew tolerated on `exp` and `iat`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// An ID token issued longer ago than this is refused (with the skew on top).
pub const MAX_TOKEN_AGE: Duration = Duration::from_secs(10 * 60);
/// How long a started sign-in (its `state`) may wait for its callback.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// The fewest seconds between two JWKS refetches of one provider caused by unknown keys.
const JWKS_REFETCH_EVERY: Duration = Duration::from_secs(30);
/// Largest answer read from a provider.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// The algorithms an ID token may be signed with: asymmetric ones only.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Every claim of the ID token, for the groups claim (whose name is configured).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllClaims {
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for AllClaims {}

type Fields = IdTokenFields<
    AllClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenAnswer = StandardTokenResponse<Fields, CoreTokenType>;
type OidcClient = Client<
    AllClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenAnswer,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// An HTTP failure talking to a provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .user_agent(concat!("wmill-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The HTTP client given to `openidconnect`.
async fn send(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    tokio::task::spawn_blocking(move || {
        let mut res = agent().run(req).map_err(|e| HttpError(e.to_string()))?;
        let body = res
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| HttpError(e.to_string()))?;
        let mut out = HttpResponse::new(body);
        *out.status_mut() = res.status();
        *out.headers_mut() = res.headers().clone();
        Ok(out)
    })
    .await
    .map_err(|e| HttpError(format!("the HTTP thread failed: {e}")))?
}

/// What a provider says once discovered.
#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
}

/// One configured provider.
pub struct Provider {
    pub spec: OidcSpec,
    discovered: RwLock<Option<Discovered>>,
    last_refetch: Mutex<Option<Instant>>,
}

/// What the browser is sent to, and what must be kept to finish the sign-in.
pub struct Started {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A person as the provider vouched for them.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Lowercased.
    pub email: String,
    pub name: Option<String>,
    /// The groups claim, when the provider has one configured (`None`: no mapping).
    pub groups: Option<Vec<String>>,
    pub subject: String,
}

/// Why a callback was refused: a reason for the audit log and the server's log (never a
/// token), and whether it was the person's answer (not verified email, unknown account…) or
/// the provider's answer that did not verify.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: String,
    pub email: Option<String>,
    pub kind: RefusalKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The provider cannot be used now (not discovered, unreachable).
    Unavailable,
    /// The answer did not verify (signature, issuer, audience, times, nonce…).
    Invalid,
    /// The email is missing or not verified.
    Unverified,
}

fn refusal(kind: RefusalKind, reason: impl Into<String>) -> Refusal {
    Refusal {
        reason: reason.into(),
        email: None,
        kind,
    }
}

impl Provider {
    pub fn new(spec: OidcSpec) -> Provider {
        Provider {
            spec,
            discovered: RwLock::new(None),
            last_refetch: Mutex::new(None),
        }
    }

    /// Whether discovery has succeeded.
    pub fn ready(&self) -> bool {
        self.discovered.read().map(|d| d.is_some()).unwrap_or(false)
    }

    /// Runs discovery (and fetches the JWKS) once.
    pub async fn discover(&self) -> Result<(), String> {
        let issuer = IssuerUrl::new(self.spec.issuer.clone()).map_err(|e| e.to_string())?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &send)
            .await
            .map_err(|e| describe_discovery(&e))?;
        if let Ok(mut d) = self.discovered.write() {
            *d = Some(Discovered { metadata });
        }
        Ok(())
    }

    fn client(&self, d: &Discovered, redirect_uri: &str) -> Result<OidcClient, Refusal> {
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| refusal(RefusalKind::Invalid, format!("redirect URI: {e}")))?;
        Ok(OidcClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(self.spec.client_id.clone()),
            Some(ClientSecret::new(self.spec.client_secret.0.clone())),
        )
        .set_redirect_uri(redirect))
    }

    fn current(&self) -> Result<Discovered, Refusal> {
        self.discovered
            .read()
            .ok()
            .and_then(|d| d.clone())
            .ok_or_else(|| {
                refusal(
                    RefusalKind::Unavailable,
                    "the provider has not been reached yet (discovery pending)",
                )
            })
    }

    /// The authorization request: code flow, PKCE S256, fresh `state` and `nonce`.
    pub fn start(&self, redirect_uri: &str) -> Result<Started, Refusal> {
        let d = self.current()?;
        let client = self.client(&d, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in self.spec.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok(Started {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code and verifies the ID token; `now` is the server's clock.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        redirect_uri: &str,
        now: DateTime<Utc>,
    ) -> Result<Identity, Refusal> {
        let d = self.current()?;
        let client = self.client(&d, redirect_uri)?;
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| refusal(RefusalKind::Unavailable, format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&send)
            .await
            .map_err(|e| {
                let why = match &e {
                    RequestTokenError::ServerResponse(r) => {
                        format!("the provider refused the code: {}", r.error())
                    }
                    RequestTokenError::Request(e) => {
                        format!("cannot reach the token endpoint: {e}")
                    }
                    RequestTokenError::Parse(..) => {
                        "the token endpoint's answer is not a token response".into()
                    }
                    RequestTokenError::Other(_) => "the token endpoint failed".into(),
                };
                refusal(RefusalKind::Invalid, why)
            })?;
        let id_token = answer
            .extra_fields()
            .id_token()
            .ok_or_else(|| refusal(RefusalKind::Invalid, "no ID token in the token response"))?
            .clone();
        let nonce = Nonce::new(nonce.to_string());
        let verify = |jwks: CoreJsonWebKeySet| {
            let verifier = self.verifier(&d, jwks, now);
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(d.metadata.jwks().clone()) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // Keys rotate: an unknown key id means one refetch, then a refusal.
                let jwks = self.refetch_jwks(&d).await?;
                verify(jwks).map_err(describe_claims)?
            }
            other => other.map_err(describe_claims)?,
        };
        // azp: when present it must be this client; with several audiences it must be present.
        let client_id = &self.spec.client_id;
        match claims.authorized_party() {
            Some(azp) if azp.as_str() != client_id => {
                return Err(refusal(
                    RefusalKind::Invalid,
                    "the ID token's azp is another client",
                ));
            }
            None if claims.audiences().len() > 1 => {
                return Err(refusal(
                    RefusalKind::Invalid,
                    "the ID token has several audiences and no azp",
                ));
            }
            _ => {}
        }
        let email = claims
            .email()
            .map(|e| e.as_str().trim().to_ascii_lowercase());
        let Some(email) = email else {
            return Err(refusal(
                RefusalKind::Unverified,
                "the ID token has no email",
            ));
        };
        if claims.email_verified() != Some(true) {
            return Err(Refusal {
                reason: "the provider did not say the email is verified".into(),
                email: Some(email),
                kind: RefusalKind::Unverified,
            });
        }
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string());
        let groups =
            self.spec
                .groups_claim
                .as_ref()
                .map(|c| match claims.additional_claims().rest.get(c) {
                    Some(serde_json::Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    Some(serde_json::Value::String(s)) => vec![s.clone()],
                    _ => Vec::new(),
                });
        Ok(Identity {
            email,
            name,
            groups,
            subject: claims.subject().as_str().to_string(),
        })
    }

    fn verifier(
        &self,
        d: &Discovered,
        jwks: CoreJsonWebKeySet,
        now: DateTime<Utc>,
    ) -> IdTokenVerifier<'static, CoreJsonWebKey> {
        let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
        let max_age = chrono::Duration::from_std(MAX_TOKEN_AGE).unwrap_or_default();
        // A public-client verifier: no client secret, so an HMAC signature can never verify.
        IdTokenVerifier::new_public_client(
            ClientId::new(self.spec.client_id.clone()),
            d.metadata.issuer().clone(),
            jwks,
        )
        .set_allowed_algs(ALLOWED_ALGS)
        .require_issuer_match(true)
        .require_audience_match(true)
        .set_other_audience_verifier_fn(|_| false)
        // `exp` is compared with this time: the skew is the grace after expiry.
        .set_time_fn(move || now - skew)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > now + skew {
                Err(format!("issued in the future ({iat})"))
            } else if iat < now - max_age - skew {
                Err(format!("issued too long ago ({iat})"))
            } else {
                Ok(())
            }
        })
    }

    async fn refetch_jwks(&self, d: &Discovered) -> Result<CoreJsonWebKeySet, Refusal> {
        let unknown = || {
            refusal(
                RefusalKind::Invalid,
                "the ID token is signed with an unknown key",
            )
        };
        {
            let mut last = self.last_refetch.lock().map_err(|_| unknown())?;
            if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_EVERY) {
                return Err(unknown());
            }
            *last = Some(Instant::now());
        }
        let jwks = CoreJsonWebKeySet::fetch_async(d.metadata.jwks_uri(), &send)
            .await
            .map_err(|e| {
                refusal(
                    RefusalKind::Unavailable,
                    format!(
                        "cannot refetch the provider's keys: {}",
                        describe_discovery(&e)
                    ),
                )
            })?;
        if let Ok(mut cur) = self.discovered.write()
            && let Some(cur) = cur.as_mut()
        {
            cur.metadata = cur.metadata.clone().set_jwks(jwks.clone());
        }
        // Refused again by the caller if the key is still unknown.
        Ok(jwks)
    }
}

fn describe_discovery<E: std::error::Error>(e: &openidconnect::DiscoveryError<E>) -> String {
    use openidconnect::DiscoveryError as D;
    match e {
        D::Request(e) => format!("cannot reach it: {e}"),
        D::Response(status, _, _) => format!("it answered HTTP {status}"),
        D::Parse(e) => format!("its answer is not valid discovery or JWKS JSON: {e}"),
        D::Validation(e) => format!("its discovery document is for another issuer: {e}"),
        D::UrlParse(e) => format!("bad URL: {e}"),
        D::Other(e) => e.clone(),
        _ => "discovery failed".into(),
    }
}

fn describe_claims(e: ClaimsVerificationError) -> Refusal {
    use ClaimsVerificationError as C;
    let reason = match e {
        C::Expired(m) => format!("the ID token is expired or mistimed: {m}"),
        C::InvalidAudience(m) => format!("the ID token is for another audience: {m}"),
        C::InvalidIssuer(m) => format!("the ID token is from another issuer: {m}"),
        C::InvalidNonce(m) => format!("the ID token's nonce is wrong: {m}"),
        C::SignatureVerification(s) => match s {
            SignatureVerificationError::NoMatchingKey => {
                "the ID token is signed with an unknown key".into()
            }
            SignatureVerificationError::DisallowedAlg(m) => {
                format!("the ID token's algorithm is refused: {m}")
            }
            SignatureVerificationError::UnsupportedAlg(m) => {
                format!("the ID token's algorithm is refused: {m}")
            }
            SignatureVerificationError::CryptoError(_) => {
                "the ID token's signature does not verify".into()
            }
            other => format!("the ID token's signature is refused: {other}"),
        },
        C::Unsupported(m) => format!("the ID token cannot be verified: {m}"),
        other => format!("the ID token is refused: {other}"),
    };
    refusal(RefusalKind::Invalid, reason)
}

/// The configured providers, by name (in configuration order for the sign-in page).
#[derive(Default, Clone)]
pub struct Providers {
    list: Vec<Arc<Provider>>,
    by_name: HashMap<String, usize>,
}

impl Providers {
    /// Providers for these specs; names must be distinct.
    pub fn new(specs: Vec<OidcSpec>) -> Result<Providers, String> {
        let mut p = Providers::default();
        for spec in specs {
            if p.by_name.contains_key(&spec.name) {
                return Err(format!(
                    "--oidc: provider {} is configured twice",
                    spec.name
                ));
            }
            p.by_name.insert(spec.name.clone(), p.list.len());
            p.list.push(Arc::new(Provider::new(spec)));
        }
        Ok(p)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.by_name.get(name).and_then(|i| self.list.get(*i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Discovers every provider: each is tried once now (for a few seconds at most); one that
    /// cannot be reached yet is retried in the background (every 5 s, then less often, up to
    /// every 5 minutes) until it answers. Never fails.
    pub async fn discover_all(&self) {
        for p in &self.list {
            let first = tokio::time::timeout(Duration::from_secs(15), p.discover()).await;
            match first {
                Ok(Ok(())) => {
                    tracing::info!(provider = %p.spec.name, issuer = %p.spec.issuer, "single sign-on provider discovered");
                }
                other => {
                    let why = match other {
                        Ok(Err(e)) => e,
                        _ => "no answer within 15 s".into(),
                    };
                    tracing::warn!(provider = %p.spec.name, issuer = %p.spec.issuer, "single sign-on provider not reachable yet ({why}); retrying in the background");
                    let p = p.clone();
                    tokio::spawn(async move {
                        let mut wait = Duration::from_secs(5);
                        loop {
                            tokio::time::sleep(wait).await;
                            match p.discover().await {
                                Ok(()) => {
                                    tracing::info!(provider = %p.spec.name, "single sign-on provider discovered");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(provider = %p.spec.name, "single sign-on provider still not reachable ({e})");
                                    wait = (wait * 2).min(Duration::from_secs(300));
                                }
                            }
                        }
                    });
                }
            }
        }
    }
}
