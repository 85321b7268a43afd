//! Journey analytics against independently computed figures: DuckDB SQL and pandas over the same
//! Parquet files (tests/fixtures/analytics/make_fixtures.py), on the committed simulated world
//! and on the CDNOW sample.

// Tests may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;

use nextbest::analytics::cohorts::{cohorts, Bucket, CohortBasis, CohortSpec, Retained};
use nextbest::analytics::funnel::{funnel, Breakdown, FunnelSpec, OrderMode};
use nextbest::analytics::kpis::kpis;
use nextbest::analytics::paths::{paths, Direction, NodeLabel, PathSpec};
use nextbest::analytics::{EventLog, SegmentSpec};
use nextbest::journey::CustomerTable;
use serde_json::Value;

fn fixtures() -> &'static Value {
    static F: OnceLock<Value> = OnceLock::new();
    F.get_or_init(|| {
        let text = std::fs::read_to_string("tests/fixtures/analytics/expected.json").unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

struct World {
    log: EventLog,
    table: Option<CustomerTable>,
}

fn world(name: &str) -> &'static World {
    static SAMPLE: OnceLock<World> = OnceLock::new();
    static CDNOW: OnceLock<World> = OnceLock::new();
    static SUPPORT: OnceLock<World> = OnceLock::new();
    match name {
        "sample" => SAMPLE.get_or_init(|| World {
            log: EventLog::read(Path::new("datasets/sample/events.parquet"), |_| {}).unwrap(),
            table: Some(CustomerTable::read("datasets/sample/customers.parquet", None).unwrap()),
        }),
        "cdnow" => CDNOW.get_or_init(|| World {
            log: EventLog::read(
                Path::new("tests/fixtures/analytics/cdnow_sample_events.parquet"),
                |_| {},
            )
            .unwrap(),
            table: None,
        }),
        "support" => SUPPORT.get_or_init(|| World {
            log: EventLog::read(
                Path::new("tests/fixtures/analytics/support_events.parquet"),
                |_| {},
            )
            .unwrap(),
            table: None,
        }),
        other => panic!("unknown data {other}"),
    }
}

fn cases(kind: &str) -> Vec<&'static Value> {
    let all: Vec<&Value> = fixtures()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .collect();
    assert!(!all.is_empty(), "no {kind} cases");
    all
}

/// Numbers equal to 1e-9 relative (sums in another order differ in the last bits); null = None.
fn close(name: &str, field: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{name}: {field} = {g}, reference {w}"
        ),
        (g, _) => panic!("{name}: {field} = {g:?}, reference {want}"),
    }
}

fn setup(case: &Value) -> (&'static World, Vec<bool>, i64, i64, String) {
    let w = world(case["data"].as_str().unwrap());
    let segment: SegmentSpec = serde_json::from_value(case["segment"].clone()).unwrap();
    let members = segment.members(&w.log, w.table.as_ref()).unwrap();
    (
        w,
        members,
        case["from"].as_i64().unwrap(),
        case["to"].as_i64().unwrap(),
        case["name"].as_str().unwrap().to_string(),
    )
}

#[test]
fn kpis_equal_duckdb() {
    for case in cases("kpis") {
        let (w, members, from, to, name) = setup(case);
        let k = kpis(&w.log, &members, from, to);
        let got = serde_json::to_value(&k).unwrap();
        let want = &case["expected"];
        for (field, value) in want.as_object().unwrap() {
            close(&name, field, got[field].as_f64(), value);
        }
    }
}

fn funnel_spec(spec: &Value) -> FunnelSpec {
    FunnelSpec {
        steps: spec["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().parse().unwrap())
            .collect(),
        window_days: spec["window_days"].as_f64().unwrap(),
        order: spec["order"]
            .as_str()
            .unwrap()
            .parse::<OrderMode>()
            .unwrap(),
        breakdown: spec["breakdown"]
            .as_str()
            .unwrap_or("none")
            .parse::<Breakdown>()
            .unwrap(),
    }
}

#[test]
fn funnels_equal_pandas() {
    for case in cases("funnel") {
        let (w, members, from, to, name) = setup(case);
        let spec = funnel_spec(&case["spec"]);
        let f = funnel(&w.log, &members, w.table.as_ref(), &spec, from, to).unwrap();
        let want = case["expected"].as_array().unwrap();
        let groups: Vec<&str> = f.groups.iter().map(|g| g.group.as_str()).collect();
        let want_groups: Vec<&str> = want.iter().map(|g| g["group"].as_str().unwrap()).collect();
        assert_eq!(groups, want_groups, "{name}");
        for (g, wg) in f.groups.iter().zip(want) {
            for (s, ws) in g.steps.iter().zip(wg["steps"].as_array().unwrap()) {
                let label = format!("{name} [{}] {}", g.group, s.step);
                assert_eq!(s.customers, ws["customers"].as_u64().unwrap(), "{label}");
                assert_eq!(s.drop_off, ws["drop_off"].as_u64().unwrap(), "{label}");
                close(
                    &label,
                    "from previous",
                    s.conversion_from_previous,
                    &ws["conversion_from_previous"],
                );
                close(
                    &label,
                    "from start",
                    s.conversion_from_start,
                    &ws["conversion_from_start"],
                );
                close(&label, "median", s.median_seconds, &ws["median_seconds"]);
                close(&label, "mean", s.mean_seconds, &ws["mean_seconds"]);
            }
        }
    }
}

#[test]
fn paths_equal_pandas() {
    for case in cases("paths") {
        let (w, members, from, to, name) = setup(case);
        let s = &case["spec"];
        let spec = PathSpec {
            gap_minutes: s["gap_minutes"].as_f64().unwrap(),
            collapse_repeats: s["collapse_repeats"].as_bool().unwrap(),
            label: serde_json::from_value::<NodeLabel>(s["label"].clone()).unwrap(),
            exclude: serde_json::from_value(s["exclude"].clone()).unwrap(),
            top: s["top"].as_u64().unwrap() as usize,
            max_path_steps: s["max_path_steps"].as_u64().unwrap() as usize,
            anchor: s["anchor"].as_str().map(|a| a.parse().unwrap()),
            direction: s["direction"]
                .as_str()
                .unwrap()
                .parse::<Direction>()
                .unwrap(),
            steps: s["steps"].as_u64().unwrap() as usize,
        };
        let p = paths(&w.log, &members, &spec, from, to).unwrap();
        let want = &case["expected"];
        assert_eq!(p.sessions, want["sessions"].as_u64().unwrap(), "{name}");
        assert_eq!(p.customers, want["customers"].as_u64().unwrap(), "{name}");
        let edges = want["edges"].as_array().unwrap();
        assert_eq!(p.edges.len(), edges.len(), "{name}: edges");
        for (e, we) in p.edges.iter().zip(edges) {
            assert_eq!(
                (e.from.as_str(), e.to.as_str(), e.count),
                (
                    we["from"].as_str().unwrap(),
                    we["to"].as_str().unwrap(),
                    we["count"].as_u64().unwrap()
                ),
                "{name}"
            );
            close(
                &name,
                "probability",
                Some(e.probability),
                &we["probability"],
            );
        }
        let top = want["top_paths"].as_array().unwrap();
        assert_eq!(p.top_paths.len(), top.len(), "{name}: top paths");
        for (t, wt) in p.top_paths.iter().zip(top) {
            assert_eq!(t.path, wt["path"].as_str().unwrap(), "{name}");
            assert_eq!(t.sessions, wt["sessions"].as_u64().unwrap(), "{name}");
        }
        if spec.anchor.is_some() {
            assert_eq!(
                p.anchor_sessions,
                want["anchor_sessions"].as_u64().unwrap(),
                "{name}"
            );
            let links = want["sankey"].as_array().unwrap();
            assert_eq!(p.sankey.len(), links.len(), "{name}: sankey");
            for (l, wl) in p.sankey.iter().zip(links) {
                assert_eq!(
                    (l.step as u64, l.from.as_str(), l.to.as_str(), l.count),
                    (
                        wl["step"].as_u64().unwrap(),
                        wl["from"].as_str().unwrap(),
                        wl["to"].as_str().unwrap(),
                        wl["count"].as_u64().unwrap()
                    ),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn cohorts_and_lifecycle_equal_duckdb() {
    for case in cases("cohorts") {
        let (w, members, from, to, name) = setup(case);
        let s = &case["spec"];
        let spec = CohortSpec {
            basis: match s["basis"].as_str().unwrap() {
                "signup" => CohortBasis::Signup("signup_date".into()),
                "first_purchase" => CohortBasis::FirstPurchase,
                _ => CohortBasis::FirstActivity,
            },
            bucket: s["bucket"].as_str().unwrap().parse::<Bucket>().unwrap(),
            retained: if s["retained"] == "purchase" {
                Retained::Purchase
            } else {
                Retained::Activity
            },
        };
        let c = cohorts(&w.log, &members, w.table.as_ref(), &spec, from, to).unwrap();
        let want = &case["expected"];
        let rows = want["cohorts"].as_array().unwrap();
        assert_eq!(c.cohorts.len(), rows.len(), "{name}: cohorts");
        for (row, wr) in c.cohorts.iter().zip(rows) {
            let index = wr["cohort"].as_i64().unwrap();
            assert_eq!(row.cohort, spec.bucket.label(from, index), "{name}");
            assert_eq!(
                row.customers,
                wr["customers"].as_u64().unwrap(),
                "{name} {}",
                row.cohort
            );
            let kept: Vec<u64> = serde_json::from_value(wr["retained"].clone()).unwrap();
            assert_eq!(row.retained, kept, "{name} {}", row.cohort);
        }
        let life = want["lifecycle"].as_array().unwrap();
        assert_eq!(c.lifecycle.len(), life.len(), "{name}: lifecycle");
        for (l, wl) in c.lifecycle.iter().zip(life) {
            assert_eq!(
                [l.new, l.returning, l.resurrecting, l.dormant],
                [
                    wl["new"].as_u64().unwrap(),
                    wl["returning"].as_u64().unwrap(),
                    wl["resurrecting"].as_u64().unwrap(),
                    wl["dormant"].as_u64().unwrap()
                ],
                "{name} {}",
                l.period
            );
        }
    }
}

fn read_csv(path: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect()
}

#[test]
fn gamma_gamma_reproduces_the_published_cdnow_fit_and_lifetimes_clv() {
    use nextbest::analytics::clv::{
        expected_spend, fit_bgnbd, fit_gamma_gamma, lifetime_value, Horizon, Spend,
    };
    use nextbest::training::bgnbd::Recency;
    let buyers: Vec<Spend> = read_csv("tests/fixtures/analytics/gamma_gamma_repeat_buyers.csv")
        .iter()
        .map(|r| Spend {
            x: r[1],
            zbar: r[2],
        })
        .collect();
    assert_eq!(buyers.len(), 946);
    let gg = fit_gamma_gamma(&buyers).unwrap();
    // Published (lifetimes' documentation, after Fader, Hardie & Lee): p 6.25, q 3.74, v 15.45.
    let two = |x: f64| (x * 100.0).round() / 100.0;
    assert_eq!(
        (two(gg.p), two(gg.q), two(gg.v)),
        (6.25, 3.74, 15.45),
        "{gg:?}"
    );
    let reference = &fixtures()["clv"];
    for (got, key) in [(gg.p, "p"), (gg.q, "q"), (gg.v, "v")] {
        let want = reference["gamma_gamma"][key].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-3 * want,
            "{key}: {got} vs lifetimes {want}"
        );
    }
    let summary: Vec<Recency> = read_csv("tests/fixtures/cdnow_customers_summary.csv")
        .iter()
        .map(|r| Recency {
            x: r[1],
            t_x: r[2],
            t: r[3],
        })
        .collect();
    let bg = fit_bgnbd(&summary).unwrap();
    for (got, key) in [(bg.r, "r"), (bg.alpha, "alpha"), (bg.a, "a"), (bg.b, "b")] {
        let want = reference["bgnbd"][key].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-3 * want,
            "{key}: {got} vs lifetimes {want}"
        );
    }
    let horizon = Horizon {
        months: reference["months"].as_u64().unwrap() as u32,
        monthly_discount_rate: reference["monthly_discount_rate"].as_f64().unwrap(),
        units_per_month: reference["weeks_per_month"].as_f64().unwrap(),
    };
    for c in reference["customers"].as_array().unwrap() {
        let f = |k: &str| c[k].as_f64().unwrap();
        let spend = expected_spend(
            &gg,
            &Spend {
                x: f("x"),
                zbar: f("zbar"),
            },
        );
        assert!(
            (spend - f("expected_spend")).abs() < 1e-3 * f("expected_spend"),
            "{c}: {spend}"
        );
        let recency = Recency {
            x: f("x"),
            t_x: f("t_x"),
            t: f("t"),
        };
        let value = lifetime_value(&bg, &recency, spend, &horizon);
        assert!((value - f("clv")).abs() < 2e-3 * f("clv"), "{c}: {value}");
    }
}

fn nextbest(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_command_line_prints_json_writes_parquet_and_names_bad_flags() {
    let want = cases("kpis")
        .into_iter()
        .find(|c| c["name"] == "sample Q3")
        .unwrap();
    let out = nextbest(&[
        "journeys",
        "kpis",
        "datasets/sample/events.parquet",
        "--from",
        "2025-07-01",
        "--to",
        "2025-10-01",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (field, value) in want["expected"].as_object().unwrap() {
        close("cli kpis", field, got[field].as_f64(), value);
    }

    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("funnel.parquet");
    let out = nextbest(&[
        "journeys",
        "funnel",
        "datasets/sample/events.parquet",
        "--steps",
        "visit,add_to_cart,purchase",
        "--window",
        "1",
        "--out",
        target.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("add_to_cart") && table.contains("conversion_from_previous"),
        "{table}"
    );
    let file = std::fs::File::open(&target).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows(), 3);

    let dir_paths = dir.path().join("paths.parquet");
    let out = nextbest(&[
        "journeys",
        "paths",
        "datasets/sample/events.parquet",
        "--anchor",
        "cancel",
        "--direction",
        "before",
        "--out",
        dir_paths.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["paths-edges", "paths-top_paths", "paths-sankey"] {
        assert!(
            dir.path().join(format!("{name}.parquet")).exists(),
            "{name}"
        );
    }

    for (args, message) in [
        (
            vec![
                "--where",
                "tier=gold",
                "--customers",
                "datasets/sample/customers.parquet",
            ],
            "where: the customer table has no column 'tier'",
        ),
        (
            vec!["--where", "plan=basic"],
            "where: conditions on attributes need a customer table",
        ),
        (vec!["--from", "2025-13-01"], "--from"),
        (
            vec!["--from", "2025-10-01", "--to", "2025-07-01"],
            "to: must be after from",
        ),
    ] {
        let mut all = vec!["journeys", "kpis", "datasets/sample/events.parquet"];
        all.extend(args);
        let out = nextbest(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(message),
            "{all:?}: {err}"
        );
    }
    let out = nextbest(&[
        "journeys",
        "funnel",
        "datasets/sample/events.parquet",
        "--steps",
        "visit,@web",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("steps: '@web' is not"),
        "{err}"
    );
}

#[test]
fn pain_points_equal_pandas() {
    use nextbest::analytics::pain::{pain_points, PainOutcome, PainSpec};
    for case in cases("pain") {
        let (w, members, from, to, name) = setup(case);
        let s = &case["spec"];
        let spec = PainSpec {
            outcome: if s["outcome"] == "cancel" {
                PainOutcome::Cancel
            } else {
                PainOutcome::Quiet
            },
            window_days: s["window_days"].as_f64().unwrap(),
            min_support: s["min_support"].as_u64().unwrap(),
        };
        let p = pain_points(&w.log, &members, &spec, None, from, to).unwrap();
        let want = case["expected"].as_array().unwrap();
        let got: Vec<&str> = p.points.iter().map(|p| p.event_type.as_str()).collect();
        let expected: Vec<&str> = want
            .iter()
            .map(|p| p["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "{name}");
        for (g, w) in p.points.iter().zip(want) {
            let label = format!("{name} {}", g.event_type);
            assert_eq!(
                [
                    g.exposed,
                    g.exposed_outcomes,
                    g.unexposed,
                    g.unexposed_outcomes
                ],
                [
                    w["exposed"].as_u64().unwrap(),
                    w["exposed_outcomes"].as_u64().unwrap(),
                    w["unexposed"].as_u64().unwrap(),
                    w["unexposed_outcomes"].as_u64().unwrap()
                ],
                "{label}"
            );
            close(&label, "lift", g.lift, &w["lift"]);
            close(
                &label,
                "low",
                g.lift_interval.map(|i| i.0),
                &w["lift_interval"][0],
            );
            close(
                &label,
                "high",
                g.lift_interval.map(|i| i.1),
                &w["lift_interval"][1],
            );
        }
    }
}

#[test]
fn first_and_last_touch_equal_pandas() {
    use nextbest::analytics::attribution::attribution;
    for case in cases("attribution") {
        let (w, members, from, to, name) = setup(case);
        let a = attribution(
            &w.log,
            &members,
            case["window_days"].as_f64().unwrap(),
            from,
            to,
        )
        .unwrap();
        let want = &case["expected"];
        assert_eq!(a.orders, want["orders"].as_u64().unwrap(), "{name}");
        let credits = want["credits"].as_array().unwrap();
        assert_eq!(a.credits.len(), credits.len(), "{name}");
        for (g, w) in a.credits.iter().zip(credits) {
            assert_eq!(g.action_id, w["action_id"].as_str().unwrap(), "{name}");
            assert_eq!(
                (g.first_touch_conversions, g.last_touch_conversions),
                (
                    w["first_touch_conversions"].as_u64().unwrap(),
                    w["last_touch_conversions"].as_u64().unwrap()
                ),
                "{name} {}",
                g.action_id
            );
            close(
                &name,
                "first revenue",
                Some(g.first_touch_revenue),
                &w["first_touch_revenue"],
            );
            close(
                &name,
                "last revenue",
                Some(g.last_touch_revenue),
                &w["last_touch_revenue"],
            );
        }
    }
}
