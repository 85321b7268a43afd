//! Why a model scored a customer as it did: the features that moved each prediction most.

use serde::{Deserialize, Serialize};

use crate::features::FeatureAccumulator;
use crate::journey::Timestamp;
use crate::models::registry::ModelSet;
use crate::models::Scorer;

/// The numbers behind one model's score: the features that moved it most.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    /// Model role.
    pub model: String,
    /// The prediction.
    pub prediction: f64,
    /// Feature name, value, and how much setting it to the population's typical value moves the
    /// prediction (positive: this feature raises it), largest first.
    pub top_features: Vec<FeatureContribution>,
}

/// One feature's contribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeatureContribution {
    /// Feature name.
    pub feature: String,
    /// Its value for this customer.
    pub value: f32,
    /// Its contribution to the prediction.
    pub contribution: f64,
}

/// Top feature contributions of the churn model (and the conversion model under no action):
/// for each feature, the change in the prediction when that feature is replaced by the value a
/// customer with no history would have. Cheap (one batched call per model) and model-agnostic,
/// so ONNX models explain the same way as native ones.
pub fn explain(models: &ModelSet, features: &[f32]) -> Vec<Explanation> {
    let Some(spec) = &models.spec else {
        return Vec::new();
    };
    let baseline = FeatureAccumulator::new(spec, Timestamp(0), None).finish(None);
    let n = features.len();
    let mut out = Vec::new();
    let mut explain_one = |name: &str, scorer: &dyn Scorer, suffix: &[f32]| {
        let width = n + suffix.len();
        let changed: Vec<usize> = (0..n).filter(|&i| features[i] != baseline[i]).collect();
        let mut rows = Vec::with_capacity(width * (changed.len() + 1));
        rows.extend_from_slice(features);
        rows.extend_from_slice(suffix);
        for &i in &changed {
            let start = rows.len();
            rows.extend_from_slice(features);
            rows.extend_from_slice(suffix);
            rows[start + i] = baseline[i];
        }
        let Ok(p) = scorer.predict_proba(&rows, width) else {
            return;
        };
        let Some(&prediction) = p.first() else {
            return;
        };
        let names: Vec<&str> = spec.names().collect();
        let mut top: Vec<FeatureContribution> = changed
            .iter()
            .zip(p.iter().skip(1))
            .map(|(&i, &without)| FeatureContribution {
                feature: names.get(i).copied().unwrap_or("?").to_string(),
                value: features[i],
                contribution: prediction - without,
            })
            .filter(|c| c.contribution != 0.0)
            .collect();
        top.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        top.truncate(8);
        out.push(Explanation {
            model: name.to_string(),
            prediction,
            top_features: top,
        });
    };
    if let Some(churn) = &models.churn {
        explain_one("churn", &churn.scorer, &[]);
    }
    if let Some(conversion) = &models.conversion {
        let zeros = vec![0.0; conversion.treatments.len()];
        explain_one("conversion (no action)", &conversion.model.scorer, &zeros);
    }
    out
}
