//! The experiment pages in a real browser (headless Chromium): the results page renders the
//! numbers of `GET /v1/experiments/{id}/results` — verdict, customers per arm, each arm's
//! conversion rate — with the token taken from the address's fragment, and logs nothing to the
//! console (no script error, no blocked resource).
//!
//! Without Chromium the test says so and passes, unless `NEXTBEST_REQUIRE_BROWSER` is set, as
//! `.ci/run` does after installing Debian's `chromium`.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::http::{free_port, wait_ready, Connection};
use serde_json::{json, Value};

fn browser() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let output = Command::new("which").arg(name).output().ok()?;
            output
                .status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        })
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(dir: &Path, port: u16) -> Server {
    start_server_with(dir, port, &[])
}

fn start_server_with(dir: &Path, port: u16, extra: &[&str]) -> Server {
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        r#"
[[tokens]]
name = "marketing"
token = "t-results"
scopes = ["results"]

[[tokens]]
name = "data-science"
token = "t-admin"
scopes = ["decide", "admin", "results"]
"#,
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--config")
        .arg(&config)
        .arg("--database")
        .arg(dir.join("nextbest.db"))
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

const ADMIN: &[(&str, &str)] = &[("Authorization", "Bearer t-admin")];

/// An experiment with a few hundred decisions and some conversions.
fn run_experiment(port: u16) -> Value {
    let mut c = Connection::open(port).unwrap();
    let spec = json!({
        "id": "homepage-offers", "name": "Homepage offers: model against rules",
        "hypothesis": "Choosing by expected value converts more customers than the rules",
        "arms": [
            {"name": "rules", "policy": "rules", "weight": 0.4},
            {"name": "model", "policy": "default", "weight": 0.4},
            {"name": "holdout", "holdout": true, "weight": 0.2}
        ],
        "secondary_metrics": ["revenue_per_customer"], "guardrails": ["unsubscribe_rate"]
    });
    let (status, body) = c
        .request_with("POST", "/v1/experiments", &spec.to_string(), ADMIN)
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, body) = c
        .request_with("POST", "/v1/experiments/homepage-offers/start", "", ADMIN)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    for i in 0..300 {
        let ask = json!({
            "customer_id": format!("P-{i}"),
            "context": {"channel": "web", "timestamp": format!("2025-11-{:02}T10:00:00Z", 1 + i % 20)},
            "customer": {"attributes": {"email_consent": true, "sms_consent": true, "push_consent": true}},
            "history": [{"timestamp": "2025-10-01T09:05:00Z", "event_type": "purchase", "channel": "web", "value": 80.0}]
        });
        let (status, answer) = c
            .request_with("POST", "/v1/decisions", &ask.to_string(), ADMIN)
            .unwrap();
        assert_eq!(status, 200, "{answer}");
        let arm = answer["experiment"]["arm"].as_str().unwrap();
        // The model's arm converts more often, the holdout least.
        let every = match arm {
            "model" => 3,
            "rules" => 5,
            _ => 9,
        };
        if i % every == 0 {
            let outcome = json!({
                "decision_id": answer["decision_id"], "type": "conversion", "value": 40.0,
                "timestamp": format!("2025-11-{:02}T18:00:00Z", 1 + i % 20)
            });
            let (status, body) = c
                .request_with("POST", "/v1/outcomes", &outcome.to_string(), ADMIN)
                .unwrap();
            assert_eq!(status, 201, "{body}");
        }
    }
    let (status, results) = c
        .request_with(
            "GET",
            "/v1/experiments/homepage-offers/results",
            "",
            &[("Authorization", "Bearer t-results")],
        )
        .unwrap();
    assert_eq!(status, 200, "{results}");
    results
}

/// The page's DOM after its scripts ran, and what the browser logged.
fn render(browser: &Path, url: &str, screenshot: Option<&Path>) -> (String, String) {
    let mut command = Command::new(browser);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--window-size=1280,2200",
    ]);
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let output = command.arg(url).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// What the page logged to its console (Chromium prints each message as `CONSOLE`).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("CONSOLE")).collect()
}

#[test]
fn the_results_page_shows_the_numbers_of_the_json_without_console_errors() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("NEXTBEST_REQUIRE_BROWSER").is_none(),
            "NEXTBEST_REQUIRE_BROWSER is set but no chromium is on the PATH"
        );
        eprintln!("skipped: no chromium on the PATH (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = start_server(dir.path(), port);
    wait_ready(port);
    let results = run_experiment(port);

    let url = format!("http://127.0.0.1:{port}/experiments/homepage-offers#token=t-results");
    let (dom, stderr) = render(&browser, &url, None);
    let dom = unescape(&dom);
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the script did not finish:\n{dom}"
    );
    assert!(
        console_lines(&stderr).is_empty(),
        "{:?}",
        console_lines(&stderr)
    );
    let verdict = results["verdict"].as_str().unwrap();
    assert!(dom.contains(verdict), "verdict {verdict:?} not on the page");
    assert!(dom.contains("Homepage offers: model against rules"));
    for arm in results["arms"].as_array().unwrap() {
        let cell = format!("<td class=\"num units\">{}</td>", arm["units"]);
        assert!(dom.contains(&cell), "{cell} not on the page");
    }
    let conversion = &results["metrics"][0];
    assert_eq!(conversion["metric"], "conversion_rate");
    for arm in conversion["arms"].as_array().unwrap() {
        let shown = format!("{:.2}%", arm["mean"].as_f64().unwrap() * 100.0);
        let cell = format!("<td class=\"num mean\">{shown}</td>");
        assert!(dom.contains(&cell), "{cell} not on the page");
    }
    // The chart was drawn (uPlot adds its canvas) and the guardrail has its section.
    assert!(dom.contains("<canvas"), "no chart");
    assert!(dom.contains("data-metric=\"unsubscribe_rate\""));

    // The list page links to it.
    let (list, stderr) = render(
        &browser,
        &format!("http://127.0.0.1:{port}/experiments#token=t-results"),
        None,
    );
    assert!(
        console_lines(&stderr).is_empty(),
        "{:?}",
        console_lines(&stderr)
    );
    assert!(
        list.contains("href=\"/experiments/homepage-offers\""),
        "{list}"
    );

    // Without a token the page asks for one instead of failing.
    let (login, _) = render(
        &browser,
        &format!("http://127.0.0.1:{port}/experiments/homepage-offers"),
        None,
    );
    assert!(login.contains("needs a token"), "{login}");

    // A screenshot for people (kept under target/, not checked).
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("experiment-results.png");
    render(&browser, &url, Some(&shot));
    assert!(shot.exists());
}

/// `1234567` as `1,234,567` (the page's en-US grouping).
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The KPI tiles, funnel and cohorts the page shows are the numbers of the dashboard's JSON.
fn assert_journey_page_matches(dom: &str, dashboard: &Value) {
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the script did not finish:\n{dom}"
    );
    for key in [
        "customers",
        "active_customers",
        "purchasers",
        "revenue",
        "conversion_rate",
        "retention_rate",
    ] {
        let value = &dashboard["kpis"][key];
        let tile = format!("data-kpi=\"{key}\" data-value=\"{value}\"");
        assert!(dom.contains(&tile), "{tile} not on the page");
    }
    let customers = dashboard["kpis"]["active_customers"].as_u64().unwrap();
    let shown = grouped(customers);
    assert!(
        dom.contains(&format!("<div class=\"value\">{shown}</div>")),
        "{shown}"
    );
    for step in dashboard["funnel"]["groups"][0]["steps"]
        .as_array()
        .unwrap()
    {
        let n = step["customers"].as_u64().unwrap();
        let cell = format!(
            "data-step=\"{}\"><td>all</td><td>{}</td><td class=\"num customers\">{}</td>",
            step["step"].as_str().unwrap(),
            step["step"].as_str().unwrap(),
            grouped(n)
        );
        assert!(dom.contains(&cell), "{cell} not on the page");
    }
    for cohort in dashboard["cohorts"]["cohorts"].as_array().unwrap() {
        let row = format!("data-cohort=\"{}\"", cohort["cohort"].as_str().unwrap());
        assert!(dom.contains(&row), "{row} not on the page");
    }
    assert!(
        dom.contains("id=\"sankey-chart\"") && dom.contains("class=\"link\""),
        "no Sankey"
    );
    assert!(dom.contains("id=\"transitions\""), "no transition graph");
    assert!(dom.contains("<canvas"), "no lifecycle chart");
    for point in dashboard["pain_points"]["points"].as_array().unwrap() {
        let row = format!("data-event=\"{}\"", point["event_type"].as_str().unwrap());
        assert!(dom.contains(&row), "{row} not on the page");
    }
    for credit in dashboard["attribution"]["credits"].as_array().unwrap() {
        let id = credit["action_id"].as_str().unwrap();
        let row = format!("data-action=\"{id}\"");
        assert!(dom.contains(&row), "{row} not on the page");
        // The conversion model's incremental conversions beside the touches.
        if let Some(x) = credit["incremental_conversions"].as_f64() {
            let cell = format!("<td class=\"num incremental\">{x:.1}</td>");
            let at = dom.find(&row).unwrap();
            let end = dom[at..].find("</tr>").unwrap() + at;
            assert!(dom[at..end].contains(&cell), "{cell} not in {id}'s row");
        }
    }
    // Mean sentiment of customer text, and the negative aspects over time.
    let sentiment = &dashboard["kpis"]["text_sentiment"]["mean_sentiment"];
    let tile = format!("data-kpi=\"mean_sentiment\" data-value=\"{sentiment}\"");
    assert!(dom.contains(&tile), "{tile} not on the page");
    let aspects = dashboard["pain_points"]["negative_aspects"]["aspects"]
        .as_array()
        .unwrap();
    assert!(!aspects.is_empty(), "no negative aspects in the sample");
    for aspect in aspects {
        let row = format!("data-aspect=\"{}\"", aspect["aspect"].as_str().unwrap());
        assert!(dom.contains(&row), "{row} not on the page");
    }
    // Two segments side by side.
    let compared = dashboard["paths"]["compared"]["edges"].as_array().unwrap();
    assert!(!compared.is_empty());
    for edge in compared.iter().take(20) {
        let row = format!(
            "data-edge=\"{} → {}\"",
            edge["from"].as_str().unwrap(),
            edge["to"].as_str().unwrap()
        );
        assert!(dom.contains(&row), "{row} not on the page");
    }
}

#[test]
fn the_journey_page_and_report_show_the_numbers_of_the_json_without_console_errors() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("NEXTBEST_REQUIRE_BROWSER").is_none(),
            "NEXTBEST_REQUIRE_BROWSER is set but no chromium is on the PATH"
        );
        eprintln!("skipped: no chromium on the PATH (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = start_server_with(
        dir.path(),
        port,
        &[
            "--journeys",
            "datasets/sample/events.parquet",
            "--journey-customers",
            "datasets/sample/customers.parquet",
        ],
    );
    wait_ready(port);
    let query = "from=2025-07-01&to=2025-10-01&steps=visit,add_to_cart,purchase&window=1&where=plan=premium&compare=plan=basic";
    // The dashboard scores every contact with the conversion model: minutes on a busy machine
    // in a debug build.
    let mut c = Connection::open(port).unwrap().patient(300).unwrap();
    let (status, dashboard) = c
        .request_with(
            "GET",
            &format!("/v1/analytics/dashboard?{query}"),
            "",
            &[("Authorization", "Bearer t-results")],
        )
        .unwrap();
    assert_eq!(status, 200, "{dashboard}");
    // The analytics need the results scope, and a bad parameter is a 400 naming it.
    let (status, _) = c
        .request_with("GET", "/v1/analytics/kpis", "", &[])
        .unwrap();
    assert_eq!(status, 401);
    let (status, error) = c
        .request_with(
            "GET",
            "/v1/analytics/funnel?order=sideways",
            "",
            &[("Authorization", "Bearer t-results")],
        )
        .unwrap();
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("order")),
        "{error}"
    );

    let url = format!("http://127.0.0.1:{port}/journeys?{query}#token=t-results");
    let (dom, stderr) = render(&browser, &url, None);
    assert!(
        console_lines(&stderr).is_empty(),
        "{:?}",
        console_lines(&stderr)
    );
    assert_journey_page_matches(&unescape(&dom), &dashboard);

    // The report: the same page in one file, opened without a server.
    let report = dir.path().join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args([
            "journeys",
            "report",
            "datasets/sample/events.parquet",
            "--customers",
            "datasets/sample/customers.parquet",
        ])
        .args([
            "--from",
            "2025-07-01",
            "--to",
            "2025-10-01",
            "--steps",
            "visit,add_to_cart,purchase",
            "--window",
            "1",
            "--where",
            "plan=premium",
            "--compare",
            "plan=basic",
            "--models",
            "models",
            "--out",
        ])
        .arg(&report)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        !html.contains("src=\"/assets") && !html.contains("href=\"/assets"),
        "the report fetches assets"
    );
    let file_url = format!("file://{}", report.display());
    let (dom, stderr) = render(&browser, &file_url, None);
    assert!(
        console_lines(&stderr).is_empty(),
        "{:?}",
        console_lines(&stderr)
    );
    assert_journey_page_matches(&unescape(&dom), &dashboard);

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("journeys.png");
    render(&browser, &url, Some(&shot));
    assert!(shot.exists());
}
