"""schemathesis hooks for scripts/fuzz.sh: the service's rules that no JSON schema can state.

Each rule below relates two values (a field and the server's clock, a field and another field,
a name and what the deployment has loaded). A schema-valid request that breaks one is refused
with 400 and its own error code, field and message; only exactly that refusal is forgiven here,
so any other rejection of schema-valid data still fails the run.
"""

import ast
import inspect
import json
import re
import sys

import schemathesis
from hypothesis.internal import lambda_sources


def _parse_lambdas_early():
    """Works around a CPython 3.11.7 bug ("SystemError: AST constructor recursion depth
    mismatch", fixed in 3.11.8): Hypothesis parses a module's source to describe one of its
    lambdas, and on a deep stack (a deeply nested schema) that parse fails. Parsed here, on a
    shallow stack, into a cache every worker thread shares (Hypothesis' own is per thread), the
    sources are there when Hypothesis needs them."""
    if sys.version_info[:3] != (3, 11, 7):
        return
    import schemathesis.generation.jsonschema.strategy  # noqa: F401 (the modules whose
    import schemathesis.specs.openapi.coverage._schema  # noqa: F401  lambdas get described)

    shared = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(("schemathesis.", "hypothesis.")):
            continue
        try:
            lines = tuple(inspect.findsource(module)[0])
        except (OSError, TypeError):
            continue
        if any("lambda" in line for line in lines):
            shared[lines] = lambda_sources.extract_all_lambdas(ast.parse("".join(lines)))
    lambda_sources.AST_LAMBDAS_CACHE = shared


_parse_lambdas_early()


def _error(response):
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return None
    return body if isinstance(body, dict) else None


# (code, field pattern, message fragment) of the refusals that no schema can foresee.
RELATIONAL_RULES = [
    # Lookups, like a 404 for an unknown id: the catalog, the policies, the conversion model's
    # actions and the models directory are the deployment's, not the document's.
    ("unknown_action", r"(requests\[\d+\]\.)?candidates\[\d+\]", "is not in the catalog"),
    ("unknown_policy", r"(requests\[\d+\]\.)?policy", "no policy named"),
    ("invalid_field", r"(requests\[\d+\]\.)?candidates\[\d+\]\.model_as", "the conversion model knows no action"),
    ("invalid_field", r"(models\.)?(churn|conversion|retention|sentiment)", "must name a model folder of the models directory"),
    # The same action twice among the candidates (an inline one may repeat a catalog id).
    ("duplicate_candidate", r"(requests\[\d+\]\.)?candidates\[\d+\]", "is listed twice"),
    # An inline event names a customer other than the decision's.
    ("invalid_field", r"(requests\[\d+\]\.)?history\[\d+\]\.customer_id", "differs from the decision's customer"),
    # Stored events dated beyond the server's clock (limits.max_future_event_secs).
    ("invalid_field", r"events\[\d+\]\.timestamp", "past the server's clock"),
    # An outcome dated outside its decision's window (5 minutes before to 366 days after), or
    # naming an action the decision did not choose.
    ("invalid_outcome", r"timestamp", "not within the decision's window"),
    ("invalid_outcome", r"action_id", "is not one of decision"),
    ("invalid_outcome", r"action_id", "chose no action"),
    # An experiment's arms: the policies are the deployment's; names must differ; a holdout has
    # no policy and any other arm has one; the control names one of the arms; a replaced
    # draft's body names the experiment of the path.
    ("invalid_field", r"arms\[\d+\]\.policy", "is loaded"),
    ("invalid_field", r"arms\[\d+\]\.policy", "a holdout arm has no policy"),
    ("invalid_field", r"arms\[\d+\]\.policy", "make it a holdout"),
    ("invalid_field", r"arms\[\d+\]\.name", "two arms have this name"),
    ("invalid_field", r"control", "no arm named"),
    ("invalid_field", r"id", "is not the path's"),
]

# Refusals that depend on what was stored before (like a 404 for an unknown id): an experiment
# that does not exist, or whose state does not allow the change (an id taken, started twice,
# traffic lowered while running, a full layer).
STATE_RULES = [(404, "unknown_experiment"), (409, "experiment_conflict")]


def _breaks_a_relational_rule(error):
    code, field, message = error.get("code"), error.get("field") or "", error.get("message") or ""
    return any(
        code == rule_code and re.fullmatch(rule_field, field) and fragment in message
        for rule_code, rule_field, fragment in RELATIONAL_RULES
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except the refusals of schema-valid data listed above, and a batch
    whose invalid item failed alone (200, with the item's error in `results`, by design)."""
    error = _error(response)
    if failure.code == "ST202" and response.status_code == 400 and error is not None:
        return not _breaks_a_relational_rule(error)
    if failure.code == "ST202" and error is not None and (response.status_code, error.get("code")) in STATE_RULES:
        return False
    if failure.code == "ST201" and case.operation.path == "/v1/decisions/batch":
        return not (response.status_code == 200 and error is not None and error.get("errors", 0) >= 1)
    return True
