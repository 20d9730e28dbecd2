package embedded

import (
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/relayflow/relay/statemachine"
)

// migrateV1 moves a schema 1 file to schema 2: executions were one JSON
// document each, task runs and ForEach items included; schema 2 keeps the
// execution's head, each task run and each run's items as records of their
// own (see bucketRuns and bucketItems). It runs in the transaction that
// opens the file, so a file is migrated whole or not at all.
func migrateV1(tx *bbolt.Tx) error {
	docs := tx.Bucket(bucketExecutions)
	var ids [][]byte
	if err := docs.ForEach(func(k, _ []byte) error {
		ids = append(ids, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		var ex statemachine.Execution
		if err := json.Unmarshal(docs.Get(id), &ex); err != nil {
			return fmt.Errorf("migrating execution %s: %w", id, err)
		}
		head, err := encodeHead(&ex)
		if err != nil {
			return fmt.Errorf("migrating execution %s: %w", id, err)
		}
		var withItems []*statemachine.TaskRun
		for _, r := range ex.TaskRuns {
			if r.Items != nil {
				withItems = append(withItems, r)
			}
		}
		runKeys, runDocs, err := encodeRuns(&ex, ex.TaskRuns)
		if err != nil {
			return fmt.Errorf("migrating execution %s: %w", id, err)
		}
		itemKeys, itemDocs, err := encodeItems(&ex, withItems)
		if err != nil {
			return fmt.Errorf("migrating execution %s: %w", id, err)
		}
		if err := docs.Put(id, head); err != nil {
			return err
		}
		if err := putEach(tx, bucketRuns, string(id), runKeys, runDocs); err != nil {
			return fmt.Errorf("migrating execution %s: %w", id, err)
		}
		if err := putEach(tx, bucketItems, string(id), itemKeys, itemDocs); err != nil {
			return fmt.Errorf("migrating execution %s: %w", id, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, []byte(schemaVersion))
}
