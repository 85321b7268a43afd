//! Hyper-parameters in two states, after linfa's `ParamGuard`: as read from a config
//! (unchecked: plain public fields, deserialisable, free to edit) and as a learner takes them
//! (checked: built only by [`ParamGuard::check`], so fitting never validates again and can
//! never see an out-of-range value).

/// A setting outside its range, naming the key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct InvalidSetting {
    /// The key, dotted from its section (`gbdt.max_depth`, `split.holdout_cutoff`).
    pub key: String,
    /// What is wrong with its value.
    pub problem: String,
}

impl InvalidSetting {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        InvalidSetting {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// The usual range message: `must be {expected}, got {got}`.
    pub fn out_of_range(
        key: impl Into<String>,
        expected: &str,
        got: impl std::fmt::Display,
    ) -> Self {
        InvalidSetting::new(key, format!("must be {expected}, got {got}"))
    }

    /// The same problem with the key placed under `section` (`gbdt.max_depth` in `model`
    /// becomes `model.gbdt.max_depth`).
    pub fn within(mut self, section: &str) -> Self {
        self.key = format!("{section}.{}", self.key);
        self
    }
}

/// Unchecked hyper-parameters that can be checked into the type a learner accepts.
pub trait ParamGuard {
    /// The checked form.
    type Checked;

    /// Checks every range once, naming the first offending key.
    fn check(&self) -> Result<Self::Checked, InvalidSetting>;
}

/// `Ok(())` when `ok`, else the range error of `key`.
pub(crate) fn require(
    ok: bool,
    key: &str,
    expected: &str,
    got: impl std::fmt::Display,
) -> Result<(), InvalidSetting> {
    if ok {
        Ok(())
    } else {
        Err(InvalidSetting::out_of_range(key, expected, got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_names_its_key_under_its_section() {
        let error = InvalidSetting::out_of_range("gbdt.max_depth", "within 1..=16", 99);
        assert_eq!(
            error.to_string(),
            "gbdt.max_depth: must be within 1..=16, got 99"
        );
        assert_eq!(
            error.within("model").to_string(),
            "model.gbdt.max_depth: must be within 1..=16, got 99"
        );
        assert_eq!(require(true, "x", "positive", -1), Ok(()));
    }
}
