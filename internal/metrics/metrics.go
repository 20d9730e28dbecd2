// Package metrics holds the Prometheus metrics of a Relay process
// (github.com/prometheus/client_golang, registered on its default
// registry): `relay dev` serves them on /metrics. Lambda functions count
// them too, but nothing scrapes a function; their logs say the same.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons a record goes to relay.dlq (the label `reason`).
const (
	// ReasonUndecodable: the record is not a CloudEvent Relay can read.
	ReasonUndecodable = "undecodable"
	// ReasonCannotApply: the event decodes but cannot apply (meaningless
	// data, an execution or flow that does not exist, a transition the
	// execution's state does not allow).
	ReasonCannotApply = "cannot_apply"
	// ReasonFailed: its handler kept failing (engine.MaxAttempts times).
	ReasonFailed = "failed"
)

var deadLetters = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "relay_dead_letters_total",
	Help: "Records sent to relay.dlq, by the topic they came from and why.",
}, []string{"topic", "reason"})

var retries = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "relay_handler_retries_total",
	Help: "Handler calls retried, by topic and cause (unavailable: a dependency was down; failed: any other error).",
}, []string{"topic", "cause"})

var idempotentReplays = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "relay_idempotent_replays_total",
	Help: "Requests answered from an earlier one with the same idempotency key, by kind (execution, event).",
}, []string{"kind"})

// DeadLettered counts a record sent to relay.dlq.
func DeadLettered(topic, reason string) { deadLetters.WithLabelValues(topic, reason).Inc() }

// Retried counts a handler call retried.
func Retried(topic, cause string) { retries.WithLabelValues(topic, cause).Inc() }

// IdempotentReplay counts a request answered from an earlier one.
func IdempotentReplay(kind string) { idempotentReplays.WithLabelValues(kind).Inc() }
