package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/spf13/cobra"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/serverless"
)

// defaultServer is where `relay server` listens unless told otherwise, and
// where `relay emit` sends events when given no other destination.
const defaultServer = "http://127.0.0.1:8080"

// emitCmd sends a CloudEvent to relay.events, where triggers match it.
func emitCmd() *cobra.Command {
	var (
		typ, source, subject, data, id, brokers string
		idemKey                                 string
		extensions                              []string
	)
	cmd := &cobra.Command{
		Use:   "emit --type T --source S [--subject X] [--data JSON|@file] [--extension k=v]",
		Short: "Send a CloudEvent that event triggers can match",
		Long: "Emit sends a CloudEvent to relay.events: through the HTTP API (--api URL, or $" + EnvAPI + "),\n" +
			"straight to Kafka (--kafka BROKERS, the topic prefix from $RELAY_TOPIC_PREFIX), or, by default, to a\n" +
			"running `relay server` at " + defaultServer + ". The data is JSON, inline or @file (@- reads stdin).\n" +
			"With --kafka, TLS and SASL come from $" + kafka.EnvTLS + " and $" + kafka.EnvSASL + " (aws-msk-iam, scram-sha-512,\n" +
			"scram-sha-256 or plain; credentials in the secret $" + kafka.EnvSecret + " names, or $" + kafka.EnvUsername + "\n" +
			"and $" + kafka.EnvPassword + "), as the functions read them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ev, err := buildEvent(cmd, typ, source, subject, data, id, extensions)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			apiURL, _ := cmd.Flags().GetString("api")
			if apiURL == "" {
				apiURL = os.Getenv(EnvAPI)
			}
			var where string
			switch {
			case brokers != "" && apiURL != "":
				return &exitError{code: exitInvalid, err: errors.New("--api and --kafka name two destinations: choose one")}
			case brokers != "":
				auth, err := kafka.AuthFromEnv(cmd.Context())
				if err != nil {
					return fmt.Errorf("setting up Kafka authentication: %w", err)
				}
				opts := append([]kafka.Option{kafka.WithTopicPrefix(os.Getenv(serverless.EnvTopicPrefix))}, auth...)
				bus, err := kafka.New(cmd.Context(), strings.Split(brokers, ","), opts...)
				if err != nil {
					return fmt.Errorf("connecting to Kafka at %s: %w", brokers, err)
				}
				defer bus.Close()
				key := ev.Subject()
				if key == "" {
					key = ev.ID()
				}
				if err := bus.Publish(cmd.Context(), engine.TopicEvents, key, ev); err != nil {
					return err
				}
				where = "Kafka at " + brokers
			default:
				if apiURL == "" {
					apiURL = defaultServer
				}
				c, err := newAPIClient(cmd.Context(), apiURL)
				if err != nil {
					return &exitError{code: exitInvalid, err: err}
				}
				key := idemKey
				if key == "" {
					// The event is sent again, with the same key, after a
					// connection error or a 503; the API publishes it once.
					key = "cli-" + ev.ID()
				}
				if apiURL == defaultServer && idemKey == "" {
					c.SetRetry(0) // no server there is the likelier story
				}
				out, err := c.PublishEventWith(cmd.Context(), ev, key)
				if err != nil {
					if apiURL == defaultServer && isConnRefused(err) {
						return &exitError{code: exitUnreachable, err: fmt.Errorf("no relay server at %s (start one with `relay server`, or pass --api URL or --kafka BROKERS): %w", apiURL, err)}
					}
					return err
				}
				if out.ID != "" {
					ev.SetID(out.ID)
				}
				where = apiURL
			}
			fmt.Fprintf(cmd.OutOrStdout(), "event %s (%s) sent to %s\n", ev.ID(), ev.Type(), where)
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "the event type, e.g. com.acme.order.created (required)")
	cmd.Flags().StringVar(&source, "source", "", "the event source, e.g. /shop/eu (required)")
	cmd.Flags().StringVar(&subject, "subject", "", "the event subject")
	cmd.Flags().StringVar(&data, "data", "", "the event data: JSON, or @file, or @- for stdin")
	cmd.Flags().StringVar(&id, "id", "", "the event id (default: a new one; the same id and source is the same event)")
	cmd.Flags().StringArrayVar(&extensions, "extension", nil, "an extension attribute as name=value (repeatable)")
	cmd.Flags().StringVar(&brokers, "kafka", "", "send straight to these Kafka brokers (host:port, comma-separated)")
	cmd.Flags().StringVar(&idemKey, "idempotency-key", "", "through the API, the key that makes the emission idempotent for 24h (default: one derived from the event id; the command retries with it on connection errors and 503)")
	return cmd
}

func buildEvent(cmd *cobra.Command, typ, source, subject, data, id string, extensions []string) (cloudevents.Event, error) {
	ev := cloudevents.New()
	if typ == "" || source == "" {
		return ev, errors.New("--type and --source are required")
	}
	if id == "" {
		id = engine.NewID()
	}
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(source)
	ev.SetTime(time.Now())
	if subject != "" {
		ev.SetSubject(subject)
	}
	for _, kv := range extensions {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return ev, fmt.Errorf("--extension %q: want name=value", kv)
		}
		ev.SetExtension(k, v)
	}
	if data != "" {
		raw := []byte(data)
		if name, ok := strings.CutPrefix(data, "@"); ok {
			var err error
			if name == "-" {
				raw, err = io.ReadAll(cmd.InOrStdin())
			} else {
				raw, err = os.ReadFile(name)
			}
			if err != nil {
				return ev, fmt.Errorf("reading --data %s: %w", data, err)
			}
		}
		if !json.Valid(raw) {
			return ev, fmt.Errorf("--data is not JSON (strings need quotes: --data '\"text\"')")
		}
		if err := ev.SetData(cloudevents.ApplicationJSON, json.RawMessage(raw)); err != nil {
			return ev, fmt.Errorf("setting the data: %w", err)
		}
	}
	if err := ev.Validate(); err != nil {
		return ev, fmt.Errorf("the event is not a valid CloudEvent: %w", err)
	}
	return ev, nil
}

func isConnRefused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection refused")
}
