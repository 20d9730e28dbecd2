"""A VPC with two subnets and a security group, with the fixed ids that
samconfig.toml's `local` environment (and host.sh deploy) pass as SubnetIds
and SecurityGroupIds (LocalStack takes a resource's id from its
`_custom_id_` tag). The template puts every function in them; LocalStack
enforces no network rule.

Run by LocalStack once it is ready (see 10-state.py).
"""

import boto3
from localstack import config

ec2 = boto3.client(
    "ec2",
    endpoint_url=config.internal_service_url(),
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)

vpc = "vpc-00000000000000a00"
subnets = {"subnet-00000000000000a01": "us-east-1a", "subnet-00000000000000a02": "us-east-1b"}
group = "sg-00000000000000a01"


def tags(kind, custom_id, name=None):
    t = [{"Key": "_custom_id_", "Value": custom_id}]
    if name:
        t.append({"Key": "Name", "Value": name})
    return [{"ResourceType": kind, "Tags": t}]


def check(want, got):
    # LocalStack must have used the custom id, or the ids in
    # samconfig.toml name nothing.
    if want != got:
        raise RuntimeError(
            f"relay: LocalStack created {got} instead of {want} (it ignored the _custom_id_ tag): "
            "set SubnetIds and SecurityGroupIds in samconfig.toml's local environment to the ids it made"
        )


def exists(call, **kw):
    try:
        call(**kw)
        return True
    except ec2.exceptions.ClientError:
        return False


if not exists(ec2.describe_vpcs, VpcIds=[vpc]):
    got = ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=tags("vpc", vpc, "relay-local"))
    check(vpc, got["Vpc"]["VpcId"])
for i, (subnet, zone) in enumerate(subnets.items()):
    if not exists(ec2.describe_subnets, SubnetIds=[subnet]):
        got = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.42.{i + 1}.0/24",
            AvailabilityZone=zone,
            TagSpecifications=tags("subnet", subnet, f"relay-local-{zone}"),
        )
        check(subnet, got["Subnet"]["SubnetId"])
if not exists(ec2.describe_security_groups, GroupIds=[group]):
    got = ec2.create_security_group(
        VpcId=vpc,
        GroupName="relay-local-functions",
        Description="Relay's functions on LocalStack",
        TagSpecifications=tags("security-group", group),
    )
    check(group, got["GroupId"])
print(f"relay: VPC {vpc}, subnets {' '.join(subnets)}, security group {group}")
