"""A cold /feedback (fresh process, the Lambda handler, DynamoDB on a moto server) stores it without importing
boto3 or s3transfer: DynamoDB goes through botocore alone. Its speed is measured by `make bench`."""

import json
import os
import subprocess
import sys
from pathlib import Path

from infra import interactions as build
from infra.signing import InteractionSigner
from infra.template import function_environment, provision
from shared.aws import AwsClients
from shared.config import Settings
from tests.support.apigw import make_v2_event
from tests.support.moto_server import moto_server

REPO = Path(__file__).resolve().parents[3]
APP = "100000000000000001"
CODE = """
import json, sys
from functions.interactions.handler import lambda_handler
response = lambda_handler(json.loads(sys.stdin.read()), None)
print(json.dumps({"body": json.loads(response["body"]), "boto3": "boto3" in sys.modules,
                  "s3transfer": "s3transfer" in sys.modules}))
"""


def test_a_cold_feedback_is_stored_through_botocore_alone(monkeypatch):
    aws_env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    for name, value in aws_env.items():
        monkeypatch.setenv(name, value)
    with moto_server() as endpoint:
        signer = InteractionSigner.generate()
        clients = AwsClients(Settings(aws_endpoint_url=endpoint))
        provisioned = provision(clients, prefix="cold", parameters={"DiscordPublicKey": signer.public_key_hex,
                                                                    "DiscordApplicationId": APP})
        env = {**os.environ, **function_environment(provisioned, "InteractionsFunction"), **aws_env,
               "AWS_ENDPOINT_URL": endpoint}
        body = build.encode(build.slash("feedback", options={"text": "Too verbose"}, application_id=APP))
        out = subprocess.run([sys.executable, "-c", CODE], input=json.dumps(make_v2_event(body, signer.headers(body))),
                             cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=120)
        result = json.loads(out.stdout)
        assert result["body"]["data"]["content"] == "Thanks, your feedback is saved."
        assert (result["boto3"], result["s3transfer"]) == (False, False)
        stored = clients.dynamodb.scan(TableName=provisioned.refs["DataTable"])["Items"]
        assert [item["text"]["S"] for item in stored if item["sk"]["S"].startswith("FEEDBACK#")] == ["Too verbose"]
