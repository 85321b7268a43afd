//! Configuration files — policies, the action catalog, `serve.toml`, training configs — are
//! TOML read one way, so a mistake reads the same everywhere:
//! `file: section.key: message (line L, column C)`.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a TOML text does not fit the expected shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TomlProblem {
    /// The dotted key (`arbitration.epsilon`, `contact.channel_caps[1].max`), when the text
    /// tells it.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Line and column (1-based), when known.
    pub position: Option<(usize, usize)>,
}

impl std::fmt::Display for TomlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some((line, column)) = self.position {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

impl std::error::Error for TomlProblem {}

/// A configuration file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("{}: {cause}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The text does not fit the expected shape.
    #[error("{}: {problem}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// What is wrong, and where.
        problem: TomlProblem,
    },
}

/// Parses TOML text.
pub fn from_toml_str<T: DeserializeOwned>(text: &str) -> Result<T, TomlProblem> {
    toml::from_str(text).map_err(|e| describe(text, &e))
}

/// Reads and parses a TOML file.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigFileError::Io {
        file: path.to_path_buf(),
        cause,
    })?;
    from_toml_str(&text).map_err(|problem| ConfigFileError::Parse {
        file: path.to_path_buf(),
        problem,
    })
}

/// Describes a TOML error by the dotted key where the text tells it: the table header above the
/// error and the key on the error's line.
fn describe(text: &str, error: &toml::de::Error) -> TomlProblem {
    let message = error.message().trim().replace('\n', " ");
    let Some(span) = error.span() else {
        return TomlProblem {
            key: None,
            message,
            position: None,
        };
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");

    // The innermost table header at or above the error, with an index for arrays of tables.
    let mut table = String::new();
    let mut headers_seen: Vec<(String, usize)> = Vec::new();
    for header_line in text[..line_start].lines().chain(std::iter::once(line)) {
        let trimmed = header_line.trim();
        if let Some(inner) = trimmed
            .strip_prefix("[[")
            .and_then(|t| t.split("]]").next())
        {
            let name = inner.trim().to_string();
            let count = match headers_seen.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.1
                }
                None => {
                    headers_seen.push((name.clone(), 0));
                    0
                }
            };
            table = format!("{name}[{count}]");
        } else if let Some(inner) = trimmed.strip_prefix('[').and_then(|t| t.split(']').next()) {
            table = inner.trim().to_string();
        }
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !k.starts_with('#'));
    let path = match (table.is_empty(), key) {
        (true, Some(k)) => k.to_string(),
        (false, Some(k)) => format!("{table}.{k}"),
        (false, None) => table,
        (true, None) => String::new(),
    };
    TomlProblem {
        key: (!path.is_empty()).then_some(path),
        message,
        position: Some((line_no, column)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        max_batch: usize,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        bind: Option<String>,
        limits: Option<Limits>,
    }

    #[test]
    fn every_reader_names_file_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        std::fs::write(&file, "bind = \"x\"\n[limits]\nmax_batch = \"many\"\n").unwrap();
        let message = read_toml::<Config>(&file).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "{}: limits.max_batch: invalid type",
                file.display()
            )),
            "{message}"
        );
        assert!(message.ends_with("(line 3, column 13)"), "{message}");

        let problem = from_toml_str::<Config>("colour = 1\n").unwrap_err();
        assert_eq!(problem.key.as_deref(), Some("colour"));
        assert!(
            problem.message.starts_with("unknown field `colour`"),
            "{problem}"
        );

        let missing = read_toml::<Config>(&dir.path().join("absent.toml")).unwrap_err();
        assert!(matches!(missing, ConfigFileError::Io { .. }));
    }
}
