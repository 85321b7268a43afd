//! The error catalogue is part of the API: this test lists every code with its HTTP status, so
//! that adding, renaming or re-statusing one is a deliberate change here, and checks that the
//! manual's table and the OpenAPI document say the same as the code.
//!
//! After a deliberate change, `NEXTBEST_BLESS=1 cargo test --test error_codes` rewrites the
//! manual's table.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nextbest::error::ErrorCode;
use utoipa::OpenApi;

const EXPECTED: &[(&str, u16)] = &[
    ("invalid_json", 400),
    ("invalid_body", 400),
    ("body_too_large", 413),
    ("unsupported_media_type", 415),
    ("invalid_field", 400),
    ("missing_field", 400),
    ("too_many", 400),
    ("too_long", 400),
    ("unknown_action", 400),
    ("unknown_policy", 400),
    ("duplicate_candidate", 400),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("unauthorized", 401),
    ("forbidden", 403),
    ("unknown_decision", 404),
    ("invalid_outcome", 400),
    ("invalid_decision", 400),
    ("invalid_event", 400),
    ("store_overloaded", 503),
    ("store_io", 500),
    ("store_schema", 500),
    ("unknown_experiment", 404),
    ("experiment_conflict", 409),
    ("model_io", 422),
    ("model_invalid", 422),
    ("model_feature_mismatch", 422),
    ("inconsistent_set", 422),
    ("model_scoring_failed", 500),
    ("onnx_runtime_unavailable", 500),
    ("training_failed", 500),
    ("invalid_config", 422),
    ("invalid_policy_file", 422),
    ("invalid_policy", 422),
    ("invalid_policy_name", 422),
    ("duplicate_policy", 422),
    ("no_policies", 422),
    ("io_error", 500),
    ("unknown_format", 422),
    ("missing_column", 422),
    ("column_type", 422),
    ("invalid_value", 422),
    ("empty_file", 422),
    ("duplicate_customer", 422),
    ("malformed_file", 422),
    ("invalid_file", 422),
    ("internal", 500),
];

#[test]
fn every_code_is_listed_with_its_status() {
    let actual: Vec<(&str, u16)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.name(), c.http_status()))
        .collect();
    assert_eq!(actual, EXPECTED);
}

#[test]
fn names_are_unique_snake_case_and_match_the_wire_form() {
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        let name = code.name();
        assert!(seen.insert(name), "{name} twice");
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name}"
        );
        assert_eq!(serde_json::to_value(code).unwrap(), name);
        assert!(!code.meaning().is_empty());
        assert_eq!(code.is_client_error(), code.http_status() < 500);
    }
}

#[test]
fn the_openapi_document_lists_the_same_codes() {
    let doc = serde_json::to_value(nextbest::server::routes::openapi::ApiDoc::openapi()).unwrap();
    let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum schema")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(listed, names);
    assert_eq!(
        doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
}

#[test]
fn the_manual_lists_the_same_codes() {
    const START: &str = "<!-- error-codes:start -->\n";
    const END: &str = "<!-- error-codes:end -->";
    let path = "docs/service.md";
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find(START).expect("start marker") + START.len();
    let end = text[start..].find(END).expect("end marker") + start;
    let table = ErrorCode::markdown_table();
    if std::env::var_os("NEXTBEST_BLESS").is_some() {
        let updated = format!("{}{table}{}", &text[..start], &text[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    assert_eq!(
        &text[start..end],
        table,
        "docs/service.md's error table is stale: run NEXTBEST_BLESS=1 cargo test --test error_codes"
    );
}

#[test]
fn every_operation_declares_the_statuses_it_can_answer() {
    let doc = serde_json::to_value(nextbest::server::routes::openapi::ApiDoc::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let mut needed = vec!["405"];
            if path.starts_with("/v1/") {
                needed.extend(["401", "403", "500"]);
                assert!(operation["security"].is_array(), "{method} {path}");
            }
            // Every operation that reads a body (all writes but starting and stopping an
            // experiment, which take none).
            if operation["requestBody"].is_object() || path == "/v1/models/reload" {
                needed.extend(["400", "413", "415"]);
            }
            for status in needed {
                assert!(
                    responses[status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
    let reload = &doc["paths"]["/v1/models/reload"]["post"]["requestBody"];
    assert!(
        reload["content"]["application/json"]["schema"]["properties"]["churn"].is_object(),
        "{reload}"
    );
}
