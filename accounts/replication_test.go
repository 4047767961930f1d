package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/sqlstore"
)

func open(t *testing.T, c sqlstore.Config) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// eventually polls f until it is nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peer opens the second master of a pair, which receives its schema by
// replication, once it has it.
func peer(t *testing.T, m *devstack.MariaDB) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{DSN: m.DSN(), NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	eventually(t, 20*time.Second, func() error { return db.Prepare(context.Background(), accounts.Schema) })
	return db
}

func accountOn(ctx context.Context, db *sqlstore.DB, email string) (int64, error) {
	var id int64
	err := db.Primary().QueryRowContext(ctx, `SELECT id FROM accounts WHERE email = ?`, email).Scan(&id)
	return id, err
}

// TestMastersBothTakeWrites signs viewers up on both masters at once: the
// keys never collide (odd on one, even on the other) and each master ends
// with every account.
func TestMastersBothTakeWrites(t *testing.T) {
	ms := testenv.MariaDBPair(t)
	ctx := context.Background()
	var svcs [2]*accounts.Service
	svcs[0] = newService(t, open(t, sqlstore.Config{DSN: ms[0].DSN()}), nil)
	svcs[1] = newService(t, peer(t, ms[1]), nil)
	const each = 20
	var wg sync.WaitGroup
	ids := make([][]int64, 2)
	var mu sync.Mutex
	for i := range 2 {
		for n := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := svcs[i].SignUp(ctx, fmt.Sprintf("m%d-%d@example.com", i, n), "correct horse battery")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[i] = append(ids[i], a.ID)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, list := range ids {
		for _, id := range list {
			if int(id%2) != (i+1)%2 {
				t.Errorf("master %d gave key %d; its keys are offset %d of 2", i+1, id, i+1)
			}
			if seen[id] {
				t.Errorf("key %d given twice", id)
			}
			seen[id] = true
		}
	}
	for i := range 2 {
		eventually(t, 20*time.Second, func() error {
			var n int
			if err := svcs[i].DB().Primary().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
				return err
			}
			if n != 2*each {
				return fmt.Errorf("master %d has %d accounts, want %d", i+1, n, 2*each)
			}
			return nil
		})
	}
	checkAudit(t, svcs[0])
}

// TestKilledMasterLosesNoAcknowledgedCommit kills a master with SIGKILL
// the moment a commit returns: semi-synchronous replication acknowledged
// it only once the other master had it, so the other master has the row.
// The survivor holds back what it applied from the dead master (it waits
// for that master's acknowledgement too) until it is promoted; then it
// shows every acknowledged row and takes writes, and the old master
// catches up when it returns.
func TestKilledMasterLosesNoAcknowledgedCommit(t *testing.T) {
	ms := testenv.MariaDBPair(t)
	ctx := context.Background()
	s1 := newService(t, open(t, sqlstore.Config{DSN: ms[0].DSN()}), nil)
	db2 := peer(t, ms[1])
	const n = 30
	var last string
	for i := range n {
		last = fmt.Sprintf("acked-%d@example.com", i)
		if _, err := s1.SignUp(ctx, last, "correct horse battery"); err != nil {
			t.Fatal(err)
		}
	}
	ms[0].Kill()
	if err := ms[1].Promote(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		var got int
		if err := db2.Primary().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&got); err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("the surviving master has %d of %d acknowledged accounts", got, n)
		}
		return nil
	})
	if _, err := accountOn(ctx, db2, last); err != nil {
		t.Fatalf("the last acknowledged account: %v", err)
	}
	s2 := newService(t, db2, nil)
	if _, err := s2.SignUp(ctx, "after@example.com", "correct horse battery"); err != nil {
		t.Fatalf("the promoted survivor refuses writes: %v", err)
	}
	if err := ms[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].ReplicateFrom(ctx, ms[1]); err != nil {
		t.Fatal(err)
	}
	db1 := peer(t, ms[0])
	eventually(t, 30*time.Second, func() error {
		_, err := accountOn(ctx, db1, "after@example.com")
		return err
	})
	if err := ms[1].Rejoin(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.SignUp(ctx, "rejoined@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		_, err := accountOn(ctx, db1, "rejoined@example.com")
		return err
	})
}

// TestCommitWithoutPeerIsNotAcknowledged stops replication to the peer:
// a commit then fails with ErrUnreplicated after the configured timeout,
// nobody sees its row, and it applies once replication resumes.
func TestCommitWithoutPeerIsNotAcknowledged(t *testing.T) {
	ms := testenv.MariaDBPair(t)
	ctx := context.Background()
	s1 := newService(t, open(t, sqlstore.Config{DSN: ms[0].DSN(), CommitTimeout: 2 * time.Second}), nil)
	db1 := open(t, sqlstore.Config{DSN: ms[0].DSN()})
	root2, err := ms[1].Root()
	if err != nil {
		t.Fatal(err)
	}
	defer root2.Close()
	if _, err := root2.ExecContext(ctx, "STOP SLAVE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s1.SignUp(ctx, "held@example.com", "correct horse battery")
	if !errors.Is(err, sqlstore.ErrUnreplicated) || accounts.CodeOf(err) != accounts.CodeUnreplicated {
		t.Fatalf("commit with replication stopped: %v; want ErrUnreplicated", err)
	}
	t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if _, err := accountOn(ctx, db1, "held@example.com"); err == nil {
		t.Fatal("another session sees the unacknowledged row on the master")
	}
	if _, err := root2.ExecContext(ctx, "START SLAVE"); err != nil {
		t.Fatal(err)
	}
	db2 := peer(t, ms[1])
	for _, db := range []*sqlstore.DB{db1, db2} {
		eventually(t, 20*time.Second, func() error {
			_, err := accountOn(ctx, db, "held@example.com")
			return err
		})
	}
}

// TestReadReplicaServesReadsAndShowsLag reads plans from an asynchronous
// replica and watches its lag in the metrics while its applier is
// stopped.
func TestReadReplicaServesReadsAndShowsLag(t *testing.T) {
	ctx := context.Background()
	primary := testenv.MariaDB(t, devstack.MariaDBOptions{ServerID: 1})
	replica := testenv.MariaDB(t, devstack.MariaDBOptions{ServerID: 3, ReadOnly: true})
	if err := replica.ReplicateFrom(ctx, primary); err != nil {
		t.Fatal(err)
	}
	db := open(t, sqlstore.Config{DSN: primary.DSN(), Replicas: []string{replica.DSN()}})
	s := newService(t, db, nil)
	eventually(t, 20*time.Second, func() error {
		ps, err := s.Plans(ctx)
		if err != nil {
			return err
		}
		if len(ps) != 3 {
			return fmt.Errorf("the replica has %d plans", len(ps))
		}
		return nil
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sqlstore.Collector{DB: db})
	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.Metric) == 1 {
				return mf.Metric[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	eventually(t, 20*time.Second, func() error {
		if n := gauge("reel_sql_replica_lag_transactions"); n != 0 || gauge("reel_sql_replica_running") != 1 {
			return fmt.Errorf("replica %v transactions behind", n)
		}
		return nil
	})
	root, err := replica.Root()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.ExecContext(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	for n := range 5 {
		signUp(t, s, fmt.Sprintf("lag%d@example.com", n))
	}
	eventually(t, 20*time.Second, func() error {
		if n := gauge("reel_sql_replica_lag_transactions"); n < 5 {
			return fmt.Errorf("replica %v transactions behind after 5 sign-ups with its applier stopped", n)
		}
		return nil
	})
	if gauge("reel_sql_replica_running") != 0 {
		t.Error("a replica with its applier stopped is reported running")
	}
	if _, err := root.ExecContext(ctx, "START SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if n := gauge("reel_sql_replica_lag_transactions"); n != 0 {
			return fmt.Errorf("replica still %v transactions behind", n)
		}
		return nil
	})
	if n := testutil.CollectAndCount(sqlstore.Collector{DB: db}); n != 3 {
		t.Errorf("%d replica series, want 3", n)
	}
}
