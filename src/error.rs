//! The one catalogue of error codes. Every error type of the library maps to an [`ErrorCode`]
//! (`code()`), and the code alone decides the HTTP status and the name clients see, so a
//! client-facing change is a change to this file — and `tests/error_codes.rs` lists every code
//! so that the change is deliberate. The service's manual (`docs/service.md`) and its OpenAPI
//! document take their lists from here.

use serde::Serialize;

/// A stable, machine-readable kind of error.
///
/// The name ([`ErrorCode::name`], also the serde form) is part of the API: clients switch on it
/// and metrics are labelled with it. Messages that go with a code are for people and may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // --- a request's body
    /// The body is not well-formed JSON.
    InvalidJson,
    /// The body could not be read (the connection failed mid-body).
    InvalidBody,
    /// The body exceeds `server.max_body_bytes`.
    BodyTooLarge,
    // --- a field of a request or an input
    /// A field has the wrong type or a value outside its range; `field` names it.
    InvalidField,
    /// A required field is absent.
    MissingField,
    /// A list is longer than its limit (candidates, history, batch, events, actions).
    TooMany,
    /// A string is longer than its limit.
    TooLong,
    /// A candidate names an action the catalog lacks.
    UnknownAction,
    /// The request names a policy that is not loaded.
    UnknownPolicy,
    /// The same candidate action appears twice.
    DuplicateCandidate,
    // --- routes and callers
    /// No such route.
    NotFound,
    /// A token is configured and the request lacks it.
    Unauthorized,
    // --- the store
    /// An outcome names a decision that was never logged.
    UnknownDecision,
    /// An outcome is invalid.
    InvalidOutcome,
    /// A decision record is invalid.
    InvalidDecision,
    /// A journey event is invalid.
    InvalidEvent,
    /// The decision log's queue is full: try again shortly.
    StoreOverloaded,
    /// The database failed (disk, lock, writer stopped).
    StoreIo,
    /// The database file is not one this build can use.
    StoreSchema,
    // --- models
    /// A model's files could not be read.
    ModelIo,
    /// A model's files are not a valid artifact.
    ModelInvalid,
    /// A model's features, actions or sentiment model disagree with this build or the catalog.
    ModelFeatureMismatch,
    /// A loaded model failed to score.
    ModelScoringFailed,
    /// ONNX Runtime's shared library could not be found or loaded.
    OnnxRuntimeUnavailable,
    /// Fitting a model failed.
    TrainingFailed,
    // --- configuration files
    /// A configuration file (training, serving) is invalid.
    InvalidConfig,
    /// A policy file could not be parsed.
    InvalidPolicyFile,
    /// A policy is invalid.
    InvalidPolicy,
    /// A policy file's name is not a valid policy name.
    InvalidPolicyName,
    /// Two policy files define the same policy.
    DuplicatePolicy,
    /// A policy folder holds no policy.
    NoPolicies,
    // --- journey data files
    /// A file could not be read or written.
    IoError,
    /// A file's format could not be told from its name.
    UnknownFormat,
    /// A required column is absent.
    MissingColumn,
    /// A column has the wrong type.
    ColumnType,
    /// A cell holds an invalid value.
    InvalidValue,
    /// A file holds no data rows.
    EmptyFile,
    /// A customer appears twice in a customer table.
    DuplicateCustomer,
    /// A file is not valid in its format.
    MalformedFile,
    /// A file is invalid as a whole.
    InvalidFile,
    // --- everything else
    /// A failure inside the service.
    Internal,
}

impl ErrorCode {
    /// Every code, in catalogue order.
    pub const ALL: [ErrorCode; 41] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::BodyTooLarge,
        ErrorCode::InvalidField,
        ErrorCode::MissingField,
        ErrorCode::TooMany,
        ErrorCode::TooLong,
        ErrorCode::UnknownAction,
        ErrorCode::UnknownPolicy,
        ErrorCode::DuplicateCandidate,
        ErrorCode::NotFound,
        ErrorCode::Unauthorized,
        ErrorCode::UnknownDecision,
        ErrorCode::InvalidOutcome,
        ErrorCode::InvalidDecision,
        ErrorCode::InvalidEvent,
        ErrorCode::StoreOverloaded,
        ErrorCode::StoreIo,
        ErrorCode::StoreSchema,
        ErrorCode::ModelIo,
        ErrorCode::ModelInvalid,
        ErrorCode::ModelFeatureMismatch,
        ErrorCode::ModelScoringFailed,
        ErrorCode::OnnxRuntimeUnavailable,
        ErrorCode::TrainingFailed,
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidPolicyFile,
        ErrorCode::InvalidPolicy,
        ErrorCode::InvalidPolicyName,
        ErrorCode::DuplicatePolicy,
        ErrorCode::NoPolicies,
        ErrorCode::IoError,
        ErrorCode::UnknownFormat,
        ErrorCode::MissingColumn,
        ErrorCode::ColumnType,
        ErrorCode::InvalidValue,
        ErrorCode::EmptyFile,
        ErrorCode::DuplicateCustomer,
        ErrorCode::MalformedFile,
        ErrorCode::InvalidFile,
        ErrorCode::Internal,
    ];

    /// The stable name clients see (`invalid_field`).
    pub const fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidJson => "invalid_json",
            InvalidBody => "invalid_body",
            BodyTooLarge => "body_too_large",
            InvalidField => "invalid_field",
            MissingField => "missing_field",
            TooMany => "too_many",
            TooLong => "too_long",
            UnknownAction => "unknown_action",
            UnknownPolicy => "unknown_policy",
            DuplicateCandidate => "duplicate_candidate",
            NotFound => "not_found",
            Unauthorized => "unauthorized",
            UnknownDecision => "unknown_decision",
            InvalidOutcome => "invalid_outcome",
            InvalidDecision => "invalid_decision",
            InvalidEvent => "invalid_event",
            StoreOverloaded => "store_overloaded",
            StoreIo => "store_io",
            StoreSchema => "store_schema",
            ModelIo => "model_io",
            ModelInvalid => "model_invalid",
            ModelFeatureMismatch => "model_feature_mismatch",
            ModelScoringFailed => "model_scoring_failed",
            OnnxRuntimeUnavailable => "onnx_runtime_unavailable",
            TrainingFailed => "training_failed",
            InvalidConfig => "invalid_config",
            InvalidPolicyFile => "invalid_policy_file",
            InvalidPolicy => "invalid_policy",
            InvalidPolicyName => "invalid_policy_name",
            DuplicatePolicy => "duplicate_policy",
            NoPolicies => "no_policies",
            IoError => "io_error",
            UnknownFormat => "unknown_format",
            MissingColumn => "missing_column",
            ColumnType => "column_type",
            InvalidValue => "invalid_value",
            EmptyFile => "empty_file",
            DuplicateCustomer => "duplicate_customer",
            MalformedFile => "malformed_file",
            InvalidFile => "invalid_file",
            Internal => "internal",
        }
    }

    /// The HTTP status an answer with this code carries: 4xx when the caller can fix it, 5xx
    /// when the service failed. Codes that only the command line meets (data files,
    /// configuration) still have one, so that nothing is left undecided if they ever reach HTTP.
    pub const fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidJson | InvalidBody | InvalidField | MissingField | TooMany | TooLong
            | UnknownAction | UnknownPolicy | DuplicateCandidate | InvalidOutcome
            | InvalidDecision | InvalidEvent => 400,
            Unauthorized => 401,
            NotFound | UnknownDecision => 404,
            BodyTooLarge => 413,
            // A model named by a reload that cannot be used: the request named the files.
            ModelIo | ModelInvalid | ModelFeatureMismatch => 422,
            InvalidConfig | InvalidPolicyFile | InvalidPolicy | InvalidPolicyName
            | DuplicatePolicy | NoPolicies | UnknownFormat | MissingColumn | ColumnType
            | InvalidValue | EmptyFile | DuplicateCustomer | MalformedFile | InvalidFile => 422,
            StoreOverloaded => 503,
            StoreIo
            | StoreSchema
            | ModelScoringFailed
            | OnnxRuntimeUnavailable
            | TrainingFailed
            | IoError
            | Internal => 500,
        }
    }

    /// Whether the caller caused it (a 4xx status).
    pub const fn is_client_error(self) -> bool {
        let status = self.http_status();
        status >= 400 && status < 500
    }

    /// What the code means, for people (the manual's table).
    pub fn meaning(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidJson => "the body is not well-formed JSON",
            InvalidBody => "the body could not be read",
            BodyTooLarge => "the body exceeds server.max_body_bytes",
            InvalidField => "a field has the wrong type or an invalid value; `field` names it",
            MissingField => "a required field is absent; `field` names it",
            TooMany => "a list is longer than its limit (candidates, history, batch, events, max_actions)",
            TooLong => "a string is longer than its limit (ids: 256 characters)",
            UnknownAction => "a candidate names an action the catalog lacks",
            UnknownPolicy => "no policy of that name is loaded",
            DuplicateCandidate => "the same candidate action appears twice",
            NotFound => "no such route",
            Unauthorized => "a token is configured and the request lacks it",
            UnknownDecision => "the outcome names a decision that was never logged",
            InvalidOutcome => "the outcome is invalid (e.g. an action_id not in the decision)",
            InvalidDecision => "a decision record is invalid",
            InvalidEvent => "a journey event is invalid",
            StoreOverloaded => "the decision log's queue is full; retry shortly",
            StoreIo => "the database failed (disk, lock, writer stopped)",
            StoreSchema => "the database file is not one this build can use",
            ModelIo => "a model's files could not be read",
            ModelInvalid => "a model's files are not a valid artifact",
            ModelFeatureMismatch => {
                "a model's features, actions or sentiment model disagree with this build or the catalog"
            }
            ModelScoringFailed => "a loaded model failed to score",
            OnnxRuntimeUnavailable => "ONNX Runtime's library could not be loaded",
            TrainingFailed => "fitting a model failed",
            InvalidConfig => "a configuration file is invalid",
            InvalidPolicyFile => "a policy file could not be parsed",
            InvalidPolicy => "a policy is invalid",
            InvalidPolicyName => "a policy file's name is not a valid policy name",
            DuplicatePolicy => "two policy files define the same policy",
            NoPolicies => "the policy folder holds no policy",
            IoError => "a file could not be read or written",
            UnknownFormat => "a file's format could not be told from its name",
            MissingColumn => "a required column is absent",
            ColumnType => "a column has the wrong type",
            InvalidValue => "a cell holds an invalid value (file, row and column are named)",
            EmptyFile => "a file holds no data rows",
            DuplicateCustomer => "a customer appears twice in a customer table",
            MalformedFile => "a file is not valid in its format",
            InvalidFile => "a file is invalid as a whole",
            Internal => "a failure inside the service",
        }
    }

    /// The catalogue as a Markdown table (`| code | HTTP status | meaning |`), as the manual
    /// shows it.
    pub fn markdown_table() -> String {
        let mut table = String::from("| code | HTTP status | meaning |\n| --- | --- | --- |\n");
        for code in ErrorCode::ALL {
            table.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.name(),
                code.http_status(),
                code.meaning()
            ));
        }
        table
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Codes compare with their names, so a test can say `assert_eq!(e.code(), "store_io")`.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}
