package serverless

// What each Lambda function calls on AWS, and on what: the least
// privilege template.yaml grants each function's role. A test reads the
// template and fails when a role lacks one of these or allows more.

// Resource names what a permission applies to, by its role in a
// deployment rather than its ARN.
type Resource string

// The resources of a deployment.
const (
	ResTable   Resource = "table"   // the state table and its indexes
	ResBucket  Resource = "bucket"  // objects of the large-value bucket
	ResCluster Resource = "cluster" // the MSK cluster
	ResTopics  Resource = "topics"  // Relay's topics on MSK (prefix + relay.*)
	ResGroups  Resource = "groups"  // Relay's consumer groups on MSK (prefix + relay-*)
	ResSecret  Resource = "secret"  // the SASL/SCRAM secret of a self-managed cluster
	// ResSecretKey is the deployment's key that seals secrets.
	ResSecretKey Resource = "secret-key"
	// ResFlowSecrets are the secrets of flows, under SecretsPrefix.
	ResFlowSecrets Resource = "flow-secrets"
	ResLogs        Resource = "logs"    // the functions' log groups
	ResNetwork     Resource = "*"       // EC2 network interfaces in the VPC (no resource-level permission)
	ResRunners     Resource = "runners" // the runner functions
)

// KafkaSource is how a deployment reaches Kafka (template.yaml's
// KafkaSource).
type KafkaSource string

// The Kafka sources of template.yaml.
const (
	KafkaMSK         KafkaSource = "MSK"              // IAM authentication
	KafkaSelfManaged KafkaSource = "SelfManagedKafka" // SASL/SCRAM with a secret
)

// SecretsBackend is where the worker reads secret('NAME') (template.yaml's
// SecretsBackend).
type SecretsBackend string

// The secrets backends of template.yaml.
const (
	SecretsManager SecretsBackend = "SecretsManager"
	SecretsSSM     SecretsBackend = "SSM"
)

// Permission is an action allowed on a resource.
type Permission struct {
	Action   string
	Resource Resource
}

// dynamoActions are the DynamoDB calls of infra/dynamo's store, which
// every function uses: items (GetItem, PutItem, UpdateItem, DeleteItem),
// reads of several (BatchGetItem after a keys-only GSI2 query), commits
// (TransactWriteItems, BatchWriteItem for logs), queries of the table and
// its GSIs, and the scan behind listings by state (queued executions).
var dynamoActions = []string{
	"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
	"dynamodb:BatchWriteItem", "dynamodb:TransactWriteItems", "dynamodb:Query", "dynamodb:Scan",
}

// Permissions lists what the function of role r calls with the Kafka
// source k and the secrets backend s: its store (table and bucket),
// producing to Relay's topics (each function opens the bus, creating
// missing topics), consuming through its event source mapping (the
// mapping acts with the function's role), its logs and its network
// interfaces; the secret key for the functions that seal or open secrets
// (executor, worker, api), and the flows' secrets for the worker (tasks)
// and the api (webhook keys written with secret()).
func Permissions(r Role, k KafkaSource, s SecretsBackend) []Permission {
	var ps []Permission
	add := func(res Resource, actions ...string) {
		for _, a := range actions {
			ps = append(ps, Permission{a, res})
		}
	}
	network := func() {
		add(ResNetwork, "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
			"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs")
	}
	if r.Runner() {
		// A runner appends the log lines of its attempts (a sequence
		// update and a batch of items) and reads and writes their files.
		add(ResTable, "dynamodb:UpdateItem", "dynamodb:BatchWriteItem")
		add(ResBucket, "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload")
		add(ResLogs, "logs:CreateLogStream", "logs:PutLogEvents")
		network()
		return ps
	}
	if r == RoleWorker {
		add(ResRunners, "lambda:InvokeFunction")
	}
	add(ResTable, dynamoActions...)
	// Files of internal storage larger than a part go up in parts
	// (s3:PutObject covers them); a failed upload is aborted.
	add(ResBucket, "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload")
	add(ResLogs, "logs:CreateLogStream", "logs:PutLogEvents")
	network()
	consumes := r.Topic() != ""
	switch k {
	case KafkaMSK:
		add(ResCluster, "kafka-cluster:Connect")
		add(ResTopics, "kafka-cluster:DescribeTopic", "kafka-cluster:CreateTopic", "kafka-cluster:WriteData")
		if consumes {
			add(ResCluster, "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers", "kafka-cluster:DescribeClusterDynamicConfiguration")
			add(ResTopics, "kafka-cluster:ReadData")
			add(ResGroups, "kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup")
		}
	case KafkaSelfManaged:
		add(ResSecret, "secretsmanager:GetSecretValue")
	}
	if r == RoleExecutor || r == RoleWorker || r == RoleAPI {
		add(ResSecretKey, "secretsmanager:GetSecretValue")
	}
	if r == RoleWorker || r == RoleAPI { // the API renders webhook keys written with secret()
		if s == SecretsSSM {
			add(ResFlowSecrets, "ssm:GetParameter")
		} else {
			add(ResFlowSecrets, "secretsmanager:GetSecretValue")
		}
	}
	return ps
}

// Roles are the functions of a deployment, in template order.
var Roles = []Role{RoleExecutor, RoleWorker, RoleRouter, RoleScheduler, RoleAPI, RolePythonRunner, RoleNodeRunner}
