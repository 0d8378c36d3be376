package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
)

// maxGroup bounds the transactions of one group commit, so that one
// commit's wait stays short when many queue at once.
const maxGroup = 64

// errClosed answers transactions asked for after Close.
var errClosed = errors.New("store closed")

// writer runs every transaction of a store whose writes are serialized
// (Dialect.SerializeWrites, SQLite) on one goroutine, and commits together
// the transactions that queued while the previous commit ran (group
// commit). Each runs inside a savepoint of the shared transaction, so one
// that fails is rolled back alone and the others commit; each caller hears
// of its own outcome only once the commit is durable. Alone in the queue,
// a transaction runs as before, without savepoints.
//
// A commit writes each changed page to the WAL once, whatever number of
// transactions changed it: the pages that every rotation appends to
// (table ends, expiry indexes, the header) are written once per group, not
// once per rotation.
type writer struct {
	s    *DB
	reqs chan *txRequest
	quit chan struct{}
	done chan struct{}
	// commits and txs count the groups run and the transactions in them.
	commits, txs atomic.Uint64
}

type txRequest struct {
	ctx context.Context
	fn  func(cachedTx) error
	// bare, if set instead of fn, runs between two groups with no
	// transaction open (see DB.BetweenWrites).
	bare func() error
	done chan error
	// panicked holds what fn panicked with, if it did; do panics with it
	// again in the caller's goroutine, where a panic would have been
	// without the writer.
	panicked any
}

func newWriter(s *DB) *writer {
	w := &writer{s: s, reqs: make(chan *txRequest), quit: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// do runs fn in a transaction on the writer and returns its outcome. A
// transaction whose ctx ends before it starts does not run; once started,
// it runs to its end, since its statements share a transaction with
// others (cachedTx.ctx), and do waits for it.
func (w *writer) do(ctx context.Context, fn func(cachedTx) error) error {
	return w.submit(&txRequest{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// between runs fn on the writer between two groups, while nothing writes.
func (w *writer) between(ctx context.Context, fn func() error) error {
	return w.submit(&txRequest{ctx: ctx, bare: fn, done: make(chan error, 1)})
}

func (w *writer) submit(r *txRequest) error {
	ctx := r.ctx
	select {
	case w.reqs <- r:
	case <-w.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	err := <-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return err
}

// errPanicked stands for the outcome of a transaction whose function
// panicked.
var errPanicked = errors.New("transaction function panicked")

// call runs r.fn, turning a panic into errPanicked (and r.panicked).
func (r *txRequest) call(t cachedTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked, err = p, errPanicked
		}
	}()
	return r.fn(t)
}

// close stops the writer after the group it is running, if any.
func (w *writer) close() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}

func (w *writer) loop() {
	defer close(w.done)
	group := make([]*txRequest, 0, maxGroup)
	errs := make([]error, 0, maxGroup)
	var bare *txRequest // met while filling a group: runs after it
	for {
		if bare != nil {
			w.runBare(bare)
			bare = nil
		}
		select {
		case r := <-w.reqs:
			if r.bare != nil {
				w.runBare(r)
				continue
			}
			group = append(group[:0], r)
		case <-w.quit:
			return
		}
		// Let the goroutines that are ready to run reach their own
		// transactions before the group closes. Where they share the
		// writer's core (GOMAXPROCS=1, the one-pinned-core deployment) the
		// writer would otherwise find the queue empty and commit each
		// transaction alone: a commit per token refresh instead of one per
		// dozen (BenchmarkRefresh, TestGroupCommitOnOneCore).
		runtime.Gosched()
	fill:
		for len(group) < maxGroup {
			select {
			case r := <-w.reqs:
				if r.bare != nil {
					bare = r
					break fill
				}
				group = append(group, r)
			default:
				break fill
			}
		}
		errs = w.run(group, errs[:0])
		w.commits.Add(1)
		w.txs.Add(uint64(len(group)))
		for i, r := range group {
			r.done <- errs[i]
		}
		clear(group)
	}
}

// runBare runs a request of between, unless its ctx has ended.
func (w *writer) runBare(r *txRequest) {
	err := r.ctx.Err()
	if err == nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.panicked, err = p, errPanicked
				}
			}()
			err = r.bare()
		}()
	}
	r.done <- err
}

// run runs group in one transaction and returns the outcome of each.
func (w *writer) run(group []*txRequest, errs []error) []error {
	for _, r := range group {
		errs = append(errs, r.ctx.Err())
	}
	tx, err := w.s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return failAll(errs, fmt.Errorf("begin: %w", err))
	}
	// After a successful Commit this returns sql.ErrTxDone, which is fine.
	defer func() { _ = tx.Rollback() }()
	alone := len(group) == 1
	for i, r := range group {
		if errs[i] != nil {
			continue
		}
		t := cachedTx{Tx: tx, s: w.s, ctx: context.WithoutCancel(r.ctx)}
		if alone {
			if errs[i] = r.call(t); errs[i] != nil {
				return errs
			}
			continue
		}
		if _, err := t.ExecContext(t.ctx, "SAVEPOINT tx"); err != nil {
			return failAll(errs, fmt.Errorf("savepoint: %w", err))
		}
		if errs[i] = r.call(t); errs[i] != nil {
			// A statement error that SQLite answers by rolling back the
			// whole transaction (I/O, disk full) takes the savepoint with
			// it: then nothing of the group is left to commit.
			if _, err := t.ExecContext(t.ctx, "ROLLBACK TO tx"); err != nil {
				return failAll(errs, fmt.Errorf("roll back to savepoint: %w", err))
			}
		}
		if _, err := t.ExecContext(t.ctx, "RELEASE tx"); err != nil {
			return failAll(errs, fmt.Errorf("release savepoint: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return failAll(errs, fmt.Errorf("commit: %w", err))
	}
	return errs
}

// failAll gives err to every transaction of a group that has not failed
// on its own: none of them was committed.
func failAll(errs []error, err error) []error {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return errs
}
