"""infra/sam-local-env.json must name the local stack's real resources and every variable the template wires."""

import json
from pathlib import Path

from infra.template import Provisioned, evaluate_conditions, function_environment, load_template

ENV_FILE = Path(__file__).resolve().parents[3] / "infra" / "sam-local-env.json"


def test_env_vars_file_matches_the_local_stack_names():
    template = load_template()
    env_file = json.loads(ENV_FILE.read_text())
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    parameters.update(DiscordPublicKey="k", DiscordApplicationId="1", VoiceImageUri="local")
    local = Provisioned(parameters=parameters, conditions=evaluate_conditions(template, parameters))
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
            local.refs[logical_id] = f"local-{logical_id}".lower()
        elif resource["Type"] == "AWS::SQS::Queue":
            suffix = ".fifo" if resource["Properties"].get("FifoQueue") else ""
            local.refs[logical_id] = f"http://host.docker.internal:5000/123456789012/local-{logical_id.lower()}{suffix}"
            local.arns[logical_id] = "arn"
    for function in ("InteractionsFunction", "WorkerFunction"):
        expected = function_environment(local, function, template)
        given = env_file[function]
        for name in ("DATA_TABLE", "BUCKET_NAME", "JOBS_QUEUE_URL", "VOICE_QUEUE_URL", "IDEMPOTENCY_TABLE"):
            if name in expected:
                assert given[name] == expected[name], (function, name)
