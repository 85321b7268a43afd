//! Customer-written text whose tone follows satisfaction: support tickets, chats, complaints and
//! reviews composed from phrase banks, so the sentiment model has real signal and real variety.

use rand::Rng;

const TOPICS: &[&str] = &[
    "my order",
    "the delivery",
    "the app",
    "my invoice",
    "the refund",
    "the checkout",
    "my account",
    "the product quality",
    "the size exchange",
    "my subscription",
    "the tracking page",
    "the loyalty points",
];

const OPENERS: &[&str] = &[
    "",
    "",
    "Hi,",
    "Hello team,",
    "Hi there.",
    "Good morning,",
    "Hey,",
];

const NEGATIVE: &[&str] = &[
    "{topic} is still not sorted and I am really frustrated.",
    "This is the third time I have to contact you about {topic}.",
    "Honestly a terrible experience with {topic}.",
    "{topic} arrived broken and nobody answers my emails.",
    "I am very disappointed, {topic} was a complete mess.",
    "Very poor service, I am seriously thinking of cancelling.",
    "Absolutely unacceptable, I waited two weeks for {topic}.",
    "Not happy at all with {topic}.",
    "Worst support I have ever had.",
    "You charged me twice and {topic} is wrong again.",
    "I regret ordering, {topic} is useless.",
    "Nobody seems to care about {topic}, awful.",
];

const POSITIVE: &[&str] = &[
    "Thanks, {topic} was sorted really quickly!",
    "Great help from your team with {topic}.",
    "Love it, {topic} works perfectly now.",
    "Excellent service, I really appreciate it.",
    "Super fast and friendly, thank you.",
    "Not bad at all, I am happy with {topic}.",
    "{topic} was exactly what I hoped for.",
    "Brilliant, the agent fixed {topic} in minutes.",
    "Very pleased with {topic}, will recommend you.",
    "Wonderful experience as always.",
];

const NEUTRAL: &[&str] = &[
    "Could you please check {topic}?",
    "I have a question about {topic}.",
    "{topic} is okay but could be better.",
    "It works, although {topic} took a while.",
    "Can someone tell me the status of {topic}?",
    "Not sure what happened with {topic}, please advise.",
    "{topic} is fine, just wanted to confirm.",
];

const NEGATIVE_CLOSERS: &[&str] = &["", "Fix this now.", "Really annoyed.", "Please respond."];
const POSITIVE_CLOSERS: &[&str] = &["", "Thanks!", "Cheers.", "Keep it up."];
const NEUTRAL_CLOSERS: &[&str] = &["", "Thanks.", "Regards.", "Thank you."];

/// The tone of a text, decided from satisfaction plus noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Unhappy.
    Negative,
    /// Neither.
    Neutral,
    /// Happy.
    Positive,
}

impl Tone {
    /// Tone of a customer with satisfaction `satisfaction` (0..1) on a given day.
    pub fn draw<R: Rng>(rng: &mut R, satisfaction: f64) -> Tone {
        let mood = satisfaction + 0.18 * (rng.random::<f64>() + rng.random::<f64>() - 1.0) * 1.7;
        if mood < 0.45 {
            Tone::Negative
        } else if mood > 0.7 {
            Tone::Positive
        } else {
            Tone::Neutral
        }
    }
}

fn pick<'a, R: Rng>(rng: &mut R, bank: &[&'a str]) -> &'a str {
    bank[rng.random_range(0..bank.len())]
}

fn capitalise(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Composes one text of 1–3 sentences in the given tone.
pub fn compose<R: Rng>(rng: &mut R, tone: Tone) -> String {
    let topic = pick(rng, TOPICS);
    let (bank, closers) = match tone {
        Tone::Negative => (NEGATIVE, NEGATIVE_CLOSERS),
        Tone::Positive => (POSITIVE, POSITIVE_CLOSERS),
        Tone::Neutral => (NEUTRAL, NEUTRAL_CLOSERS),
    };
    let mut parts: Vec<String> = Vec::with_capacity(4);
    let opener = pick(rng, OPENERS);
    if !opener.is_empty() {
        parts.push(opener.to_string());
    }
    let sentences = 1 + usize::from(rng.random_bool(0.5)) + usize::from(rng.random_bool(0.2));
    let first = rng.random_range(0..bank.len());
    for k in 0..sentences {
        let template = bank[(first + k * 5) % bank.len()];
        parts.push(capitalise(&template.replace("{topic}", topic)));
    }
    let closer = pick(rng, closers);
    if !closer.is_empty() {
        parts.push(closer.to_string());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn texts_vary_and_follow_tone() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let texts: std::collections::HashSet<String> = (0..200)
            .map(|_| compose(&mut rng, Tone::Negative))
            .collect();
        assert!(texts.len() > 100, "only {} distinct texts", texts.len());
        let unhappy = (0..1000)
            .filter(|_| Tone::draw(&mut rng, 0.1) == Tone::Negative)
            .count();
        let happy = (0..1000)
            .filter(|_| Tone::draw(&mut rng, 0.95) == Tone::Positive)
            .count();
        assert!(unhappy > 900 && happy > 900, "{unhappy} {happy}");
    }
}
