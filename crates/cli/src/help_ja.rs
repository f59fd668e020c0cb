//! Japanese help text. clap's derive holds the English; when the user's
//! language is Japanese, the command tree is rewritten from this table before
//! parsing, so `--help` speaks Japanese too.

use clap::Command;

/// (subcommand path, argument id or "" for the command itself, Japanese text)
const TEXT: &[(&str, &str, &str)] = &[
    ("", "", "sekimori（関守）：病院ネットワークの関所"),
    ("", "data_dir", "データディレクトリ（鍵・証明書・設定・SQLite データベース）"),
    ("", "database", "データベースの URL（sqlite://… または postgres://…）。config.toml より優先"),
    ("", "lang", "メッセージの言語：ja または en（既定：環境変数 LANG）"),
    ("init", "", "データディレクトリ・鍵・証明書・データベースを作成し、初期設定コードを表示する"),
    ("init", "json", "JSON で出力する"),
    ("serve", "", "ゲートウェイを起動する：HTTPS の Web コンソールと JSON API"),
    ("serve", "listen", "待ち受けるアドレスとポート（config.toml より優先）"),
    ("user", "", "利用者アカウントを管理する"),
    ("user add", "", "利用者を追加する。初回ログイン時に認証アプリを登録する"),
    ("user add", "username", "ユーザー名"),
    (
        "user add",
        "role",
        "役割：admin（管理者）、approver（承認者）、auditor（監査者）、vendor（保守業者）",
    ),
    ("user add", "display_name", "表示名（既定：ユーザー名）"),
    ("user add", "company", "保守会社（vendor では必須）"),
    ("user add", "department", "病院内の部署（職員）"),
    ("user add", "password_file", "初期パスワードをこのファイル（1行目）から読む"),
    ("user add", "password_stdin", "初期パスワードを標準入力（1行目）から読む"),
    ("user add", "json", "JSON で出力する"),
    ("user list", "", "利用者の一覧を表示する"),
    ("user list", "json", "JSON で出力する"),
    ("user lock", "", "アカウントをロックし、すべてのセッションを終了する"),
    ("user unlock", "", "アカウントのロックを解除する（ログイン失敗回数も消去）"),
    ("user reset-mfa", "", "認証アプリとリカバリーコードを削除する。次回ログイン時に再登録する"),
    ("asset", "", "登録機器を管理する"),
    ("asset add", "", "機器を登録する"),
    ("asset add", "name", "機器名"),
    ("asset add", "addresses", "機器の IP アドレス（複数指定可）"),
    ("asset add", "zone", "ゾーン名（作成済みのもの）"),
    ("asset add", "owner_department", "管理部署（例：臨床工学部）"),
    ("asset add", "vendor_company", "保守会社"),
    ("asset add", "criticality", "重要度：low、medium、high、life_critical"),
    ("asset add", "ports", "保守に使うポート：ポート/プロトコル（例：22/ssh、複数指定可）"),
    ("asset add", "max_session_minutes", "この機器への1回の接続許可の上限（分）"),
    ("asset add", "no_recording", "この機器へのトンネル通信の内容を記録しない（既定は記録する）"),
    ("asset add", "two_approvers", "アクセス申請に2人の承認者を必要とする"),
    ("asset add", "approver_department", "申請を承認する部署（既定：管理部署）"),
    ("asset add", "json", "JSON で出力する"),
    ("asset list", "", "登録機器の一覧を表示する"),
    ("zone", "", "ゾーンを管理する"),
    ("zone add", "", "ゾーンを作成する"),
    ("zone add", "critical", "重要ゾーン（既定で通信を拒否）"),
    ("zone list", "", "ゾーンの一覧を表示する"),
    ("alert", "", "検知したアラートを一覧・表示・確認・完了する"),
    ("alert list", "", "アラートの一覧を表示する（更新の新しい順）"),
    (
        "alert list",
        "state",
        "この状態のアラートだけ：open（未対応）、acknowledged（確認済み）、closed（完了）",
    ),
    ("alert list", "kind", "この種別のアラートだけ（exfiltration、silence など）"),
    ("alert list", "severity", "この重大度以上のアラートだけ：low、medium、high、critical"),
    ("alert list", "limit", "最大件数（1〜1000）"),
    ("alert list", "json", "JSON で出力する"),
    ("alert show", "", "アラートを根拠とともに表示する"),
    ("alert show", "id", "アラートの ID"),
    ("alert show", "json", "JSON で出力する"),
    ("alert ack", "", "未対応のアラートを確認済みにする（コメント必須、監査ログに記録）"),
    ("alert ack", "id", "アラートの ID"),
    ("alert ack", "comment", "コメント（必須。監査ログに記録される）"),
    ("alert ack", "json", "JSON で出力する"),
    ("alert close", "", "アラートを完了にする（解決済み・誤検知。コメント必須、監査ログに記録）"),
    ("alert close", "id", "アラートの ID"),
    ("alert close", "comment", "コメント（必須。監査ログに記録される）"),
    ("alert close", "json", "JSON で出力する"),
    ("audit", "", "改ざん検知可能な監査ログを検証・書き出しする"),
    (
        "audit verify",
        "",
        "監査ログが完全であることを検証する（改ざんがあれば最初の不正な記録を示し終了コード 1）",
    ),
    ("audit verify", "file", "データベースの代わりに書き出した JSONL ファイルを検証する"),
    ("audit verify", "public_key", "JSONL ファイルの検証に使うインスタンス公開鍵（16進）"),
    ("audit export", "", "監査ログをチェックポイントとともに書き出す（SIEM・保管用）"),
    ("audit export", "output", "標準出力の代わりにこのファイルへ書き出す"),
    ("audit public-key", "", "監査チェックポイントに署名するインスタンス公開鍵を表示する"),
    (
        "login",
        "",
        "sekimori サーバーにログインし（パスワード＋確認コード）、この端末で作った鍵に結び付いた短時間のトンネル資格情報を受け取る",
    ),
    ("login", "server", "ゲートウェイ（ホスト:ポート）"),
    ("login", "user", "ユーザー名（既定：保存済みのもの）"),
    ("login", "password_file", "パスワードをこのファイル（1行目）から読む"),
    ("login", "password_stdin", "パスワードを標準入力（1行目）から読む"),
    ("login", "totp_code", "認証アプリの現在の確認コード（省略時は入力を求める）"),
    (
        "login",
        "server_fingerprint",
        "sekimori serve が表示した証明書の SHA-256 フィンガープリント（省略時は初回接続時に記録）",
    ),
    ("login", "json", "JSON で出力する"),
    ("logout", "", "サーバー上のログインを終了し、この端末の保存情報を削除する"),
    ("request", "", "アクセス申請：申請・承認・却下・取り下げ・取り消し"),
    ("request create", "", "1台の機器へのアクセスを申請する"),
    ("request create", "asset", "機器（名前または ID）"),
    ("request create", "ports", "機器の登録済み保守ポート（複数指定可）"),
    ("request create", "reason", "理由（チケット番号など）"),
    ("request create", "start", "開始時刻（RFC 3339）または now（既定：承認時）"),
    ("request create", "duration", "時間枠の長さ：分数、または 90m・2h"),
    ("request list", "", "申請の一覧（自分のもの。職員はすべて）"),
    (
        "request list",
        "state",
        "この状態のみ（pending、approved、denied、cancelled、revoked、expired）",
    ),
    ("request list", "mine", "自分の申請のみ（職員）"),
    ("request show", "", "申請を1件表示する"),
    ("request approve", "", "申請を承認する（確認コードの再入力が必要）"),
    ("request approve", "totp_code", "認証アプリの現在の確認コード（省略時は入力を求める）"),
    ("request deny", "", "保留中の申請を却下する"),
    ("request deny", "note", "記録に残すメモ"),
    ("request cancel", "", "自分の申請を取り下げる"),
    ("request revoke", "", "承認済みの許可を取り消す。接続中のセッションはすぐに切断される"),
    ("request revoke", "note", "記録に残すメモ"),
    ("session", "", "トンネル接続：一覧・切断・記録の pcap 書き出し"),
    ("session list", "", "トンネル接続の一覧（新しい順）"),
    ("session list", "live", "接続中のもののみ"),
    ("session list", "request", "この申請のもののみ"),
    ("session kill", "", "接続中のトンネル接続をすぐに切断する"),
    ("session export", "", "記録された接続を pcap ファイルに書き出す（Wireshark・tshark 用）"),
    ("session export", "pcap", "書き出す pcap ファイル"),
    ("connect", "", "ローカルポートを開き、各接続をゲートウェイ経由で承認済み申請の機器へ中継する"),
    ("connect", "request", "承認済みのアクセス申請"),
    ("connect", "listen", "待ち受けるローカルアドレス（既定：127.0.0.1 の空きポート）"),
    ("connect", "port", "許可されたポートのどれか（許可に複数ある場合に必要）"),
    ("connect", "json", "JSON で出力する"),
    (
        "analyze",
        "",
        "キャプチャファイルをオフラインで解析する：通信フロー・プロトコルの識別・機器の一覧",
    ),
    (
        "analyze",
        "files",
        "キャプチャファイル（pcap・pcapng）または Zeek の conn.log。指定した順に1つのキャプチャとして解析する（ファイルをまたいで時刻順に並べ替えはしない）",
    ),
    ("analyze", "format", "出力形式：json（flows・assets・alerts）または table（人が読む表）"),
    (
        "analyze",
        "max_flows",
        "同時に追跡するフローの上限。超えると最も長く見ていないフローを先に書き出す（追い出し数として数える）",
    ),
    ("analyze", "no_identify", "フローの集計のみ行い、ペイロードによるプロトコル識別をしない"),
    (
        "analyze",
        "store",
        "結果（機器と通信）を表示する代わりにデータベース（データディレクトリまたは --database）に保存し、保存した件数を表示する",
    ),
    (
        "sensor",
        "",
        "パッシブセンサーを常時実行する（インターフェース・フロー収集）。機器一覧と通信マップをデータベースに書き込む",
    ),
    (
        "sensor",
        "interface",
        "キャプチャするインターフェース（SPAN ポートまたは TAP）。config.toml の [sensor] より優先",
    ),
    ("sensor", "filter", "キャプチャの BPF フィルター（tcpdump の書式）"),
    ("sensor", "collectors", "NetFlow v5/v9・IPFIX を受信する UDP アドレス:ポート（複数指定可）"),
    ("sensor", "flush_secs", "データベースへの書き込み間隔（秒、既定 10）"),
    ("sensor", "max_flows", "同時に追跡するフローの上限（既定 500000）"),
    (
        "sensor",
        "policy",
        "ポリシーファイル（ゾーン・ルール・検知）：数秒以内にアラートを記録し、[forward] の転送先へ送る",
    ),
    (
        "analyze",
        "threads",
        "ワーカースレッド数（各スレッドがキャプチャファイルの一部を読み、フローの一部を解析する）。数によらず出力は同じ",
    ),
    (
        "analyze",
        "stats",
        "カウンタを標準エラーに JSON で出力する：パケット・バイト・フロー・同時最大フロー・追跡フローあたりのバイト・経過時間・MB/s",
    ),
    (
        "analyze",
        "policy",
        "このポリシーファイル（ゾーン・ルール・検知）を評価し、アラートを出力する（1スレッドで解析）",
    ),
    ("analyze", "fail_on", "この重大度以上のアラートがあれば終了コード 1"),
    ("lab", "", "試験用の道具：病院の合成トラフィック"),
    (
        "lab synth",
        "",
        "病院の合成キャプチャ（pcap）を書き出す：DHCP・DNS・DICOM・HL7/MLLP・TLS・SMB2・SSH・RDP・IKEv2/ESP。シードが同じなら同じファイル",
    ),
    ("lab synth", "hosts", "病院の機器のおおよその台数（14 台以上）"),
    ("lab synth", "duration", "模擬する時間の長さ：90s、10m、2h、1d"),
    ("lab synth", "output", "書き出す pcap ファイル"),
    ("lab synth", "seed", "乱数のシード（同じシードなら同じファイル）"),
    (
        "lab synth",
        "size_mb",
        "ファイルがこの MB（10^6 バイト）に達したら止める（必要なら --duration を超えて模擬する）",
    ),
    (
        "feeds",
        "",
        "脆弱性情報（KEV・CVE JSON 5・NVD・CSAF・OSV・EPSS）のファイルを取り込む・状況を見る",
    ),
    (
        "feeds import",
        "",
        "脆弱性情報のファイル・ディレクトリ・zip（cvelistV5 など）を取り込む。再取り込みしても重複しない。不正なレコードは報告して読み飛ばす",
    ),
    ("feeds import", "paths", "ファイル・ディレクトリ・zip アーカイブ"),
    ("feeds import", "json", "結果を JSON で出力する（進行表示なし）"),
    ("feeds status", "", "データベースにある脆弱性情報の件数（種類別）"),
    ("feeds status", "json", "JSON で出力する"),
    ("assess", "", "機器一覧を脆弱性情報と照合する：優先順の所見と、それぞれ一致した理由"),
    (
        "assess",
        "inventory",
        "機器一覧のファイル：資産台帳（CSV）、CycloneDX・SPDX の SBOM、MDS2、sekimori analyze の JSON（複数指定可）。省略時はセンサーが観測した機器",
    ),
    (
        "assess",
        "feeds",
        "脆弱性情報のファイルまたはディレクトリを直接読む（複数指定可）。省略時はデータベースに取り込み済みのもの",
    ),
    ("assess", "observed", "--inventory に加えてセンサーが観測した機器も評価する"),
    ("assess", "format", "出力形式：json、csv、html"),
    ("assess", "output", "標準出力の代わりにこのファイルに書く"),
    (
        "assess",
        "fail_on",
        "この水準以上の所見（影響あり・影響の可能性）があれば終了コード 1：known-exploited、critical、high",
    ),
    ("assess", "all", "バージョンにより影響なしと判定した機器も一覧に含める"),
    ("assess", "aliases", "病院独自の別名表（data/aliases.toml と同じ形式）を追加する"),
    (
        "assess",
        "stats",
        "所要時間を標準エラーに JSON で出力する：読み込み・索引作成・照合、機器・レコード・所見の件数",
    ),
    (
        "checklist",
        "",
        "厚生労働省「医療機関におけるサイバーセキュリティ対策チェックリスト」に sekimori の証跡から回答する（証跡のない項目は要確認）",
    ),
    (
        "checklist",
        "inventory",
        "資産台帳（CSV）など。センサーが観測した機器と照合する（複数指定可）",
    ),
    (
        "checklist",
        "feeds",
        "パッチ適用の項目に使う脆弱性情報（複数指定可）。省略時はデータベースに取り込み済みのもの",
    ),
    ("checklist", "format", "出力形式：json または html"),
    ("checklist", "output", "標準出力の代わりにこのファイルに書く"),
    (
        "policy",
        "",
        "ネットワークポリシーのファイル（ゾーン・ルール・検知・脅威情報）：検査する・見本を表示する",
    ),
    (
        "policy check",
        "",
        "ポリシーファイルと、そこに書かれた脅威情報のファイルを検査する。正しければ概要を表示し、誤りがあればすべてを「ファイル:行:列: キー: 内容」で示して終了コード 2",
    ),
    ("policy check", "file", "ポリシーファイル（TOML）"),
    ("policy check", "json", "結果を JSON で出力する"),
    ("policy sample", "", "病院向けポリシーの見本を表示する（編集の出発点）"),
];

/// Rewrites `cmd`'s help into Japanese.
pub fn localize(cmd: Command) -> Command {
    apply(cmd, "")
}

fn apply(mut cmd: Command, path: &str) -> Command {
    for (p, arg, text) in TEXT.iter().filter(|(p, _, _)| *p == path) {
        let _ = p;
        if arg.is_empty() {
            cmd = cmd.about(*text);
        } else {
            cmd = cmd.mut_arg(*arg, |a| a.help(*text));
        }
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in names {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(&name, |s| apply(s, &sub_path));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every entry names a real command and argument (a renamed flag would
    /// otherwise silently lose its Japanese help).
    #[test]
    fn every_entry_exists() {
        let root = crate::args::Cli::command();
        for (path, arg, _) in super::TEXT {
            let mut cmd = &root;
            for part in path.split_whitespace() {
                cmd = cmd.find_subcommand(part).unwrap_or_else(|| panic!("no subcommand {path}"));
            }
            if !arg.is_empty() {
                assert!(
                    cmd.get_arguments().any(|a| a.get_id() == *arg),
                    "no argument {arg} in {path:?}"
                );
            }
        }
    }

    #[test]
    fn help_is_japanese() {
        let mut cmd = super::localize(crate::args::Cli::command());
        let help = cmd.render_help().to_string();
        assert!(help.contains("データディレクトリ"), "{help}");
    }
}
