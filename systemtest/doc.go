// Package systemtest holds tests of whole deployments: `relay dev`
// processes on real Apache Kafka and DynamoDB Local, killed with SIGKILL at
// chosen points (builds with -tags relayfaults), racing each other and
// replaying topics, with assertions on what ends up in the table. It has no
// code of its own outside its tests.
package systemtest
