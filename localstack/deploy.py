"""The steps of `make localstack-docker-deploy` around `sam deploy` (localstack/local.sh).

Run with the Python of the project's sam virtualenv, which has boto3 and the
SAM CLI's YAML reader; boto3 reaches LocalStack through AWS_ENDPOINT_URL,
which local.sh sets.

    deploy.py prepare TEMPLATE ENDPOINT
        On LocalStack's community edition, remove the Kafka event source
        mappings from the built TEMPLATE: they are a Pro feature there, and
        creating them would fail the stack. `relay dev --role
        executor,worker,router` stands in for them (localstack/README.md).

    deploy.py finish STACK ENVFILE
        Give the stack's api function a function URL (API Gateway's HTTP
        API is a Pro feature too; a function URL sends the same payload 2.0
        events), and write the stack's table, bucket and API URL to ENVFILE
        as shell exports.
"""

import json
import sys
import urllib.request

MAPPING = "AWS::Lambda::EventSourceMapping"


def edition(endpoint):
    """LocalStack's edition ("community", "pro", ...) from its info endpoint."""
    with urllib.request.urlopen(endpoint.rstrip("/") + "/_localstack/info", timeout=10) as r:
        return json.load(r).get("edition", "")


def prepare(template, endpoint):
    from samcli.yamlhelper import yaml_dump, yaml_parse

    ed = edition(endpoint)
    if ed == "pro":
        print(f"localstack: LocalStack {ed}: keeping the Kafka event source mappings", file=sys.stderr)
        return
    with open(template, encoding="utf-8") as f:
        doc = yaml_parse(f.read())
    resources = doc.get("Resources", {})
    dropped = sorted(k for k, v in resources.items() if v.get("Type") == MAPPING)
    for k in dropped:
        del resources[k]
    with open(template, "w", encoding="utf-8") as f:
        f.write(yaml_dump(doc))
    print(
        f"localstack: LocalStack {ed or 'community'} has no Kafka event source mappings:"
        f" left out {', '.join(dropped) or 'none'} (relay dev stands in for them)",
        file=sys.stderr,
    )


def finish(stack, envfile):
    import boto3

    cfn = boto3.client("cloudformation")
    lam = boto3.client("lambda")
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    }
    fn = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="ApiFunction")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    try:
        url = lam.get_function_url_config(FunctionName=fn)["FunctionUrl"]
    except lam.exceptions.ResourceNotFoundException:
        arn = lam.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
        # LocalStack names the URL after this tag, so that it stays the same
        # from one deployment to the next.
        lam.tag_resource(Resource=arn, Tags={"_custom_id_": "relay-api"})
        url = lam.create_function_url_config(FunctionName=fn, AuthType="NONE")["FunctionUrl"]
        try:
            lam.add_permission(
                FunctionName=fn,
                StatementId="FunctionURLAllowPublicAccess",
                Action="lambda:InvokeFunctionUrl",
                Principal="*",
                FunctionUrlAuthType="NONE",
            )
        except lam.exceptions.ResourceConflictException:
            pass
    url = url.rstrip("/")
    with open(envfile, "w", encoding="utf-8") as f:
        f.write(
            f"# Written by `make localstack-docker-deploy`: the {stack} stack on LocalStack.\n"
            f"# Source it after .cache/localstack/env.\n"
            f"export RELAY_TABLE={outputs['TableName']}\n"
            f"export RELAY_BUCKET={outputs['BucketName']}\n"
            f"export RELAY_API_URL={url}\n"
        )
    print(f"localstack: {stack}: table {outputs['TableName']}, bucket {outputs['BucketName']}", file=sys.stderr)
    print(f"localstack: the api function answers at {url} (a function URL)", file=sys.stderr)


def main(argv):
    if len(argv) == 3 and argv[0] == "prepare":
        prepare(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "finish":
        finish(argv[1], argv[2])
    else:
        sys.exit("usage: deploy.py prepare TEMPLATE ENDPOINT | finish STACK ENVFILE")


if __name__ == "__main__":
    main(sys.argv[1:])
