//! The one catalogue of error codes. Every error type of the library maps to an [`ErrorCode`]
//! (`code()`), and the code alone decides the HTTP status and the name clients see, so a
//! client-facing change is a change to this file — and `tests/error_codes.rs` lists every code
//! so that the change is deliberate. The service's manual (`docs/service.md`) and its OpenAPI
//! document take their lists from here.
//!
//! The codes are written once, in the `catalogue!` invocation below: the enum, its list
//! ([`ErrorCode::ALL`]), names, statuses and meanings all come from that one table, so a code
//! cannot exist without being listed.

use serde::Serialize;

/// Declares [`ErrorCode`] from one table of `Variant = (name, HTTP status, meaning)`.
macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = ($name:literal, $status:literal, $meaning:literal), )*) => {
        /// A stable, machine-readable kind of error.
        ///
        /// The name ([`ErrorCode::name`], also the serde form) is part of the API: clients
        /// switch on it and metrics are labelled with it. Messages that go with a code are for
        /// people and may change.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable name clients see (`invalid_field`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The HTTP status an answer with this code carries: 4xx when the caller can fix
            /// it, 5xx when the service failed. A model named by a reload that cannot be used
            /// is 422 (the request named the files). Codes only the command line meets today
            /// (data files, configuration) have one too, so nothing is left undecided if they
            /// ever reach HTTP.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// What the code means, for people (the manual's table).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)*
                }
            }
        }
    };
}

catalogue! {
    // --- a request's body
    /// The body is not well-formed JSON.
    InvalidJson = ("invalid_json", 400, "the body is not well-formed JSON"),
    /// The body could not be read (the connection failed mid-body).
    InvalidBody = ("invalid_body", 400, "the body could not be read"),
    /// The body exceeds `server.max_body_bytes`.
    BodyTooLarge = ("body_too_large", 413, "the body exceeds server.max_body_bytes"),
    /// A body sent without `Content-Type: application/json`.
    UnsupportedMediaType = ("unsupported_media_type", 415, "a body needs Content-Type: application/json (so a web page cannot post one without a preflight)"),
    // --- a field of a request or an input
    /// A field has the wrong type or a value outside its range; `field` names it.
    InvalidField = ("invalid_field", 400, "a field has the wrong type or an invalid value; `field` names it"),
    /// A required field is absent.
    MissingField = ("missing_field", 400, "a required field is absent; `field` names it"),
    /// A list is longer than its limit (candidates, history, batch, events, actions).
    TooMany = ("too_many", 400, "a list is longer than its limit (candidates, history, batch, events, max_actions)"),
    /// A string is longer than its limit.
    TooLong = ("too_long", 400, "a string is longer than its limit (ids: 256 characters)"),
    /// A candidate names an action the catalog lacks.
    UnknownAction = ("unknown_action", 400, "a candidate names an action the catalog lacks"),
    /// The request names a policy that is not loaded.
    UnknownPolicy = ("unknown_policy", 400, "no policy of that name is loaded"),
    /// The same candidate action appears twice.
    DuplicateCandidate = ("duplicate_candidate", 400, "the same candidate action appears twice"),
    // --- routes and callers
    /// No such route.
    NotFound = ("not_found", 404, "no such route"),
    /// A known path asked with a method it does not take (`Allow` lists those it does).
    MethodNotAllowed = ("method_not_allowed", 405, "the path does not take this method; `Allow` lists those it does"),
    /// A token is configured and the request lacks it.
    Unauthorized = ("unauthorized", 401, "a token is configured and the request lacks it"),
    /// The request's token lacks the scope the operation needs.
    Forbidden = ("forbidden", 403, "the request's token lacks the scope the operation needs"),
    // --- the store
    /// An outcome names a decision that was never logged.
    UnknownDecision = ("unknown_decision", 404, "the outcome names a decision that was never logged"),
    /// An outcome is invalid.
    InvalidOutcome = ("invalid_outcome", 400, "the outcome is invalid (e.g. an action_id not in the decision)"),
    /// A decision record is invalid.
    InvalidDecision = ("invalid_decision", 400, "a decision record is invalid"),
    /// A journey event is invalid.
    InvalidEvent = ("invalid_event", 400, "a journey event is invalid"),
    /// The decision log's queue is full: try again shortly.
    StoreOverloaded = ("store_overloaded", 503, "the decision log's queue is full; retry shortly"),
    /// The database failed (disk, lock, writer stopped).
    StoreIo = ("store_io", 500, "the database failed (disk, lock, writer stopped)"),
    /// The database file is not one this build can use.
    StoreSchema = ("store_schema", 500, "the database file is not one this build can use"),
    // --- experiments
    /// No experiment has that id.
    UnknownExperiment = ("unknown_experiment", 404, "no experiment has that id"),
    /// The experiment's state does not allow the change.
    ExperimentConflict = ("experiment_conflict", 409, "the experiment's state does not allow this: an id already taken, changing a running experiment's arms or weights, lowering its traffic, starting a stopped one, or traffic its layer has no room for"),
    // --- models
    /// A model's files could not be read.
    ModelIo = ("model_io", 422, "a model's files could not be read"),
    /// A model's files are not a valid artifact.
    ModelInvalid = ("model_invalid", 422, "a model's files are not a valid artifact"),
    /// A model's features, actions or sentiment model disagree with this build or the catalog.
    ModelFeatureMismatch = ("model_feature_mismatch", 422, "a model's features, actions or sentiment model disagree with this build or the catalog"),
    /// A reload's models, catalog and policies do not fit together; the old set keeps serving.
    InconsistentSet = ("inconsistent_set", 422, "a reload's models, catalog and policies do not fit together (a policy or a model names an action the catalog lacks or describes otherwise, the default policy or a running experiment's policy is missing); `field` names the first problem, the message every one, and the old set keeps serving"),
    /// A loaded model failed to score.
    ModelScoringFailed = ("model_scoring_failed", 500, "a loaded model failed to score"),
    /// ONNX Runtime's shared library could not be found or loaded.
    OnnxRuntimeUnavailable = ("onnx_runtime_unavailable", 500, "ONNX Runtime's library could not be loaded"),
    /// Fitting a model failed.
    TrainingFailed = ("training_failed", 500, "fitting a model failed"),
    // --- configuration files
    /// A configuration file (training, serving) is invalid.
    InvalidConfig = ("invalid_config", 422, "a configuration file is invalid"),
    /// A policy file could not be parsed.
    InvalidPolicyFile = ("invalid_policy_file", 422, "a policy file could not be parsed"),
    /// A policy is invalid.
    InvalidPolicy = ("invalid_policy", 422, "a policy is invalid"),
    /// A policy file's name is not a valid policy name.
    InvalidPolicyName = ("invalid_policy_name", 422, "a policy file's name is not a valid policy name"),
    /// Two policy files define the same policy.
    DuplicatePolicy = ("duplicate_policy", 422, "two policy files define the same policy"),
    /// A policy folder holds no policy.
    NoPolicies = ("no_policies", 422, "the policy folder holds no policy"),
    // --- journey data files
    /// A file could not be read or written.
    IoError = ("io_error", 500, "a file could not be read or written"),
    /// A file's format could not be told from its name.
    UnknownFormat = ("unknown_format", 422, "a file's format could not be told from its name"),
    /// A required column is absent.
    MissingColumn = ("missing_column", 422, "a required column is absent"),
    /// A column has the wrong type.
    ColumnType = ("column_type", 422, "a column has the wrong type"),
    /// A cell holds an invalid value.
    InvalidValue = ("invalid_value", 422, "a cell holds an invalid value (file, row and column are named)"),
    /// A file holds no data rows.
    EmptyFile = ("empty_file", 422, "a file holds no data rows"),
    /// A customer appears twice in a customer table.
    DuplicateCustomer = ("duplicate_customer", 422, "a customer appears twice in a customer table"),
    /// A file is not valid in its format.
    MalformedFile = ("malformed_file", 422, "a file is not valid in its format"),
    /// A file is invalid as a whole.
    InvalidFile = ("invalid_file", 422, "a file is invalid as a whole"),
    // --- everything else
    /// A failure inside the service.
    Internal = ("internal", 500, "a failure inside the service"),
}

impl ErrorCode {
    /// Whether the caller caused it (a 4xx status).
    pub const fn is_client_error(self) -> bool {
        let status = self.http_status();
        status >= 400 && status < 500
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
