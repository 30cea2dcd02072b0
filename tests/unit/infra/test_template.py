"""Facts of template.yaml that code relies on, checked where they could drift apart."""

from infra.template import load_template


def test_worker_knows_the_jobs_queues_receive_limit():
    # The worker tells the user a job failed on the delivery that sends it to the dead-letter queue.
    resources = load_template()["Resources"]
    redrive = resources["JobsQueue"]["Properties"]["RedrivePolicy"]
    env = resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert int(env["JOBS_MAX_RECEIVE_COUNT"]) == int(redrive["maxReceiveCount"])


def test_every_function_is_built_by_a_makefile_target_and_logs_json():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[3] / "Makefile").read_text()
    for logical_id, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        assert f"build-{logical_id}" in makefile
        assert resource["Properties"]["LoggingConfig"]["LogFormat"] == "JSON"


def test_queue_visibility_outlasts_the_worker():
    resources = load_template()["Resources"]
    timeout = int(resources["WorkerFunction"]["Properties"]["Timeout"])
    # Lambda requires at least the function timeout. AWS's advice of six times would bring a crashed job back
    # after the interaction token died (tests/unit/test_retry_schedule.py); a throttled invocation's duplicate
    # receive is absorbed by the worker's idempotency instead.
    assert int(resources["JobsQueue"]["Properties"]["VisibilityTimeout"]) >= timeout


def _data_table_grants(logical_id: str) -> tuple[set[str], bool]:
    """DynamoDB actions a function may use on the data table, and whether on its indexes too."""
    statements = load_template()["Resources"][logical_id]["Properties"]["Policies"][0]["Statement"]
    actions: set[str] = set()
    indexes = False
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any("DataTable" in str(r) for r in resources):
            actions.update(statement["Action"])
            indexes = indexes or any("/index/" in str(r) for r in resources)
    return actions, indexes


def test_functions_may_make_the_data_table_calls_their_code_makes():
    # Interactions: /review approvals and a trainer's correction add an example (BatchGetItem finds duplicates,
    # TransactWriteItems needs Put/Update), /dataset_remove deletes one, the review queue queries gsi1.
    actions, indexes = _data_table_grants("InteractionsFunction")
    assert {"dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= actions
    assert indexes
    # Worker: /dataset_delete and /dataset_rename remove examples with BatchWriteItem.
    actions, indexes = _data_table_grants("WorkerFunction")
    assert {"dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DeleteItem"} <= actions


def _allowed(function: str) -> dict[str, list]:
    """Action → the Resource values of the statements that allow it, for one function's inline policies."""
    found: dict[str, list] = {}
    for policy in load_template()["Resources"][function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            for action in statement.get("Action", []):
                found.setdefault(action, []).append(statement.get("Resource"))
    return found


def test_the_watcher_may_list_the_bucket_to_find_bedrocks_metrics():
    # Bedrock writes the metrics CSVs under a folder named after the job: the watcher finds them by listing.
    watcher = _allowed("WatcherFunction")
    assert watcher["s3:ListBucket"] == [{"Fn::GetAtt": ["Bucket", "Arn"]}]
    for action in ("bedrock:CreateCustomModelDeployment", "bedrock:GetCustomModelDeployment",
                   "bedrock:DeleteCustomModelDeployment", "bedrock:InvokeModel"):
        assert action in watcher, action  # the held-out check deploys and asks both models


def test_the_worker_may_deploy_and_delete_custom_models():
    worker = _allowed("WorkerFunction")
    for action in ("bedrock:CreateCustomModelDeployment", "bedrock:GetCustomModelDeployment",
                   "bedrock:DeleteCustomModelDeployment", "bedrock:InvokeModel"):
        assert action in worker, action


def test_bedrock_is_the_default_provider_and_the_model_follows_it():
    parameters = load_template()["Parameters"]
    assert parameters["FineTuneProvider"]["Default"] == "bedrock"
    assert parameters["BaseModel"]["Default"] == ""  # the provider's default (shared.config.DEFAULT_BASE_MODELS)
