#!/bin/bash
# Run by LocalStack once it is ready: a VPC with two subnets and a security
# group, with the fixed ids that samconfig.toml's `local` environment passes
# as SubnetIds and SecurityGroupIds (LocalStack takes a resource's id from
# its `_custom_id_` tag). The template puts every function in them; with ec2
# enabled LocalStack's Lambda looks the subnets up, but it enforces no
# network rule: the functions reach Kafka through LAMBDA_DOCKER_NETWORK.
set -euo pipefail
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

vpc="vpc-00000000000000a00"
subnets=(subnet-00000000000000a01 subnet-00000000000000a02)
zones=(us-east-1a us-east-1b)
group="sg-00000000000000a01"

# check WANT GOT: LocalStack must have used the custom id, or the ids in
# samconfig.toml name nothing.
check() {
	if [ "$1" != "$2" ]; then
		echo "relay: LocalStack created $2 instead of $1 (it ignored the _custom_id_ tag):" \
			"set SubnetIds and SecurityGroupIds in samconfig.toml's local environment to the ids it made" >&2
		exit 1
	fi
}

if ! awslocal ec2 describe-vpcs --vpc-ids "$vpc" >/dev/null 2>&1; then
	got=$(awslocal ec2 create-vpc --cidr-block 10.42.0.0/16 --query Vpc.VpcId --output text \
		--tag-specifications "ResourceType=vpc,Tags=[{Key=_custom_id_,Value=$vpc},{Key=Name,Value=relay-local}]")
	check "$vpc" "$got"
fi
for i in 0 1; do
	if ! awslocal ec2 describe-subnets --subnet-ids "${subnets[$i]}" >/dev/null 2>&1; then
		got=$(awslocal ec2 create-subnet --vpc-id "$vpc" --cidr-block "10.42.$((i + 1)).0/24" \
			--availability-zone "${zones[$i]}" --query Subnet.SubnetId --output text \
			--tag-specifications "ResourceType=subnet,Tags=[{Key=_custom_id_,Value=${subnets[$i]}},{Key=Name,Value=relay-local-${zones[$i]}}]")
		check "${subnets[$i]}" "$got"
	fi
done
if ! awslocal ec2 describe-security-groups --group-ids "$group" >/dev/null 2>&1; then
	got=$(awslocal ec2 create-security-group --vpc-id "$vpc" --group-name relay-local-functions \
		--description "Relay's functions on LocalStack" --query GroupId --output text \
		--tag-specifications "ResourceType=security-group,Tags=[{Key=_custom_id_,Value=$group}]")
	check "$group" "$got"
fi
echo "relay: VPC $vpc, subnets ${subnets[*]}, security group $group"
