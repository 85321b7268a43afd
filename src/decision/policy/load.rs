//! Reading policies: one file (TOML or JSON, named by its stem), a folder of them, or TOML text;
//! TOML errors are described by the dotted key and line where they happen
//! ([`crate::config_file`]).

use std::path::{Path, PathBuf};

use super::spec::PolicySpec;
use super::validate::valid_name;
use super::{Policy, PolicyError, PolicySet};

impl Policy {
    /// Parses a policy from TOML text.
    pub fn from_toml_str(name: &str, text: &str) -> Result<Self, PolicyError> {
        let file = PathBuf::from(format!("<{name}>"));
        Self::parse(&file, name, text, false)
    }

    /// Reads a policy file (`.json` as JSON, anything else as TOML); its name is the file stem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|cause| PolicyError::Io {
            file: path.to_path_buf(),
            cause,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(path, &name, &text, is_json)
    }

    fn parse(file: &Path, name: &str, text: &str, is_json: bool) -> Result<Self, PolicyError> {
        if !valid_name(name) {
            return Err(PolicyError::BadName {
                file: file.to_path_buf(),
                name: name.to_string(),
            });
        }
        let spec: PolicySpec = if is_json {
            serde_json::from_str(text).map_err(|e| PolicyError::Parse {
                file: file.to_path_buf(),
                problem: e.to_string(),
            })?
        } else {
            crate::config_file::from_toml_str(text).map_err(|p| PolicyError::Parse {
                file: file.to_path_buf(),
                problem: p.to_string(),
            })?
        };
        spec.validate().map_err(|p| PolicyError::Invalid {
            file: file.to_path_buf(),
            key: p.key,
            problem: p.problem,
        })?;
        Ok(Policy {
            name: name.to_string(),
            spec,
        })
    }
}

impl PolicySet {
    /// Loads every `*.toml` and `*.json` file of a folder (not recursing). Any bad file is an
    /// error naming it; so is a folder without policies or two files with the same stem.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let dir = dir.as_ref();
        let io = |cause| PolicyError::Io {
            file: dir.to_path_buf(),
            cause,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let is_policy = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml") || e.eq_ignore_ascii_case("json"));
            if is_policy && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(PolicyError::NoPolicies {
                dir: dir.to_path_buf(),
            });
        }
        files.sort();
        let mut loaded: Vec<(Policy, PathBuf)> = Vec::with_capacity(files.len());
        for path in files {
            let policy = Policy::load(&path)?;
            if let Some((_, first)) = loaded.iter().find(|(p, _)| p.name == policy.name) {
                return Err(PolicyError::Duplicate {
                    name: policy.name,
                    first: first.clone(),
                    second: path,
                });
            }
            loaded.push((policy, path));
        }
        let mut policies: Vec<Policy> = loaded.into_iter().map(|(p, _)| p).collect();
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(PolicySet { policies })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> String {
        Policy::from_toml_str("t", text).unwrap_err().to_string()
    }

    #[test]
    fn parse_errors_name_the_key_and_line() {
        let message = parse_error("[arbitration]\nformula = \"pega\"\nepsilonn = 0.1\n");
        assert!(
            message.starts_with("<t>: arbitration.epsilonn: unknown field"),
            "{message}"
        );
        assert!(message.contains("line 3"), "{message}");

        let message = parse_error("[arbitration]\nepsilon = \"high\"\n");
        assert!(
            message.contains("arbitration.epsilon: invalid type"),
            "{message}"
        );

        let message = parse_error("[arbitration]\nformula = \"magic\"\n");
        assert!(
            message.contains("arbitration.formula: unknown variant `magic`"),
            "{message}"
        );

        let message = parse_error(
            "[[contact.channel_caps]]\nchannel = \"email\"\nmax = 1\nwindow_days = 7\n\
             [[contact.channel_caps]]\nchannel = \"sms\"\nmax = -1\nwindow_days = 7\n",
        );
        assert!(message.contains("contact.channel_caps[1].max"), "{message}");

        let message = parse_error("[suitability]\nblock_kinds_below_sentiment = { none = 0.2 }\n");
        assert!(
            message.contains("suitability.block_kinds_below_sentiment: unknown field `none`"),
            "{message}"
        );

        let message = parse_error("colour = \"red\"\n");
        assert!(message.contains("colour: unknown field"), "{message}");

        let err = Policy::from_toml_str("t", "[arbitration\n").unwrap_err();
        assert_eq!(err.code(), "invalid_policy_file");
        let err = Policy::from_toml_str("t", "[arbitration]\nmax_actions = 0").unwrap_err();
        assert_eq!(err.code(), "invalid_policy");
        let err = Policy::from_toml_str("bad name", "").unwrap_err();
        assert_eq!(err.code(), "invalid_policy_name");
    }
}
