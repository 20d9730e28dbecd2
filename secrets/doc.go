// Package secrets keeps secret values out of everything Relay stores,
// publishes and prints.
//
// A secret reaches a task in one of two ways: `secret('NAME')` in a
// template, or an input declared SECRET. Neither is ever rendered in clear
// by the state machine. Instead a rendered value carries a marker,
//
//	[[relay-secret:<base64url>]]
//
// whose payload is sealed (authenticated encryption) with the deployment's
// key and bound to the execution's namespace: for secret('NAME') it holds
// the name, which the worker resolves from the secrets backend of the
// namespace; for a SECRET input it holds the value itself, encrypted. Only
// the worker opens markers, at the last moment before a task runs, and it
// masks the clear values (`******`) in everything the task logs and
// returns. Everywhere else (API responses, CLI output, logs written by the
// state machine) a marker is shown as `******`.
//
// Sealing is deterministic (the nonce is derived from the sealed text, as
// in SIV modes), so the pure state machine can seal without randomness and
// replaying an event gives the same bytes. A marker cannot be forged or
// moved to another namespace without the key: a user who types marker-like
// text into an input gets it back as text, never a secret.
//
// The package does no I/O: backends that look secret names up (the
// environment, AWS Secrets Manager, SSM Parameter Store) and the loading of
// the key live in infra/secretstore.
package secrets
