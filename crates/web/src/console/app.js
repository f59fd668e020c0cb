// sekimori web console: a thin client of the JSON API (/api/v1). No
// framework, no third-party code; the session lives in an HttpOnly,
// SameSite=Strict cookie the API sets, so this script never sees the token.
"use strict";

const T = {
  ja: {
    logout: "ログアウト", login_title: "ログイン", username: "ユーザー名", password: "パスワード",
    next: "次へ", setup_title: "初期設定（最初の管理者の作成）",
    setup_help: "sekimori の初回起動時に表示された1回限りの初期設定コードを入力してください。",
    setup_code: "初期設定コード", display_name: "表示名", create_admin: "管理者を作成",
    mfa_title: "多要素認証", mfa_help: "認証アプリの6桁のコード、またはリカバリーコードを入力してください。",
    code: "確認コード", recovery_code: "リカバリーコード", login: "ログイン",
    enrol_title: "認証アプリの登録", enrol_help: "認証アプリ（Google Authenticator、Microsoft Authenticator など）でQRコードを読み取り、表示された6桁のコードを入力してください。パスワードだけではログインできません。",
    secret: "手入力用キー:", enrol: "登録してログイン",
    recovery_title: "リカバリーコード", recovery_help: "認証アプリを失くしたときに使います。各コードは1回だけ使えます。今すぐ印刷するか安全な場所に保管してください。この画面は二度と表示されません。",
    recovery_done: "保管しました", home_title: "アカウント", users: "利用者", assets: "機器", zones: "ゾーン",
    setup_done: "管理者を作成しました。ログインして認証アプリを登録してください。",
    role: "役割", status: "状態", name: "名前", criticality: "重要度", addresses: "アドレス", ports: "保守ポート",
    critical: "重要", none: "（なし）", session_until: "セッション有効期限",
    alerts: "未完了のアラート", severity: "重大度", kind: "種別", summary: "内容", count: "件数", last: "最終",
    acknowledge: "確認済みにする", close: "完了にする", comment_prompt: "コメント（監査ログに記録されます）",
    no_alerts: "未完了のアラートはありません",
  },
  en: {
    logout: "Log out", login_title: "Log in", username: "User name", password: "Password",
    next: "Next", setup_title: "First-time set-up (create the first administrator)",
    setup_help: "Enter the one-time set-up code that sekimori printed when it first started.",
    setup_code: "Set-up code", display_name: "Display name", create_admin: "Create administrator",
    mfa_title: "Multi-factor authentication", mfa_help: "Enter the 6-digit code from your authenticator app, or a recovery code.",
    code: "Verification code", recovery_code: "Recovery code", login: "Log in",
    enrol_title: "Register your authenticator app", enrol_help: "Scan the QR code with an authenticator app (Google Authenticator, Microsoft Authenticator, …) and enter the 6-digit code it shows. A password alone never logs you in.",
    secret: "Key for manual entry:", enrol: "Register and log in",
    recovery_title: "Recovery codes", recovery_help: "Use these if you lose your authenticator app. Each works once. Print them or store them safely now: this page is shown only once.",
    recovery_done: "I have stored them", home_title: "Account", users: "Users", assets: "Assets", zones: "Zones",
    setup_done: "Administrator created. Log in and register your authenticator app.",
    role: "Role", status: "Status", name: "Name", criticality: "Criticality", addresses: "Addresses", ports: "Maintenance ports",
    critical: "Critical", none: "(none)", session_until: "Session valid until",
    alerts: "Alerts not closed", severity: "Severity", kind: "Kind", summary: "Summary", count: "Count", last: "Last",
    acknowledge: "Acknowledge", close: "Close", comment_prompt: "Comment (recorded in the audit log)",
    no_alerts: "No alerts to handle",
  },
};

let lang = (localStorage.getItem("sekimori.lang") || navigator.language || "ja").startsWith("ja") ? "ja" : "en";
let challenge = null;

const $ = (id) => document.getElementById(id);
const t = (k) => T[lang][k] || k;

function applyLang() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
}

function show(view) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== view;
  $("logout").hidden = view !== "view-home";
}

function say(text, ok) {
  const m = $("message");
  m.textContent = text || "";
  m.hidden = !text;
  m.className = ok ? "ok" : "";
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { "Accept-Language": lang } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch("/api/v1" + path, opts);
  const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
  return { status: r.status, data };
}

function formData(form) {
  const o = {};
  for (const [k, v] of new FormData(form).entries()) if (String(v).trim() !== "") o[k] = String(v).trim();
  return o;
}

function table(el, headers, rows) {
  el.replaceChildren();
  const tr = document.createElement("tr");
  for (const h of headers) { const th = document.createElement("th"); th.textContent = h; tr.append(th); }
  el.append(tr);
  for (const row of rows) {
    const r = document.createElement("tr");
    for (const cell of row) { const td = document.createElement("td"); td.textContent = cell; r.append(td); }
    el.append(r);
  }
}

const SEVERITY = { ja: { critical: "緊急", high: "高", medium: "中", low: "低" }, en: {} };

/// Open and acknowledged alerts, most recently changed first, each with
/// buttons that ask for a comment and acknowledge or close it.
async function alerts() {
  const el = $("alerts");
  const r = await api("GET", "/alerts?limit=200");
  if (r.status !== 200) { el.replaceChildren(); return; }
  const rows = r.data.alerts.filter((a) => a.state !== "closed");
  table(el, [t("severity"), t("kind"), t("summary"), t("count"), t("last"), t("status"), ""],
    rows.map((a) => [SEVERITY[lang][a.severity] || a.severity, a.kind, lang === "ja" ? a.summary_ja : a.summary, String(a.count), a.last, a.state, ""]));
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 7; td.textContent = t("no_alerts"); tr.append(td); el.append(tr);
    return;
  }
  const trs = el.querySelectorAll("tr");
  rows.forEach((a, i) => {
    const cell = trs[i + 1].lastChild;
    cell.className = "actions";
    trs[i + 1].dataset.severity = a.severity;
    for (const [label, action] of [["acknowledge", "acknowledge"], ["close", "close"]]) {
      if (action === "acknowledge" && a.state !== "open") continue;
      const b = document.createElement("button");
      b.type = "button"; b.textContent = t(label);
      b.addEventListener("click", async () => {
        const comment = window.prompt(t("comment_prompt"));
        if (!comment) return;
        const res = await api("POST", "/alerts/" + a.id + "/" + action, { comment });
        if (res.status !== 200) say(res.data.message); else { say(""); alerts(); }
      });
      cell.append(b);
    }
  });
}

async function home() {
  const me = await api("GET", "/me");
  if (me.status !== 200) { show("view-login"); return; }
  const dl = $("me");
  dl.replaceChildren();
  const u = me.data.user;
  for (const [k, v] of [[t("username"), u.username], [t("display_name"), u.display_name], [t("role"), u.role], [t("session_until"), me.data.session.expires_at]]) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  }
  show("view-home");
  await alerts();
  const users = await api("GET", "/users");
  if (users.status === 200) table($("users"), [t("username"), t("role"), t("status"), "MFA"], users.data.users.map((x) => [x.username, x.role, x.status, x.mfa_enrolled ? "✓" : "—"]));
  const assets = await api("GET", "/assets");
  if (assets.status === 200) table($("assets"), [t("name"), t("criticality"), t("addresses"), t("ports")], assets.data.assets.map((a) => [a.name, a.criticality, a.addresses.join(", "), a.maintenance_ports.map((p) => p.port + "/" + p.protocol).join(", ")]));
  const zones = await api("GET", "/zones");
  if (zones.status === 200) table($("zones"), [t("name"), t("critical")], zones.data.zones.map((z) => [z.name, z.critical ? "✓" : ""]));
}

function wire() {
  for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => { lang = b.dataset.lang; localStorage.setItem("sekimori.lang", lang); applyLang(); });

  $("form-setup").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("POST", "/setup", formData(e.target));
    if (r.status === 201) { say(t("setup_done"), true); e.target.reset(); } else say(r.data.message);
  });

  $("form-login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("POST", "/login", formData(e.target));
    e.target.reset();
    if (r.status !== 200) { say(r.data.message); return; }
    say("");
    challenge = r.data.challenge;
    if (r.data.status === "mfa_enrolment_required") {
      $("qr").src = "data:image/svg+xml;base64," + btoa(r.data.qr_svg);
      $("secret").textContent = r.data.secret;
      show("view-enrol");
    } else show("view-mfa");
  });

  $("form-mfa").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("POST", "/login/mfa", Object.assign({ challenge }, formData(e.target)));
    e.target.reset();
    if (r.status === 200) { say(""); home(); } else say(r.data.message);
  });

  $("form-enrol").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("POST", "/login/enrol", Object.assign({ challenge }, formData(e.target)));
    e.target.reset();
    if (r.status !== 200) { say(r.data.message); return; }
    say("");
    $("secret").textContent = "";
    $("qr").removeAttribute("src");
    const ol = $("recovery-codes");
    ol.replaceChildren(...r.data.recovery_codes.map((c) => { const li = document.createElement("li"); li.textContent = c; return li; }));
    show("view-recovery");
  });

  $("recovery-done").addEventListener("click", () => { $("recovery-codes").replaceChildren(); home(); });
  $("logout").addEventListener("click", async () => { await api("POST", "/logout"); show("view-login"); });
}

applyLang();
wire();
home();
