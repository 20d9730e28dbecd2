package embedded

import (
	"errors"

	"go.etcd.io/bbolt"
)

// Group commit. bbolt syncs the file once per write transaction, and that
// sync is most of a commit's cost. One writer goroutine takes every write
// request waiting at that moment into a single transaction: an idle store
// commits a lone request at once (no batching delay), a busy one shares one
// sync among all the requests that queued up during the previous one.
//
// A request is a check, which only reads and may refuse (a version
// conflict), and a write. Checks run in queue order after the writes of the
// requests before them, so two racing commits of one execution in one batch
// still see each other. A refused request changes nothing and the others go
// on; if a write fails, the transaction is rolled back and every request is
// run again in a transaction of its own, so one bad request cannot fail the
// rest.

type writeReq struct {
	check func(*bbolt.Tx) error // may be nil
	write func(*bbolt.Tx) error
	err   error
	done  chan struct{}
}

var errStoreClosed = errors.New("the store is closed")

// maxGroup bounds a transaction's size.
const maxGroup = 256

// startWriter runs the writer goroutine until stop is closed.
func (s *Store) startWriter() {
	s.writes = make(chan *writeReq)
	s.stopped = make(chan struct{})
	s.writerDone = make(chan struct{})
	go func() {
		defer close(s.writerDone)
		for {
			var first *writeReq
			select {
			case first = <-s.writes:
			case <-s.stopped:
				return
			}
			group := []*writeReq{first}
		more:
			for len(group) < maxGroup {
				select {
				case r := <-s.writes:
					group = append(group, r)
				default:
					break more
				}
			}
			s.commitGroup(group)
		}
	}()
}

func (s *Store) commitGroup(group []*writeReq) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, r := range group {
			r.err = nil
			if r.check != nil {
				if r.err = r.check(tx); r.err != nil {
					continue
				}
			}
			if err := r.write(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		for _, r := range group {
			s.commitGroup([]*writeReq{r})
		}
		return
	}
	for _, r := range group {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

// update runs check and write in the group writer and returns the check's
// refusal or the transaction's error.
func (s *Store) update(check, write func(*bbolt.Tx) error) error {
	r := &writeReq{check: check, write: write, done: make(chan struct{})}
	select {
	case s.writes <- r:
	case <-s.stopped:
		return errStoreClosed
	}
	<-r.done
	return r.err
}
