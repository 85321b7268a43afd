//! Decision policies end to end: the shipped policy files, every ineligibility reason, each
//! formula's order, exploration probabilities against empirical frequencies, and bad numbers.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nextbest::catalog::{Action, ActionKind, Catalog, ContactCaps, Eligibility};
use nextbest::decision::exploration::probabilities;
use nextbest::decision::{
    CandidateScores, ConsentMap, CustomerState, Decision, DecisionError, Exploration, Exposure,
    Formula, Policy, PolicySet, ReasonCode, NO_ACTION_ID,
};
use nextbest::journey::{Channel, Timestamp};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

const DAY: i64 = Timestamp::MICROS_PER_DAY;
const NOW: Timestamp = Timestamp(1_750_000_000_000_000);

fn root(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn catalog() -> Catalog {
    Catalog::load(root("datasets/sample/catalog.toml")).expect("sample catalog")
}

fn action(catalog: &Catalog, id: &str) -> Action {
    catalog.get(id).expect(id).clone()
}

fn ago(days: f64) -> Timestamp {
    Timestamp(NOW.0 - (days * DAY as f64) as i64)
}

/// A consenting, moderately happy customer with a recent support contact and no past contacts.
fn customer() -> CustomerState {
    CustomerState {
        p_churn: Some(0.2),
        sentiment: Some(0.7),
        customer_value: 500.0,
        consent: ConsentMap::new()
            .with(Channel::Email, true)
            .with(Channel::Sms, true)
            .with(Channel::Push, true),
        last_support_contact: Some(ago(3.0)),
        ..CustomerState::new(NOW)
    }
}

fn policy(text: &str) -> Policy {
    Policy::from_toml_str("test", text).expect("test policy")
}

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

fn decide(policy: &Policy, state: &CustomerState, candidates: &[CandidateScores<'_>]) -> Decision {
    policy
        .decide(state, candidates, &mut rng(1))
        .expect("decision")
}

fn chosen(decision: &Decision) -> Vec<&str> {
    decision
        .actions
        .iter()
        .map(|a| a.action_id.as_str())
        .collect()
}

fn reason(decision: &Decision, id: &str) -> Option<ReasonCode> {
    decision
        .ineligible
        .iter()
        .find(|i| i.action_id == id)
        .map(|i| i.reason_code)
}

/// Every candidate of the sample catalog with the same conversion scores.
fn all_scored(catalog: &Catalog, p: f64, q: f64) -> Vec<CandidateScores<'_>> {
    catalog
        .actions
        .iter()
        .map(|a| CandidateScores::scored(a, p, q))
        .collect()
}

#[test]
fn shipped_policies_load_and_name_only_catalog_actions() {
    let set = PolicySet::load_dir(root("policies")).expect("policies/");
    let names: Vec<&str> = set.names().collect();
    assert_eq!(names, ["default", "pega", "propensity", "rules"]);
    let catalog = catalog();
    for policy in set.iter() {
        assert!(policy.spec().description.is_some(), "{}", policy.name());
        assert_eq!(policy.check_against(&catalog), vec![], "{}", policy.name());
    }
    let default = set.get("default").expect("default");
    assert_eq!(default.spec().arbitration.formula, Formula::ExpectedValue);
    assert_eq!(
        default.spec().arbitration.exploration(),
        Exploration::EpsilonGreedy { epsilon: 0.05 }
    );
    assert_eq!(
        set.get("propensity").unwrap().spec().arbitration.formula,
        Formula::Propensity
    );
    assert_eq!(
        set.get("pega").unwrap().spec().arbitration.formula,
        Formula::Pega
    );
    assert_eq!(
        set.get("rules").unwrap().spec().arbitration.formula,
        Formula::Rules
    );

    // Every shipped policy answers for the sample catalog.
    let state = customer();
    let candidates = all_scored(&catalog, 0.1, 0.05);
    for policy in set.iter() {
        let decision = decide(policy, &state, &candidates);
        assert_eq!(decision.actions.len(), 1, "{}", policy.name());
        assert_eq!(decision.policy, policy.name());
    }
}

#[test]
fn bad_policy_folders_and_files_are_errors_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = PolicySet::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.code(), "no_policies");

    std::fs::write(
        dir.path().join("good.toml"),
        "[arbitration]\nformula = \"propensity\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    std::fs::write(
        dir.path().join("json.json"),
        r#"{"arbitration": {"formula": "pega", "levers": {"x": 2.0}}}"#,
    )
    .unwrap();
    let set = PolicySet::load_dir(dir.path()).unwrap();
    assert_eq!(set.names().collect::<Vec<_>>(), ["good", "json"]);
    assert_eq!(set.get("json").unwrap().spec().arbitration.lever("x"), 2.0);

    std::fs::write(
        dir.path().join("bad.toml"),
        "[arbitration]\nexploration = \"epsilon_greedy\"\nepsilon = 2\n",
    )
    .unwrap();
    let err = PolicySet::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.code(), "invalid_policy");
    let message = err.to_string();
    assert!(message.contains("bad.toml"), "{message}");
    assert!(
        message.ends_with("arbitration.epsilon: must be in [0, 1], got 2"),
        "{message}"
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[arbitration]\nmax_action = 2\n",
    )
    .unwrap();
    let message = PolicySet::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("arbitration.max_action: unknown field"),
        "{message}"
    );

    std::fs::remove_file(dir.path().join("bad.toml")).unwrap();
    std::fs::write(dir.path().join("good.json"), "{}").unwrap();
    let err = PolicySet::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.code(), "duplicate_policy");

    let err = Policy::load(dir.path().join("missing.toml")).unwrap_err();
    assert_eq!(err.code(), "io_error");
}

#[test]
fn every_ineligibility_reason_triggers() {
    let catalog = catalog();
    let ev = policy("[arbitration]\ndefault_save_rate = 0.2\n");
    let base = customer();
    let discount = action(&catalog, "email_discount");
    let sms = action(&catalog, "sms_flash_sale");
    let call = action(&catalog, "call_retention_offer");
    let followup = action(&catalog, "email_service_followup");
    let push = action(&catalog, "push_new_arrivals");
    let check = |policy: &Policy, state: &CustomerState, a: &Action, expected: ReasonCode| {
        let candidates = [CandidateScores::scored(a, 0.2, 0.1)];
        let decision = decide(policy, state, &candidates);
        assert_eq!(
            reason(&decision, &a.id),
            Some(expected),
            "{}: {:?}",
            a.id,
            decision.ineligible
        );
        let message = &decision.ineligible[0].message;
        assert!(!message.is_empty());
    };

    // Sanity: the base customer can get all of them.
    for a in [&discount, &sms, &call, &followup, &push] {
        let d = decide(&ev, &base, &[CandidateScores::scored(a, 0.2, 0.1)]);
        assert_eq!(reason(&d, &a.id), None, "{}: {:?}", a.id, d.ineligible);
    }

    // Consent: refused, and unknown under the default "deny".
    let mut s = base.clone();
    s.consent.set(Channel::Email, false);
    check(&ev, &s, &discount, ReasonCode::NoConsent);
    let s = CustomerState {
        consent: ConsentMap::new(),
        ..base.clone()
    };
    check(&ev, &s, &discount, ReasonCode::NoConsent);
    let allow = policy("[eligibility]\nunknown_consent = \"allow\"\n");
    let d = decide(&allow, &s, &[CandidateScores::scored(&discount, 0.2, 0.1)]);
    assert_eq!(reason(&d, "email_discount"), None);

    // Unsubscribes: per channel (even without a consent requirement), and from all marketing.
    let mut s = base.clone();
    s.unsubscribed.channels.push(Channel::Sms);
    check(&ev, &s, &sms, ReasonCode::Unsubscribed);
    let mut s = base.clone();
    s.unsubscribed.channels.push(Channel::CallCenter);
    check(&ev, &s, &call, ReasonCode::Unsubscribed);
    let mut s = base.clone();
    s.unsubscribed.all = true;
    check(&ev, &s, &push, ReasonCode::Unsubscribed);
    let d = decide(&ev, &s, &[CandidateScores::unscored(&call)]);
    assert_eq!(
        reason(&d, "call_retention_offer"),
        None,
        "calls need no consent"
    );

    // Churn-risk rules: the action's own band, and the policy's retention minimum.
    let s = CustomerState {
        p_churn: Some(0.01),
        ..base.clone()
    };
    check(&ev, &s, &call, ReasonCode::ChurnRiskBelowMin);
    let s = CustomerState {
        p_churn: None,
        ..base.clone()
    };
    check(&ev, &s, &call, ReasonCode::ChurnRiskUnknown);
    let capped = Action {
        eligibility: Eligibility {
            max_churn_risk: Some(0.1),
            ..Default::default()
        },
        ..discount.clone()
    };
    check(&ev, &base, &capped, ReasonCode::ChurnRiskAboveMax);
    let strict = policy(
        "[suitability]\nretention_min_churn_risk = 0.3\n[arbitration]\ndefault_save_rate = 0.2\n",
    );
    check(&strict, &base, &call, ReasonCode::ChurnRiskBelowMin);

    // Sentiment: the action's minimum, and the policy's per-kind block.
    let picky = Action {
        eligibility: Eligibility {
            min_sentiment: Some(0.8),
            ..Default::default()
        },
        ..push.clone()
    };
    check(&ev, &base, &picky, ReasonCode::SentimentTooLow);
    let no_upsell = policy("[suitability]\nblock_kinds_below_sentiment = { sales = 0.25 }\n");
    let angry = CustomerState {
        sentiment: Some(0.1),
        ..base.clone()
    };
    check(&no_upsell, &angry, &push, ReasonCode::SentimentTooLow);
    let d = decide(
        &no_upsell,
        &angry,
        &[CandidateScores::scored(&followup, 0.2, 0.1)],
    );
    assert_eq!(
        reason(&d, "email_service_followup"),
        None,
        "service is not blocked"
    );
    let silent = CustomerState {
        sentiment: None,
        ..base.clone()
    };
    let d = decide(
        &no_upsell,
        &silent,
        &[CandidateScores::scored(&push, 0.2, 0.1)],
    );
    assert_eq!(reason(&d, "push_new_arrivals"), None, "no text, no block");

    // Support recency: none on record, and too old.
    let s = CustomerState {
        last_support_contact: None,
        ..base.clone()
    };
    check(&ev, &s, &followup, ReasonCode::NoRecentSupportContact);
    let s = CustomerState {
        last_support_contact: Some(ago(31.0)),
        ..base.clone()
    };
    check(&ev, &s, &followup, ReasonCode::NoRecentSupportContact);

    // Contact: cool-down, action caps, channel and global caps.
    let sent = |id: &str, channel: Channel, days: f64| Exposure {
        at: ago(days),
        action_id: id.into(),
        channel,
    };
    let s = CustomerState {
        exposures: vec![sent("email_discount", Channel::Email, 10.0)],
        ..base.clone()
    };
    check(&ev, &s, &discount, ReasonCode::Cooldown);
    let weekly = Action {
        caps: ContactCaps {
            per_7_days: Some(1),
            ..Default::default()
        },
        ..push.clone()
    };
    let s = CustomerState {
        exposures: vec![sent("push_new_arrivals", Channel::Push, 2.0)],
        ..base.clone()
    };
    check(&ev, &s, &weekly, ReasonCode::Cap7d);
    let s = CustomerState {
        exposures: vec![
            sent("sms_flash_sale", Channel::Sms, 12.0),
            sent("sms_flash_sale", Channel::Sms, 25.0),
        ],
        ..base.clone()
    };
    check(&ev, &s, &sms, ReasonCode::Cap30d);
    let caps = policy(
        "[[contact.channel_caps]]\nchannel = \"email\"\nmax = 2\nwindow_days = 7\n\
         [[contact.global_caps]]\nmax = 3\nwindow_days = 7\n",
    );
    let s = CustomerState {
        exposures: vec![
            sent("email_newsletter", Channel::Email, 1.0),
            sent("email_discount", Channel::Email, 20.0),
            sent("x", Channel::Email, 5.0),
        ],
        ..base.clone()
    };
    check(&caps, &s, &followup, ReasonCode::ChannelCap);
    let s = CustomerState {
        exposures: vec![
            sent("email_newsletter", Channel::Email, 1.0),
            sent("sms_flash_sale", Channel::Sms, 2.0),
            sent("y", Channel::App, 6.0),
        ],
        ..base.clone()
    };
    check(&caps, &s, &push, ReasonCode::GlobalCap);

    // Kinds, formulas and scores.
    let sales_only = policy("[eligibility]\nallowed_kinds = [\"sales\"]\n");
    check(&sales_only, &base, &followup, ReasonCode::KindNotAllowed);
    let propensity = policy("[arbitration]\nformula = \"propensity\"\n");
    let nothing = action(&catalog, NO_ACTION_ID);
    check(&propensity, &base, &nothing, ReasonCode::NoActionEntry);
    let rules = policy("[arbitration]\nformula = \"rules\"\npriority = [\"sms_flash_sale\"]\n");
    check(&rules, &base, &push, ReasonCode::NotInPriorityList);
    check(&rules, &base, &nothing, ReasonCode::NoActionEntry);
    let d = decide(&ev, &base, &[CandidateScores::unscored(&push)]);
    assert_eq!(
        reason(&d, "push_new_arrivals"),
        Some(ReasonCode::MissingScore)
    );
    let no_rate = policy("");
    check(&no_rate, &base, &call, ReasonCode::MissingScore);
    let huge = Action {
        value: f64::MAX,
        ..push.clone()
    };
    let pega = policy("[arbitration]\nformula = \"pega\"\nlevers = { push_new_arrivals = 1e10 }\n");
    check(&pega, &base, &huge, ReasonCode::InvalidScore);
    let floor = policy("[arbitration]\nmin_score = 5.0\n");
    check(&floor, &base, &push, ReasonCode::BelowMinScore);
}

#[test]
fn expected_value_picks_the_highest_incremental_value() {
    let catalog = catalog();
    let ev = policy("");
    let discount = action(&catalog, "email_discount"); // value 55, cost 6
    let newsletter = action(&catalog, "email_newsletter"); // value 40, cost 0.1
    let push = action(&catalog, "push_new_arrivals"); // value 50, cost 0.05
    let nothing = action(&catalog, NO_ACTION_ID);
    let candidates = [
        // Highest P(convert), but customers buy anyway: uplift 0.01 → 0.55 − 6 < 0.
        CandidateScores::scored(&discount, 0.40, 0.39),
        // uplift 0.03 × 40 − 0.1 = 1.1
        CandidateScores::scored(&newsletter, 0.06, 0.03),
        // uplift 0.05 × 50 − 0.05 = 2.45: the winner.
        CandidateScores::scored(&push, 0.08, 0.03),
        CandidateScores::unscored(&nothing),
    ];
    let decision = decide(&ev, &customer(), &candidates);
    assert_eq!(chosen(&decision), ["push_new_arrivals"]);
    let best = &decision.actions[0];
    assert!((best.score - 2.45).abs() < 1e-9);
    assert_eq!(best.rank, 1);
    assert_eq!(best.propensity, 1.0);
    assert!(!best.explored);
    assert!((best.components.uplift.unwrap() - 0.05).abs() < 1e-12);
    assert_eq!(best.components.value, 50.0);
    assert_eq!(best.components.cost, 0.05);
    assert_eq!(
        best.reasons[0],
        "expected value: uplift 0.05 (P(convert) 0.08 − 0.03 without action) × value 50 − cost 0.05 = 2.45"
    );
    let order: Vec<&str> = decision
        .passed_over
        .iter()
        .map(|p| p.action_id.as_str())
        .collect();
    assert_eq!(order, ["email_newsletter", NO_ACTION_ID, "email_discount"]);
    assert_eq!(decision.propensity, 1.0);
    assert!(decision.warnings.is_empty());
}

#[test]
fn expected_value_picks_nothing_when_no_action_pays() {
    let catalog = catalog();
    let ev = policy("");
    let state = customer();
    // Every action: zero or negative uplift.
    let mut candidates = all_scored(&catalog, 0.05, 0.06);
    candidates.retain(|c| c.action.kind != ActionKind::Retention);
    let decision = decide(&ev, &state, &candidates);
    assert_eq!(chosen(&decision), [NO_ACTION_ID]);
    assert_eq!(decision.actions[0].kind, ActionKind::None);
    assert_eq!(decision.actions[0].score, 0.0);
    assert!(decision.passed_over.iter().all(|p| p.score < 0.0));

    // Without a no-action candidate the engine adds one, so "nothing" is still the answer.
    candidates.retain(|c| c.action.kind != ActionKind::None);
    let decision = decide(&ev, &state, &candidates);
    assert_eq!(chosen(&decision), [NO_ACTION_ID]);
    assert_eq!(decision.actions[0].channel.as_str(), "none");

    // A tie at 0 goes to doing nothing (free); a positive value beats it.
    let free = Action {
        cost: 0.0,
        ..action(&catalog, "push_new_arrivals")
    };
    let decision = decide(&ev, &state, &[CandidateScores::scored(&free, 0.1, 0.1)]);
    assert_eq!(chosen(&decision), [NO_ACTION_ID]);
    let decision = decide(&ev, &state, &[CandidateScores::scored(&free, 0.11, 0.1)]);
    assert_eq!(chosen(&decision), ["push_new_arrivals"]);

    // A policy that may not do nothing picks the least bad action.
    let must_act = policy("[eligibility]\nallowed_kinds = [\"sales\", \"service\"]\n");
    let decision = decide(&must_act, &state, &candidates);
    assert_eq!(decision.actions.len(), 1);
    assert_ne!(decision.actions[0].kind, ActionKind::None);
}

#[test]
fn retention_is_valued_by_churn_risk_save_rate_and_customer_value() {
    let catalog = catalog();
    let ev = policy(
        "[arbitration]\ndefault_save_rate = 0.2\nsave_rates = { call_retention_offer = 0.3 }\n",
    );
    let call = action(&catalog, "call_retention_offer"); // cost 12
    let push = action(&catalog, "push_new_arrivals");
    // Push: uplift 0.1 × 50 − 0.05 = 4.95.
    let candidates = [
        CandidateScores::scored(&push, 0.15, 0.05),
        // Retention's own conversion scores are ignored.
        CandidateScores::scored(&call, 0.0, 0.9),
    ];
    let risky = CustomerState {
        p_churn: Some(0.5),
        customer_value: 1000.0,
        ..customer()
    };
    // 0.5 × 0.3 × 1000 − 12 = 138.
    let decision = decide(&ev, &risky, &candidates);
    assert_eq!(chosen(&decision), ["call_retention_offer"]);
    let call_pick = &decision.actions[0];
    assert!((call_pick.score - 138.0).abs() < 1e-9);
    assert_eq!(call_pick.components.save_rate, Some(0.3));
    assert_eq!(call_pick.components.customer_value, Some(1000.0));
    assert_eq!(call_pick.components.p_churn, Some(0.5));
    assert_eq!(
        call_pick.reasons[0],
        "expected value: P(churn) 0.5 × save rate 0.3 × customer value 1000 − cost 12 = 138"
    );
    // The same offer to a customer at low risk: 0.06 × 0.3 × 500 − 12 = −3 < push.
    let safe = CustomerState {
        p_churn: Some(0.06),
        ..customer()
    };
    let decision = decide(&ev, &safe, &candidates);
    assert_eq!(chosen(&decision), ["push_new_arrivals"]);
    let call_score = decision
        .passed_over
        .iter()
        .find(|p| p.action_id == "call_retention_offer")
        .unwrap()
        .score;
    assert!((call_score + 3.0).abs() < 1e-9);
    // The default save rate applies to retention actions without their own.
    let other = Action {
        id: "call_other".into(),
        ..call.clone()
    };
    let decision = decide(&ev, &risky, &[CandidateScores::unscored(&other)]);
    assert_eq!(decision.actions[0].components.save_rate, Some(0.2));
    assert!((decision.actions[0].score - 88.0).abs() < 1e-9);
}

#[test]
fn a_retention_model_values_every_action_by_the_churn_it_prevents() {
    let catalog = catalog();
    let ev = policy("[arbitration]\ndefault_save_rate = 0.2\n");
    let call = action(&catalog, "call_retention_offer"); // cost 12
    let followup = action(&catalog, "email_service_followup"); // value 40, cost 0.3
    let push = action(&catalog, "push_new_arrivals"); // value 50, cost 0.05
    let unhappy = CustomerState {
        p_churn: Some(0.4),
        customer_value: 800.0,
        ..customer()
    };
    let candidates = [
        // Push sells a little and, sent to an unhappy customer, makes leaving a little likelier:
        // 0.02 × 50 − 0.01 × 800 − 0.05 = −7.05.
        CandidateScores::scored(&push, 0.07, 0.05).with_churn(0.21, 0.20),
        // The follow-up sells nothing but halves the churn: −0.001 × 40 + 0.1 × 800 − 0.3 = 79.66.
        CandidateScores::scored(&followup, 0.049, 0.05).with_churn(0.10, 0.20),
        // The call keeps a few more but costs more, and its conversion scores are ignored:
        // 0.11 × 800 − 12 = 76.
        CandidateScores::scored(&call, 0.5, 0.05).with_churn(0.09, 0.20),
    ];
    let decision = decide(&ev, &unhappy, &candidates);
    assert_eq!(chosen(&decision), ["email_service_followup"]);
    let pick = &decision.actions[0];
    assert!((pick.score - 79.66).abs() < 1e-9, "{}", pick.score);
    let c = &pick.components;
    assert_eq!(
        (c.p_churn_action, c.p_churn_no_action),
        (Some(0.10), Some(0.20))
    );
    assert_eq!(c.customer_value, Some(800.0));
    assert_eq!(
        c.save_rate, None,
        "the learned effect replaces the save rate"
    );
    assert!(
        pick.reasons[0].starts_with("expected value: uplift -0.001 × value 40 − churn change -0.1"),
        "{}",
        pick.reasons[0]
    );
    let score_of = |id: &str| {
        decision
            .passed_over
            .iter()
            .find(|p| p.action_id == id)
            .map(|p| p.score)
            .unwrap()
    };
    assert!((score_of("call_retention_offer") - 76.0).abs() < 1e-9);
    assert!((score_of("push_new_arrivals") + 7.05).abs() < 1e-9);
    // Without a retention model the same call falls back to the save rate: 0.4 × 0.2 × 800 − 12.
    let decision = decide(&ev, &unhappy, &[CandidateScores::scored(&call, 0.5, 0.05)]);
    assert!((decision.actions[0].score - 52.0).abs() < 1e-9);
    assert_eq!(decision.actions[0].components.p_churn_action, None);
}

#[test]
fn propensity_pega_and_rules_order_as_documented() {
    let catalog = catalog();
    let state = customer();
    let discount = action(&catalog, "email_discount"); // value 55
    let sms = action(&catalog, "sms_flash_sale"); // value 45
    let push = action(&catalog, "push_new_arrivals"); // value 50
    let nothing = action(&catalog, NO_ACTION_ID);
    let candidates = [
        CandidateScores::scored(&discount, 0.10, 0.09),
        CandidateScores::scored(&sms, 0.12, 0.02),
        CandidateScores::scored(&push, 0.11, 0.10),
        CandidateScores::scored(&nothing, 0.5, 0.5),
    ];
    fn ranked(d: &Decision) -> Vec<&str> {
        let mut ids = chosen(d);
        ids.extend(d.passed_over.iter().map(|p| p.action_id.as_str()));
        ids
    }

    // Propensity: by P(convert) only; doing nothing does not compete.
    let propensity = policy("[arbitration]\nformula = \"propensity\"\nmax_actions = 3\n");
    let d = decide(&propensity, &state, &candidates);
    assert_eq!(
        chosen(&d),
        ["sms_flash_sale", "push_new_arrivals", "email_discount"]
    );
    assert_eq!(d.actions[0].score, 0.12);
    assert_eq!(reason(&d, NO_ACTION_ID), Some(ReasonCode::NoActionEntry));

    // Pega: P(convert) × context weight × value × lever.
    let pega = policy(
        "[arbitration]\nformula = \"pega\"\nmax_actions = 3\nlevers = { email_discount = 0.5 }\n\
         [[arbitration.context_weights]]\ncontext_channel = \"app\"\naction_channel = \"push\"\nweight = 2.0\n\
         [[arbitration.context_weights]]\naction_channel = \"push\"\nweight = 0.1\n",
    );
    let d = decide(&pega, &state, &candidates);
    // No context: sms 0.12 × 45 = 5.4; discount 0.1 × 55 × lever 0.5 = 2.75; push matches only
    // the second rule: 0.11 × 0.1 × 50 = 0.55.
    assert_eq!(
        ranked(&d),
        ["sms_flash_sale", "email_discount", "push_new_arrivals"]
    );
    let push_entry = d
        .actions
        .iter()
        .find(|a| a.action_id == "push_new_arrivals")
        .unwrap();
    assert!((push_entry.score - 0.55).abs() < 1e-9);
    assert_eq!(push_entry.components.context_weight, 0.1);
    let in_app = CustomerState {
        context_channel: Some(Channel::App),
        ..state.clone()
    };
    let d = decide(&pega, &in_app, &candidates);
    // In the app: push 0.11 × 2 × 50 = 11.
    assert_eq!(chosen(&d)[0], "push_new_arrivals");
    assert_eq!(d.actions[0].components.context_weight, 2.0);
    assert_eq!(d.actions[2].components.lever, 0.5);
    assert_eq!(
        d.actions[0].reasons[0],
        "pega: P(convert) 0.11 × context weight 2 × value 50 × lever 1 = 11"
    );
    assert_eq!(reason(&d, NO_ACTION_ID), Some(ReasonCode::NoActionEntry));

    // Rules: the first eligible action of the list, no model needed.
    let rules = policy(
        "[arbitration]\nformula = \"rules\"\npriority = [\"email_discount\", \"push_new_arrivals\", \"sms_flash_sale\"]\n",
    );
    let unscored: Vec<_> = candidates
        .iter()
        .map(|c| CandidateScores::unscored(c.action))
        .collect();
    let d = decide(&rules, &state, &unscored);
    assert_eq!(chosen(&d), ["email_discount"]);
    assert_eq!(d.actions[0].reasons[0], "rules: priority 1 of 3");
    assert_eq!(d.actions[0].score, 3.0);
    // The first one on cool-down: the second wins.
    let cooled = CustomerState {
        exposures: vec![Exposure {
            at: ago(1.0),
            action_id: "email_discount".into(),
            channel: Channel::Email,
        }],
        ..state.clone()
    };
    let d = decide(&rules, &cooled, &unscored);
    assert_eq!(chosen(&d), ["push_new_arrivals"]);
    assert_eq!(d.actions[0].components.priority, Some(2));
    // Listing no_action makes it a stop at its position.
    let stop = policy(
        "[arbitration]\nformula = \"rules\"\npriority = [\"email_discount\", \"no_action\", \"push_new_arrivals\"]\n",
    );
    let d = decide(&stop, &cooled, &unscored);
    assert_eq!(chosen(&d), [NO_ACTION_ID]);
}

#[test]
fn slots_respect_channels_and_stop_at_nothing() {
    let catalog = catalog();
    let state = customer();
    let candidates = [
        CandidateScores::scored(catalog.get("email_newsletter").unwrap(), 0.2, 0.0), // 7.9
        CandidateScores::scored(catalog.get("email_service_followup").unwrap(), 0.2, 0.05), // 5.7
        CandidateScores::scored(catalog.get("push_new_arrivals").unwrap(), 0.1, 0.0), // 4.95
        CandidateScores::scored(catalog.get("sms_flash_sale").unwrap(), 0.0, 0.1),   // −5
        CandidateScores::unscored(catalog.get(NO_ACTION_ID).unwrap()),
    ];
    let three = policy("[arbitration]\nmax_actions = 3\n");
    let d = decide(&three, &state, &candidates);
    // The follow-up is on email too; the slate stops at doing nothing before the SMS loses money.
    assert_eq!(
        chosen(&d),
        ["email_newsletter", "push_new_arrivals", NO_ACTION_ID]
    );
    assert_eq!(
        d.actions.iter().map(|a| a.rank).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let any_channel = policy("[arbitration]\nmax_actions = 3\none_per_channel = false\n");
    let d = decide(&any_channel, &state, &candidates);
    assert_eq!(
        chosen(&d),
        [
            "email_newsletter",
            "email_service_followup",
            "push_new_arrivals"
        ]
    );
}

/// Draws `n` decisions with seeds 0..n and compares how often each candidate is picked for
/// slot 1 with the propensity the decisions report: within 4 standard errors.
fn check_frequencies(policy: &Policy, candidates: &[CandidateScores<'_>], n: u64) -> Vec<f64> {
    let state = customer();
    let ids: Vec<&str> = candidates.iter().map(|c| c.action.id.as_str()).collect();
    let mut counts = vec![0u64; ids.len()];
    let mut reported = vec![f64::NAN; ids.len()];
    for seed in 0..n {
        let d = policy
            .decide(&state, candidates, &mut rng(seed))
            .expect("decision");
        assert_eq!(d.actions.len(), 1);
        let first = &d.actions[0];
        let i = ids.iter().position(|id| *id == first.action_id).unwrap();
        counts[i] += 1;
        if reported[i].is_nan() {
            reported[i] = first.propensity;
        }
        // The same customer always gets the same propensity for the same pick.
        assert_eq!(reported[i], first.propensity);
        assert_eq!(d.propensity, first.propensity);
    }
    assert!(
        reported.iter().all(|p| !p.is_nan()),
        "every candidate was picked at least once: {counts:?}"
    );
    let sum: f64 = reported.iter().sum();
    assert!((sum - 1.0).abs() < 1e-9, "propensities sum to {sum}");
    for (i, &p) in reported.iter().enumerate() {
        let freq = counts[i] as f64 / n as f64;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (freq - p).abs() <= 4.0 * se,
            "{}: frequency {freq} vs propensity {p} (se {se})",
            ids[i]
        );
    }
    reported
}

fn four_candidates(catalog: &Catalog) -> Vec<CandidateScores<'_>> {
    vec![
        CandidateScores::scored(catalog.get("email_newsletter").unwrap(), 0.2, 0.0), // 7.9
        CandidateScores::scored(catalog.get("push_new_arrivals").unwrap(), 0.1, 0.0), // 4.95
        CandidateScores::scored(catalog.get("sms_flash_sale").unwrap(), 0.0, 0.1),   // −5
        CandidateScores::unscored(catalog.get(NO_ACTION_ID).unwrap()),               // 0
    ]
}

#[test]
fn epsilon_greedy_propensities_match_frequencies() {
    let catalog = catalog();
    let candidates = four_candidates(&catalog);
    let p = policy("[arbitration]\nexploration = \"epsilon_greedy\"\nepsilon = 0.2\n");
    let reported = check_frequencies(&p, &candidates, 20_000);
    assert!((reported[0] - (0.8 + 0.05)).abs() < 1e-12);
    for &q in &reported[1..] {
        assert!((q - 0.05).abs() < 1e-12);
    }
}

#[test]
fn softmax_propensities_match_frequencies() {
    let catalog = catalog();
    let candidates = four_candidates(&catalog);
    let p = policy("[arbitration]\nexploration = \"softmax\"\ntemperature = 3.0\n");
    let reported = check_frequencies(&p, &candidates, 20_000);
    // Softmax over (7.9, 4.95, −5, 0) at T = 3.
    let weights: Vec<f64> = [7.9f64, 4.95, -5.0, 0.0]
        .iter()
        .map(|s| (s / 3.0).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    for (r, w) in reported.iter().zip(&weights) {
        assert!((r - w / total).abs() < 1e-9, "{r} vs {}", w / total);
    }
}

#[test]
fn thompson_propensities_match_frequencies() {
    let catalog = catalog();
    let candidates = four_candidates(&catalog);
    let p = policy("[arbitration]\nexploration = \"thompson\"\nuplift_sd = 0.2\n");
    let reported = check_frequencies(&p, &candidates, 20_000);
    // The best-scored candidate wins most often, doing nothing (a certain 0) sometimes.
    assert!(reported[0] > 0.5 && reported[3] > 0.0, "{reported:?}");
    // Thompson needs the expected-value formula and a posterior sd in (0, 1].
    for (text, key) in [
        ("[arbitration]\nexploration = \"thompson\"\n", "arbitration.uplift_sd"),
        ("[arbitration]\nexploration = \"thompson\"\nuplift_sd = 0\n", "arbitration.uplift_sd"),
        ("[arbitration]\nuplift_sd = 0.1\n", "arbitration.uplift_sd"),
        (
            "[arbitration]\nformula = \"propensity\"\nexploration = \"thompson\"\nuplift_sd = 0.1\n",
            "arbitration.exploration",
        ),
    ] {
        let message = Policy::from_toml_str("t", text).unwrap_err().to_string();
        assert!(message.contains(key), "{text}: {message}");
    }
}

#[test]
fn multi_slot_propensities_are_conditional_and_multiply() {
    let catalog = catalog();
    let candidates = four_candidates(&catalog);
    let p =
        policy("[arbitration]\nmax_actions = 2\nexploration = \"softmax\"\ntemperature = 4.0\n");
    let state = customer();
    let n = 20_000u64;
    let mut counts: std::collections::HashMap<Vec<String>, (u64, f64)> = Default::default();
    for seed in 0..n {
        let d = p.decide(&state, &candidates, &mut rng(seed)).unwrap();
        let product: f64 = d.actions.iter().map(|a| a.propensity).product();
        assert!((product - d.propensity).abs() < 1e-12);
        let key: Vec<String> = d.actions.iter().map(|a| a.action_id.clone()).collect();
        let entry = counts.entry(key).or_insert((0, d.propensity));
        entry.0 += 1;
        assert!((entry.1 - d.propensity).abs() < 1e-12);
    }
    let total: f64 = counts.values().map(|&(_, p)| p).sum();
    // Every possible list was drawn at least once here, so their probabilities sum to 1.
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    for (key, &(count, prob)) in &counts {
        let freq = count as f64 / n as f64;
        let se = (prob * (1.0 - prob) / n as f64).sqrt();
        assert!((freq - prob).abs() <= 4.0 * se, "{key:?}: {freq} vs {prob}");
    }
    // Picking nothing ends the list.
    for key in counts.keys() {
        if let Some(pos) = key.iter().position(|id| id == NO_ACTION_ID) {
            assert_eq!(pos, key.len() - 1);
        }
    }
}

#[test]
fn greedy_picks_have_probability_one_whatever_the_seed() {
    let catalog = catalog();
    let candidates = four_candidates(&catalog);
    for text in [
        "",
        "[arbitration]\nexploration = \"epsilon_greedy\"\nepsilon = 0\n",
    ] {
        let p = policy(text);
        let first = p.decide(&customer(), &candidates, &mut rng(0)).unwrap();
        for seed in 1..50 {
            let d = p.decide(&customer(), &candidates, &mut rng(seed)).unwrap();
            assert_eq!(d, first);
        }
        assert_eq!(chosen(&first), ["email_newsletter"]);
        assert_eq!(first.actions[0].propensity, 1.0);
        assert_eq!(first.propensity, 1.0);
    }
    let mut out = Vec::new();
    probabilities(Exploration::None, &[3.0, 2.0], &[], &mut out);
    assert_eq!(out, [1.0, 0.0]);
}

#[test]
fn bad_numbers_never_panic() {
    let catalog = catalog();
    let shipped = PolicySet::load_dir(root("policies")).unwrap();
    let weird = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.5,
        1.5,
        0.0,
        1.0,
        f64::MIN_POSITIVE,
        1e308,
    ];
    let mut seed = 0u64;
    for policy in shipped.iter() {
        for &a in &weird {
            for &b in &weird {
                seed += 1;
                let state = CustomerState {
                    p_churn: Some(a),
                    sentiment: Some(b),
                    ..customer()
                };
                let candidates: Vec<_> = catalog
                    .actions
                    .iter()
                    .map(|x| CandidateScores::scored(x, b, a).with_churn(a, b))
                    .collect();
                let d = policy
                    .decide(&state, &candidates, &mut rng(seed))
                    .expect("model scores never fail a decision");
                for chosen in &d.actions {
                    assert!(chosen.score.is_finite());
                    assert!(chosen.propensity > 0.0 && chosen.propensity <= 1.0);
                }
                assert!(d.propensity > 0.0 && d.propensity <= 1.0);
                // p_churn and every p_convert_no_action are `a`; sentiment and every p_convert `b`.
                let bad = |x: f64| usize::from(!(0.0..=1.0).contains(&x));
                let expected_warnings = (bad(a) + bad(b)) * (1 + catalog.actions.len());
                assert_eq!(
                    d.warnings.len(),
                    expected_warnings,
                    "{a} {b}: {:?}",
                    d.warnings
                );
                serde_json::to_string(&d).expect("decisions serialise");
            }
        }
    }

    // A NaN conversion score is missing: expected_value leaves the action out.
    let ev = policy("");
    let push = action(&catalog, "push_new_arrivals");
    let d = decide(
        &ev,
        &customer(),
        &[CandidateScores::scored(&push, f64::NAN, 0.1)],
    );
    assert_eq!(
        reason(&d, "push_new_arrivals"),
        Some(ReasonCode::MissingScore)
    );
    assert!(
        d.warnings[0].contains("p_convert = NaN"),
        "{:?}",
        d.warnings
    );
    assert_eq!(chosen(&d), [NO_ACTION_ID]);

    // Inputs the caller controls are errors naming the field.
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let state = CustomerState {
            customer_value: bad,
            ..customer()
        };
        let err = ev.decide(&state, &[], &mut rng(0)).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        assert!(err.to_string().starts_with("customer_value:"), "{err}");
    }
    let broken = Action {
        cost: f64::NAN,
        ..push.clone()
    };
    let err = ev
        .decide(
            &customer(),
            &[
                CandidateScores::unscored(&push),
                CandidateScores::unscored(&broken),
            ],
            &mut rng(0),
        )
        .unwrap_err();
    assert!(matches!(err, DecisionError::InvalidInput { .. }));
    assert!(err.to_string().starts_with("candidates[1].cost:"), "{err}");
    let err = ev
        .decide(
            &customer(),
            &[
                CandidateScores::unscored(&push),
                CandidateScores::unscored(&push),
            ],
            &mut rng(0),
        )
        .unwrap_err();
    assert_eq!(err.code(), "duplicate_candidate");
    assert_eq!(
        err.to_string(),
        "candidates[1].id: 'push_new_arrivals' is listed twice"
    );

    // No candidates at all: expected_value still answers "nothing"; the others answer empty.
    let d = ev.decide(&customer(), &[], &mut rng(0)).unwrap();
    assert_eq!(chosen(&d), [NO_ACTION_ID]);
    let d = shipped
        .get("propensity")
        .unwrap()
        .decide(&customer(), &[], &mut rng(0))
        .unwrap();
    assert!(d.actions.is_empty());
    assert_eq!(d.propensity, 1.0);
}

#[test]
fn decisions_serialise_with_stable_codes() {
    let catalog = catalog();
    let p = policy("[arbitration]\nexploration = \"epsilon_greedy\"\nepsilon = 0.1\n");
    let mut state = customer();
    state.consent.set(Channel::Sms, false);
    let d = decide(&p, &state, &all_scored(&catalog, 0.1, 0.02));
    let json: serde_json::Value = serde_json::to_value(&d).unwrap();
    assert_eq!(json["policy"], "test");
    assert_eq!(json["formula"], "expected_value");
    assert_eq!(json["exploration"]["strategy"], "epsilon_greedy");
    assert_eq!(json["exploration"]["epsilon"], 0.1);
    let ineligible = json["ineligible"].as_array().unwrap();
    assert!(ineligible
        .iter()
        .any(|i| i["action_id"] == "sms_flash_sale" && i["reason_code"] == "no_consent"));
    let first = &json["actions"][0];
    assert_eq!(first["rank"], 1);
    assert!(first["components"]["uplift"].is_number());
    assert!(first["reasons"].as_array().unwrap().len() == 2);
}
