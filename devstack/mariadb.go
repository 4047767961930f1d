package devstack

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The database and account Reel uses on a local MariaDB, and the account
// the servers replicate with.
const (
	MariaDBDatabase = "reel"
	MariaDBUser     = "reel"
	MariaDBPassword = "reel-dev-password"
	mariaDBRepl     = "repl"
	mariaDBReplPass = "reel-repl-password"
)

// MariaDBOptions configure one mariadbd. The zero value is a lone server
// with binary logging and GTIDs.
type MariaDBOptions struct {
	Port     int // 0: a free one
	ServerID int // also the GTID domain: masters that both take writes keep apart (1)
	// AutoIncrementIncrement and AutoIncrementOffset keep the keys of
	// masters that both take writes apart (1, 1).
	AutoIncrementIncrement, AutoIncrementOffset int
	// SemiSync makes a commit wait (AFTER_SYNC: before any other session
	// sees it) until a replica has it, and makes this server acknowledge
	// what it replicates.
	SemiSync bool
	// SemiSyncTimeout is how long the server waits for that before it
	// gives up and commits unreplicated; 0 waits (practically) forever,
	// leaving the bound to the client.
	SemiSyncTimeout time.Duration
	ReadOnly        bool // a read replica
}

// MariaDB is a running mariadbd.
type MariaDB struct {
	*Proc
	Port   int
	Socket string
	Dir    string
	Opts   MariaDBOptions
	bin    string
}

// StartMariaDB initialises a data folder under dir (mariadb-install-db)
// unless it has one, starts mariadbd on it and creates Reel's database
// and accounts. Restarting on the same dir and Opts.Port reuses the
// data.
func StartMariaDB(ctx context.Context, bin, dir string, o MariaDBOptions) (*MariaDB, error) {
	bin, port, err := prepare(bin, "mariadbd", dir, o.Port)
	if err != nil {
		return nil, err
	}
	o.Port = port
	if o.ServerID == 0 {
		o.ServerID = 1
	}
	if o.AutoIncrementIncrement == 0 {
		o.AutoIncrementIncrement, o.AutoIncrementOffset = 1, 1
	}
	data := filepath.Join(dir, "data")
	fresh := false
	if _, err := os.Stat(filepath.Join(data, "mysql")); errors.Is(err, os.ErrNotExist) {
		install, err := LookBin("", "mariadb-install-db")
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, install, "--no-defaults", "--datadir="+data, "--auth-root-authentication-method=normal",
			"--skip-test-db", "--user="+currentUser())
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("mariadb-install-db: %w: %s", err, tail(out))
		}
		fresh = true
	}
	m := &MariaDB{Port: port, Socket: filepath.Join(dir, "mariadb.sock"), Dir: dir, Opts: o, bin: bin}
	timeout := o.SemiSyncTimeout
	if timeout <= 0 {
		timeout = time.Duration(1<<32-1) * time.Millisecond // the largest the server takes
	}
	args := []string{"--no-defaults", "--datadir=" + data, "--user=" + currentUser(),
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(port), "--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(dir, "mariadb.pid"), "--skip-name-resolve",
		"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--max-connections=200",
		"--server-id=" + strconv.Itoa(o.ServerID), "--gtid-domain-id=" + strconv.Itoa(o.ServerID),
		"--log-bin=binlog", "--log-slave-updates=1", "--gtid-strict-mode=1", "--binlog-format=ROW",
		"--sync-binlog=1", "--innodb-flush-log-at-trx-commit=1",
		"--auto-increment-increment=" + strconv.Itoa(o.AutoIncrementIncrement),
		"--auto-increment-offset=" + strconv.Itoa(o.AutoIncrementOffset),
		"--relay-log=relay",
	}
	if o.SemiSync {
		args = append(args, "--rpl-semi-sync-master-enabled=1", "--rpl-semi-sync-slave-enabled=1",
			"--rpl-semi-sync-master-wait-point=AFTER_SYNC", "--rpl-semi-sync-master-wait-no-slave=1",
			"--rpl-semi-sync-master-timeout="+strconv.FormatInt(timeout.Milliseconds(), 10))
	}
	if o.ReadOnly {
		args = append(args, "--read-only=1")
	}
	m.Proc, err = launch(ctx, "mariadbd", exec.Command(bin, args...), filepath.Join(dir, "mariadb.log"), "127.0.0.1:"+strconv.Itoa(port),
		func(p *Proc) error {
			return poll(ctx, p, func() bool {
				db, err := m.Root()
				if err != nil {
					return false
				}
				defer db.Close()
				return db.PingContext(ctx) == nil
			})
		})
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := m.bootstrap(ctx); err != nil {
			m.Stop()
			return nil, err
		}
	}
	return m, nil
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Geteuid() == 0 {
		return "root"
	}
	return strconv.Itoa(os.Geteuid())
}

func tail(b []byte) string {
	if len(b) > 800 {
		b = b[len(b)-800:]
	}
	return string(b)
}

// Root opens a connection pool as root over the server's socket.
func (m *MariaDB) Root() (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", m.Socket
	cfg.Timeout = 2 * time.Second
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// bootstrap creates Reel's database and accounts, outside the binary log
// so that each server's own set-up does not replicate.
func (m *MariaDB) bootstrap(ctx context.Context) error {
	db, err := m.Root()
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE DATABASE IF NOT EXISTS " + MariaDBDatabase,
		fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", MariaDBUser, MariaDBPassword),
		fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", MariaDBDatabase, MariaDBUser),
		fmt.Sprintf("GRANT SLAVE MONITOR, REPLICATION CLIENT ON *.* TO '%s'@'%%'", MariaDBUser),
		fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", mariaDBRepl, mariaDBReplPass),
		fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'@'%%'", mariaDBRepl),
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb bootstrap %q: %w", q, err)
		}
	}
	return nil
}

// DSN is Reel's DSN for this server's database.
func (m *MariaDB) DSN() string {
	u := url.URL{Scheme: "mysql", User: url.UserPassword(MariaDBUser, MariaDBPassword),
		Host: "127.0.0.1:" + strconv.Itoa(m.Port), Path: "/" + MariaDBDatabase}
	return u.String()
}

// Kill ends the server with SIGKILL, as a crash would, and waits.
func (m *MariaDB) Kill() {
	if m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
}

// Restart starts the server again on its data folder and port after it
// stopped.
func (m *MariaDB) Restart(ctx context.Context) error {
	n, err := StartMariaDB(ctx, m.bin, m.Dir, m.Opts)
	if err != nil {
		return err
	}
	*m = *n
	return nil
}

// Promote lets a master whose peer is gone commit alone: it stops
// waiting for acknowledgements, so the transactions it holds back (its
// own, and those it applied from the peer before the peer died) commit at
// once, and new ones commit unreplicated until Rejoin. A failover step,
// taken once the peer is known to be down.
func (m *MariaDB) Promote(ctx context.Context) error {
	return m.setGlobal(ctx, "SET GLOBAL rpl_semi_sync_master_enabled = OFF")
}

// Rejoin makes commits wait for the peer again, once it replicates.
func (m *MariaDB) Rejoin(ctx context.Context) error {
	return m.setGlobal(ctx, "SET GLOBAL rpl_semi_sync_master_enabled = ON")
}

func (m *MariaDB) setGlobal(ctx context.Context, q string) error {
	db, err := m.Root()
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("mariadb %d: %q: %w", m.Port, q, err)
	}
	return nil
}

// ReplicateFrom makes m a replica of source, from where m's GTID
// position says it is, and starts it.
func (m *MariaDB) ReplicateFrom(ctx context.Context, source *MariaDB) error {
	db, err := m.Root()
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		"STOP SLAVE",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
			source.Port, mariaDBRepl, mariaDBReplPass),
		"START SLAVE",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb %d replicate from %d: %q: %w", m.Port, source.Port, q, err)
		}
	}
	return nil
}

// StartMariaDBPair starts two masters under dir that replicate each
// other semi-synchronously, both taking writes (odd keys on the first,
// even on the second).
func StartMariaDBPair(ctx context.Context, bin, dir string) ([2]*MariaDB, error) {
	var ms [2]*MariaDB
	for i := range ms {
		m, err := StartMariaDB(ctx, bin, filepath.Join(dir, "master"+strconv.Itoa(i+1)), MariaDBOptions{
			ServerID: i + 1, AutoIncrementIncrement: 2, AutoIncrementOffset: i + 1, SemiSync: true})
		if err != nil {
			for _, s := range ms[:i] {
				s.Stop()
			}
			return ms, err
		}
		ms[i] = m
	}
	for i, m := range ms {
		if err := m.ReplicateFrom(ctx, ms[1-i]); err != nil {
			ms[0].Stop()
			ms[1].Stop()
			return ms, err
		}
	}
	return ms, nil
}
