//! Fitting: the training rows in forust's layout, one forust fit per setting, exact monotone
//! constraints, and the final refit on every training row.

use std::sync::OnceLock;

use forust_ml::constraints::{Constraint, ConstraintMap};
use forust_ml::metric::Metric;
use forust_ml::{GradientBooster, Matrix};

use super::params::{GbdtValidParams, Monotone, Setting};
use super::report::GbdtFitReport;
use super::GbdtModel;
use crate::fnv::Fnv1a;
use crate::models::ModelError;

/// Row-major f32 rows → the column-major f64 layout forust reads.
pub(super) fn column_major(rows: &[f32], n_features: usize) -> Vec<f64> {
    let n = rows.len().checked_div(n_features).unwrap_or(0);
    let mut columns = vec![0.0; n * n_features];
    for (r, row) in rows.chunks_exact(n_features.max(1)).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            columns[c * n + r] = f64::from(v);
        }
    }
    columns
}

/// A labelled matrix in forust's layout.
pub(super) struct Rows {
    columns: Vec<f64>,
    pub(super) n: usize,
    n_features: usize,
    pub(super) y: Vec<f64>,
    pub(super) weights: Vec<f64>,
}

impl Rows {
    pub(super) fn new(rows: &[f32], n_features: usize, labels: &[bool]) -> Self {
        Rows {
            columns: column_major(rows, n_features),
            n: labels.len(),
            n_features,
            y: labels.iter().map(|&l| f64::from(u8::from(l))).collect(),
            weights: vec![1.0; labels.len()],
        }
    }

    pub(super) fn matrix(&self) -> Matrix<'_, f64> {
        Matrix::new(&self.columns, self.n, self.n_features)
    }

    pub(super) fn positives(&self) -> usize {
        self.y.iter().filter(|&&y| y > 0.5).count()
    }
}

/// The training rows with the key that decides which side of a split each row is on.
pub(super) struct Training<'a> {
    pub(super) rows: &'a [f32],
    pub(super) n_features: usize,
    pub(super) labels: &'a [bool],
    pub(super) groups: Option<&'a [String]>,
}

impl Training<'_> {
    /// Row `i`'s split key: its group (customer id), or else its row number.
    pub(super) fn key(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        match self.groups {
            Some(groups) => groups[i].as_bytes().into(),
            None => (i as u64).to_le_bytes().to_vec().into(),
        }
    }

    /// Each row's cross-validation fold (< `folds`): a salted hash of its key, so a customer's
    /// rows share a fold, and the folds are independent of the customer holdout.
    pub(super) fn folds(&self, folds: usize, seed: u64) -> Vec<usize> {
        let salt = salt(b"nextbest/gbdt-cv/", seed);
        (0..self.labels.len())
            .map(|i| Fnv1a::salted_bucket(&salt, &self.key(i), folds))
            .collect()
    }

    /// (rows to fit, rows to validate) for a choice of validation rows.
    pub(super) fn partition(&self, validate: impl Fn(usize) -> bool) -> (Rows, Rows) {
        let (mut fit_rows, mut fit_labels) = (Vec::new(), Vec::new());
        let (mut val_rows, mut val_labels) = (Vec::new(), Vec::new());
        let rows = self.rows.chunks_exact(self.n_features);
        for (i, (row, &label)) in rows.zip(self.labels).enumerate() {
            let (side_rows, side_labels) = if validate(i) {
                (&mut val_rows, &mut val_labels)
            } else {
                (&mut fit_rows, &mut fit_labels)
            };
            side_rows.extend_from_slice(row);
            side_labels.push(label);
        }
        (
            Rows::new(&fit_rows, self.n_features, &fit_labels),
            Rows::new(&val_rows, self.n_features, &val_labels),
        )
    }
}

/// The salt of a split: its name and the seed.
pub(super) fn salt(name: &[u8], seed: u64) -> Vec<u8> {
    let mut salt = name.to_vec();
    salt.extend_from_slice(&seed.to_le_bytes());
    salt
}

/// Makes every tree exactly monotone in the constrained columns. forust bounds the weights
/// below a split on a constrained column (the left side below the mean of the two children's
/// weights, the right side above it, or the reverse), but clamps a child to those bounds only
/// when the child's own split is on a constrained column too: below a split on any other
/// column, one child can leave its bounds and the constraint fails by a little. This clamps
/// every leaf to the bounds its constrained ancestors set (the same bounds forust uses, the
/// way XGBoost and LightGBM apply them), so for two rows that differ only in a constrained
/// column, the leaves they reach are ordered at the split where their paths part.
pub(super) fn enforce_monotone(booster: &mut GradientBooster, constraints: &ConstraintMap) {
    for tree in &mut booster.trees {
        let nodes = &mut tree.nodes;
        let mut seen = vec![false; nodes.len()];
        let mut stack = vec![(0, f32::NEG_INFINITY, f32::INFINITY)];
        while let Some((i, lower, upper)) = stack.pop() {
            // A missing-value branch may be one of the children: the first visit bounds it.
            if i >= nodes.len() || std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let node = &nodes[i];
            if node.is_leaf {
                nodes[i].weight_value = nodes[i].weight_value.max(lower).min(upper);
                continue;
            }
            let (left, right, missing) = (node.left_child, node.right_child, node.missing_node);
            let weight = |n: usize| nodes.get(n).map_or(0.0, |n| n.weight_value);
            let mid = ((weight(left) + weight(right)) / 2.0).max(lower).min(upper);
            let (left_bounds, right_bounds) = match constraints.get(&node.split_feature) {
                Some(Constraint::Positive) => ((lower, mid), (mid, upper)),
                Some(Constraint::Negative) => ((mid, upper), (lower, mid)),
                _ => ((lower, upper), (lower, upper)),
            };
            stack.push((missing, lower, upper));
            stack.push((right, right_bounds.0, right_bounds.1));
            stack.push((left, left_bounds.0, left_bounds.1));
        }
    }
}

/// What every fit of one training run shares.
pub(super) struct Grower<'a> {
    pub(super) params: &'a GbdtValidParams,
    /// Monotone constraints by column, if any.
    pub(super) constraints: Option<ConstraintMap>,
    pub(super) seed: u64,
}

impl Grower<'_> {
    /// One single-threaded forust fit. With `validation`, forust records the validation log
    /// loss after every tree; with a patience too, it stops once that loss has not improved
    /// for so many rounds (and records the best iteration).
    pub(super) fn boost(
        &self,
        train: &Rows,
        setting: Setting,
        iterations: usize,
        validation: Option<(&Rows, Option<usize>)>,
    ) -> Result<Box<GradientBooster>, ModelError> {
        let params = self.params;
        let mut booster = GradientBooster::default()
            .set_iterations(iterations)
            .set_learning_rate(params.learning_rate as f32)
            .set_max_depth(setting.max_depth)
            .set_l2(params.l2 as f32)
            .set_min_leaf_weight(setting.min_leaf_weight as f32)
            .set_subsample(params.subsample as f32)
            .set_colsample_bytree(params.colsample_bytree)
            .set_nbins(params.nbins)
            .set_seed(self.seed)
            .set_parallel(false)
            .set_initialize_base_score(true)
            .set_monotone_constraints(self.constraints.clone());
        let evaluation = validation.map(|(set, patience)| {
            booster.early_stopping_rounds = patience;
            booster.evaluation_metric = Some(Metric::LogLoss);
            vec![(set.matrix(), set.y.as_slice(), set.weights.as_slice())]
        });
        booster
            .fit(&train.matrix(), &train.y, &train.weights, evaluation)
            .map_err(|e| ModelError::Training(format!("gradient boosting: {e}")))?;
        if let Some(constraints) = &self.constraints {
            enforce_monotone(&mut booster, constraints);
        }
        // Only growing trees reads the constraints, and forust keeps them in a HashMap, which
        // would serialise in a different order each run: the model file must not change.
        booster.monotone_constraints = None;
        Ok(Box::new(booster))
    }

    /// Validation log loss after each tree (one evaluation set).
    pub(super) fn history(booster: &GradientBooster) -> Vec<f64> {
        booster
            .evaluation_history
            .as_ref()
            .map(|h| h.data.clone())
            .unwrap_or_default()
    }
}

impl GbdtModel {
    /// Fits a log-loss booster. Deterministic for a seed: histograms are built on one thread so
    /// floating-point sums never change order. With early stopping, validation rows are chosen
    /// by row number; see [`GbdtModel::fit_grouped`] to keep a customer's rows together.
    pub fn fit(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        params: &GbdtValidParams,
        seed: u64,
    ) -> Result<Self, ModelError> {
        Self::fit_grouped(rows, n_features, labels, None, None, params, seed)
            .map(|(model, _)| model)
    }

    /// Fits a log-loss booster and reports how its size was chosen. `groups` (one key per row,
    /// e.g. the customer id) decides which rows early stopping sets aside: a key is on one side
    /// only, so a customer with several snapshot rows cannot leak into its own validation. The
    /// split hashes the key with the seed, independently of any earlier split by the same key.
    /// `names` (one per column) resolve the monotone constraints, which need them.
    ///
    /// The early-stopped search models are not kept: the final model is refitted on every
    /// training row with the chosen setting and number of trees. On small data the rows held
    /// back for validation are worth more to the trees than the exact stopping point (which
    /// the search gives only approximately anyway), and the refit model depends on the
    /// validation rows through the chosen setting and tree count only.
    pub fn fit_grouped(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        groups: Option<&[String]>,
        names: Option<&[String]>,
        params: &GbdtValidParams,
        seed: u64,
    ) -> Result<(Self, GbdtFitReport), ModelError> {
        crate::models::validate_training_data(rows, n_features, labels)?;
        if let Some(groups) = groups {
            if groups.len() != labels.len() {
                return Err(ModelError::Training(format!(
                    "{} group keys for {} rows",
                    groups.len(),
                    labels.len()
                )));
            }
        }
        let constraints = if params.monotone.is_empty() {
            None
        } else {
            let names = match names {
                Some(names) if names.len() == n_features => names,
                _ => {
                    return Err(ModelError::Training(format!(
                        "gbdt.monotone: needs the names of the model's {n_features} features"
                    )))
                }
            };
            let columns = params
                .monotone_columns(names)
                .map_err(|e| ModelError::Training(e.to_string()))?;
            Some(
                columns
                    .into_iter()
                    .map(|(column, direction)| {
                        let constraint = match direction {
                            Monotone::Increasing => Constraint::Positive,
                            Monotone::Decreasing => Constraint::Negative,
                        };
                        (column, constraint)
                    })
                    .collect(),
            )
        };
        let grower = Grower {
            params,
            constraints,
            seed,
        };
        let data = Training {
            rows,
            n_features,
            labels,
            groups,
        };
        let mut report = GbdtFitReport {
            iterations_used: params.iterations,
            max_depth_used: params.max_depth,
            min_leaf_weight_used: params.min_leaf_weight,
            early_stopping: None,
            cross_validation: None,
        };
        let mut setting = Setting {
            max_depth: params.max_depth,
            min_leaf_weight: params.min_leaf_weight,
        };
        match (params.early_stopping_rounds, params.cv_folds) {
            (None, _) => {}
            (Some(patience), None) => {
                let (chosen, iterations, search) = grower.validation_split(&data, patience)?;
                (setting, report.iterations_used) = (chosen, iterations);
                report.early_stopping = Some(search);
            }
            (Some(patience), Some(folds)) => {
                let (chosen, iterations, search) = grower.cross_validate(&data, folds, patience)?;
                (setting, report.iterations_used) = (chosen, iterations);
                report.cross_validation = Some(search);
            }
        }
        let booster = grower.boost(
            &Rows::new(rows, n_features, labels),
            setting,
            report.iterations_used,
            None,
        )?;
        report.iterations_used = booster.trees.len();
        report.max_depth_used = setting.max_depth;
        report.min_leaf_weight_used = setting.min_leaf_weight;
        Ok((
            GbdtModel {
                booster,
                flat: OnceLock::new(),
            },
            report,
        ))
    }
}
