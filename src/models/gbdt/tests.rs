use rand::{Rng, SeedableRng};

use forust_ml::constraints::{Constraint, ConstraintMap};
use forust_ml::Matrix;

use super::early_stopping::early_stop;
use super::fit::{column_major, enforce_monotone, Grower, Objective, Rows, Training};
use super::forest::f32_threshold;
use super::params::Setting;
use super::*;
use crate::models::params::ParamGuard;

/// Checked parameters (the tests build them valid).
fn checked(params: &GbdtParams) -> GbdtValidParams {
    params.check().unwrap()
}

/// A weak signal in two of five features plus label noise: trees stop helping early.
fn noisy(n: usize) -> (Vec<f32>, Vec<bool>, Vec<String>) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
    let mut rows = Vec::with_capacity(n * 5);
    let mut labels = Vec::with_capacity(n);
    let mut groups = Vec::with_capacity(n);
    for i in 0..n {
        let x: [f32; 5] = std::array::from_fn(|_| rng.random::<f32>());
        let p = 1.0 / (1.0 + (-(1.5 * f64::from(x[0] - x[1]))).exp());
        labels.push(rng.random::<f64>() < p);
        rows.extend_from_slice(&x);
        // Three snapshot rows per customer.
        groups.push(format!("c{}", i / 3));
    }
    (rows, labels, groups)
}

fn early(rounds: usize) -> GbdtParams {
    GbdtParams {
        iterations: 400,
        learning_rate: 0.2,
        max_depth: 4,
        min_leaf_weight: 1.0,
        early_stopping_rounds: Some(rounds),
        ..GbdtParams::default()
    }
}

#[test]
fn the_flat_forest_predicts_exactly_what_forust_predicts() {
    let (mut rows, labels, _) = noisy(3000);
    // Some missing values, so the missing branches are exercised too.
    for v in rows.iter_mut().step_by(37) {
        *v = f32::NAN;
    }
    let params = GbdtParams {
        iterations: 60,
        max_depth: 4,
        ..GbdtParams::default()
    };
    let clean: Vec<f32> = rows
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v })
        .collect();
    let (model, _) =
        GbdtModel::fit_grouped(&clean, 5, &labels, None, None, &checked(&params), 3).unwrap();
    let flat = model.predict_proba(&rows, 5).unwrap();
    let n = rows.len() / 5;
    let columns = column_major(&rows, 5);
    let reference: Vec<f64> = model
        .booster
        .predict(&Matrix::new(&columns, n, 5), false)
        .into_iter()
        .map(|logit| 1.0 / (1.0 + (-logit).exp()))
        .collect();
    assert_eq!(flat.len(), reference.len());
    for (a, b) in flat.iter().zip(&reference) {
        assert_eq!(a.to_bits(), b.to_bits());
    }
    // Rows that share their first three columns: the shared path gives the same bits.
    let mut variants = Vec::new();
    for k in 0..6 {
        variants.extend_from_slice(&clean[..3]);
        variants.extend_from_slice(&clean[5 * k + 3..5 * k + 5]);
    }
    let shared = model.predict_proba_shared(&variants, 5, 3).unwrap();
    let plain = model.predict_proba_shared(&variants, 5, 0).unwrap();
    assert_eq!(shared, plain);
    // One-hot variants (a column set to 1 in turn) give the bits of the rows written out,
    // also for rows narrower than the model (absent columns read as missing).
    for (width, hot) in [(5, vec![3, 4, 4, 0]), (3, vec![2, 1])] {
        let narrow: Vec<f32> = rows
            .chunks_exact(5)
            .flat_map(|row| row[..width].to_vec())
            .collect();
        let onehot = model.predict_proba_onehot(&narrow, width, &hot).unwrap();
        let wide = crate::models::onehot_rows(&narrow, width, &hot).unwrap();
        let expected = model.predict_proba(&wide, width).unwrap();
        assert_eq!(onehot.len(), expected.len());
        assert!(onehot
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    assert!(model.predict_proba_onehot(&rows, 5, &[5]).is_err());
    // A row shorter than the model expects reads the missing features as missing.
    assert_eq!(model.predict_proba(&rows[..3], 3).unwrap().len(), 1);
    // Values that do not form whole rows are an error, not a silently dropped remainder.
    let error = model.predict_proba(&rows[..7], 5).unwrap_err();
    assert_eq!(error.code(), "model_scoring_failed");
    assert!(model.predict_proba(&rows[..5], 0).is_err());
    assert!(model.predict_proba_shared(&rows[..5], 5, 6).is_err());
}

#[test]
fn f32_thresholds_decide_like_the_f64_split() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    for _ in 0..20_000 {
        let split: f64 = rng.random_range(-1e6..1e6) * 10f64.powi(rng.random_range(-30..5));
        let t = f32_threshold(split);
        let near = split as f32;
        for v in [
            near,
            f32::from_bits(near.to_bits().wrapping_add(1)),
            f32::from_bits(near.to_bits().wrapping_sub(1)),
            t,
            0.0,
            -0.0,
        ] {
            assert_eq!(v < t, f64::from(v) < split, "split {split}, value {v}");
        }
    }
    assert_eq!(f32_threshold(0.0), 0.0);
    assert_eq!(f32_threshold(1e300), f32::INFINITY);
}

#[test]
fn bad_early_stopping_params_name_the_key() {
    let check = |params: GbdtParams, key: &str, got: &str| {
        let error = params.check().unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("gbdt.{key}: must be ")) && error.ends_with(got),
            "{error}"
        );
    };
    check(early(0), "early_stopping_rounds", "got 0");
    check(early(5001), "early_stopping_rounds", "got 5001");
    for fraction in [0.0, 0.75, f64::NAN] {
        let params = GbdtParams {
            validation_fraction: Some(fraction),
            ..early(10)
        };
        check(params, "validation_fraction", &format!("got {fraction}"));
    }
    let params = GbdtParams {
        max_depth_candidates: vec![2, 17],
        ..early(10)
    };
    check(params, "max_depth_candidates", "got [2, 17]");
    let params = GbdtParams {
        max_depth_candidates: vec![2],
        ..GbdtParams::default()
    };
    check(params, "max_depth_candidates", "got [2]");
    assert!(early(10).check().is_ok());
    assert!(GbdtParams::default().check().is_ok());
}

#[test]
fn early_stopping_stops_before_the_limit_and_is_deterministic() {
    let (rows, labels, groups) = noisy(1500);
    let params = GbdtParams {
        max_depth_candidates: vec![1, 2],
        ..early(20)
    };
    let fit = || {
        GbdtModel::fit_grouped(&rows, 5, &labels, Some(&groups), None, &checked(&params), 3)
            .unwrap()
    };
    let (model, report) = fit();
    let search = report.early_stopping.clone().unwrap();
    assert!(report.iterations_used < 100, "{report:?}");
    assert_eq!(model.trees(), report.iterations_used);
    assert_eq!(search.trials.len(), 3);
    assert!(search.trials.iter().all(|t| !t.hit_limit), "{search:?}");
    let chosen = search
        .trials
        .iter()
        .find(|t| t.max_depth == report.max_depth_used)
        .unwrap();
    assert_eq!(chosen.best_iterations, report.iterations_used);
    assert!(search
        .trials
        .iter()
        .all(|t| t.validation_log_loss >= chosen.validation_log_loss));
    // About a fifth of the rows, in whole customers (three rows each).
    assert_eq!(search.fit_rows + search.validation_rows, 1500);
    assert_eq!(search.validation_rows % 3, 0);
    assert!((200..400).contains(&search.validation_rows), "{search:?}");
    // Same data, same seed: the same trees, byte for byte.
    let (again, again_report) = fit();
    assert_eq!(again_report, report);
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&model).unwrap()
    );
    // Without early stopping every iteration is used.
    let full = GbdtModel::fit(&rows, 5, &labels, &checked(&GbdtParams::default()), 3).unwrap();
    assert_eq!(full.trees(), GbdtParams::default().iterations);
}

#[test]
fn early_stopping_keeps_a_group_on_one_side() {
    let (rows, labels, _) = noisy(300);
    // One customer owns every row: nothing can be set aside without splitting them.
    let one = vec!["same".to_string(); 300];
    let error =
        GbdtModel::fit_grouped(&rows, 5, &labels, Some(&one), None, &checked(&early(10)), 3)
            .unwrap_err()
            .to_string();
    assert!(error.contains("gbdt.validation_fraction"), "{error}");
    // Without ids, rows are split one by one.
    let (_, report) =
        GbdtModel::fit_grouped(&rows, 5, &labels, None, None, &checked(&early(10)), 3).unwrap();
    assert!(report.early_stopping.unwrap().validation_rows > 0);
    let short = vec!["a".to_string(); 2];
    assert!(GbdtModel::fit_grouped(
        &rows,
        5,
        &labels,
        Some(&short),
        None,
        &checked(&early(10)),
        3
    )
    .is_err());
}

fn cross_validated(folds: usize) -> GbdtParams {
    GbdtParams {
        cv_folds: Some(folds),
        max_depth_candidates: vec![2],
        min_leaf_weight_candidates: vec![5.0],
        ..early(20)
    }
}

#[test]
fn cv_folds_keep_each_customer_in_one_fold_and_follow_the_seed() {
    let (rows, labels, groups) = noisy(1500);
    let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    let data = Training {
        rows: &rows,
        n_features: 5,
        y: &y,
        weights: None,
        groups: Some(&groups),
    };
    let folds = data.folds(5, 3);
    let mut fold_of_customer = std::collections::HashMap::new();
    for (group, &fold) in groups.iter().zip(&folds) {
        assert!(fold < 5);
        assert_eq!(
            *fold_of_customer.entry(group).or_insert(fold),
            fold,
            "{group}"
        );
    }
    // Every fold gets about a fifth of the 500 customers.
    for fold in 0..5 {
        let customers = fold_of_customer.values().filter(|&&f| f == fold).count();
        assert!((70..130).contains(&customers), "fold {fold}: {customers}");
    }
    // The same seed deals the same folds; another seed deals others.
    assert_eq!(data.folds(5, 3), folds);
    let other = data.folds(5, 4);
    let moved = folds.iter().zip(&other).filter(|(a, b)| a != b).count();
    assert!(moved > 900, "{moved} of 1500 rows changed fold");
    // Without groups, rows are dealt one by one.
    let rows_only = Training {
        groups: None,
        ..data
    };
    let single = rows_only.folds(5, 3);
    let split = single
        .chunks_exact(3)
        .filter(|c| c[0] != c[1] || c[1] != c[2])
        .count();
    assert!(
        split > 300,
        "{split} of 500 customers' rows in more than one fold"
    );
}

#[test]
fn cross_validation_picks_the_setting_with_the_lowest_pooled_loss_deterministically() {
    let (rows, labels, groups) = noisy(1500);
    let params = cross_validated(5);
    let fit = |seed| {
        GbdtModel::fit_grouped(
            &rows,
            5,
            &labels,
            Some(&groups),
            None,
            &checked(&params),
            seed,
        )
        .unwrap()
    };
    let (model, report) = fit(3);
    let cv = report.cross_validation.clone().unwrap();
    assert!(report.early_stopping.is_none());
    assert_eq!(cv.folds, 5);
    // Folds of whole customers (three rows each) that cover every row once.
    assert_eq!(cv.fold_rows.iter().sum::<usize>(), 1500);
    assert!(cv.fold_rows.iter().all(|n| n % 3 == 0), "{cv:?}");
    // Two depths × two leaf weights, shallowest first, larger weight first.
    let tried: Vec<(usize, f64)> = cv
        .trials
        .iter()
        .map(|t| (t.max_depth, t.min_leaf_weight))
        .collect();
    assert_eq!(tried, [(2, 5.0), (2, 1.0), (4, 5.0), (4, 1.0)]);
    let chosen = cv
        .trials
        .iter()
        .find(|t| {
            t.max_depth == report.max_depth_used && t.min_leaf_weight == report.min_leaf_weight_used
        })
        .unwrap();
    assert!(cv.trials.iter().all(|t| t.log_loss >= chosen.log_loss));
    assert!(cv.trials.iter().all(|t| !t.hit_limit), "{cv:?}");
    assert_eq!(report.iterations_used, chosen.best_iterations);
    assert_eq!(model.trees(), chosen.best_iterations);
    assert!(chosen.best_iterations < 100, "{chosen:?}");
    // The pooled loss is the row-weighted mean of the folds' losses.
    let pooled = chosen
        .fold_log_loss
        .iter()
        .zip(&cv.fold_rows)
        .map(|(loss, &n)| loss * n as f64)
        .sum::<f64>()
        / 1500.0;
    assert!((pooled - chosen.log_loss).abs() < 1e-12);
    // The curve starts at the first tree, reaches the chosen loss, and stops after it.
    let lowest = cv
        .chosen_curve
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    assert!(lowest >= chosen.log_loss - 1e-12 && cv.chosen_curve[0] > lowest);
    assert!(cv.curve_step * cv.chosen_curve.len() >= chosen.best_iterations);
    // Same data, same seed: the same report and the same trees, byte for byte.
    let (again, again_report) = fit(3);
    assert_eq!(again_report, report);
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&model).unwrap()
    );
    // Another seed deals other folds.
    let (_, other) = fit(4);
    assert_ne!(other.cross_validation.unwrap().fold_rows, cv.fold_rows);
}

#[test]
fn a_longer_fit_starts_with_the_same_trees() {
    // Cross-validation grows fold models to a budget that doubles; that equals growing
    // them in lockstep only if the first trees do not depend on the budget.
    let (rows, labels, _) = noisy(600);
    let all = Rows::new(&rows, 5, &labels);
    let params = checked(&GbdtParams::default());
    let grower = Grower {
        params: &params,
        objective: Objective::LogLoss,
        constraints: None,
        seed: 9,
    };
    let setting = Setting {
        max_depth: 3,
        min_leaf_weight: 5.0,
    };
    let short = grower.boost(&all, setting, 20, Some((&all, None))).unwrap();
    let long = grower.boost(&all, setting, 45, Some((&all, None))).unwrap();
    assert_eq!(
        serde_json::to_string(&short.trees).unwrap(),
        serde_json::to_string(&long.trees[..20]).unwrap()
    );
    assert_eq!(Grower::history(&short), Grower::history(&long)[..20]);
}

#[test]
fn the_pooled_curve_stops_like_forust() {
    // Strict improvements only; stop once `patience` rounds have passed without one.
    let curve = [0.9, 0.8, 0.7, 0.7, 0.75, 0.72, 0.69, 0.7, 0.71, 0.72];
    assert_eq!(early_stop(&curve, 1), (2, Some(3)));
    assert_eq!(early_stop(&curve, 3), (2, Some(5)));
    assert_eq!(early_stop(&curve, 4), (6, None));
    assert_eq!(early_stop(&[], 5), (0, None));
}

#[test]
fn cv_folds_need_enough_customers() {
    let (rows, labels, _) = noisy(300);
    // Two customers cannot fill five folds.
    let two: Vec<String> = (0..300).map(|i| format!("c{}", i % 2)).collect();
    let error = GbdtModel::fit_grouped(
        &rows,
        5,
        &labels,
        Some(&two),
        None,
        &checked(&cross_validated(5)),
        3,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("gbdt.cv_folds: 5 folds of 300 rows leave fold"),
        "{error}"
    );
}

#[test]
fn bad_cross_validation_and_monotone_params_name_the_key() {
    let error = |params: GbdtParams| params.check().unwrap_err().to_string();
    for folds in [1, 21] {
        assert_eq!(
            error(cross_validated(folds)),
            format!("gbdt.cv_folds: must be within 2..=20, got {folds}")
        );
    }
    let without_stopping = GbdtParams {
        cv_folds: Some(5),
        ..GbdtParams::default()
    };
    assert!(error(without_stopping)
        .starts_with("gbdt.cv_folds: must be absent unless early_stopping_rounds is set"));
    let both = GbdtParams {
        validation_fraction: Some(0.2),
        ..cross_validated(5)
    };
    assert_eq!(
        error(both),
        "gbdt.validation_fraction: must be absent when cv_folds is set (each fold is validated in turn), got 0.2"
    );
    let negative = GbdtParams {
        min_leaf_weight_candidates: vec![10.0, -1.0],
        ..early(10)
    };
    assert!(error(negative).starts_with("gbdt.min_leaf_weight_candidates: must be at most 8"));
    let unstopped = GbdtParams {
        min_leaf_weight_candidates: vec![10.0],
        ..GbdtParams::default()
    };
    assert!(error(unstopped).starts_with("gbdt.min_leaf_weight_candidates: must be empty"));
    assert!(cross_validated(5).check().is_ok());

    let names: Vec<String> = ["recency", "frequency"].map(String::from).into();
    let mut params = GbdtParams::default();
    params
        .monotone
        .insert("frequency".into(), Monotone::Decreasing);
    params
        .monotone
        .insert("recency".into(), Monotone::Increasing);
    assert_eq!(
        params.monotone_columns(&names),
        Ok(vec![(0, Monotone::Increasing), (1, Monotone::Decreasing)])
    );
    params
        .monotone
        .insert("recenzy".into(), Monotone::Increasing);
    let unknown = params.monotone_columns(&names).unwrap_err().to_string();
    assert!(
        unknown.starts_with("gbdt.monotone.recenzy: not a feature of this model")
            && unknown.contains("recency, frequency"),
        "{unknown}"
    );
    // Fitting checks the names too, and needs them.
    let (rows, labels, _) = noisy(300);
    let short: Vec<String> = (0..5).map(|i| format!("x{i}")).collect();
    let fitted =
        GbdtModel::fit_grouped(&rows, 5, &labels, None, Some(&short), &checked(&params), 3);
    assert!(fitted
        .unwrap_err()
        .to_string()
        .contains("gbdt.monotone.frequency"));
    let unnamed = GbdtModel::fit(&rows, 5, &labels, &checked(&params), 3).unwrap_err();
    assert!(unnamed
        .to_string()
        .contains("gbdt.monotone: needs the names"));
}

/// P(positive) along `column` from 0 to 1, the other columns fixed at `others`.
fn profile(model: &GbdtModel, column: usize, others: f32) -> Vec<f64> {
    let mut grid = Vec::new();
    for step in 0..=200 {
        let mut row = [others; 3];
        row[column] = step as f32 / 200.0;
        grid.extend_from_slice(&row);
    }
    model.predict_proba(&grid, 3).unwrap()
}

#[test]
fn monotone_constraints_make_predictions_monotone_in_their_feature() {
    // P(positive) rises with x0 overall but dips in the middle; it falls with x1; x2 is
    // noise. Unconstrained trees follow the dip, constrained ones cannot.
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(21);
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..6000 {
        let x: [f32; 3] = std::array::from_fn(|_| rng.random::<f32>());
        let dip = if (0.4..0.6).contains(&x[0]) {
            -2.5
        } else {
            0.0
        };
        let logit = 3.0 * f64::from(x[0]) - 2.0 * f64::from(x[1]) + dip;
        labels.push(rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp()));
        rows.extend_from_slice(&x);
    }
    let names: Vec<String> = ["x0", "x1", "x2"].map(String::from).into();
    let mut params = GbdtParams {
        iterations: 150,
        learning_rate: 0.1,
        max_depth: 4,
        min_leaf_weight: 5.0,
        ..GbdtParams::default()
    };
    let fit = |params: &GbdtParams| {
        GbdtModel::fit_grouped(&rows, 3, &labels, None, Some(&names), &checked(params), 1)
            .unwrap()
            .0
    };
    let steps = |p: &[f64]| p.windows(2).map(|w| w[1] - w[0]).collect::<Vec<f64>>();
    let free = fit(&params);
    assert!(
        steps(&profile(&free, 0, 0.5)).iter().any(|&d| d < -0.05),
        "the data's dip should show without constraints"
    );
    params.monotone.insert("x0".into(), Monotone::Increasing);
    params.monotone.insert("x1".into(), Monotone::Decreasing);
    let constrained = fit(&params);
    for others in [0.0, 0.3, 0.5, 0.9] {
        let up = profile(&constrained, 0, others);
        assert!(
            steps(&up).iter().all(|&d| d >= 0.0),
            "x0 at {others}: {up:?}"
        );
        assert!(up[200] > up[0] + 0.2);
        let down = profile(&constrained, 1, others);
        assert!(
            steps(&down).iter().all(|&d| d <= 0.0),
            "x1 at {others}: {down:?}"
        );
    }
    // The constraints shape growing only; the saved model is deterministic.
    let again = fit(&params);
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&constrained).unwrap()
    );
}

#[test]
fn leaves_below_an_unconstrained_split_are_clamped_to_their_bounds() {
    // x0 is constrained (increasing): everything left of its split must stay at or below
    // the mean of the two children (0.0), everything right of it at or above. forust
    // leaves node 4 (0.6) above it because its own split is on x1, so a row with x1 = 0.6
    // scored 0.6 at x0 = 0.4 but only 0.2 at x0 = 0.6.
    let node = |num: usize, weight: f32, split: Option<(usize, f64, usize, usize)>| {
        let (feature, value, left, right) = split.unwrap_or((0, 0.0, 0, 0));
        let depth = [0, 1, 1, 2, 2, 2, 2][num];
        serde_json::json!({
            "num": num, "weight_value": weight, "hessian_sum": 1.0,
            "depth": depth,
            "split_value": value, "split_feature": feature, "split_gain": 1.0,
            "missing_node": left, "left_child": left, "right_child": right,
            "is_leaf": split.is_none()
        })
    };
    let tree = serde_json::json!({"nodes": [
        node(0, 0.0, Some((0, 0.5, 1, 2))),
        node(1, -1.0, Some((1, 0.5, 3, 4))),
        node(2, 1.0, Some((1, 0.8, 5, 6))),
        node(3, -1.0, None),
        node(4, 0.6, None),
        node(5, 0.2, None),
        node(6, 1.5, None),
    ]});
    let mut booster = GradientBooster::default();
    booster.base_score = 0.0;
    booster.trees = vec![serde_json::from_value(tree).unwrap()];
    let constraints = ConstraintMap::from([(0, Constraint::Positive)]);
    enforce_monotone(&mut booster, &constraints);
    let leaves: Vec<f32> = booster.trees[0].nodes[3..]
        .iter()
        .map(|n| n.weight_value)
        .collect();
    assert_eq!(leaves, [-1.0, 0.0, 0.2, 1.5]);
    let model = GbdtModel {
        booster: Box::new(booster),
        flat: OnceLock::new(),
    };
    let p = model.predict_proba(&[0.4, 0.6, 0.6, 0.6], 2).unwrap();
    let logit = |p: f64| (p / (1.0 - p)).ln();
    assert!(
        (logit(p[0]) - 0.0).abs() < 1e-6 && (logit(p[1]) - 0.2).abs() < 1e-6,
        "{p:?}"
    );
}
