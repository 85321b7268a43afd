//! Health checks: reasons not to trust an experiment's numbers yet, each as a plain-language
//! warning with a stable machine code. A warning does not stop the analysis; it says what to
//! look at before reading the lifts.

use serde::{Deserialize, Serialize};

use super::frequentist::{two_sided_t_test, DifferenceType, FrequentistSettings};
use super::srm::{sample_ratio_mismatch, SRM_ALERT_P_VALUE};
use super::sufficient::Sample;

/// What a warning is about: a stable snake_case code for machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCode {
    /// The units per arm do not match the weights (chi-square test).
    SampleRatioMismatch,
    /// Some units were exposed to more than one arm.
    UnitsInSeveralArms,
    /// The arms differed on the pre-period covariate before the experiment began.
    PrePeriodImbalance,
    /// An arm has fewer units than the configured minimum.
    TooFewUnits,
}

impl HealthCode {
    /// The code as written in JSON and in the manual.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCode::SampleRatioMismatch => "sample_ratio_mismatch",
            HealthCode::UnitsInSeveralArms => "units_in_several_arms",
            HealthCode::PrePeriodImbalance => "pre_period_imbalance",
            HealthCode::TooFewUnits => "too_few_units",
        }
    }
}

/// One health warning: its code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthWarning {
    /// What it is about.
    pub code: HealthCode,
    /// What was seen and what it means, in plain language.
    pub message: String,
}

/// Thresholds of the health checks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthSettings {
    /// Sample ratio mismatch below this p-value. Default 0.001.
    pub srm_p_value: f64,
    /// Pre-period imbalance below this p-value. Default 0.001: under a working randomisation
    /// one comparison in a thousand trips it by chance.
    pub imbalance_p_value: f64,
    /// Fewer units than this in an arm is a warning. Default 100.
    pub min_units_per_arm: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            srm_p_value: SRM_ALERT_P_VALUE,
            imbalance_p_value: 0.001,
            min_units_per_arm: 100,
        }
    }
}

/// What the checks look at, arms in one order throughout.
#[derive(Clone, Copy, Debug)]
pub struct HealthInput<'a> {
    /// Arm names.
    pub arms: &'a [String],
    /// Units per arm.
    pub units: &'a [u64],
    /// Configured weights per arm (any positive scale).
    pub weights: &'a [f64],
    /// Index of the control arm.
    pub control: usize,
    /// Units seen in more than one arm (already left out of `units`, or not: the caller says in
    /// its own documentation).
    pub units_in_several_arms: u64,
    /// The pre-period covariate per arm, when there is one.
    pub covariate: Option<&'a [Sample]>,
}

/// Runs every check and returns the warnings, in the order: too few units, sample ratio
/// mismatch, units in several arms, pre-period imbalance. Empty when all is well.
pub fn health_checks(input: &HealthInput<'_>, settings: &HealthSettings) -> Vec<HealthWarning> {
    let mut warnings = Vec::new();
    too_few_units(input, settings, &mut warnings);
    mismatch(input, settings, &mut warnings);
    several_arms(input, &mut warnings);
    imbalance(input, settings, &mut warnings);
    warnings
}

fn arm_name(input: &HealthInput<'_>, index: usize) -> String {
    input
        .arms
        .get(index)
        .cloned()
        .unwrap_or_else(|| format!("#{index}"))
}

fn too_few_units(input: &HealthInput<'_>, settings: &HealthSettings, out: &mut Vec<HealthWarning>) {
    for (index, &units) in input.units.iter().enumerate() {
        if units < settings.min_units_per_arm {
            out.push(HealthWarning {
                code: HealthCode::TooFewUnits,
                message: format!(
                    "arm {} has {units} units, fewer than the minimum of {}: its intervals are \
                     wide and the normal approximations behind them may not hold yet",
                    arm_name(input, index),
                    settings.min_units_per_arm
                ),
            });
        }
    }
}

fn mismatch(input: &HealthInput<'_>, settings: &HealthSettings, out: &mut Vec<HealthWarning>) {
    let Some(check) = sample_ratio_mismatch(input.units, input.weights) else {
        return;
    };
    if !check.is_mismatch(settings.srm_p_value) {
        return;
    }
    let observed: Vec<String> = input
        .units
        .iter()
        .zip(&check.expected)
        .enumerate()
        .map(|(index, (units, expected))| {
            format!(
                "{} {units} (expected {expected:.0})",
                arm_name(input, index)
            )
        })
        .collect();
    out.push(HealthWarning {
        code: HealthCode::SampleRatioMismatch,
        message: format!(
            "units per arm {} do not match the weights (chi-square p = {}, below {}): \
             assignment or logging loses units of some arm, so the lifts cannot be trusted until \
             the cause is found",
            observed.join(", "),
            format_p(check.p_value),
            settings.srm_p_value
        ),
    });
}

fn several_arms(input: &HealthInput<'_>, out: &mut Vec<HealthWarning>) {
    if input.units_in_several_arms == 0 {
        return;
    }
    let total: u64 = input.units.iter().sum::<u64>() + input.units_in_several_arms;
    let share = input.units_in_several_arms as f64 / total.max(1) as f64;
    out.push(HealthWarning {
        code: HealthCode::UnitsInSeveralArms,
        message: format!(
            "{} units ({:.2} % of all) were exposed to more than one arm: assignment is not \
             sticky, so the arms are not cleanly separated and the lifts are diluted",
            input.units_in_several_arms,
            share * 100.0
        ),
    });
}

fn imbalance(input: &HealthInput<'_>, settings: &HealthSettings, out: &mut Vec<HealthWarning>) {
    let Some(covariate) = input.covariate else {
        return;
    };
    let Some(control) = covariate.get(input.control) else {
        return;
    };
    let absolute = FrequentistSettings {
        difference: DifferenceType::Absolute,
        ..FrequentistSettings::default()
    };
    for (index, arm) in covariate.iter().enumerate() {
        if index == input.control {
            continue;
        }
        let Some(test) = two_sided_t_test(&control.estimate(), &arm.estimate(), &absolute) else {
            continue;
        };
        if test.p_value < settings.imbalance_p_value {
            out.push(HealthWarning {
                code: HealthCode::PrePeriodImbalance,
                message: format!(
                    "arm {} already differed from control {} before the experiment: pre-period \
                     mean {:.4} against {:.4} (t-test p = {}, below {}); check that assignment \
                     is random and that the pre-period ends before the first exposure",
                    arm_name(input, index),
                    arm_name(input, input.control),
                    arm.mean(),
                    control.mean(),
                    format_p(test.p_value),
                    settings.imbalance_p_value
                ),
            });
        }
    }
}

/// A p-value for people: four decimals, or scientific notation when smaller.
pub fn format_p(p: f64) -> String {
    if p >= 0.0001 {
        format!("{p:.4}")
    } else {
        format!("{p:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        ["control", "b", "c"][..n]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn srm_fires_at_51_49_of_100000_and_not_at_50_1_49_9() {
        let arms = names(2);
        let input = |units: &'static [u64]| HealthInput {
            arms: &arms,
            units,
            weights: &[0.5, 0.5],
            control: 0,
            units_in_several_arms: 0,
            covariate: None,
        };
        let broken = health_checks(&input(&[51_000, 49_000]), &HealthSettings::default());
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].code, HealthCode::SampleRatioMismatch);
        assert!(broken[0].message.contains("control 51000 (expected 50000)"));
        let fine = health_checks(&input(&[50_100, 49_900]), &HealthSettings::default());
        assert!(fine.is_empty(), "{fine:?}");
    }

    #[test]
    fn each_check_speaks_up() {
        let arms = names(3);
        let covariate = [
            Sample::mean_of(60, 600.0, 6600.0),
            Sample::mean_of(60, 900.0, 14_100.0),
            Sample::mean_of(50, 510.0, 5700.0),
        ];
        let input = HealthInput {
            arms: &arms,
            units: &[60, 60, 50],
            weights: &[1.0, 1.0, 1.0],
            control: 0,
            units_in_several_arms: 3,
            covariate: Some(&covariate),
        };
        let codes: Vec<HealthCode> = health_checks(&input, &HealthSettings::default())
            .iter()
            .map(|w| w.code)
            .collect();
        assert_eq!(
            codes,
            [
                HealthCode::TooFewUnits,
                HealthCode::TooFewUnits,
                HealthCode::TooFewUnits,
                HealthCode::UnitsInSeveralArms,
                HealthCode::PrePeriodImbalance,
            ]
        );
        assert_eq!(
            HealthCode::PrePeriodImbalance.as_str(),
            "pre_period_imbalance"
        );
    }
}
