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
    # after the interaction token died (tests/unit/infra/test_retry_schedule.py); a throttled invocation's duplicate
    # receive is absorbed by the worker's idempotency instead.
    assert int(resources["JobsQueue"]["Properties"]["VisibilityTimeout"]) >= timeout


def _defaults(template, **given):
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(DiscordPublicKey="0" * 64, DiscordApplicationId="100000000000000001", **given)
    return values


def test_every_function_runs_python313_on_the_chosen_architecture():
    template = load_template()
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == [{"Ref": "Architecture"}]
    architecture = template["Parameters"]["Architecture"]
    assert architecture["Default"] == "arm64"
    assert architecture["AllowedValues"] == ["arm64", "x86_64"]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # No function overrides the global runtime or architecture.
            assert "Runtime" not in resource["Properties"]
            assert "Architectures" not in resource["Properties"]


def test_the_makefile_builds_wheels_for_the_runtime_and_the_architecture():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[3] / "Makefile").read_text()
    assert "PYTHON_VERSION := 3.13" in makefile
    assert "--python-version $(PYTHON_VERSION)" in makefile
    assert "manylinux_2_28_$(LAMBDA_MACHINE)" in makefile


def test_snapstart_is_a_parameter_of_the_interactions_function():
    template = load_template()
    props = template["Resources"]["InteractionsFunction"]["Properties"]
    assert props["AutoPublishAlias"] == "live"
    assert props["SnapStart"] == {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}
    assert template["Parameters"]["SnapStart"]["Default"] == "false"


def _voice_resources(template, conditions):
    return {lid for lid, r in template["Resources"].items()
            if lid.startswith("Voice") and conditions.get(r.get("Condition", ""), "Condition" not in r)}


def test_without_an_image_uri_no_voice_service_exists_and_functions_get_no_voice_queue():
    from infra.template import Provisioned, evaluate_conditions, function_environment

    template = load_template()
    parameters = _defaults(template)
    conditions = evaluate_conditions(template, parameters)
    assert not conditions["HasVoiceWorker"]
    created = _voice_resources(template, conditions)
    # What stays: the queues and the policy (free when idle) and the repository `make voice-image` pushes to.
    assert created == {"VoiceQueue", "VoiceDeadLetterQueue", "VoiceWorkerPolicy", "VoiceRepository"}
    local = Provisioned(refs={"VoiceQueue": "https://queue/voice.fifo", "JobsQueue": "q", "DataTable": "t",
                              "Bucket": "b", "IdempotencyTable": "i"},
                        parameters=parameters, conditions=conditions)
    assert function_environment(local, "InteractionsFunction", template)["VOICE_QUEUE_URL"] == ""
    assert function_environment(local, "WorkerFunction", template)["VOICE_QUEUE_URL"] == ""
    for output in template["Outputs"].values():
        if output.get("Condition"):
            assert not conditions[output["Condition"]]


def test_an_image_uri_runs_a_fargate_task_with_the_voice_policy():
    from infra.template import evaluate_conditions

    template = load_template()
    conditions = evaluate_conditions(template, _defaults(template, VoiceImageUri="1.dkr.ecr/x:1",
                                                         BotTokenSecretArn="arn:secret"))
    assert conditions["HasVoiceWorker"] and conditions["HasOwnVoiceNetwork"]
    created = _voice_resources(template, conditions)
    assert {"VoiceCluster", "VoiceService", "VoiceTaskDefinition", "VoiceTaskRole", "VoiceLogGroup", "VoiceVpc",
            "VoiceSubnet", "VoiceSecurityGroup"} <= created
    resources = template["Resources"]
    service = resources["VoiceService"]["Properties"]
    assert service["LaunchType"] == "FARGATE" and service["DesiredCount"] == 1
    # Never two gateway sessions for one shard, even during a deployment.
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]["Enable"] is True
    task = resources["VoiceTaskDefinition"]["Properties"]
    assert task["RuntimePlatform"]["CpuArchitecture"] == {"Fn::If": ["IsArm64", "ARM64", "X86_64"]}
    assert resources["VoiceTaskRole"]["Properties"]["ManagedPolicyArns"] == [{"Ref": "VoiceWorkerPolicy"}]
    [container] = task["ContainerDefinitions"]
    env = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert env["VOICE_SHARD_ID"] == "0" and env["VOICE_SHARD_COUNT"] == {"Ref": "VoiceShardCount"}
    assert env["VOICE_QUEUE_URL"] == {"Ref": "VoiceQueue"}
    assert "/healthz" in " ".join(container["HealthCheck"]["Command"])
    assert env["VOICE_HEALTH_PORT"] in " ".join(container["HealthCheck"]["Command"])
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"


def test_the_users_subnets_replace_the_stacks_own_network():
    from infra.template import evaluate_conditions

    template = load_template()
    conditions = evaluate_conditions(template, _defaults(template, VoiceImageUri="img", BotTokenSecretArn="arn",
                                                         VoiceSubnetIds="subnet-1,subnet-2", VoiceVpcId="vpc-1"))
    assert conditions["HasVoiceWorker"] and not conditions["HasOwnVoiceNetwork"]
    created = _voice_resources(template, conditions)
    assert "VoiceService" in created and "VoiceVpc" not in created and "VoiceSubnet" not in created


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
