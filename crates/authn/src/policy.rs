//! Which new passwords are acceptable, and why not, in the user's language.
//!
//! In order: length (in Unicode scalar values), the bundled list of common
//! passwords (case-insensitive; see `data/README.md`), the user's own
//! details (username, display name, company), and zxcvbn's strength estimate
//! (score 3 of 4 or more). There are no composition rules ("one digit, one
//! symbol"): NIST SP 800-63B advises against them.

use std::fmt::Write as _;
use std::sync::LazyLock;

use sekimori_types::{Lang, Localized};
use zeroize::Zeroizing;

use crate::config::PasswordConfig;

/// The 100,000 most common passwords, most common first.
const TOP_100K: &str = include_str!("../data/common-passwords-top-100000.txt");
/// Passwords of 12 bytes or more from ranks 100,001–999,999.
const LONG_1M: &str = include_str!("../data/common-passwords-1m-long.txt");

/// Lowest zxcvbn score accepted (of 0–4): 3 means "safely unguessable:
/// moderate protection from offline slow-hash scenario" (over 10^8 guesses).
pub const MIN_ZXCVBN_SCORE: u8 = 3;

/// zxcvbn is evaluated on at most this many leading characters: its cost
/// grows quickly with length, and a 100-character prefix that is strong
/// makes the whole password strong.
const ZXCVBN_MAX_CHARS: usize = 100;

/// Both lists in lowercase, sorted for binary search, built on first use.
/// Entries already in lowercase (nearly all) are borrowed from the embedded
/// text; the rest are lowered copies. About 2.3 MB besides the 1.4 MB of text.
static COMMON: LazyLock<CommonList> = LazyLock::new(CommonList::build);

struct CommonList {
    borrowed: Vec<&'static str>,
    lowered: Vec<Box<str>>,
}

impl CommonList {
    fn build() -> Self {
        let mut borrowed = Vec::with_capacity(150_000);
        let mut lowered = Vec::new();
        for line in TOP_100K.lines().chain(LONG_1M.lines()).filter(|l| !l.is_empty()) {
            let is_lower = if line.is_ascii() {
                !line.bytes().any(|b| b.is_ascii_uppercase())
            } else {
                line.to_lowercase() == line
            };
            if is_lower {
                borrowed.push(line);
            } else {
                lowered.push(line.to_lowercase().into_boxed_str());
            }
        }
        borrowed.sort_unstable();
        borrowed.dedup();
        lowered.sort_unstable();
        lowered.dedup();
        // A lowered copy equal to a borrowed entry adds nothing.
        lowered.retain(|l| borrowed.binary_search(&&**l).is_err());
        Self { borrowed, lowered }
    }

    fn contains(&self, lower: &str) -> bool {
        self.borrowed.binary_search(&lower).is_ok()
            || self.lowered.binary_search_by(|e| (**e).cmp(lower)).is_ok()
    }
}

/// Whether `pw` is in the bundled list, ignoring case.
pub fn is_common(pw: &str) -> bool {
    COMMON.contains(&Zeroizing::new(pw.to_lowercase()))
}

/// How many distinct (case-folded) passwords the bundled list holds.
pub fn common_password_count() -> usize {
    COMMON.borrowed.len() + COMMON.lowered.len()
}

/// Length limits for new passwords; the rest of the policy is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters.
    pub min_length: usize,
    /// Most characters.
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::from_config(&PasswordConfig::default())
    }
}

impl PasswordPolicy {
    /// The limits from `[authn.password]`.
    pub fn from_config(cfg: &PasswordConfig) -> Self {
        Self {
            min_length: usize::try_from(cfg.min_length).unwrap_or(usize::MAX),
            max_length: usize::try_from(cfg.max_length).unwrap_or(usize::MAX),
        }
    }

    /// Accepts `pw` or says why not. `context` holds what an attacker knows
    /// about the person (username, display name, company); empty entries
    /// are ignored.
    pub fn check(&self, pw: &str, context: &[&str]) -> Result<(), PasswordRejection> {
        let len = pw.chars().count();
        if len < self.min_length {
            return Err(PasswordRejection::TooShort { min: self.min_length });
        }
        if len > self.max_length {
            return Err(PasswordRejection::TooLong { max: self.max_length });
        }
        let lower = Zeroizing::new(pw.to_lowercase());
        if COMMON.contains(&lower) {
            return Err(PasswordRejection::Common);
        }
        let context: Vec<String> =
            context.iter().map(|c| c.trim().to_lowercase()).filter(|c| !c.is_empty()).collect();
        if context.iter().any(|c| contains_personal_info(&lower, c)) {
            return Err(PasswordRejection::ContainsPersonalInfo);
        }
        let prefix: Zeroizing<String> = Zeroizing::new(pw.chars().take(ZXCVBN_MAX_CHARS).collect());
        let inputs: Vec<&str> = context.iter().map(String::as_str).collect();
        let entropy = zxcvbn::zxcvbn(&prefix, &inputs);
        let score = u8::from(entropy.score());
        if score < MIN_ZXCVBN_SCORE {
            let (warning, suggestions) = entropy.feedback().map_or((None, Vec::new()), |f| {
                (
                    f.warning().map(StrengthWarning::from),
                    f.suggestions().iter().copied().map(Suggestion::from).collect(),
                )
            });
            return Err(PasswordRejection::Weak { score, warning, suggestions });
        }
        Ok(())
    }
}

/// [`PasswordPolicy::check`] with the default limits (12 to 256 characters).
pub fn check_password(pw: &str, context: &[&str]) -> Result<(), PasswordRejection> {
    PasswordPolicy::default().check(pw, context)
}

/// Whether the lowercase password contains a lowercase context entry: the
/// whole entry if it has 3 or more characters, or any of its words
/// (split at non-alphanumerics) with 4 or more characters, or 2 or more if
/// non-ASCII (a Japanese family name is often two kanji).
fn contains_personal_info(pw_lower: &str, entry: &str) -> bool {
    if entry.chars().count() >= 3 && pw_lower.contains(entry) {
        return true;
    }
    entry.split(|c: char| !c.is_alphanumeric()).any(|word| {
        let n = word.chars().count();
        let significant = n >= 4 || (n >= 2 && !word.is_ascii());
        significant && pw_lower.contains(word)
    })
}

/// Why a new password was refused. [`Self::code`] is stable for APIs;
/// [`Localized::localized`] explains it to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRejection {
    /// Fewer than `min` characters.
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// More than `max` characters.
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// In the list of common or breached passwords.
    Common,
    /// Contains the username, display name or company.
    ContainsPersonalInfo,
    /// zxcvbn estimates it guessable.
    Weak {
        /// zxcvbn's score, 0–4; below [`MIN_ZXCVBN_SCORE`].
        score: u8,
        /// What makes it weak, when zxcvbn can tell.
        warning: Option<StrengthWarning>,
        /// How to make it stronger.
        suggestions: Vec<Suggestion>,
    },
}

impl PasswordRejection {
    /// A stable machine-readable code, e.g. `password_too_short`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "password_too_short",
            Self::TooLong { .. } => "password_too_long",
            Self::Common => "password_common",
            Self::ContainsPersonalInfo => "password_contains_personal_info",
            Self::Weak { .. } => "password_weak",
        }
    }
}

impl Localized for PasswordRejection {
    fn localized(&self, lang: Lang) -> String {
        match self {
            Self::TooShort { min } => match lang {
                Lang::Ja => format!("パスワードは{min}文字以上にしてください。"),
                Lang::En => format!("Use at least {min} characters."),
            },
            Self::TooLong { max } => match lang {
                Lang::Ja => format!("パスワードは{max}文字以下にしてください。"),
                Lang::En => format!("Use at most {max} characters."),
            },
            Self::Common => lang
                .pick(
                    "このパスワードは、よく使われる（または過去に流出した）パスワードの一覧に含まれているため使用できません。攻撃者が最初に試すものです。別のパスワードを選んでください。",
                    "This password is on a list of common or breached passwords, the first ones attackers try. Choose another.",
                )
                .to_owned(),
            Self::ContainsPersonalInfo => lang
                .pick(
                    "パスワードにユーザー名・氏名・会社名を含めないでください。",
                    "Don't use your username, name or company name in the password.",
                )
                .to_owned(),
            Self::Weak { score, warning, suggestions } => {
                let mut s = match lang {
                    Lang::Ja => format!(
                        "このパスワードは推測されやすいため使用できません（強度 {score}/4、{MIN_ZXCVBN_SCORE} 以上が必要です）。"
                    ),
                    Lang::En => format!(
                        "This password is too easy to guess (strength {score} of 4; at least {MIN_ZXCVBN_SCORE} is needed)."
                    ),
                };
                let sep = lang.pick("", " ");
                for part in warning.iter().map(|w| w.localized(lang)).chain(suggestions.iter().map(|x| x.localized(lang)))
                {
                    let _ = write!(s, "{sep}{part}");
                }
                if suggestions.is_empty() {
                    let _ = write!(
                        s,
                        "{sep}{}",
                        lang.pick(
                            "覚えやすい単語をいくつか組み合わせた長いパスフレーズがおすすめです。",
                            "A long passphrase of a few unrelated words is easy to remember and hard to guess."
                        )
                    );
                }
                s
            }
        }
    }
}

/// What makes a password weak, from zxcvbn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrengthWarning {
    /// `qwertyuiop`.
    StraightRowsOfKeys,
    /// `qwerty`, `asdf`.
    ShortKeyboardPatterns,
    /// `aaa`.
    RepeatedCharacters,
    /// `abcabcabc`.
    RepeatedPatterns,
    /// One of the ten most common.
    Top10Password,
    /// One of the hundred most common.
    Top100Password,
    /// A very common password.
    CommonPassword,
    /// Close to a common password.
    SimilarToCommonPassword,
    /// `abc`, `6543`.
    Sequences,
    /// `2024`.
    RecentYears,
    /// A single dictionary word.
    SingleWord,
    /// A date.
    Dates,
    /// A name alone.
    NamesAlone,
    /// A common name.
    CommonNames,
}

impl From<zxcvbn::feedback::Warning> for StrengthWarning {
    fn from(w: zxcvbn::feedback::Warning) -> Self {
        use zxcvbn::feedback::Warning as W;
        match w {
            W::StraightRowsOfKeysAreEasyToGuess => Self::StraightRowsOfKeys,
            W::ShortKeyboardPatternsAreEasyToGuess => Self::ShortKeyboardPatterns,
            W::RepeatsLikeAaaAreEasyToGuess => Self::RepeatedCharacters,
            W::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess => Self::RepeatedPatterns,
            W::ThisIsATop10Password => Self::Top10Password,
            W::ThisIsATop100Password => Self::Top100Password,
            W::ThisIsACommonPassword => Self::CommonPassword,
            W::ThisIsSimilarToACommonlyUsedPassword => Self::SimilarToCommonPassword,
            W::SequencesLikeAbcAreEasyToGuess => Self::Sequences,
            W::RecentYearsAreEasyToGuess => Self::RecentYears,
            W::AWordByItselfIsEasyToGuess => Self::SingleWord,
            W::DatesAreOftenEasyToGuess => Self::Dates,
            W::NamesAndSurnamesByThemselvesAreEasyToGuess => Self::NamesAlone,
            W::CommonNamesAndSurnamesAreEasyToGuess => Self::CommonNames,
        }
    }
}

impl Localized for StrengthWarning {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self {
            Self::StraightRowsOfKeys => (
                "キーボードの一列に並んだキーは推測されやすいです。",
                "Straight rows of keys are easy to guess.",
            ),
            Self::ShortKeyboardPatterns => (
                "短いキーボードの並びは推測されやすいです。",
                "Short keyboard patterns are easy to guess.",
            ),
            Self::RepeatedCharacters => (
                "「aaa」のような繰り返しは推測されやすいです。",
                "Repeats like \"aaa\" are easy to guess.",
            ),
            Self::RepeatedPatterns => (
                "「abcabcabc」のような繰り返しは「abc」とほとんど変わらず推測されやすいです。",
                "Repeats like \"abcabcabc\" are only slightly harder to guess than \"abc\".",
            ),
            Self::Top10Password => (
                "最もよく使われるパスワードの上位10件に入っています。",
                "This is a top-10 common password.",
            ),
            Self::Top100Password => (
                "最もよく使われるパスワードの上位100件に入っています。",
                "This is a top-100 common password.",
            ),
            Self::CommonPassword => {
                ("非常によく使われるパスワードです。", "This is a very common password.")
            }
            Self::SimilarToCommonPassword => (
                "よく使われるパスワードに似ています。",
                "This is similar to a commonly used password.",
            ),
            Self::Sequences => (
                "abc や 6543 のような連続は推測されやすいです。",
                "Sequences like abc or 6543 are easy to guess.",
            ),
            Self::RecentYears => {
                ("最近の年は推測されやすいです。", "Recent years are easy to guess.")
            }
            Self::SingleWord => {
                ("単語一つだけでは推測されやすいです。", "A word by itself is easy to guess.")
            }
            Self::Dates => {
                ("日付は推測されやすいことが多いです。", "Dates are often easy to guess.")
            }
            Self::NamesAlone => (
                "名前や名字だけでは推測されやすいです。",
                "Names and surnames by themselves are easy to guess.",
            ),
            Self::CommonNames => (
                "よくある名前や名字は推測されやすいです。",
                "Common names and surnames are easy to guess.",
            ),
        };
        lang.pick(ja, en).to_owned()
    }
}

/// How to make a password stronger, from zxcvbn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggestion {
    /// Use a few words, avoid common phrases.
    UseFewWords,
    /// Symbols, digits and capitals are not required.
    NoNeedForSymbols,
    /// Add another word or two.
    AddAnotherWord,
    /// Capitals help little.
    CapitalizationHelpsLittle,
    /// All capitals are as guessable as none.
    AllUppercaseHelpsLittle,
    /// Reversed words help little.
    ReversedWordsHelpLittle,
    /// `@` for `a` helps little.
    PredictableSubstitutions,
    /// Longer keyboard patterns with more turns.
    LongerKeyboardPattern,
    /// Avoid repetition.
    AvoidRepetition,
    /// Avoid sequences.
    AvoidSequences,
    /// Avoid recent years.
    AvoidRecentYears,
    /// Avoid years associated with you.
    AvoidPersonalYears,
    /// Avoid dates and years associated with you.
    AvoidPersonalDates,
}

impl From<zxcvbn::feedback::Suggestion> for Suggestion {
    fn from(s: zxcvbn::feedback::Suggestion) -> Self {
        use zxcvbn::feedback::Suggestion as S;
        match s {
            S::UseAFewWordsAvoidCommonPhrases => Self::UseFewWords,
            S::NoNeedForSymbolsDigitsOrUppercaseLetters => Self::NoNeedForSymbols,
            S::AddAnotherWordOrTwo => Self::AddAnotherWord,
            S::CapitalizationDoesntHelpVeryMuch => Self::CapitalizationHelpsLittle,
            S::AllUppercaseIsAlmostAsEasyToGuessAsAllLowercase => Self::AllUppercaseHelpsLittle,
            S::ReversedWordsArentMuchHarderToGuess => Self::ReversedWordsHelpLittle,
            S::PredictableSubstitutionsDontHelpVeryMuch => Self::PredictableSubstitutions,
            S::UseALongerKeyboardPatternWithMoreTurns => Self::LongerKeyboardPattern,
            S::AvoidRepeatedWordsAndCharacters => Self::AvoidRepetition,
            S::AvoidSequences => Self::AvoidSequences,
            S::AvoidRecentYears => Self::AvoidRecentYears,
            S::AvoidYearsThatAreAssociatedWithYou => Self::AvoidPersonalYears,
            S::AvoidDatesAndYearsThatAreAssociatedWithYou => Self::AvoidPersonalDates,
        }
    }
}

impl Localized for Suggestion {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self {
            Self::UseFewWords => (
                "いくつかの単語を組み合わせ、よく使われる言い回しは避けてください。",
                "Use a few words, avoid common phrases.",
            ),
            Self::NoNeedForSymbols => (
                "記号・数字・大文字は必須ではありません。",
                "No need for symbols, digits, or uppercase letters.",
            ),
            Self::AddAnotherWord => (
                "単語をもう一つか二つ加えてください。あまり使われない単語ほど効果的です。",
                "Add another word or two. Uncommon words are better.",
            ),
            Self::CapitalizationHelpsLittle => {
                ("大文字を混ぜてもあまり強くなりません。", "Capitalization doesn't help very much.")
            }
            Self::AllUppercaseHelpsLittle => (
                "すべて大文字にしても、すべて小文字とほぼ同じくらい推測されやすいです。",
                "All-uppercase is almost as easy to guess as all-lowercase.",
            ),
            Self::ReversedWordsHelpLittle => (
                "単語を逆さにしても推測の難しさはほとんど変わりません。",
                "Reversed words aren't much harder to guess.",
            ),
            Self::PredictableSubstitutions => (
                "「a」を「@」にするような予測しやすい置き換えはあまり効果がありません。",
                "Predictable substitutions like '@' instead of 'a' don't help very much.",
            ),
            Self::LongerKeyboardPattern => (
                "キーボードの並びを使うなら、もっと長く、曲がりの多いものにしてください。",
                "Use a longer keyboard pattern with more turns.",
            ),
            Self::AvoidRepetition => (
                "同じ単語や文字の繰り返しは避けてください。",
                "Avoid repeated words and characters.",
            ),
            Self::AvoidSequences => {
                ("連続した文字や数字（abc、123 など）は避けてください。", "Avoid sequences.")
            }
            Self::AvoidRecentYears => ("最近の年は避けてください。", "Avoid recent years."),
            Self::AvoidPersonalYears => (
                "ご自身に関係のある年は避けてください。",
                "Avoid years that are associated with you.",
            ),
            Self::AvoidPersonalDates => (
                "ご自身に関係のある日付や年は避けてください。",
                "Avoid dates and years that are associated with you.",
            ),
        };
        lang.pick(ja, en).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_list_has_at_least_100k_entries() {
        assert_eq!(TOP_100K.lines().count(), 100_000);
        assert_eq!(LONG_1M.lines().count(), 43_661);
        // Case-folding merges a few entries of the top list.
        assert!(common_password_count() > 130_000, "{}", common_password_count());
    }

    #[test]
    fn common_lookup_ignores_case() {
        assert!(is_common("123456"));
        assert!(is_common("password"));
        assert!(is_common("PassWord"));
        // The last line of the top-100k file, and one from the long list.
        let last = TOP_100K.lines().last().unwrap();
        assert!(is_common(last));
        let long = LONG_1M.lines().next().unwrap();
        assert!(is_common(&long.to_uppercase()));
        assert!(!is_common("this is not in any list, surely 4711"));
    }

    #[test]
    fn length_limits() {
        assert_eq!(
            check_password("Tr0ub4dor&3", &[]),
            Err(PasswordRejection::TooShort { min: 12 })
        );
        let long = "a".repeat(257);
        assert_eq!(check_password(&long, &[]), Err(PasswordRejection::TooLong { max: 256 }));
        // Characters, not bytes: 12 kanji pass the length check.
        let policy = PasswordPolicy { min_length: 12, max_length: 12 };
        let kanji = "東京都港区芝公園四丁目二番";
        assert_eq!(kanji.chars().count(), 13);
        assert_eq!(policy.check(kanji, &[]), Err(PasswordRejection::TooLong { max: 12 }));
    }

    #[test]
    fn common_passwords_rejected_even_when_long() {
        let long = LONG_1M.lines().find(|l| l.chars().count() >= 12).unwrap();
        assert_eq!(check_password(long, &[]), Err(PasswordRejection::Common));
        assert_eq!(check_password("QWERTYUIOPASDFGHJKL", &[]), Err(PasswordRejection::Common));
    }

    #[test]
    fn personal_info_rejected() {
        let ctx = ["tanaka.taro@vendor.example", "田中 太郎", "Acme Medical"];
        assert_eq!(
            check_password("my tanaka password 99!", &ctx),
            Err(PasswordRejection::ContainsPersonalInfo)
        );
        assert_eq!(
            check_password("ACMEvolcano-lantern-42", &ctx),
            Err(PasswordRejection::ContainsPersonalInfo)
        );
        assert_eq!(
            check_password("田中の秘密のパスワード天気", &ctx),
            Err(PasswordRejection::ContainsPersonalInfo)
        );
        // Short fragments do not count.
        assert!(check_password("correct horse battery staple", &["ab", "", "x"]).is_ok());
    }

    #[test]
    fn weak_rejected_with_feedback_strong_accepted() {
        match check_password("zzzzzzzzzzzzzzzzq", &[]) {
            Err(PasswordRejection::Weak { score, warning, suggestions }) => {
                assert!(score < 3);
                assert_eq!(warning, Some(StrengthWarning::RepeatedCharacters));
                assert!(suggestions.contains(&Suggestion::AvoidRepetition));
            }
            other => panic!("{other:?}"),
        }
        assert!(check_password("correct horse battery staple", &[]).is_ok());
        assert!(check_password("夏の終わりに青い自転車で海へ行く", &[]).is_ok());
    }

    #[test]
    fn messages_in_both_languages() {
        let r = PasswordRejection::TooShort { min: 12 };
        assert_eq!(r.localized(Lang::Ja), "パスワードは12文字以上にしてください。");
        assert_eq!(r.localized(Lang::En), "Use at least 12 characters.");
        assert_eq!(r.code(), "password_too_short");
        let w = PasswordRejection::Weak {
            score: 1,
            warning: Some(StrengthWarning::Sequences),
            suggestions: vec![Suggestion::AddAnotherWord],
        };
        let ja = w.localized(Lang::Ja);
        assert!(ja.contains("推測されやすい") && ja.contains("単語をもう一つか二つ"), "{ja}");
        let en = w.localized(Lang::En);
        assert!(en.contains("strength 1 of 4") && en.contains("Add another word"), "{en}");
        for r in [
            PasswordRejection::Common,
            PasswordRejection::ContainsPersonalInfo,
            PasswordRejection::TooLong { max: 256 },
        ] {
            assert!(r.code().starts_with("password_"));
            assert_ne!(r.localized(Lang::Ja), r.localized(Lang::En));
        }
    }
}
