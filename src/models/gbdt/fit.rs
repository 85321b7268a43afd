//! Fitting: the training rows in forust's layout, one forust fit per setting, exact monotone
//! constraints, and the final refit on every training row.

use std::sync::OnceLock;

use forust_ml::constraints::{Constraint, ConstraintMap};
use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
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
    /// Rows with 0/1 targets and unit weights.
    #[cfg(test)]
    pub(super) fn new(rows: &[f32], n_features: usize, labels: &[bool]) -> Self {
        let y = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
        Self::weighted(rows, n_features, y, vec![1.0; labels.len()])
    }

    /// Rows with their targets and weights.
    pub(super) fn weighted(
        rows: &[f32],
        n_features: usize,
        y: Vec<f64>,
        weights: Vec<f64>,
    ) -> Self {
        Rows {
            columns: column_major(rows, n_features),
            n: y.len(),
            n_features,
            y,
            weights,
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
    /// Targets: 0/1 for log loss, any finite value for squared loss.
    pub(super) y: &'a [f64],
    /// Row weights (all 1 when absent).
    pub(super) weights: Option<&'a [f64]>,
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
        (0..self.y.len())
            .map(|i| Fnv1a::salted_bucket(&salt, &self.key(i), folds))
            .collect()
    }

    /// (rows to fit, rows to validate) for a choice of validation rows.
    pub(super) fn partition(&self, validate: impl Fn(usize) -> bool) -> (Rows, Rows) {
        let mut sides: [(Vec<f32>, Vec<f64>, Vec<f64>); 2] = Default::default();
        let rows = self.rows.chunks_exact(self.n_features);
        for (i, (row, &y)) in rows.zip(self.y).enumerate() {
            let side = &mut sides[usize::from(validate(i))];
            side.0.extend_from_slice(row);
            side.1.push(y);
            side.2.push(self.weights.map_or(1.0, |w| w[i]));
        }
        let [(fit_rows, fit_y, fit_w), (val_rows, val_y, val_w)] = sides;
        (
            Rows::weighted(&fit_rows, self.n_features, fit_y, fit_w),
            Rows::weighted(&val_rows, self.n_features, val_y, val_w),
        )
    }

    /// Every row, with its weight.
    pub(super) fn all(&self) -> Rows {
        let weights = self
            .weights
            .map_or_else(|| vec![1.0; self.y.len()], <[f64]>::to_vec);
        Rows::weighted(self.rows, self.n_features, self.y.to_vec(), weights)
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
    /// What the trees minimise.
    pub(super) objective: Objective,
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
            .set_objective_type(match self.objective {
                Objective::LogLoss => ObjectiveType::LogLoss,
                Objective::Squared => ObjectiveType::SquaredLoss,
            })
            .set_parallel(false)
            .set_initialize_base_score(true)
            .set_monotone_constraints(self.constraints.clone());
        let evaluation = validation.map(|(set, patience)| {
            booster.early_stopping_rounds = patience;
            booster.evaluation_metric = Some(match self.objective {
                Objective::LogLoss => Metric::LogLoss,
                Objective::Squared => Metric::RootMeanSquaredError,
            });
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

/// What the trees minimise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Objective {
    /// Log loss on 0/1 targets: the model predicts P(positive).
    LogLoss,
    /// Squared error on real targets: the model predicts their conditional mean.
    Squared,
}

/// A training matrix for [`GbdtModel::fit_weighted`] and [`GbdtModel::fit_regression`].
#[derive(Clone, Copy, Debug)]
pub struct WeightedRows<'a> {
    /// Row-major values, `n_features` per row.
    pub rows: &'a [f32],
    /// Columns per row.
    pub n_features: usize,
    /// One weight per row (all 1 when absent); finite and ≥ 0.
    pub weights: Option<&'a [f64]>,
    /// One key per row (the customer id) that keeps a customer's rows on one side of the
    /// early-stopping split or folds.
    pub groups: Option<&'a [String]>,
    /// One name per column (resolves monotone constraints).
    pub names: Option<&'a [String]>,
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
        Self::fit_weighted(
            &WeightedRows {
                rows,
                n_features,
                weights: None,
                groups,
                names,
            },
            labels,
            params,
            seed,
        )
    }

    /// [`GbdtModel::fit_grouped`] with a weight per row (inverse-propensity weights, say): the
    /// loss of a row counts `weight` times, in the fit and in early stopping.
    pub fn fit_weighted(
        data: &WeightedRows<'_>,
        labels: &[bool],
        params: &GbdtValidParams,
        seed: u64,
    ) -> Result<(Self, GbdtFitReport), ModelError> {
        crate::models::validate_training_data(data.rows, data.n_features, labels)?;
        let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
        Self::fit_objective(data, &y, params, seed, Objective::LogLoss)
    }

    /// A squared-error booster: predicts the conditional mean of `targets` (read it with
    /// [`GbdtModel::predict_value`]). The size is chosen as for [`GbdtModel::fit_weighted`], by
    /// validation root mean squared error.
    pub fn fit_regression(
        data: &WeightedRows<'_>,
        targets: &[f64],
        params: &GbdtValidParams,
        seed: u64,
    ) -> Result<(Self, GbdtFitReport), ModelError> {
        let n = crate::models::check_rows(data.rows, data.n_features, None)?;
        if n != targets.len() || n == 0 {
            return Err(ModelError::Training(format!(
                "{} targets for {n} rows",
                targets.len()
            )));
        }
        if let Some(i) = data.rows.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Training(format!(
                "row {}, feature {} is not finite",
                i / data.n_features + 1,
                i % data.n_features
            )));
        }
        if let Some(i) = targets.iter().position(|t| !t.is_finite()) {
            return Err(ModelError::Training(format!(
                "target of row {i} is not finite"
            )));
        }
        Self::fit_objective(data, targets, params, seed, Objective::Squared)
    }

    fn fit_objective(
        data: &WeightedRows<'_>,
        y: &[f64],
        params: &GbdtValidParams,
        seed: u64,
        objective: Objective,
    ) -> Result<(Self, GbdtFitReport), ModelError> {
        let WeightedRows {
            rows,
            n_features,
            weights,
            groups,
            names,
        } = *data;
        for (what, len) in [
            ("group keys", groups.map(<[String]>::len)),
            ("weights", weights.map(<[f64]>::len)),
        ] {
            if let Some(len) = len.filter(|&len| len != y.len()) {
                return Err(ModelError::Training(format!(
                    "{len} {what} for {} rows",
                    y.len()
                )));
            }
        }
        if let Some(i) = weights.and_then(|w| w.iter().position(|w| !(w.is_finite() && *w >= 0.0)))
        {
            return Err(ModelError::Training(format!(
                "weight of row {i} is not a finite number ≥ 0"
            )));
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
            objective,
            constraints,
            seed,
        };
        let data = Training {
            rows,
            n_features,
            y,
            weights,
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
        let booster = grower.boost(&data.all(), setting, report.iterations_used, None)?;
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
