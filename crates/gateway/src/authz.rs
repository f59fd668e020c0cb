//! The authorisation decision, a pure function of what the store holds and
//! the time. The gateway calls it when a tunnel opens (credential only),
//! when each connection opens (credential + grant + port), and again for
//! every live connection on each re-check tick. Anything missing or odd is a
//! refusal: default deny.

use std::net::{IpAddr, SocketAddr};

use time::OffsetDateTime;

use sekimori_store::TunnelAuthz;
use sekimori_types::{
    AccessRequest, AccessStatus, Asset, CloseReason, TunnelCredential, User, UserStatus,
};

use crate::protocol::RefusalCode;

/// Why access is allowed: the pieces the connection goes on with.
#[derive(Debug, Clone)]
pub struct Allowed<'a> {
    pub credential: &'a TunnelCredential,
    pub user: &'a User,
    /// `Some` when a grant was asked about.
    pub grant: Option<(&'a AccessRequest, &'a Asset)>,
}

/// Checks the credential: it exists, is not expired, its login session is
/// not revoked or past its lifetime, and its user is active.
pub fn check_credential(a: &TunnelAuthz, now: OffsetDateTime) -> Result<Allowed<'_>, RefusalCode> {
    let credential = a.credential.as_ref().ok_or(RefusalCode::CredentialUnknown)?;
    if now >= credential.expires_at {
        return Err(RefusalCode::CredentialExpired);
    }
    // The user first: a locked account is told so, not to log in again.
    let user = a.user.as_ref().ok_or(RefusalCode::UserInactive)?;
    if user.id != credential.user || user.status != UserStatus::Active {
        return Err(RefusalCode::UserInactive);
    }
    let session = a.session.as_ref().ok_or(RefusalCode::SessionRevoked)?;
    if session.user != credential.user || !session.is_live(now) {
        return Err(RefusalCode::SessionRevoked);
    }
    Ok(Allowed { credential, user, grant: None })
}

/// [`check_credential`] plus the grant: the request is the user's own, is
/// approved and inside its window now, names `port`, and its asset still
/// exists with an address.
pub fn check_connection(
    a: &TunnelAuthz,
    port: u16,
    now: OffsetDateTime,
) -> Result<Allowed<'_>, RefusalCode> {
    let mut ok = check_credential(a, now)?;
    // Someone else's request answers exactly like a missing one: no oracle.
    let request = a.request.as_ref().filter(|r| r.requester == ok.user.id);
    let request = request.ok_or(RefusalCode::NoGrant)?;
    match request.status_at(now) {
        AccessStatus::Active => {}
        AccessStatus::Pending => return Err(RefusalCode::GrantPending),
        AccessStatus::Scheduled => return Err(RefusalCode::GrantScheduled),
        AccessStatus::Expired => return Err(RefusalCode::GrantExpired),
        AccessStatus::Denied => return Err(RefusalCode::GrantDenied),
        AccessStatus::Cancelled => return Err(RefusalCode::GrantCancelled),
        AccessStatus::Revoked => return Err(RefusalCode::GrantRevoked),
    }
    if !request.ports.contains(&port) {
        return Err(RefusalCode::PortNotGranted);
    }
    let asset = a.asset.as_ref().filter(|x| x.id == request.asset);
    let asset = asset.ok_or(RefusalCode::AssetUnavailable)?;
    if asset.addresses.is_empty() || !asset.maintenance_ports.iter().any(|m| m.port == port) {
        return Err(RefusalCode::AssetUnavailable);
    }
    ok.grant = Some((request, asset));
    Ok(ok)
}

/// The device address of a grant: the asset's first address and the port.
pub fn target(asset: &Asset, port: u16) -> Option<SocketAddr> {
    asset.addresses.first().map(|ip: &IpAddr| SocketAddr::new(*ip, port))
}

/// How a refusal found on re-check ends a live connection.
pub fn close_reason_for(code: RefusalCode) -> CloseReason {
    match code {
        RefusalCode::GrantRevoked | RefusalCode::GrantCancelled | RefusalCode::GrantDenied => {
            CloseReason::Revoked
        }
        RefusalCode::GrantExpired
        | RefusalCode::GrantScheduled
        | RefusalCode::CredentialExpired => CloseReason::Expired,
        RefusalCode::UserInactive
        | RefusalCode::SessionRevoked
        | RefusalCode::CredentialUnknown => CloseReason::UserLocked,
        _ => CloseReason::Revoked,
    }
}
