//! The feature specification: which features exist, in which order, with which vocabularies.
//!
//! A spec is built once from the action catalog and the customer table, saved beside every
//! feature matrix and (later) every model manifest, and reused to featurise new data, so training,
//! batch and online scoring encode categories and actions identically.

use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::journey::writer::AtomicFile;
use crate::journey::{AttrValue, AttributeKind, Channel, CustomerTable, JourneyError};

/// Version of the feature definitions; bumped whenever a feature's meaning changes.
/// 2: `mean_purchase_gap_days` and `purchase_recency_share`.
/// 3: behaviour ratios, the offer response history (`action_*_response_rate_365d`) and
/// negative mentions per aspect (`aspect_*_negative_90d`).
pub const FEATURE_SET_VERSION: u32 = 3;
/// Look-back windows, in days, for windowed counts and sums.
pub const WINDOWS_DAYS: [i64; 4] = [7, 30, 90, 365];
/// "Days since" when the thing never happened: ten years, so that "never" sorts as "long ago".
pub const NEVER_DAYS: f32 = 3650.0;
/// Channels with their own engagement features.
pub const TRACKED_CHANNELS: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];
/// Most categories kept per categorical attribute; rarer ones share an `__other` column.
pub const MAX_CATEGORIES: usize = 50;
/// The customer attribute that, when present as a date, defines tenure.
pub const SIGNUP_ATTRIBUTE: &str = "signup_date";

/// What a feature measures, so that people and tools can read a matrix without the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureType {
    /// A count of events.
    Count,
    /// A sum or average of money.
    Amount,
    /// Days elapsed, or between events ([`NEVER_DAYS`] for "never", and the cap).
    Days,
    /// A ratio in 0..1.
    Rate,
    /// 0 or 1.
    Flag,
    /// A model score in 0..1 (sentiment).
    Score,
    /// A numeric customer attribute as given.
    Number,
}

/// One column of the feature vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureDef {
    /// Column name.
    pub name: String,
    /// What it measures.
    #[serde(rename = "type")]
    pub kind: FeatureType,
}

/// An action whose exposure history is tracked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackedAction {
    /// Action id.
    pub id: String,
    /// Its channel, used when an `action` event has none.
    pub channel: Channel,
}

/// How one customer attribute is encoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeEncoding {
    /// Attribute (column) name.
    pub name: String,
    /// Its type.
    pub kind: AttributeKind,
    /// For categoricals: the categories with their own column, most frequent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vocabulary: Vec<String>,
}

/// The full, versioned feature specification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// [`FEATURE_SET_VERSION`] when the spec was made.
    pub version: u32,
    /// Actions with per-action exposure features, in catalog order.
    pub actions: Vec<TrackedAction>,
    /// Customer attributes and their encodings, in customer-table order.
    pub attributes: Vec<AttributeEncoding>,
    /// The sentiment scorer that fills the sentiment slots, if any (name and version).
    #[serde(default)]
    pub sentiment_model: Option<String>,
    /// The date attribute that says when someone became a customer: it defines tenure, and
    /// customers whose date is at or after a cutoff are not customers yet.
    #[serde(default)]
    pub signup_attribute: Option<String>,
    /// The ordered feature columns (derived from the rest; stored so a spec file is readable alone).
    pub features: Vec<FeatureDef>,
}

/// Why a feature spec cannot be built, or does not fit a customer table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Two features would share a name.
    #[error(
        "two features would be named '{0}': rename the customer column or action that makes the second"
    )]
    DuplicateFeature(String),
    /// The signup attribute is not a date column.
    #[error("signup attribute '{name}' is {kind}, not a date")]
    SignupNotDate {
        /// The attribute.
        name: String,
        /// Its kind.
        kind: &'static str,
    },
    /// The signup attribute is not a column of the customer table.
    #[error("signup attribute '{0}' is not a column of the customer table")]
    SignupMissing(String),
    /// An attribute has another kind in the customer table than in the spec.
    #[error(
        "attribute '{name}' is {in_table} in the customer table but {in_spec} in the feature spec"
    )]
    AttributeKind {
        /// The attribute.
        name: String,
        /// Its kind in the table.
        in_table: &'static str,
        /// Its kind in the spec.
        in_spec: &'static str,
    },
    /// An attribute of the spec is not a column of the customer table.
    #[error("attribute '{0}' of the feature spec is not a column of the customer table")]
    AttributeMissing(String),
}

impl FeatureSpec {
    /// Builds a spec from an optional catalog and customer table. A date attribute named
    /// `signup_date` is the signup attribute unless [`Self::with_signup_attribute`] says otherwise.
    /// Fails when two features would get the same name.
    pub fn new(
        catalog: Option<&Catalog>,
        customers: Option<&CustomerTable>,
    ) -> Result<Self, SpecError> {
        let actions = catalog
            .map(|c| {
                c.actions
                    .iter()
                    .map(|a| TrackedAction {
                        id: a.id.clone(),
                        channel: a.channel.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let attributes: Vec<AttributeEncoding> = customers
            .map(|table| {
                table
                    .attributes
                    .iter()
                    .enumerate()
                    .map(|(i, column)| AttributeEncoding {
                        name: column.name.clone(),
                        kind: column.kind,
                        vocabulary: if column.kind == AttributeKind::Categorical {
                            vocabulary(table.column_values(i))
                        } else {
                            Vec::new()
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let signup_attribute = attributes
            .iter()
            .find(|a| a.name == SIGNUP_ATTRIBUTE && a.kind == AttributeKind::Date)
            .map(|a| a.name.clone());
        let mut spec = FeatureSpec {
            version: FEATURE_SET_VERSION,
            actions,
            attributes,
            sentiment_model: None,
            signup_attribute,
            features: Vec::new(),
        };
        spec.features = super::compute::feature_defs(&spec);
        spec.check_unique_names()?;
        Ok(spec)
    }

    /// Names the date attribute that marks signup (see [`FeatureSpec::signup_attribute`]).
    pub fn with_signup_attribute(mut self, name: &str) -> Result<Self, SpecError> {
        match self.attributes.iter().find(|a| a.name == name) {
            Some(a) if a.kind == AttributeKind::Date => {
                self.signup_attribute = Some(name.to_string());
                Ok(self)
            }
            Some(a) => Err(SpecError::SignupNotDate {
                name: name.to_string(),
                kind: a.kind.as_str(),
            }),
            None => Err(SpecError::SignupMissing(name.to_string())),
        }
    }

    /// Position of the signup attribute among [`Self::attributes`].
    pub fn signup_index(&self) -> Option<usize> {
        let name = self.signup_attribute.as_deref()?;
        self.attributes
            .iter()
            .position(|a| a.name == name && a.kind == AttributeKind::Date)
    }

    fn check_unique_names(&self) -> Result<(), SpecError> {
        let mut seen = std::collections::HashSet::new();
        for feature in &self.features {
            if !seen.insert(feature.name.as_str()) {
                return Err(SpecError::DuplicateFeature(feature.name.clone()));
            }
        }
        Ok(())
    }

    /// Records which sentiment scorer fills the sentiment slots.
    pub fn with_sentiment_model(mut self, name: Option<String>) -> Self {
        self.sentiment_model = name;
        self
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Whether the spec has no features (never true for a built spec).
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The feature names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// Position of a feature by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// Reads a spec saved with [`Self::save`], checking its version and that its feature list
    /// is exactly what this code produces for it.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, JourneyError> {
        let path = path.as_ref();
        let invalid = |problem: String| JourneyError::Invalid {
            file: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| JourneyError::io(path, e))?;
        let spec: FeatureSpec = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if spec.version != FEATURE_SET_VERSION {
            return Err(invalid(format!(
                "feature spec version {} does not match this build's version {FEATURE_SET_VERSION}",
                spec.version
            )));
        }
        spec.check_unique_names()
            .map_err(|e| invalid(e.to_string()))?;
        let expected = super::compute::feature_defs(&spec);
        if expected != spec.features {
            let first = expected
                .iter()
                .zip(&spec.features)
                .position(|(a, b)| a != b)
                .unwrap_or(expected.len().min(spec.features.len()));
            return Err(invalid(format!(
                "features: the saved list ({} features) differs from what the pipeline produces ({}) from position {first}",
                spec.features.len(),
                expected.len()
            )));
        }
        Ok(spec)
    }

    /// Writes the spec as pretty JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), JourneyError> {
        self.save_uncommitted(path)?.commit()
    }

    /// Writes the spec under a temporary name; commit it together with the matrix it describes.
    pub fn save_uncommitted(&self, path: impl AsRef<Path>) -> Result<AtomicFile, JourneyError> {
        let path = path.as_ref();
        let text =
            serde_json::to_string_pretty(self).map_err(|e| JourneyError::malformed(path, e))?;
        AtomicFile::with_contents(path, (text + "\n").as_bytes())
    }

    /// Maps this spec's attributes onto a customer table's columns by name, checking types.
    pub fn attribute_mapping(&self, table: &CustomerTable) -> Result<AttributeMapping, SpecError> {
        let mut positions = Vec::with_capacity(self.attributes.len());
        for encoding in &self.attributes {
            match table
                .attributes
                .iter()
                .position(|c| c.name == encoding.name)
            {
                Some(i) if table.attributes[i].kind != encoding.kind => {
                    return Err(SpecError::AttributeKind {
                        name: encoding.name.clone(),
                        in_table: table.attributes[i].kind.as_str(),
                        in_spec: encoding.kind.as_str(),
                    })
                }
                Some(i) => positions.push(Some(i)),
                None => return Err(SpecError::AttributeMissing(encoding.name.clone())),
            }
        }
        let identity = positions.len() == table.attributes.len()
            && positions.iter().enumerate().all(|(i, p)| *p == Some(i));
        Ok(AttributeMapping {
            positions,
            identity,
        })
    }
}

/// Where each spec attribute sits in a particular customer table.
#[derive(Clone, Debug)]
pub struct AttributeMapping {
    positions: Vec<Option<usize>>,
    identity: bool,
}

impl AttributeMapping {
    /// A table row rearranged into the spec's attribute order (absent columns are missing).
    pub fn align<'a>(&self, row: &'a [AttrValue]) -> std::borrow::Cow<'a, [AttrValue]> {
        if self.identity {
            return std::borrow::Cow::Borrowed(row);
        }
        std::borrow::Cow::Owned(
            self.positions
                .iter()
                .map(|p| {
                    p.and_then(|i| row.get(i))
                        .cloned()
                        .unwrap_or(AttrValue::Missing)
                })
                .collect(),
        )
    }
}

/// The most frequent categories (ties broken alphabetically), at most [`MAX_CATEGORIES`].
fn vocabulary<'a>(values: impl Iterator<Item = &'a AttrValue>) -> Vec<String> {
    let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
    for value in values {
        if let AttrValue::Category(c) = value {
            *counts.entry(c.as_str()).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(MAX_CATEGORIES)
        .map(|(c, _)| c.to_string())
        .collect()
}
