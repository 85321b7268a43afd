//! The models a decision uses, loaded and checked together: churn, conversion (uplift),
//! retention (uplift on churn) and sentiment. The service holds one `ModelSet` and swaps it whole on reload, so a request never
//! sees a mix of old and new models.

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::artifact::LoadedModel;
use super::sentiment::NamedSentimentModel;
use super::{Artifact, Manifest, ModelError, Role, Scorer, TabularModel};
use crate::catalog::{Catalog, CatalogProblem};
use crate::features::FeatureSpec;

/// Where the models of a set are (any may be absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPaths {
    /// Churn artifact folder.
    #[serde(default)]
    pub churn: Option<PathBuf>,
    /// Conversion (uplift) artifact folder.
    #[serde(default)]
    pub conversion: Option<PathBuf>,
    /// Retention (uplift on churn) artifact folder.
    #[serde(default)]
    pub retention: Option<PathBuf>,
    /// Sentiment artifact folder.
    #[serde(default)]
    pub sentiment: Option<PathBuf>,
}

impl ModelPaths {
    /// These paths with `update`'s given folders replacing this set's (for a reload that
    /// names only the models it changes).
    pub fn merged(&self, update: &ModelPathsUpdate) -> ModelPaths {
        let pick = |new: &Option<Option<PathBuf>>, old: &Option<PathBuf>| match new {
            Some(value) => value.clone(),
            None => old.clone(),
        };
        ModelPaths {
            churn: pick(&update.churn, &self.churn),
            conversion: pick(&update.conversion, &self.conversion),
            retention: pick(&update.retention, &self.retention),
            sentiment: pick(&update.sentiment, &self.sentiment),
        }
    }

    /// The committed defaults under `dir` (`models/` in the repository): each folder that exists.
    pub fn defaults_in(dir: &Path) -> Self {
        let existing = |name: &str| {
            let path = dir.join(name);
            path.join(super::artifact::MANIFEST_FILE)
                .exists()
                .then_some(path)
        };
        ModelPaths {
            churn: existing("churn"),
            conversion: existing("conversion"),
            retention: existing("retention"),
            sentiment: existing("sentiment"),
        }
    }
}

/// A reload request: a key that is absent keeps the current model, a path replaces it, and
/// `null` unloads it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPathsUpdate {
    /// Churn artifact folder.
    #[serde(default, with = "double_option")]
    pub churn: Option<Option<PathBuf>>,
    /// Conversion artifact folder.
    #[serde(default, with = "double_option")]
    pub conversion: Option<Option<PathBuf>>,
    /// Retention artifact folder.
    #[serde(default, with = "double_option")]
    pub retention: Option<Option<PathBuf>>,
    /// Sentiment artifact folder.
    #[serde(default, with = "double_option")]
    pub sentiment: Option<Option<PathBuf>>,
}

/// Tells an absent key (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// A tabular model with its manifest.
pub struct ServedModel {
    /// Folder it was loaded from.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Scores rows (native or ONNX).
    pub scorer: TabularModel,
}

impl ServedModel {
    fn load(dir: &Path, role: Role) -> Result<Self, ModelError> {
        let artifact = Artifact::load(dir)?;
        if artifact.manifest.role != role {
            return Err(ModelError::Invalid {
                path: dir.join(super::artifact::MANIFEST_FILE),
                problem: format!(
                    "role: expected a {} model, found a {} model",
                    role.as_str(),
                    artifact.manifest.role.as_str()
                ),
            });
        }
        let scorer = match artifact.model {
            LoadedModel::Tabular(model) => model,
            LoadedModel::Sentiment(_) => {
                return Err(ModelError::Invalid {
                    path: dir.to_path_buf(),
                    problem: "a sentiment model cannot score feature rows".into(),
                })
            }
        };
        Ok(ServedModel {
            dir: dir.to_path_buf(),
            manifest: artifact.manifest,
            scorer,
        })
    }

    fn spec(&self) -> Result<&FeatureSpec, ModelError> {
        self.manifest
            .features
            .as_ref()
            .ok_or_else(|| ModelError::FeatureMismatch {
                path: self.dir.clone(),
                problem: "the model lists no features".into(),
            })
    }

    /// `role/version (algorithm, backend)`.
    pub fn version(&self) -> String {
        format!("{}/{}", self.manifest.role.as_str(), self.manifest.version)
    }
}

/// An uplift model (conversion or retention): P(outcome | features, action) for each treatment
/// and for no action.
pub struct UpliftModel {
    /// The model and manifest.
    pub model: ServedModel,
    /// Treatment ids in indicator order.
    pub treatments: Vec<String>,
    index: FxHashMap<String, usize>,
}

impl UpliftModel {
    fn load(dir: &Path, role: Role) -> Result<UpliftModel, ModelError> {
        let model = ServedModel::load(dir, role)?;
        let treatments = model
            .manifest
            .treatments
            .clone()
            .ok_or_else(|| ModelError::Invalid {
                path: dir.join(super::artifact::MANIFEST_FILE),
                problem: format!(
                    "treatments: a {} model must list its treatments",
                    role.as_str()
                ),
            })?;
        let index = treatments
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Ok(UpliftModel {
            model,
            treatments,
            index,
        })
    }

    /// Whether the model knows this action.
    pub fn knows(&self, action_id: &str) -> bool {
        self.index.contains_key(action_id)
    }

    /// P(outcome) under no action and under each of `actions` (unknown ones get `None`), in one
    /// batched call. The model sees an action only through its treatment indicator, so each
    /// distinct treatment is scored once however many candidates share it (variants scored
    /// `model_as` their base action, repeated ids).
    pub fn score(
        &self,
        features: &[f32],
        actions: &[&str],
    ) -> Result<(f64, Vec<Option<f64>>), ModelError> {
        let (p_none, per_action) = self.score_many(features, features.len(), actions)?;
        Ok((p_none.first().copied().unwrap_or(0.0), per_action))
    }

    /// [`UpliftModel::score`] for many customers at once: `features` holds their rows
    /// (`n_features` values each, row-major). Returns P(outcome | no action) per customer and
    /// P(outcome | action) per customer and action (row-major, `actions.len()` per customer).
    /// One batched call ([`Scorer::predict_proba_onehot`]): trees are walked tree-major over
    /// all customers, and a treatment only through the trees that split on its indicator.
    pub fn score_many(
        &self,
        features: &[f32],
        n_features: usize,
        actions: &[&str],
    ) -> Result<(Vec<f64>, Vec<Option<f64>>), ModelError> {
        let n = super::check_rows(features, n_features, None)?;
        let k = self.treatments.len();
        let width = n_features + k;
        let known: Vec<Option<usize>> = actions
            .iter()
            .map(|a| self.index.get(*a).copied())
            .collect();
        // Variant 0 is no action; variant j > 0 is treatment `distinct[j - 1]`.
        let mut distinct: Vec<usize> = known.iter().flatten().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut rows = Vec::with_capacity(width * n);
        for row in features.chunks_exact(n_features) {
            rows.extend_from_slice(row);
            rows.extend(std::iter::repeat_n(0.0, k));
        }
        let hot: Vec<usize> = distinct.iter().map(|t| n_features + t).collect();
        let p = self.model.scorer.predict_proba_onehot(&rows, width, &hot)?;
        let stride = 1 + distinct.len();
        if p.len() != n * stride {
            return Err(ModelError::Scoring(format!(
                "{} probabilities for {n} customers × {stride} variants",
                p.len()
            )));
        }
        let slots: Vec<Option<usize>> = known
            .iter()
            .map(|t| t.and_then(|t| distinct.binary_search(&t).ok()))
            .collect();
        let p_none = (0..n).map(|c| p[c * stride]).collect();
        let mut per_action = Vec::with_capacity(n * actions.len());
        for c in 0..n {
            per_action.extend(slots.iter().map(|s| s.map(|j| p[c * stride + 1 + j])));
        }
        Ok((p_none, per_action))
    }
}

/// The models one decision uses, checked to share one feature spec.
pub struct ModelSet {
    /// The feature spec every tabular model expects.
    pub spec: Option<FeatureSpec>,
    /// P(churn).
    pub churn: Option<ServedModel>,
    /// P(convert | action).
    pub conversion: Option<UpliftModel>,
    /// P(churn within the horizon | action).
    pub retention: Option<UpliftModel>,
    /// P(positive) of text; also fills the sentiment feature slots.
    pub sentiment: Option<NamedSentimentModel>,
    /// Where they came from.
    pub paths: ModelPaths,
}

/// One loaded model, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Role.
    pub role: Role,
    /// Version (creation time).
    pub version: String,
    /// Algorithm.
    pub algorithm: String,
    /// Backend.
    pub backend: super::Backend,
    /// Folder (shown to the `admin` scope only: it tells where the host keeps files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Number of input features, for tabular models.
    pub features: Option<usize>,
    /// Treatments, for conversion models.
    pub treatments: Option<Vec<String>>,
}

impl ModelSet {
    /// Loads and cross-checks the models: the tabular models must expect the same features, and
    /// those features must have been computed with the sentiment model being loaded (or none).
    pub fn load(paths: &ModelPaths) -> Result<Self, ModelError> {
        let churn = paths
            .churn
            .as_deref()
            .map(|p| ServedModel::load(p, Role::Churn))
            .transpose()?;
        let conversion = paths
            .conversion
            .as_deref()
            .map(|p| UpliftModel::load(p, Role::Conversion))
            .transpose()?;
        let retention = paths
            .retention
            .as_deref()
            .map(|p| UpliftModel::load(p, Role::Retention))
            .transpose()?;
        let sentiment = paths
            .sentiment
            .as_deref()
            .map(|dir| -> Result<NamedSentimentModel, ModelError> {
                let artifact = Artifact::load(dir)?;
                match artifact.model {
                    LoadedModel::Sentiment(model) => Ok(NamedSentimentModel {
                        model,
                        name: format!("sentiment/{}", artifact.manifest.version),
                    }),
                    LoadedModel::Tabular(_) => Err(ModelError::Invalid {
                        path: dir.to_path_buf(),
                        problem: format!(
                            "role: expected a sentiment model, found a {} model",
                            artifact.manifest.role.as_str()
                        ),
                    }),
                }
            })
            .transpose()?;
        let mut spec: Option<FeatureSpec> = None;
        let uplift = conversion.iter().chain(retention.iter());
        for model in churn.iter().chain(uplift.map(|c| &c.model)) {
            let own = model.spec()?;
            // The manifest's feature list must be what this build computes from its spec, or
            // the pipeline would hand the model misaligned columns.
            if own.version != crate::features::FEATURE_SET_VERSION {
                return Err(ModelError::FeatureMismatch {
                    path: model.dir.clone(),
                    problem: format!(
                        "trained on feature set version {}, this build computes version {}",
                        own.version,
                        crate::features::FEATURE_SET_VERSION
                    ),
                });
            }
            if crate::features::compute::feature_defs(own) != own.features {
                return Err(ModelError::FeatureMismatch {
                    path: model.dir.clone(),
                    problem: "its feature list is not the one its spec defines (an edited or foreign manifest)".into(),
                });
            }
            match &spec {
                None => spec = Some(own.clone()),
                Some(first) if first != own => {
                    return Err(ModelError::FeatureMismatch {
                        path: model.dir.clone(),
                        problem: "its feature spec differs from the other tabular model's (retrain both on the same data and spec)".into(),
                    })
                }
                Some(_) => {}
            }
        }
        if let Some(spec) = &spec {
            let loaded = sentiment.as_ref().map(|s| s.name.clone());
            if let Some(wanted) = &spec.sentiment_model {
                if loaded.as_ref() != Some(wanted) {
                    let holder = churn
                        .as_ref()
                        .map(|c| c.dir.clone())
                        .or_else(|| conversion.as_ref().map(|c| c.model.dir.clone()))
                        .unwrap_or_default();
                    return Err(ModelError::FeatureMismatch {
                        path: holder,
                        problem: format!(
                            "its sentiment features come from {wanted}, but the sentiment model loaded is {}",
                            loaded.as_deref().unwrap_or("none")
                        ),
                    });
                }
            }
        }
        Ok(ModelSet {
            spec,
            churn,
            conversion,
            retention,
            sentiment,
            paths: paths.clone(),
        })
    }

    /// Version of every loaded model by role.
    pub fn versions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(m) = &self.churn {
            out.push(("churn".into(), m.manifest.version.clone()));
        }
        if let Some(m) = &self.conversion {
            out.push(("conversion".into(), m.model.manifest.version.clone()));
        }
        if let Some(m) = &self.retention {
            out.push(("retention".into(), m.model.manifest.version.clone()));
        }
        if let Some(m) = &self.sentiment {
            out.push((
                "sentiment".into(),
                m.name.trim_start_matches("sentiment/").to_string(),
            ));
        }
        out
    }

    /// A listing of the loaded models.
    pub fn info(&self) -> Vec<ModelInfo> {
        let tabular = |m: &ServedModel| ModelInfo {
            role: m.manifest.role,
            version: m.manifest.version.clone(),
            algorithm: m.manifest.algorithm.clone(),
            backend: m.manifest.backend,
            path: Some(m.dir.display().to_string()),
            features: m.manifest.features.as_ref().map(FeatureSpec::len),
            treatments: m.manifest.treatments.clone(),
        };
        let mut out: Vec<ModelInfo> = self.churn.iter().map(tabular).collect();
        out.extend(self.conversion.iter().map(|c| tabular(&c.model)));
        out.extend(self.retention.iter().map(|c| tabular(&c.model)));
        if let (Some(s), Some(dir)) = (&self.sentiment, &self.paths.sentiment) {
            out.push(ModelInfo {
                role: Role::Sentiment,
                version: s.name.trim_start_matches("sentiment/").to_string(),
                algorithm: "hashed_logistic".into(),
                backend: super::Backend::Native,
                path: Some(dir.display().to_string()),
                features: None,
                treatments: None,
            });
        }
        out
    }

    /// Whether the service can decide with this set and catalog: the first of
    /// [`ModelSet::catalog_problems`], as a model error.
    pub fn check_servable(&self, catalog: &Catalog) -> Result<(), ModelError> {
        match self.catalog_problems(catalog).first() {
            None => Ok(()),
            Some(first) => Err(ModelError::FeatureMismatch {
                path: PathBuf::from("catalog"),
                problem: first.to_string(),
            }),
        }
    }

    /// Everything that keeps these models from serving with `catalog`, each with the key it is
    /// about: no tabular model at all; an action the models track (per-action features) or an
    /// uplift model was trained on that the catalog lacks, or that the catalog now describes
    /// with another kind or channel; a catalog action scored `model_as` a treatment the
    /// conversion model does not know. Caught at load time, never mid-request.
    pub fn catalog_problems(&self, catalog: &Catalog) -> Vec<CatalogProblem> {
        let mut problems = Vec::new();
        let Some(spec) = &self.spec else {
            problems.push(CatalogProblem::new(
                "models",
                "no churn or conversion model: decisions would have no scores",
            ));
            return problems;
        };
        for tracked in &spec.actions {
            if catalog.get(&tracked.id).is_none() {
                problems.push(CatalogProblem::new(
                    "models.features.actions",
                    format!(
                        "the models track action '{}' (they were trained with a catalog that has it), which the catalog lacks",
                        tracked.id
                    ),
                ));
            }
        }
        for (role, model) in [
            ("conversion", &self.conversion),
            ("retention", &self.retention),
        ] {
            let Some(model) = model else { continue };
            for treatment in &model.treatments {
                if catalog.get(treatment).is_none() {
                    problems.push(CatalogProblem::new(
                        format!("models.{role}.treatments"),
                        format!(
                            "the {role} model was trained on action '{treatment}', which the catalog lacks"
                        ),
                    ));
                }
            }
            for trained in model.model.manifest.actions.iter().flatten() {
                if let Some(difference) = trained.difference(catalog) {
                    problems.push(CatalogProblem::new(
                        format!("models.{role}.actions"),
                        format!("the {role} model was {difference}"),
                    ));
                }
            }
        }
        if let Some(conversion) = &self.conversion {
            for (i, action) in catalog.actions.iter().enumerate() {
                if let Some(model_as) = &action.model_as {
                    if !conversion.knows(model_as) {
                        problems.push(CatalogProblem::new(
                            format!("catalog.action[{i}] ('{}').model_as", action.id),
                            format!("the conversion model knows no action '{model_as}'"),
                        ));
                    }
                }
            }
        }
        problems
    }
}
