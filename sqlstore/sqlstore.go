// Package sqlstore is the viewer side's SQL store: one pool for the
// primary (embedded SQLite, or a MariaDB master) and one per read replica,
// versioned migrations per component in one portable dialect,
// transactions that run again after a deadlock or a busy database,
// commits bounded while a semi-synchronous peer does not acknowledge
// them, and the replicas' lag.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a SQL engine the store runs on.
type Engine string

// The engines: embedded SQLite on one machine, MariaDB (or MySQL) for a
// replicated deployment.
const (
	SQLite  Engine = "sqlite"
	MariaDB Engine = "mysql"
)

// Config says where the store lives. The zero CommitTimeout is 10 s.
type Config struct {
	// DSN is "sqlite:/path/to/accounts.db" or
	// "mysql://user:password@host:port/database".
	DSN string
	// Replicas are read replicas of the primary (mysql:// DSNs), used for
	// reads that need not see the caller's own writes.
	Replicas []string
	// CommitTimeout bounds a MariaDB commit: with semi-synchronous
	// replication a commit waits until the peer master has it, and one
	// that waits longer fails with ErrUnreplicated.
	CommitTimeout time.Duration
	// NoMigrate leaves the schema and its seed rows alone: components
	// only check their schema is current. Of two masters that both take
	// writes, one migrates (reel accounts migrate, or the first process
	// started) and the other receives the schema by replication: rows
	// both wrote at once would stop it.
	NoMigrate bool
}

// DB is the store: a primary that takes writes and optional read
// replicas, on one engine.
type DB struct {
	Engine        Engine
	primary       *sql.DB
	replicas      []*sql.DB
	commitTimeout time.Duration
	noMigrate     bool
}

// ErrUnreplicated is returned by a write whose commit the peer master did
// not acknowledge in time. The change is held back on the primary (other
// readers do not see it) until the peer has it; it is neither confirmed
// nor lost.
var ErrUnreplicated = errors.New("commit not acknowledged by the peer master in time")

// Open connects to the store and makes sure its migrations table is
// there (unless NoMigrate).
func Open(ctx context.Context, c Config) (*DB, error) {
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 10 * time.Second
	}
	eng, primary, err := open(c.DSN)
	if err != nil {
		return nil, err
	}
	d := &DB{Engine: eng, primary: primary, commitTimeout: c.CommitTimeout, noMigrate: c.NoMigrate}
	for _, r := range c.Replicas {
		reng, rdb, err := open(r)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("replica: %w", err)
		}
		if reng != eng {
			rdb.Close()
			d.Close()
			return nil, fmt.Errorf("replica %s: a %s replica of a %s primary", redact(r), reng, eng)
		}
		d.replicas = append(d.replicas, rdb)
	}
	if err := d.primary.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("accounts store %s: %w", redact(c.DSN), err)
	}
	if !c.NoMigrate {
		if _, err := d.primary.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  component VARCHAR(32) NOT NULL, version INT NOT NULL, name VARCHAR(255) NOT NULL, applied_ms BIGINT NOT NULL,
  PRIMARY KEY (component, version))`); err != nil {
			d.Close()
			return nil, fmt.Errorf("migrations table: %w", err)
		}
	}
	return d, nil
}

// NoMigrate reports whether components leave the schema and their seed
// rows to another process.
func (d *DB) NoMigrate() bool { return d.noMigrate }

// Migration is a component's schema: its name in schema_migrations and
// files named NNNN_what.sql, applied in version order.
type Migration struct {
	Component string
	Files     fs.FS
}

// Migrations is a component's migrations: the files in dir of files.
func Migrations(component string, files fs.FS, dir string) Migration {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(fmt.Sprintf("migrations of %s: %v", component, err)) // a build without its embedded files
	}
	return Migration{Component: component, Files: sub}
}

// Version is the version of the component's newest migration.
func (m Migration) Version() int {
	names, _ := fs.ReadDir(m.Files, ".")
	v := 0
	for _, e := range names {
		if n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0]); err == nil {
			v = max(v, n)
		}
	}
	return v
}

// Prepare migrates the component's schema, or with NoMigrate checks it is
// current.
func (d *DB) Prepare(ctx context.Context, m Migration) error {
	if d.noMigrate {
		return d.checkSchema(ctx, m)
	}
	return d.migrate(ctx, m)
}

// checkSchema refuses a store whose schema is older than this build's.
func (d *DB) checkSchema(ctx context.Context, m Migration) error {
	var v sql.NullInt64
	err := d.primary.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations WHERE component = ?`, m.Component).Scan(&v)
	if err != nil || int(v.Int64) < m.Version() {
		return fmt.Errorf("the %s schema is at version %d, this build needs %d: run `reel accounts migrate` against the master that migrates, and let it replicate here",
			m.Component, v.Int64, m.Version())
	}
	return nil
}

// open parses a DSN and opens its pool.
func open(dsn string) (Engine, *sql.DB, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	switch {
	case ok && scheme == "sqlite":
		file := strings.TrimPrefix(rest, "//")
		if file == "" {
			return "", nil, fmt.Errorf("accounts DSN %q: no file; use sqlite:/path/to/accounts.db", dsn)
		}
		// WAL lets readers go on beside the one writer; IMMEDIATE takes
		// the write lock when a transaction begins, so two writers queue
		// (busy_timeout) instead of failing on a lock upgrade.
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("_txlock", "immediate")
		db, err := sql.Open("sqlite", "file:"+file+"?"+q.Encode())
		if err != nil {
			return "", nil, err
		}
		return SQLite, db, nil
	case ok && scheme == "mysql":
		u, err := url.Parse(dsn)
		if err != nil {
			return "", nil, fmt.Errorf("accounts DSN: %w", err)
		}
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", u.Host
		if u.Port() == "" {
			cfg.Addr = u.Host + ":3306"
		}
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		cfg.Timeout = 5 * time.Second
		if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
			return "", nil, fmt.Errorf("accounts DSN %s: name one database, as mysql://user:password@host:3306/reel", redact(dsn))
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return "", nil, fmt.Errorf("accounts DSN %s: %w", redact(dsn), err)
		}
		db := sql.OpenDB(conn)
		db.SetConnMaxLifetime(5 * time.Minute)
		db.SetMaxIdleConns(16)
		return MariaDB, db, nil
	}
	return "", nil, fmt.Errorf("accounts DSN %q: use sqlite:/path/to/accounts.db or mysql://user:password@host:3306/reel", redact(dsn))
}

// redact hides a DSN's password.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}

// Close closes every pool.
func (d *DB) Close() {
	_ = d.primary.Close()
	for _, r := range d.replicas {
		_ = r.Close()
	}
}

// Primary is the pool that takes writes and answers reads that must see
// them.
func (d *DB) Primary() *sql.DB { return d.primary }

// Reader is a pool for reads that need not see the caller's own writes: a
// replica when there is one.
func (d *DB) Reader() *sql.DB {
	if len(d.replicas) == 0 {
		return d.primary
	}
	return d.replicas[rand.IntN(len(d.replicas))]
}

// IDColumn is the engine's auto-increment primary key. On MariaDB
// masters that both take writes, auto_increment_increment and
// auto_increment_offset keep their keys apart.
func (d *DB) IDColumn() string {
	if d.Engine == SQLite {
		return "INTEGER PRIMARY KEY AUTOINCREMENT"
	}
	return "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
}

// migrate applies the component's migrations not yet recorded in
// schema_migrations, in version order. Every statement is idempotent, so
// two processes migrating at once converge.
func (d *DB) migrate(ctx context.Context, m Migration) error {
	names, err := fs.ReadDir(m.Files, ".")
	if err != nil {
		return err
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Name() < names[j].Name() })
	for _, e := range names {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: the name must start with its version number", e.Name())
		}
		var n int
		if err := d.primary.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?`, m.Component, v).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Component, err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(m.Files, e.Name())
		if err != nil {
			return err
		}
		for _, stmt := range statements(strings.ReplaceAll(string(body), "{{id}}", d.IDColumn())) {
			if _, err := d.primary.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s/%s: %w", m.Component, e.Name(), err)
			}
		}
		_, err = d.primary.ExecContext(ctx, `INSERT INTO schema_migrations (component, version, name, applied_ms) VALUES (?, ?, ?, ?)`,
			m.Component, v, e.Name(), time.Now().UnixMilli())
		if err != nil && !IsDuplicate(err) {
			return fmt.Errorf("migration %s/%s: %w", m.Component, e.Name(), err)
		}
	}
	return nil
}

// statements splits a migration into its statements, dropping comments.
func statements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sqlText, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Tx runs f in a transaction on the primary and commits it. A deadlock or
// a busy database, which says nothing about the request, rolls back and
// runs f again (up to 8 times); f must have no effects outside tx.
func (d *DB) Tx(ctx context.Context, f func(*sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := d.tx(ctx, f)
		if err == nil || !IsRetryable(err) || attempt >= 8 {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(5*time.Millisecond) << min(attempt, 5)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

func (d *DB) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := d.primary.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if d.Engine != MariaDB {
		return tx.Commit()
	}
	// A semi-synchronous commit waits for the peer master; bound the wait.
	done := make(chan error, 1)
	go func() { done <- tx.Commit() }()
	t := time.NewTimer(d.commitTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%w (%s): replication to the peer is stopped or slow; the change applies once the peer has it", ErrUnreplicated, d.commitTimeout)
	}
}

// ErrRace marks a transaction that lost a race for a unique key to one
// that committed first: Tx runs it again, and then it sees the winner's
// row.
var ErrRace = errors.New("lost a race for a unique key")

// IsDuplicate reports a unique-key violation.
func IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsRetryable reports a conflict between transactions, not a fault of the
// request: a deadlock, a lock wait timeout, a busy database.
func IsRetryable(err error) bool {
	if errors.Is(err, ErrRace) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED
	}
	return false
}
