//! [`UserRepo`] for [`Store`].

use sqlx::any::AnyRow;
use sqlx::{Any, Executor};

use sekimori_audit::{AuditEvent, SessionEnd};
use sekimori_types::{NewUser, User, UserId, UserStatus, Username};

use crate::error::on_write;
use crate::repo::{Result, UserRepo};
use crate::row::Cols;
use crate::sql::sessions::revoke_live_sessions;
use crate::writer::WriteTx;
use crate::{AuditCtx, Store, StoreError, UserPatch};

macro_rules! user_select {
    () => {
        "SELECT u.id, u.username, u.display_name, u.role, u.company, u.department, u.status, \
         u.created_at, u.updated_at, \
         CASE WHEN c.totp_secret IS NULL THEN 0 ELSE 1 END AS mfa_enrolled \
         FROM users u LEFT JOIN credentials c ON c.user_id = u.id"
    };
}

fn decode_user(row: &AnyRow) -> Result<User> {
    let c = Cols::new(row, "users");
    Ok(User {
        id: c.parse("id")?,
        username: Username::parse(&c.string("username")?)
            .map_err(|e| StoreError::corrupt("users", "username", e.reason))?,
        display_name: c.label("display_name")?,
        role: c.parse("role")?,
        company: c.opt_label("company")?,
        department: c.opt_label("department")?,
        status: c.parse("status")?,
        mfa_enrolled: c.bool("mfa_enrolled")?,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
    })
}

/// The user with this ID, through any executor (pool or the writer's
/// transaction).
pub(crate) async fn fetch_user<'c, E>(e: E, id: UserId) -> Result<Option<User>>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(concat!(user_select!(), " WHERE u.id = $1"))
        .bind(id.to_string())
        .fetch_optional(e)
        .await?;
    row.as_ref().map(decode_user).transpose()
}

/// [`fetch_user`], or `NotFound`.
pub(crate) async fn load_user(tx: &mut WriteTx<'_>, id: UserId) -> Result<User> {
    fetch_user(tx.conn(), id).await?.ok_or_else(|| StoreError::not_found("user", id))
}

/// Inserts a validated user and their password; no audit.
pub(crate) async fn insert_user(
    tx: &mut WriteTx<'_>,
    new: &NewUser,
    password_phc: &str,
) -> Result<User> {
    new.validate()?;
    let id = UserId::new();
    let now = tx.now_micros();
    sqlx::query(
        "INSERT INTO users (id, username, display_name, role, company, department, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id.to_string())
    .bind(new.username.as_str())
    .bind(new.display_name.as_str())
    .bind(new.role.as_str())
    .bind(new.company.as_ref().map(|l| l.as_str()))
    .bind(new.department.as_ref().map(|l| l.as_str()))
    .bind(UserStatus::Active.as_str())
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(on_write("user", "username"))?;
    sqlx::query(
        "INSERT INTO credentials (user_id, password_phc, password_changed_at) VALUES ($1, $2, $3)",
    )
    .bind(id.to_string())
    .bind(password_phc)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(User {
        id,
        username: new.username.clone(),
        display_name: new.display_name.clone(),
        role: new.role,
        company: new.company.clone(),
        department: new.department.clone(),
        status: UserStatus::Active,
        mfa_enrolled: false,
        created_at: tx.now(),
        updated_at: tx.now(),
    })
}

pub(crate) fn user_created(user: &User) -> AuditEvent {
    AuditEvent::UserCreated {
        user: user.id,
        username: user.username.to_string(),
        role: user.role,
        company: user.company.as_ref().map(ToString::to_string),
    }
}

impl UserRepo for Store {
    async fn create_user(&self, ctx: &AuditCtx, new: &NewUser, password_phc: &str) -> Result<User> {
        new.validate()?;
        let (ctx, new, phc) = (ctx.clone(), new.clone(), password_phc.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let user = insert_user(tx, &new, &phc).await?;
                tx.audit(&ctx, user_created(&user));
                Ok(user)
            })
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<User> {
        fetch_user(self.reader(), id).await?.ok_or_else(|| StoreError::not_found("user", id))
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>> {
        let row = sqlx::query(concat!(user_select!(), " WHERE u.username = $1"))
            .bind(username.as_str())
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(decode_user).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(user_select!(), " ORDER BY u.username"))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_user).collect()
    }

    async fn update_user(&self, ctx: &AuditCtx, id: UserId, patch: &UserPatch) -> Result<User> {
        let (ctx, patch) = (ctx.clone(), patch.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let old = load_user(tx, id).await?;
                let mut new = NewUser {
                    username: old.username.clone(),
                    display_name: old.display_name.clone(),
                    role: old.role,
                    company: old.company.clone(),
                    department: old.department.clone(),
                };
                if let Some(v) = &patch.display_name {
                    new.display_name = v.clone();
                }
                if let Some(v) = patch.role {
                    new.role = v;
                }
                if let Some(v) = &patch.company {
                    new.company = v.clone();
                }
                if let Some(v) = &patch.department {
                    new.department = v.clone();
                }
                new.validate()?;
                let mut changes = Vec::new();
                if new.display_name != old.display_name {
                    changes.push("display_name".to_owned());
                }
                if new.role != old.role {
                    changes.push("role".to_owned());
                }
                if new.company != old.company {
                    changes.push("company".to_owned());
                }
                if new.department != old.department {
                    changes.push("department".to_owned());
                }
                if changes.is_empty() {
                    return Ok(old);
                }
                sqlx::query(
                    "UPDATE users SET display_name = $2, role = $3, company = $4, department = $5, \
                     updated_at = $6 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(new.display_name.as_str())
                .bind(new.role.as_str())
                .bind(new.company.as_ref().map(|l| l.as_str()))
                .bind(new.department.as_ref().map(|l| l.as_str()))
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await?;
                tx.audit(
                    &ctx,
                    AuditEvent::UserUpdated {
                        user: id,
                        username: old.username.to_string(),
                        changes,
                    },
                );
                Ok(User {
                    display_name: new.display_name,
                    role: new.role,
                    company: new.company,
                    department: new.department,
                    updated_at: tx.now(),
                    ..old
                })
            })
        })
        .await
    }

    async fn set_user_status(
        &self,
        ctx: &AuditCtx,
        id: UserId,
        status: UserStatus,
        reason: &str,
    ) -> Result<User> {
        let (ctx, reason) = (ctx.clone(), reason.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let old = load_user(tx, id).await?;
                if old.status == status {
                    return Ok(old);
                }
                sqlx::query("UPDATE users SET status = $2, updated_at = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(status.as_str())
                    .bind(tx.now_micros())
                    .execute(tx.conn())
                    .await?;
                let username = old.username.to_string();
                tx.audit(
                    &ctx,
                    AuditEvent::UserStatusChanged {
                        user: id,
                        username: username.clone(),
                        from: old.status,
                        to: status,
                    },
                );
                match (old.status, status) {
                    (_, UserStatus::Locked) => tx.audit(
                        &ctx,
                        AuditEvent::AccountLocked { user: Some(id), username, reason },
                    ),
                    (UserStatus::Locked, UserStatus::Active) => {
                        tx.audit(&ctx, AuditEvent::AccountUnlocked { user: id, username })
                    }
                    _ => {}
                }
                if status != UserStatus::Active {
                    revoke_live_sessions(tx, &ctx, id, SessionEnd::UserLocked, None).await?;
                }
                Ok(User { status, updated_at: tx.now(), ..old })
            })
        })
        .await
    }
}
