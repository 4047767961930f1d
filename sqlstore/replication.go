package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReplicaLag is how far a read replica is behind the primary.
type ReplicaLag struct {
	Replica      int   `json:"replica"`
	Transactions int64 `json:"transactions"` // GTIDs the primary logged that the replica has not applied
	Seconds      int64 `json:"seconds"`      // the replica's own estimate; -1 when it does not replicate
	Running      bool  `json:"running"`      // both replication threads run
}

// ReplicaLag measures each read replica against the primary (MariaDB;
// none on SQLite).
func (d *DB) ReplicaLag(ctx context.Context) ([]ReplicaLag, error) {
	if d.Engine != MariaDB || len(d.replicas) == 0 {
		return nil, nil
	}
	var primaryPos string
	if err := d.primary.QueryRowContext(ctx, `SELECT @@gtid_binlog_pos`).Scan(&primaryPos); err != nil {
		return nil, fmt.Errorf("primary GTID position: %w", err)
	}
	out := make([]ReplicaLag, len(d.replicas))
	for i, r := range d.replicas {
		l := ReplicaLag{Replica: i, Seconds: -1}
		var pos string
		if err := r.QueryRowContext(ctx, `SELECT @@gtid_slave_pos`).Scan(&pos); err != nil {
			return nil, fmt.Errorf("replica %d GTID position: %w", i, err)
		}
		l.Transactions = gtidBehind(primaryPos, pos)
		st, err := slaveStatus(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("replica %d status: %w", i, err)
		}
		l.Running = st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes"
		if s, err := strconv.ParseInt(st["Seconds_Behind_Master"], 10, 64); err == nil {
			l.Seconds = s
		}
		out[i] = l
	}
	return out, nil
}

// slaveStatus reads SHOW SLAVE STATUS into a map of its columns.
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, `SHOW SLAVE STATUS`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if !rows.Next() {
		return out, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out, rows.Err()
}

// gtidBehind counts the transactions in position a (a MariaDB GTID
// position: "domain-server-seq,...") past those in b, domain by domain.
func gtidBehind(a, b string) int64 {
	seqs := func(pos string) map[string]int64 {
		m := map[string]int64{}
		for _, g := range strings.Split(pos, ",") {
			parts := strings.Split(strings.TrimSpace(g), "-")
			if len(parts) != 3 {
				continue
			}
			if n, err := strconv.ParseInt(parts[2], 10, 64); err == nil {
				m[parts[0]] = n
			}
		}
		return m
	}
	var behind int64
	bs := seqs(b)
	for dom, n := range seqs(a) {
		if d := n - bs[dom]; d > 0 {
			behind += d
		}
	}
	return behind
}

// Collector exports the replicas' lag to Prometheus, measured at each
// scrape.
type Collector struct{ DB *DB }

var (
	lagTxns = prometheus.NewDesc("reel_sql_replica_lag_transactions",
		"Transactions the SQL primary logged that a read replica has not applied.", []string{"replica"}, nil)
	lagSecs = prometheus.NewDesc("reel_sql_replica_lag_seconds",
		"A read replica's own estimate of its delay (-1: not replicating).", []string{"replica"}, nil)
	running = prometheus.NewDesc("reel_sql_replica_running",
		"1 while both of a read replica's replication threads run.", []string{"replica"}, nil)
)

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagTxns
	ch <- lagSecs
	ch <- running
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ls, err := c.DB.ReplicaLag(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(lagTxns, err)
		return
	}
	for _, l := range ls {
		r := strconv.Itoa(l.Replica)
		ch <- prometheus.MustNewConstMetric(lagTxns, prometheus.GaugeValue, float64(l.Transactions), r)
		ch <- prometheus.MustNewConstMetric(lagSecs, prometheus.GaugeValue, float64(l.Seconds), r)
		up := 0.0
		if l.Running {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(running, prometheus.GaugeValue, up, r)
	}
}
