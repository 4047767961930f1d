// Package accounts is the viewer side's system of record: accounts with
// hashed passwords, viewer sessions, profiles, plans, subscriptions and
// their state changes, idempotent charges, refunds and a double-entry
// ledger, on embedded SQLite for one machine or on a MariaDB master pair
// (semi-synchronous, GTID) with read replicas.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reel-video/reel/sqlstore"
)

// Error is a domain error with a code the HTTP layer maps to a status.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// The error codes.
const (
	CodeInvalid      = "invalid_input"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeInsufficient = "insufficient_funds"
	CodeKeyReused    = "idempotency_key_reused"
	CodeTooMany      = "too_many_profiles"
	CodeUnreplicated = "unreplicated"
)

func errorf(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf is err's domain code, or "" for an internal error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, sqlstore.ErrUnreplicated) {
		return CodeUnreplicated
	}
	return ""
}

// Plan is what a subscription buys: a resolution cap and concurrent
// streams, for a price a month in minor units.
type Plan struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	MaxHeight int    `json:"max_height"`
	Streams   int    `json:"streams"`
	Price     int64  `json:"price"`
	Currency  string `json:"currency"`
}

// DefaultPlans are the plans of a new store.
var DefaultPlans = []Plan{
	{ID: "basic", Name: "Basic", MaxHeight: 720, Streams: 1, Price: 799, Currency: "USD"},
	{ID: "standard", Name: "Standard", MaxHeight: 1080, Streams: 2, Price: 1549, Currency: "USD"},
	{ID: "premium", Name: "Premium", MaxHeight: 2160, Streams: 4, Price: 2299, Currency: "USD"},
}

// Config tunes the service; every zero value is a documented default.
type Config struct {
	Plans      []Plan        // plans offered (DefaultPlans); kept in the store
	Currency   string        // the ledger's currency ("USD")
	SessionTTL time.Duration // how long a viewer's sign-in lasts (30 days)
	Period     time.Duration // a subscription's billing period (30 days)
	Hash       HashParams    // password hashing (argon2id, OWASP's minimum)
	Now        func() time.Time
}

// Service runs the accounts use cases on a DB.
type Service struct {
	db  *sqlstore.DB
	cfg Config
}

// MaxProfiles is how many profiles one account may have.
const MaxProfiles = 5

// Books of the ledger besides each account's own ("customer:{id}").
const (
	BookExternal = "external" // money from and to outside (the card processor)
	BookRevenue  = "revenue"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Schema is the accounts tables' migrations.
var Schema = sqlstore.Migrations("accounts", migrations, "migrations")

// New returns the service over db: it migrates the accounts tables and
// seeds the configured plans and the shared books (Seed), or, when db was
// opened with NoMigrate, checks that another process did.
func New(ctx context.Context, db *sqlstore.DB, cfg Config) (*Service, error) {
	if cfg.Plans == nil {
		cfg.Plans = DefaultPlans
	}
	if cfg.Currency == "" {
		cfg.Currency = "USD"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 30 * 24 * time.Hour
	}
	if cfg.Period <= 0 {
		cfg.Period = 30 * 24 * time.Hour
	}
	if cfg.Hash == (HashParams{}) {
		cfg.Hash = DefaultHash
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{db: db, cfg: cfg}
	for _, p := range cfg.Plans {
		if p.Currency != cfg.Currency {
			return nil, fmt.Errorf("plan %s is in %s; the ledger is in %s", p.ID, p.Currency, cfg.Currency)
		}
	}
	if err := db.Prepare(ctx, Schema); err != nil {
		return nil, err
	}
	if !db.NoMigrate() {
		if err := s.Seed(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Seed writes the configured plans and the shared ledger books where they
// are missing or differ, and nothing where they are in place (so that a
// master that receives them by replication writes nothing of its own).
func (s *Service) Seed(ctx context.Context) error {
	db := s.db.Primary()
	for _, p := range s.cfg.Plans {
		cur, err := s.plan(ctx, db, p.ID)
		switch {
		case CodeOf(err) == CodeInvalid: // missing
			_, err = db.ExecContext(ctx, `INSERT INTO plans (id, name, max_height, streams, price, currency) VALUES (?, ?, ?, ?, ?, ?)`,
				p.ID, p.Name, p.MaxHeight, p.Streams, p.Price, p.Currency)
		case err == nil && cur != p:
			_, err = db.ExecContext(ctx, `UPDATE plans SET name = ?, max_height = ?, streams = ?, price = ?, currency = ? WHERE id = ?`,
				p.Name, p.MaxHeight, p.Streams, p.Price, p.Currency, p.ID)
		}
		if err != nil && !sqlstore.IsDuplicate(err) {
			return fmt.Errorf("seed plan %s: %w", p.ID, err)
		}
	}
	for _, b := range []struct {
		name string
		neg  int
	}{{BookExternal, 1}, {BookRevenue, 0}} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_books WHERE name = ?`, b.name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO ledger_books (name, balance, allow_negative) VALUES (?, 0, ?)`, b.name, b.neg); err != nil && !sqlstore.IsDuplicate(err) {
			return fmt.Errorf("create book %s: %w", b.name, err)
		}
	}
	return nil
}

func (s *Service) now() int64 { return s.cfg.Now().UnixMilli() }

// Account is a viewer's account.
type Account struct {
	ID      int64     `json:"id"`
	Email   string    `json:"email"`
	Created time.Time `json:"created"`
}

// CustomerBook is the ledger book of an account's credit.
func CustomerBook(id int64) string { return "customer:" + strconv.FormatInt(id, 10) }

// normalEmail checks and lower-cases an e-mail address.
func normalEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 || !strings.Contains(email, "@") {
		return "", errorf(CodeInvalid, "email %q is not an e-mail address such as viewer@example.com", email)
	}
	return strings.ToLower(email), nil
}

func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < 8 || len(pw) > 256 {
		return errorf(CodeInvalid, "a password needs 8 to 256 characters (this one has %d)", n)
	}
	return nil
}

// SignUp creates an account with one profile ("Main", all ratings) and
// its own ledger book.
func (s *Service) SignUp(ctx context.Context, email, password string) (Account, error) {
	email, err := normalEmail(email)
	if err != nil {
		return Account{}, err
	}
	if err := checkPassword(password); err != nil {
		return Account{}, err
	}
	hash, err := s.cfg.Hash.Hash(password)
	if err != nil {
		return Account{}, err
	}
	now := s.now()
	var a Account
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO accounts (email, password_hash, version, created_ms) VALUES (?, ?, 0, ?)`, email, hash, now)
		if sqlstore.IsDuplicate(err) {
			return errorf(CodeConflict, "an account with email %s exists; sign in instead", email)
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO profiles (account_id, name, maturity, created_ms) VALUES (?, 'Main', ?, ?)`, id, MaturityAdult, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_books (name, balance, allow_negative) VALUES (?, 0, 0)`, CustomerBook(id)); err != nil {
			return err
		}
		a = Account{ID: id, Email: email, Created: time.UnixMilli(now).UTC()}
		return nil
	})
	return a, err
}

// Session is a viewer's sign-in: Token goes in "Authorization: Bearer".
type Session struct {
	Token   string    `json:"token"`
	Account int64     `json:"account_id"`
	Expires time.Time `json:"expires"`
}

// SessionPrefix starts every viewer token, which tells them from tenants'
// API keys.
const SessionPrefix = "rvs_"

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// SignIn checks a password and starts a session. A wrong email and a
// wrong password fail alike, in about the same time.
func (s *Service) SignIn(ctx context.Context, email, password string) (Session, error) {
	bad := errorf(CodeUnauthorized, "wrong email or password")
	email, err := normalEmail(email)
	if err != nil {
		return Session{}, bad
	}
	var id int64
	var hash string
	err = s.db.Primary().QueryRowContext(ctx, `SELECT id, password_hash FROM accounts WHERE email = ?`, email).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		_, _ = s.cfg.Hash.Hash(password) // the time a check would take
		return Session{}, bad
	}
	if err != nil {
		return Session{}, err
	}
	if ok, err := VerifyPassword(hash, password); err != nil || !ok {
		return Session{}, bad
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Session{}, err
	}
	token := SessionPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.cfg.Now()
	exp := now.Add(s.cfg.SessionTTL)
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// The account's ended sessions go as a new one starts.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ? AND expires_ms <= ?`, id, now.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, account_id, expires_ms, created_ms) VALUES (?, ?, ?, ?)`,
			tokenHash(token), id, exp.UnixMilli(), now.UnixMilli())
		return err
	})
	if err != nil {
		return Session{}, err
	}
	return Session{Token: token, Account: id, Expires: exp.UTC()}, nil
}

// Authenticate returns the account a session token belongs to.
func (s *Service) Authenticate(ctx context.Context, token string) (int64, error) {
	if !strings.HasPrefix(token, SessionPrefix) {
		return 0, errorf(CodeUnauthorized, "not a viewer session token; sign in with POST /v1/accounts/sessions")
	}
	var id, exp int64
	// The primary: a session made a moment ago must work at once.
	err := s.db.Primary().QueryRowContext(ctx, `SELECT account_id, expires_ms FROM sessions WHERE token_hash = ?`, tokenHash(token)).Scan(&id, &exp)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && exp <= s.now()) {
		return 0, errorf(CodeUnauthorized, "the session has ended or never was; sign in again")
	}
	return id, err
}

// SignOut ends a session.
func (s *Service) SignOut(ctx context.Context, token string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash(token))
		return err
	})
}

// GetAccount returns an account.
func (s *Service) GetAccount(ctx context.Context, id int64) (Account, error) {
	var a Account
	var created int64
	err := s.db.Primary().QueryRowContext(ctx, `SELECT id, email, created_ms FROM accounts WHERE id = ?`, id).Scan(&a.ID, &a.Email, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return a, errorf(CodeNotFound, "no account %d", id)
	}
	a.Created = time.UnixMilli(created).UTC()
	return a, err
}

// lockAccount takes the account's row lock for the rest of tx, so that
// checks across its rows (profile count, subscription state) hold until
// commit on every engine.
func lockAccount(ctx context.Context, tx *sql.Tx, id int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE accounts SET version = version + 1 WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errorf(CodeNotFound, "no account %d", id)
	}
	return nil
}

// Maturity levels of a profile, from the youngest.
const (
	MaturityKids  = "kids"  // G, TV-Y, TV-Y7, TV-G
	MaturityTeen  = "teen"  // also PG, PG-13, TV-PG, TV-14
	MaturityAdult = "adult" // every rating
)

// Profile is one viewer of an account.
type Profile struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Maturity string `json:"maturity"`
}

// AddProfile adds a profile; an account has at most MaxProfiles.
func (s *Service) AddProfile(ctx context.Context, account int64, name, maturity string) (Profile, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 64 {
		return Profile{}, errorf(CodeInvalid, "a profile name needs 1 to 64 characters")
	}
	if maturity == "" {
		maturity = MaturityAdult
	}
	if maturity != MaturityKids && maturity != MaturityTeen && maturity != MaturityAdult {
		return Profile{}, errorf(CodeInvalid, "maturity %q: use kids, teen or adult", maturity)
	}
	var p Profile
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, account); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM profiles WHERE account_id = ?`, account).Scan(&n); err != nil {
			return err
		}
		if n >= MaxProfiles {
			return errorf(CodeTooMany, "an account has at most %d profiles; delete one first", MaxProfiles)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO profiles (account_id, name, maturity, created_ms) VALUES (?, ?, ?, ?)`, account, name, maturity, s.now())
		if sqlstore.IsDuplicate(err) {
			return errorf(CodeConflict, "a profile named %q exists", name)
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		p = Profile{ID: id, Name: name, Maturity: maturity}
		return err
	})
	return p, err
}

// Profiles lists an account's profiles.
func (s *Service) Profiles(ctx context.Context, account int64) ([]Profile, error) {
	rows, err := s.db.Primary().QueryContext(ctx, `SELECT id, name, maturity FROM profiles WHERE account_id = ? ORDER BY id`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Profile{}
	for rows.Next() {
		var p Profile
		if err := rows.Scan(&p.ID, &p.Name, &p.Maturity); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Profile returns one of an account's profiles.
func (s *Service) Profile(ctx context.Context, account, id int64) (Profile, error) {
	p := Profile{ID: id}
	err := s.db.Primary().QueryRowContext(ctx, `SELECT name, maturity FROM profiles WHERE account_id = ? AND id = ?`, account, id).Scan(&p.Name, &p.Maturity)
	if errors.Is(err, sql.ErrNoRows) {
		return p, errorf(CodeNotFound, "account %d has no profile %d", account, id)
	}
	return p, err
}

// DeleteProfile removes a profile; the last one stays.
func (s *Service) DeleteProfile(ctx context.Context, account, id int64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, account); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM profiles WHERE account_id = ?`, account).Scan(&n); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM profiles WHERE account_id = ? AND id = ?`, account, id)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return errorf(CodeNotFound, "account %d has no profile %d", account, id)
		}
		if n <= 1 {
			return errorf(CodeConflict, "an account keeps at least one profile")
		}
		return nil
	})
}

// Plans lists the plans, cheapest first.
func (s *Service) Plans(ctx context.Context) ([]Plan, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, name, max_height, streams, price, currency FROM plans ORDER BY price, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Plan{}
	for rows.Next() {
		var p Plan
		if err := rows.Scan(&p.ID, &p.Name, &p.MaxHeight, &p.Streams, &p.Price, &p.Currency); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Service) plan(ctx context.Context, q querier, id string) (Plan, error) {
	p := Plan{ID: id}
	err := q.QueryRowContext(ctx, `SELECT name, max_height, streams, price, currency FROM plans WHERE id = ?`, id).
		Scan(&p.Name, &p.MaxHeight, &p.Streams, &p.Price, &p.Currency)
	if errors.Is(err, sql.ErrNoRows) {
		return p, errorf(CodeInvalid, "no plan %q; GET /v1/accounts/plans lists them", id)
	}
	return p, err
}

// querier is what a *sql.DB and a *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func requestHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DB is the store the service runs on.
func (s *Service) DB() *sqlstore.DB { return s.db }
