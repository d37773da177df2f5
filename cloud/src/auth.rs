//! Tokens: generated once, shown once, stored only as SHA-256 digests; and the
//! `AuthUser` extractor that authenticates every request (and the WebSocket upgrade).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::User;

/// What a caller with a token nobody has is told.
pub const UNKNOWN_TOKEN: &str = "unknown token; check the token or ask for a new one";

/// Prefix that makes a leaked token recognisable (secret scanners, logs).
const TOKEN_PREFIX: &str = "stc_";

/// A new random token: `stc_` + 64 hex digits (256 bits).
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// A new random invite code (shorter: single use and expiring).
pub fn generate_invite_code() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// The digest under which a token or invite code is stored.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The bearer token of a request, if the header is well formed.
pub fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing Authorization header; send `Authorization: Bearer <token>`"))?;
    let value = value.to_str().map_err(|_| ApiError::Unauthorized("Authorization header is not valid text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized("Authorization header must be `Bearer <token>`"))?;
    Ok(token)
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let token = bearer(parts)?;
        let user = state.store.user_by_token(digest(token)).await?.ok_or(ApiError::Unauthorized(UNKNOWN_TOKEN))?;
        let user = AuthUser(user);
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_digests_stable() {
        let a = generate_token();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64, "{a}");
        assert_ne!(a, generate_token());
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&generate_token()));
        assert_eq!(generate_invite_code().len(), 32);
    }
}
