//! Tokens of customer text: lower-cased words with negation scope, emoji and emoticons as
//! tokens of their own, and the marks (capitals, `!`, `?`, "but") that lexicon rules read.

/// Words that flip the polarity of the words after them, up to the end of the clause.
pub(super) const NEGATORS: &[&str] = &[
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "cannot", "without",
    "hardly", "barely", "nowhere",
];
/// How many tokens after a negator are marked.
const NEGATION_SCOPE: usize = 3;
/// Negative contractions written without the apostrophe.
const CONTRACTED: &[&str] = &[
    "dont", "isnt", "wasnt", "didnt", "doesnt", "wont", "cant", "couldnt", "wouldnt", "shouldnt",
    "arent", "werent", "hasnt", "havent",
];
/// Markup fragments (IMDB reviews carry `<br />`) that are not words.
const IGNORED: &[&str] = &["br"];
/// Emoticons recognised as tokens (longest first, so `:-)` is not read as `:-` + `)`).
pub const EMOTICONS: &[&str] = &[
    ":'-(", ":-))", ":'(", ":-)", ":-(", ":-D", ":-P", ":-p", ":-/", ";-)", ":-|", ":))", ":((",
    ":)", ":(", ":D", ":P", ":p", ":/", ";)", ":|", ":o", ":O", "<3", "=)", "=(", "xD", "XD",
];

/// One token: its lower-case text and what the lexicon rules need to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// Lower-case word, `!`, `?`, an emoji or an emoticon.
    pub text: String,
    /// Inside the scope of a negator ("not *good*").
    pub negated: bool,
    /// Written in capitals (two letters or more) — emphasis, when the text is not all capitals.
    pub caps: bool,
}

fn is_emoji(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B50 | 0x2B55)
}

struct Builder {
    tokens: Vec<Token>,
    /// Where each clause after the first starts (token indices, non-decreasing): `.`, `,`,
    /// `;`, `:`, brackets, `!` and `?` end a clause (the last two are also tokens).
    clause_starts: Vec<usize>,
    negated: usize,
    word: String,
    upper: usize,
    letters: usize,
}

impl Builder {
    fn push(&mut self, text: String, caps: bool) {
        let negated = self.negated > 0;
        self.tokens.push(Token {
            text,
            negated,
            caps,
        });
    }

    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        let mut w = std::mem::take(&mut self.word);
        let caps = self.letters >= 2 && self.upper == self.letters;
        self.upper = 0;
        self.letters = 0;
        let mut negates_next = false;
        let stem = w
            .strip_suffix("n't")
            .or_else(|| CONTRACTED.contains(&w.as_str()).then(|| &w[..w.len() - 2]))
            .map(str::to_string);
        if let Some(stem) = stem {
            w = stem;
            negates_next = true;
        }
        let w = w.trim_matches('\'').to_string();
        if !w.is_empty() && !IGNORED.contains(&w.as_str()) {
            if NEGATORS.contains(&w.as_str()) {
                self.negated = 0;
                self.push(w, caps);
                self.negated = NEGATION_SCOPE;
            } else {
                self.push(w, caps);
                self.negated = self.negated.saturating_sub(1);
            }
        }
        if negates_next {
            self.negated = 0;
            self.push("not".to_string(), false);
            self.negated = NEGATION_SCOPE;
        }
    }
}

/// Splits text into tokens.
///
/// `don't` becomes `do not`, and the next up to three words before punctuation are negated.
/// `!` and `?` are tokens; so is each emoji and each emoticon of [`EMOTICONS`].
pub fn tokens(text: &str) -> Vec<Token> {
    tokens_with(text, TokenRules::default())
}

/// Reading rules beyond the first model format's, each off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenRules {
    /// A comparative after a modal reads as meant: in "couldn't be happier" / "can't ask for
    /// better service" the comparative is not negated (the praise is complete), and in
    /// "could be better" / "should have been faster" it is (the thing fell short). Negation
    /// alone reads both backwards.
    pub counterfactual: bool,
    /// Two idioms of praise that negation reads backwards: "can't recommend it enough" ("can't"
    /// or "couldn't", a verb of praise, and "enough" later in the clause: its words are not
    /// negated and the negator reads as the token `not-enough`), and, with `counterfactual`,
    /// an article between a frame word and the comparative ("couldn't be a better fit").
    pub idioms: bool,
}

/// [`tokens`] read by `rules`.
pub fn tokens_with(text: &str, rules: TokenRules) -> Vec<Token> {
    let (mut toks, clause_starts) = split(text);
    if rules.counterfactual {
        counterfactual_comparatives(&mut toks, rules.idioms);
    }
    if rules.idioms {
        enough_idiom(&mut toks, &clause_starts);
    }
    toks
}

/// Verbs of praise in "can't *recommend* it enough", "couldn't *thank* them enough".
const PRAISE_VERBS: &[&str] = &[
    "recommend",
    "thank",
    "praise",
    "say",
    "stress",
    "rave",
    "speak",
    "express",
];

/// Applies the "enough" idiom of [`TokenRules::idioms`] in place: "can't" / "cannot" /
/// "couldn't", a verb of praise right after it, and "enough" at most eight tokens on in the
/// same clause, before any other negator. "Not good enough" and "don't have enough time" are
/// complaints and stay negated.
fn enough_idiom(toks: &mut [Token], clause_starts: &[usize]) {
    for i in 0..toks.len() {
        let modal_not = match toks[i].text.as_str() {
            "cannot" => true,
            "not" => i > 0 && matches!(toks[i - 1].text.as_str(), "ca" | "can" | "could"),
            _ => false,
        };
        if toks[i].negated
            || !modal_not
            || !toks
                .get(i + 1)
                .is_some_and(|t| PRAISE_VERBS.contains(&t.text.as_str()))
        {
            continue;
        }
        let clause_end = clause_starts
            .iter()
            .copied()
            .find(|&k| k > i)
            .unwrap_or(toks.len())
            .min(i + 9);
        let enough = (i + 2..clause_end)
            .take_while(|&k| !NEGATORS.contains(&toks[k].text.as_str()))
            .find(|&k| toks[k].text == "enough");
        if let Some(e) = enough {
            toks[i].text = "not-enough".to_string();
            for t in &mut toks[i + 1..=e] {
                t.negated = false;
            }
        }
    }
}

/// Modal verbs that make a comparative counterfactual ("could be better"); `ca` and `wo` are
/// what "can't" and "won't" leave before `not`.
const MODALS: &[&str] = &["could", "can", "ca", "would", "wo", "should", "might"];
/// Words between the modal and the comparative: "be", "have been", "ask for", "wish for".
const FRAME: &[&str] = &[
    "be", "been", "have", "ask", "asked", "wish", "for", "get", "go", "any",
];
/// Comparatives beyond the regular "-ier" ones.
const COMPARATIVES: &[&str] = &[
    "better", "worse", "more", "less", "greater", "nicer", "faster", "quicker", "smoother",
    "kinder", "simpler", "cheaper", "sooner", "smarter", "cleaner", "clearer", "worser",
];

fn is_comparative(word: &str) -> bool {
    COMPARATIVES.contains(&word) || (word.len() > 4 && word.ends_with("ier"))
}

/// Applies [`TokenRules::counterfactual`] in place (`articles`: the idioms' article rule).
fn counterfactual_comparatives(toks: &mut [Token], articles: bool) {
    for m in 0..toks.len() {
        if !MODALS.contains(&toks[m].text.as_str()) {
            continue;
        }
        let negated = toks.get(m + 1).is_some_and(|t| t.text == "not");
        let mut k = m + 1 + usize::from(negated);
        while toks
            .get(k)
            .is_some_and(|t| FRAME.contains(&t.text.as_str()))
        {
            k += 1;
        }
        // An article after the frame: "couldn't be a better fit".
        if articles
            && k > m + 1 + usize::from(negated)
            && toks
                .get(k)
                .is_some_and(|t| matches!(t.text.as_str(), "a" | "an"))
        {
            k += 1;
        }
        // A frame word is required: "could be better", not "could better".
        if k == m + 1 + usize::from(negated)
            || !toks.get(k).is_some_and(|t| is_comparative(&t.text))
        {
            continue;
        }
        // "more"/"less" carry the word after them ("couldn't be more pleased").
        let end = if matches!(toks[k].text.as_str(), "more" | "less") {
            (k + 2).min(toks.len())
        } else {
            k + 1
        };
        for t in &mut toks[k..end] {
            t.negated = !negated;
        }
    }
}

fn split(text: &str) -> (Vec<Token>, Vec<usize>) {
    let mut b = Builder {
        tokens: Vec::with_capacity(text.len() / 4),
        clause_starts: Vec::new(),
        negated: 0,
        word: String::new(),
        upper: 0,
        letters: 0,
    };
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '\'' || c == '’' {
            // "xD" is an emoticon only on its own.
            if c.is_alphabetic() {
                b.letters += 1;
                if c.is_uppercase() {
                    b.upper += 1;
                }
            }
            for lower in c.to_lowercase() {
                b.word.push(if lower == '’' { '\'' } else { lower });
            }
            continue;
        }
        b.end_word();
        if matches!(c, ':' | ';' | '<' | '=') {
            let rest = &text[i..];
            if let Some(e) = EMOTICONS.iter().find(|e| rest.starts_with(**e)) {
                let end = i + e.len();
                b.push((*e).to_string(), false);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                b.negated = 0;
                continue;
            }
        }
        match c {
            '.' | ',' | ';' | ':' | '(' | ')' => {
                b.negated = 0;
                b.clause_starts.push(b.tokens.len());
            }
            '!' | '?' => {
                b.negated = 0;
                b.push(c.to_string(), false);
                b.clause_starts.push(b.tokens.len());
            }
            c if is_emoji(c) => b.push(c.to_string(), false),
            _ => {}
        }
    }
    b.end_word();
    // "xD"/"XD" written as a word.
    for t in &mut b.tokens {
        if t.text == "xd" {
            t.text = "xD".into();
        }
    }
    (b.tokens, b.clause_starts)
}

/// The tokens as strings, a negated token prefixed `not_` (the form hashed features use).
pub fn tokenize(text: &str) -> Vec<String> {
    with_negation_marks(tokens(text))
}

fn with_negation_marks(tokens: Vec<Token>) -> Vec<String> {
    tokens
        .into_iter()
        .map(|t| {
            if t.negated {
                format!("not_{}", t.text)
            } else {
                t.text
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_marks_the_words_that_follow_until_punctuation() {
        assert_eq!(
            tokenize("Not good at all. Great!"),
            ["not", "not_good", "not_at", "not_all", "great", "!"]
        );
        assert_eq!(
            tokenize("I don't like it"),
            ["i", "do", "not", "not_like", "not_it"]
        );
        assert_eq!(
            tokenize("It wasn’t BAD<br /><br />fine"),
            ["it", "was", "not", "not_bad", "not_fine"]
        );
    }

    #[test]
    fn emoji_emoticons_and_capitals_are_kept() {
        let t = tokens("Love it 😍 :-) but AWFUL :(");
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["love", "it", "😍", ":-)", "but", "awful", ":("]);
        assert!(t[5].caps && !t[0].caps);
        assert_eq!(tokenize("lol xD"), ["lol", "xD"]);
    }

    #[test]
    fn idioms_of_praise_are_not_read_as_negated() {
        let idioms = TokenRules {
            counterfactual: true,
            idioms: true,
        };
        let plain = TokenRules {
            counterfactual: true,
            idioms: false,
        };
        let marked = |t: &str, rules| with_negation_marks(tokens_with(t, rules));
        // "enough" past the three-word scope still ends the idiom.
        assert_eq!(
            marked("Can't recommend this show enough!", idioms),
            [
                "ca",
                "not-enough",
                "recommend",
                "this",
                "show",
                "enough",
                "!"
            ]
        );
        assert_eq!(
            marked("Can't recommend this show enough!", plain),
            [
                "ca",
                "not",
                "not_recommend",
                "not_this",
                "not_show",
                "enough",
                "!"
            ]
        );
        assert_eq!(
            marked("I cannot thank them enough", idioms),
            ["i", "not-enough", "thank", "them", "enough"]
        );
        // Complaints with "enough" stay negated, as without the rule.
        for complaint in [
            "It's not good enough",
            "I don't have enough time",
            "not enough time and not enough staff",
            "Can't recommend it. Enough is enough",
            "Can't recommend it, it's not big enough",
        ] {
            assert_eq!(
                marked(complaint, idioms),
                marked(complaint, plain),
                "{complaint}"
            );
        }
        // "enough" eight tokens on is in reach, nine is not.
        let near = "can't recommend a b c d e f enough";
        let far = "can't recommend a b c d e f g enough";
        assert_eq!(marked(near, idioms)[1], "not-enough");
        assert_eq!(marked(far, idioms), marked(far, plain));
        // An article between the frame and the comparative.
        assert_eq!(
            marked("It couldn't be a better fit", idioms),
            ["it", "could", "not", "not_be", "not_a", "better", "fit"]
        );
        assert_eq!(
            marked("It couldn't be a better fit", plain),
            ["it", "could", "not", "not_be", "not_a", "not_better", "fit"]
        );
        // The article alone is no frame.
        assert_eq!(
            marked("Could a better phone exist", idioms),
            marked("Could a better phone exist", plain)
        );
    }

    #[test]
    fn a_comparative_after_a_modal_reads_as_meant() {
        let marked = |t: &str| -> Vec<String> {
            let rules = TokenRules {
                counterfactual: true,
                ..TokenRules::default()
            };
            with_negation_marks(tokens_with(t, rules))
        };
        assert_eq!(
            marked("Couldn't be happier"),
            ["could", "not", "not_be", "happier"]
        );
        assert_eq!(
            marked("can't ask for better service"),
            ["ca", "not", "not_ask", "not_for", "better", "service"]
        );
        assert_eq!(
            marked("I couldn't be more pleased"),
            ["i", "could", "not", "not_be", "more", "pleased"]
        );
        assert_eq!(
            marked("It could be better"),
            ["it", "could", "be", "not_better"]
        );
        assert_eq!(
            marked("should have been faster"),
            ["should", "have", "been", "not_faster"]
        );
        // Without a frame word, or without the rule, nothing changes.
        assert_eq!(
            marked("I could not better it"),
            tokenize("I could not better it")
        );
        assert_eq!(
            tokenize("Couldn't be happier"),
            ["could", "not", "not_be", "not_happier"]
        );
    }
}
