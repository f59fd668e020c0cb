//! `sekimori user|asset|zone …`: administration straight against the store,
//! audited as the console's operating-system user.

use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use secrecy::ExposeSecret;
use serde_json::json;

use sekimori_authn::password::PasswordHasher;
use sekimori_authn::policy;
use sekimori_types::{
    AssetSpec, Criticality, Label, Lang, Localized, MaintenancePort, NewUser, Role, User,
    UserStatus, Username, ZoneSpec,
};

use sekimori_store::{AssetRepo, CredentialRepo, ThrottleRepo, UserRepo, ZoneRepo};

use super::{PasswordKind, cli_ctx, open, read_password};
use crate::args::{AssetAddArgs, AssetCmd, Cli, RoleArg, UserCmd, UserTarget, ZoneCmd};
use crate::output::{json, say};

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Admin => Role::Admin,
        RoleArg::Approver => Role::Approver,
        RoleArg::Auditor => Role::Auditor,
        RoleArg::Vendor => Role::Vendor,
    }
}

fn label(field: &'static str, v: &Option<String>) -> Result<Option<Label>> {
    v.as_deref()
        .map(|s| Label::parse(field, s))
        .transpose()
        .map_err(|e| anyhow!("--{}", e.localized(crate::output::current_lang())))
}

fn print_users(lang: Lang, users: &[User]) {
    println!(
        "{:<24} {:<9} {:<9} {:<4} {}",
        lang.pick("ユーザー名", "USERNAME"),
        lang.pick("役割", "ROLE"),
        lang.pick("状態", "STATUS"),
        "MFA",
        lang.pick("会社／部署", "COMPANY/DEPARTMENT")
    );
    for u in users {
        let org = u.company.as_ref().or(u.department.as_ref()).map_or("", |l| l.as_str());
        println!(
            "{:<24} {:<9} {:<9} {:<4} {}",
            u.username.as_str(),
            u.role.as_str(),
            u.status.as_str(),
            if u.mfa_enrolled { "yes" } else { "no" },
            org
        );
    }
}

pub async fn user(cli: &Cli, cmd: &UserCmd, lang: Lang) -> Result<ExitCode> {
    let (inst, _) = open(cli).await?;
    let ctx = cli_ctx();
    let result = match cmd {
        UserCmd::Add(a) => {
            let username = Username::parse(&a.username).map_err(|e| {
                anyhow!("--username ({})", e.localized(crate::output::current_lang()))
            })?;
            let display_name =
                Label::parse("display_name", a.display_name.as_deref().unwrap_or(&a.username))
                    .map_err(|e| {
                        anyhow!("--display-name ({})", e.localized(crate::output::current_lang()))
                    })?;
            let new = NewUser {
                username,
                display_name,
                role: role(a.role),
                company: label("company", &a.company)?,
                department: label("department", &a.department)?,
            };
            new.validate()
                .map_err(|e| anyhow!("--{}", e.localized(crate::output::current_lang())))?;
            let pw = read_password(
                a.password_file.as_deref(),
                a.password_stdin,
                PasswordKind::Initial,
                lang,
            )?;
            let mut context = vec![new.username.as_str(), new.display_name.as_str()];
            if let Some(c) = &new.company {
                context.push(c.as_str());
            }
            if let Err(r) = policy::check_password(pw.expose_secret(), &context) {
                bail!("{}", r.localized(lang));
            }
            let phc = PasswordHasher::new(&inst.config.authn.password)?.hash(&pw).await?;
            let user = inst.store.create_user(&ctx, &new, &phc).await?;
            if a.json {
                json(&json!({ "user": user }));
            } else {
                say(
                    lang,
                    &format!(
                        "ユーザー {} を追加しました。初回ログイン時に認証アプリを登録します。",
                        user.username
                    ),
                    &format!(
                        "Added user {}. They enrol an authenticator app at first login.",
                        user.username
                    ),
                );
            }
            Ok(())
        }
        UserCmd::List { json: as_json } => {
            let users = inst.store.list_users().await?;
            if *as_json {
                json(&json!({ "users": users }));
            } else {
                print_users(lang, &users);
            }
            Ok(())
        }
        UserCmd::Lock(t) => set_status(&inst, &ctx, t, UserStatus::Locked, lang).await,
        UserCmd::Unlock(t) => set_status(&inst, &ctx, t, UserStatus::Active, lang).await,
        UserCmd::ResetMfa(t) => {
            let user = find_user(&inst, &t.username).await?;
            inst.store.reset_mfa(&ctx, user.id).await?;
            let user = inst.store.user(user.id).await?;
            if t.json {
                json(&json!({ "user": user }));
            } else {
                say(
                    lang,
                    &format!(
                        "{} の多要素認証をリセットしました。次回ログイン時に再登録します。",
                        user.username
                    ),
                    &format!("Reset MFA for {}. They enrol again at next login.", user.username),
                );
            }
            Ok(())
        }
    };
    inst.store.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

async fn find_user(inst: &super::Instance, name: &str) -> Result<User> {
    let username = Username::parse(name)
        .map_err(|e| anyhow!("{}", e.localized(crate::output::current_lang())))?;
    inst.store.user_by_username(&username).await?.ok_or_else(|| anyhow!("no such user: {username}"))
}

async fn set_status(
    inst: &super::Instance,
    ctx: &sekimori_store::AuditCtx,
    t: &UserTarget,
    to: UserStatus,
    lang: Lang,
) -> Result<()> {
    let user = find_user(inst, &t.username).await?;
    let reason = t.reason.clone().unwrap_or_else(|| "from the console".into());
    let user = inst.store.set_user_status(ctx, user.id, to, &reason).await?;
    if to == UserStatus::Active {
        inst.store
            .throttle_reset(&sekimori_authn::throttle::account_key(user.username.as_str()))
            .await?;
    }
    if t.json {
        json(&json!({ "user": user }));
    } else if to == UserStatus::Locked {
        say(
            lang,
            &format!("{} をロックし、すべてのセッションを終了しました。", user.username),
            &format!("Locked {} and ended all their sessions.", user.username),
        );
    } else {
        say(
            lang,
            &format!("{} のロックを解除しました。", user.username),
            &format!("Unlocked {}.", user.username),
        );
    }
    Ok(())
}

pub async fn asset(cli: &Cli, cmd: &AssetCmd, lang: Lang) -> Result<ExitCode> {
    let (inst, _) = open(cli).await?;
    let ctx = cli_ctx();
    let result = match cmd {
        AssetCmd::Add(a) => add_asset(&inst, &ctx, a, lang).await,
        AssetCmd::List { json: as_json } => {
            let assets = inst.store.list_assets().await?;
            if *as_json {
                json(&json!({ "assets": assets }));
            } else {
                println!(
                    "{:<24} {:<14} {:<32} {}",
                    lang.pick("機器名", "NAME"),
                    lang.pick("重要度", "CRITICALITY"),
                    lang.pick("アドレス", "ADDRESSES"),
                    lang.pick("保守ポート", "MAINTENANCE PORTS")
                );
                for a in &assets {
                    let addrs: Vec<String> = a.addresses.iter().map(ToString::to_string).collect();
                    let ports: Vec<String> =
                        a.maintenance_ports.iter().map(ToString::to_string).collect();
                    println!(
                        "{:<24} {:<14} {:<32} {}",
                        a.name,
                        a.criticality.as_str(),
                        addrs.join(","),
                        ports.join(",")
                    );
                }
            }
            Ok(())
        }
    };
    inst.store.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

async fn add_asset(
    inst: &super::Instance,
    ctx: &sekimori_store::AuditCtx,
    a: &AssetAddArgs,
    lang: Lang,
) -> Result<()> {
    let name = Label::parse("name", &a.name)
        .map_err(|e| anyhow!("--name ({})", e.localized(crate::output::current_lang())))?;
    let addresses = a
        .addresses
        .iter()
        .map(|s| {
            s.parse::<IpAddr>().map_err(|_| {
                let l = crate::output::current_lang();
                anyhow!(
                    "--address {s:?}: {}",
                    l.pick("IP アドレスではありません", "not an IP address")
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ports = a
        .ports
        .iter()
        .map(|s| {
            MaintenancePort::parse(s).map_err(|e| {
                anyhow!("--port {s:?}: {}", e.localized(crate::output::current_lang()))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let criticality: Criticality =
        a.criticality.parse().map_err(|e: sekimori_types::InvalidValue| {
            anyhow!("--{}", e.localized(crate::output::current_lang()))
        })?;
    let zone = match &a.zone {
        Some(z) => {
            let zones = inst.store.list_zones().await?;
            Some(zones.iter().find(|x| x.name.as_str() == z).map(|x| x.id).ok_or_else(|| {
                anyhow!("--zone {z:?}: no such zone (create it with `sekimori zone add`)")
            })?)
        }
        None => None,
    };
    let spec = AssetSpec {
        name,
        addresses,
        zone,
        owner_department: label("owner_department", &a.owner_department)?,
        vendor_company: label("vendor_company", &a.vendor_company)?,
        criticality,
        maintenance_ports: ports,
        max_session_minutes: a.max_session_minutes,
        record_sessions: !a.no_recording,
        approvals_required: if a.two_approvers { 2 } else { 1 },
        approver_department: label("approver_department", &a.approver_department)?,
    };
    spec.validate().map_err(|e| anyhow!("--{}", e.localized(crate::output::current_lang())))?;
    let asset = inst.store.create_asset(ctx, &spec).await?;
    if a.json {
        json(&json!({ "asset": asset }));
    } else {
        say(
            lang,
            &format!("機器 {} を登録しました。", asset.name),
            &format!("Registered asset {}.", asset.name),
        );
    }
    Ok(())
}

pub async fn zone(cli: &Cli, cmd: &ZoneCmd, lang: Lang) -> Result<ExitCode> {
    let (inst, _) = open(cli).await?;
    let ctx = cli_ctx();
    let result: Result<()> = async {
        match cmd {
            ZoneCmd::Add { name, description, critical, json: as_json } => {
                let spec = ZoneSpec {
                    name: Label::parse("name", name).map_err(|e| {
                        anyhow!("--name ({})", e.localized(crate::output::current_lang()))
                    })?,
                    description: description.clone(),
                    critical: *critical,
                };
                spec.validate()
                    .map_err(|e| anyhow!("--{}", e.localized(crate::output::current_lang())))?;
                let z = inst.store.create_zone(&ctx, &spec).await?;
                if *as_json {
                    json(&json!({ "zone": z }));
                } else {
                    say(
                        lang,
                        &format!("ゾーン {} を作成しました。", z.name),
                        &format!("Created zone {}.", z.name),
                    );
                }
            }
            ZoneCmd::List { json: as_json } => {
                let zones = inst.store.list_zones().await?;
                if *as_json {
                    json(&json!({ "zones": zones }));
                } else {
                    println!(
                        "{:<24} {:<8} {}",
                        lang.pick("ゾーン", "ZONE"),
                        lang.pick("重要", "CRITICAL"),
                        lang.pick("説明", "DESCRIPTION")
                    );
                    for z in &zones {
                        println!(
                            "{:<24} {:<8} {}",
                            z.name,
                            if z.critical { "yes" } else { "no" },
                            z.description.as_deref().unwrap_or("")
                        );
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    inst.store.close().await;
    result.map(|()| ExitCode::SUCCESS)
}
