package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/sqlstore"
)

// Subscription states.
const (
	StateActive   = "active"   // paid through PeriodEnd
	StatePastDue  = "past_due" // a renewal failed; no playback until paid
	StateCanceled = "canceled" // plays until PeriodEnd, then ends
	stateNone     = "none"
)

// transitions lists the state changes a subscription may make.
var transitions = map[string][]string{
	stateNone:     {StateActive},
	StateActive:   {StateActive, StatePastDue, StateCanceled},
	StatePastDue:  {StateActive, StateCanceled},
	StateCanceled: {StateActive},
}

// Subscription is an account's plan and its state.
type Subscription struct {
	Plan      Plan      `json:"plan"`
	State     string    `json:"state"`
	PeriodEnd time.Time `json:"period_end"`
	Updated   time.Time `json:"updated"`
}

// Entitled reports whether the subscription allows playback at now.
func (s Subscription) Entitled(now time.Time) bool {
	switch s.State {
	case StateActive:
		return true
	case StateCanceled:
		return now.Before(s.PeriodEnd)
	}
	return false
}

// Subscription returns an account's subscription (State "none" when it
// never had one).
func (s *Service) Subscription(ctx context.Context, account int64) (Subscription, error) {
	return s.subscription(ctx, s.db.Primary(), account)
}

func (s *Service) subscription(ctx context.Context, q querier, account int64) (Subscription, error) {
	var sub Subscription
	var planID string
	var end, upd int64
	err := q.QueryRowContext(ctx, `SELECT plan_id, state, period_end_ms, updated_ms FROM subscriptions WHERE account_id = ?`, account).
		Scan(&planID, &sub.State, &end, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return Subscription{State: stateNone}, nil
	}
	if err != nil {
		return sub, err
	}
	sub.PeriodEnd, sub.Updated = time.UnixMilli(end).UTC(), time.UnixMilli(upd).UTC()
	sub.Plan, err = s.plan(ctx, q, planID)
	return sub, err
}

// setState records a state change after checking it is allowed.
func (s *Service) setState(ctx context.Context, tx *sql.Tx, account int64, from Subscription, to, planID string, end int64, reason string) error {
	if !slices.Contains(transitions[from.State], to) {
		return errorf(CodeConflict, "a %s subscription cannot become %s", from.State, to)
	}
	now := s.now()
	if from.State == stateNone {
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (account_id, plan_id, state, period_end_ms, updated_ms, version) VALUES (?, ?, ?, ?, ?, 1)`,
			account, planID, to, end, now); err != nil {
			return err
		}
	} else if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET plan_id = ?, state = ?, period_end_ms = ?, updated_ms = ?, version = version + 1 WHERE account_id = ?`,
		planID, to, end, now, account); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO subscription_events (account_id, from_state, to_state, plan_id, reason, at_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		account, from.State, to, planID, reason, now)
	return err
}

// Subscribe starts (or restarts) a subscription to a plan and charges its
// first period to the card; an account that is subscribed changes plan
// instead, at no charge until its next period. key makes a retried
// request subscribe and charge once.
func (s *Service) Subscribe(ctx context.Context, account int64, planID, key string) (Subscription, error) {
	if key == "" {
		key = "subscribe:" + strconv.FormatInt(s.now(), 10)
	}
	return s.changeSubscription(ctx, account, func(tx *sql.Tx, cur Subscription) error {
		p, err := s.plan(ctx, tx, planID)
		if err != nil {
			return err
		}
		if cur.State == StateActive {
			return s.setState(ctx, tx, account, cur, StateActive, p.ID, cur.PeriodEnd.UnixMilli(), "plan changed from "+cur.Plan.ID)
		}
		if _, _, err := s.charge(ctx, tx, ChargeRequest{Account: account, Amount: p.Price, Source: SourceCard,
			Description: "subscription " + p.ID, Key: "sub:" + key}); err != nil {
			return err
		}
		return s.setState(ctx, tx, account, cur, StateActive, p.ID, s.cfg.Now().Add(s.cfg.Period).UnixMilli(), "subscribed")
	})
}

// changeSubscription runs change on an account's subscription under the
// account's lock and returns the subscription it leaves.
func (s *Service) changeSubscription(ctx context.Context, account int64, change func(tx *sql.Tx, cur Subscription) error) (Subscription, error) {
	var out Subscription
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, account); err != nil {
			return err
		}
		cur, err := s.subscription(ctx, tx, account)
		if err != nil {
			return err
		}
		if err := change(tx, cur); err != nil {
			return err
		}
		out, err = s.subscription(ctx, tx, account)
		return err
	})
	return out, err
}

// Cancel ends a subscription at the end of its paid period.
func (s *Service) Cancel(ctx context.Context, account int64) (Subscription, error) {
	return s.transition(ctx, account, StateCanceled, "canceled by the viewer")
}

// MarkPastDue records a failed renewal: playback stops until it is paid.
func (s *Service) MarkPastDue(ctx context.Context, account int64, reason string) (Subscription, error) {
	return s.transition(ctx, account, StatePastDue, reason)
}

func (s *Service) transition(ctx context.Context, account int64, to, reason string) (Subscription, error) {
	return s.changeSubscription(ctx, account, func(tx *sql.Tx, cur Subscription) error {
		return s.setState(ctx, tx, account, cur, to, cur.Plan.ID, cur.PeriodEnd.UnixMilli(), reason)
	})
}

// Renew charges the next period of an active or past-due subscription
// and extends it; the period's end is the idempotency key, so a billing
// run that is repeated charges once.
func (s *Service) Renew(ctx context.Context, account int64) (Subscription, error) {
	return s.changeSubscription(ctx, account, func(tx *sql.Tx, cur Subscription) error {
		if cur.State != StateActive && cur.State != StatePastDue {
			return errorf(CodeConflict, "a %s subscription is not renewed", cur.State)
		}
		if _, _, err := s.charge(ctx, tx, ChargeRequest{Account: account, Amount: cur.Plan.Price, Source: SourceCard,
			Description: "renewal " + cur.Plan.ID, Key: "renew:" + strconv.FormatInt(cur.PeriodEnd.UnixMilli(), 10)}); err != nil {
			return err
		}
		return s.setState(ctx, tx, account, cur, StateActive, cur.Plan.ID, cur.PeriodEnd.Add(s.cfg.Period).UnixMilli(), "renewed")
	})
}

// Where a charge's money comes from.
const (
	SourceCard   = "card"   // the card processor (the external book)
	SourceCredit = "credit" // the account's credit balance
)

// ChargeRequest asks to bill an account. Key is the Idempotency-Key: a
// request repeated with the same key bills once and returns the first
// charge.
type ChargeRequest struct {
	Account     int64
	Amount      int64
	Source      string
	Description string
	Key         string
}

// Charge is money billed to an account.
type Charge struct {
	ID          int64     `json:"id"`
	Account     int64     `json:"account_id"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Refunded    int64     `json:"refunded"`
	Source      string    `json:"source"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
}

func (r ChargeRequest) check() error {
	if r.Amount <= 0 {
		return errorf(CodeInvalid, "amount %d: charge a positive number of minor units (cents)", r.Amount)
	}
	if r.Source != SourceCard && r.Source != SourceCredit {
		return errorf(CodeInvalid, "source %q: use card or credit", r.Source)
	}
	if r.Key == "" || len(r.Key) > 255 {
		return errorf(CodeInvalid, "an Idempotency-Key of 1 to 255 characters is required, so that a retried charge bills once")
	}
	if len(r.Description) > 255 {
		return errorf(CodeInvalid, "a description has at most 255 bytes")
	}
	return nil
}

// Charge bills an account. The bool is false when the key was used
// before and the earlier charge is returned.
func (s *Service) Charge(ctx context.Context, r ChargeRequest) (Charge, bool, error) {
	if r.Source == "" {
		r.Source = SourceCard
	}
	if err := r.check(); err != nil {
		return Charge{}, false, err
	}
	var c Charge
	var created bool
	err := s.db.Tx(ctx, func(tx *sql.Tx) (err error) {
		c, created, err = s.charge(ctx, tx, r)
		return err
	})
	return c, created, err
}

func (s *Service) charge(ctx context.Context, tx *sql.Tx, r ChargeRequest) (Charge, bool, error) {
	hash := requestHash(strconv.FormatInt(r.Amount, 10), r.Source, r.Description)
	if c, err := s.chargeByKey(ctx, tx, r.Account, r.Key, hash); err == nil || CodeOf(err) != CodeNotFound {
		return c, false, err
	}
	now := s.now()
	from := BookExternal
	if r.Source == SourceCredit {
		from = CustomerBook(r.Account)
	}
	txn, err := post(ctx, tx, "charge", fmt.Sprintf("account %d: %s", r.Account, r.Description), now,
		leg{from, -r.Amount}, leg{BookRevenue, r.Amount})
	if err != nil {
		return Charge{}, false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO charges (account_id, idem_key, request_hash, amount, currency, refunded, source, description, txn_id, created_ms)
VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`, r.Account, r.Key, hash, r.Amount, s.cfg.Currency, r.Source, r.Description, txn, now)
	if sqlstore.IsDuplicate(err) {
		// Another request with the key committed first: this one is run
		// again whole, and then answered with that charge.
		return Charge{}, false, fmt.Errorf("charge key %q: %w", r.Key, sqlstore.ErrRace)
	}
	if err != nil {
		return Charge{}, false, err
	}
	id, err := res.LastInsertId()
	return Charge{ID: id, Account: r.Account, Amount: r.Amount, Currency: s.cfg.Currency, Source: r.Source,
		Description: r.Description, Created: time.UnixMilli(now).UTC()}, true, err
}

func (s *Service) chargeByKey(ctx context.Context, q querier, account int64, key, hash string) (Charge, error) {
	var c Charge
	var h string
	var created int64
	err := q.QueryRowContext(ctx, `SELECT id, account_id, amount, currency, refunded, source, description, created_ms, request_hash
FROM charges WHERE account_id = ? AND idem_key = ?`, account, key).
		Scan(&c.ID, &c.Account, &c.Amount, &c.Currency, &c.Refunded, &c.Source, &c.Description, &created, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return c, errorf(CodeNotFound, "no charge with that key")
	}
	if err != nil {
		return c, err
	}
	if h != hash {
		return c, errorf(CodeKeyReused, "Idempotency-Key %q was used for another charge (amount, source or description differ); use a new key", key)
	}
	c.Created = time.UnixMilli(created).UTC()
	return c, nil
}

// Charges lists an account's charges, newest first.
func (s *Service) Charges(ctx context.Context, account int64) ([]Charge, error) {
	rows, err := s.db.Primary().QueryContext(ctx, `SELECT id, account_id, amount, currency, refunded, source, description, created_ms
FROM charges WHERE account_id = ? ORDER BY id DESC`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Charge{}
	for rows.Next() {
		var c Charge
		var created int64
		if err := rows.Scan(&c.ID, &c.Account, &c.Amount, &c.Currency, &c.Refunded, &c.Source, &c.Description, &created); err != nil {
			return nil, err
		}
		c.Created = time.UnixMilli(created).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// RefundRequest gives back part or all (Amount 0) of a charge, to where
// it came from. Key makes a retried refund give back once.
type RefundRequest struct {
	Account int64
	Charge  int64
	Amount  int64
	Reason  string
	Key     string
}

// Refund is money given back.
type Refund struct {
	ID      int64     `json:"id"`
	Charge  int64     `json:"charge_id"`
	Amount  int64     `json:"amount"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created"`
}

// Refund gives money back; the refunds of a charge never add up to more
// than it. The bool is false when the key was used before.
func (s *Service) Refund(ctx context.Context, r RefundRequest) (Refund, bool, error) {
	if r.Amount < 0 {
		return Refund{}, false, errorf(CodeInvalid, "amount %d: refund a positive number of minor units, or 0 for all that is left", r.Amount)
	}
	if r.Key == "" || len(r.Key) > 255 || len(r.Reason) > 255 {
		return Refund{}, false, errorf(CodeInvalid, "a refund needs an Idempotency-Key of 1 to 255 characters and a reason of at most 255 bytes")
	}
	var out Refund
	created := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		hash := requestHash(strconv.FormatInt(r.Amount, 10), r.Reason)
		var h string
		var at int64
		err := tx.QueryRowContext(ctx, `SELECT id, amount, reason, created_ms, request_hash FROM refunds WHERE charge_id = ? AND idem_key = ?`, r.Charge, r.Key).
			Scan(&out.ID, &out.Amount, &out.Reason, &at, &h)
		if err == nil {
			if h != hash {
				return errorf(CodeKeyReused, "Idempotency-Key %q was used for another refund; use a new key", r.Key)
			}
			out.Charge, out.Created = r.Charge, time.UnixMilli(at).UTC()
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var amount, refunded int64
		var source string
		err = tx.QueryRowContext(ctx, `SELECT amount, refunded, source FROM charges WHERE id = ? AND account_id = ?`, r.Charge, r.Account).Scan(&amount, &refunded, &source)
		if errors.Is(err, sql.ErrNoRows) {
			return errorf(CodeNotFound, "account %d has no charge %d", r.Account, r.Charge)
		}
		if err != nil {
			return err
		}
		give := r.Amount
		if give == 0 {
			give = amount - refunded
		}
		// The condition holds under concurrent refunds: the update takes
		// the charge's row and re-reads it.
		res, err := tx.ExecContext(ctx, `UPDATE charges SET refunded = refunded + ? WHERE id = ? AND refunded + ? <= amount`, give, r.Charge, give)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || give <= 0 {
			return errorf(CodeConflict, "charge %d has %d of %d left to refund; %d is more", r.Charge, amount-refunded, amount, give)
		}
		to := BookExternal
		if source == SourceCredit {
			to = CustomerBook(r.Account)
		}
		now := s.now()
		txn, err := post(ctx, tx, "refund", fmt.Sprintf("charge %d: %s", r.Charge, r.Reason), now, leg{BookRevenue, -give}, leg{to, give})
		if err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO refunds (charge_id, idem_key, request_hash, amount, reason, txn_id, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.Charge, r.Key, hash, give, r.Reason, txn, now)
		if sqlstore.IsDuplicate(err) {
			return fmt.Errorf("refund key %q: %w", r.Key, sqlstore.ErrRace)
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		out = Refund{ID: id, Charge: r.Charge, Amount: give, Reason: r.Reason, Created: time.UnixMilli(now).UTC()}
		created = true
		return err
	})
	return out, created, err
}

// Credit adds to an account's credit balance from outside (a gift card,
// a goodwill credit).
func (s *Service) Credit(ctx context.Context, account, amount int64, memo string) error {
	if amount <= 0 {
		return errorf(CodeInvalid, "amount %d: credit a positive number of minor units", amount)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := post(ctx, tx, "credit", memo, s.now(), leg{BookExternal, -amount}, leg{CustomerBook(account), amount})
		return err
	})
}

// Transfer moves credit from one account to another; the sender's
// balance never goes below zero, however many transfers run at once.
func (s *Service) Transfer(ctx context.Context, from, to, amount int64) error {
	if amount <= 0 {
		return errorf(CodeInvalid, "amount %d: transfer a positive number of minor units", amount)
	}
	if from == to {
		return errorf(CodeInvalid, "a transfer needs two accounts")
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := post(ctx, tx, "transfer", fmt.Sprintf("account %d to %d", from, to), s.now(),
			leg{CustomerBook(from), -amount}, leg{CustomerBook(to), amount})
		return err
	})
}

// leg is one entry of a ledger transaction.
type leg struct {
	book   string
	amount int64
}

// post writes a balanced ledger transaction and moves its books'
// balances. Books are updated in name order, so transactions that share
// books take their locks in one order and do not deadlock; a book that
// may not go negative is checked in the same statement that moves it.
func post(ctx context.Context, tx *sql.Tx, kind, memo string, now int64, legs ...leg) (int64, error) {
	var sum int64
	for _, l := range legs {
		sum += l.amount
	}
	if sum != 0 {
		return 0, fmt.Errorf("ledger %s: entries sum to %d, not 0", kind, sum)
	}
	if len(memo) > 255 {
		memo = memo[:255]
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ledger_txns (kind, memo, created_ms) VALUES (?, ?, ?)`, kind, memo, now)
	if err != nil {
		return 0, err
	}
	txn, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	sorted := slices.Clone(legs)
	slices.SortFunc(sorted, func(a, b leg) int { return strings.Compare(a.book, b.book) })
	for _, l := range sorted {
		res, err := tx.ExecContext(ctx, `UPDATE ledger_books SET balance = balance + ? WHERE name = ? AND (allow_negative = 1 OR balance + ? >= 0)`,
			l.amount, l.book, l.amount)
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var bal int64
			err := tx.QueryRowContext(ctx, `SELECT balance FROM ledger_books WHERE name = ?`, l.book).Scan(&bal)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, errorf(CodeNotFound, "no ledger book %s (no such account)", l.book)
			}
			if err != nil {
				return 0, err
			}
			return 0, errorf(CodeInsufficient, "%s has %d; %d more is needed", l.book, bal, -l.amount-bal)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_entries (txn_id, book, amount, created_ms) VALUES (?, ?, ?, ?)`, txn, l.book, l.amount, now); err != nil {
			return 0, err
		}
	}
	return txn, nil
}

// Entry is one line of a book.
type Entry struct {
	ID      int64     `json:"id"`
	Txn     int64     `json:"txn_id"`
	Kind    string    `json:"kind"`
	Memo    string    `json:"memo"`
	Amount  int64     `json:"amount"`
	Created time.Time `json:"created"`
}

// Book returns a book's balance and its entries, newest first (at most
// limit).
func (s *Service) Book(ctx context.Context, book string, limit int) (int64, []Entry, error) {
	var bal int64
	err := s.db.Primary().QueryRowContext(ctx, `SELECT balance FROM ledger_books WHERE name = ?`, book).Scan(&bal)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, errorf(CodeNotFound, "no ledger book %s", book)
	}
	if err != nil {
		return 0, nil, err
	}
	rows, err := s.db.Primary().QueryContext(ctx, `SELECT e.id, e.txn_id, t.kind, t.memo, e.amount, e.created_ms
FROM ledger_entries e JOIN ledger_txns t ON t.id = e.txn_id WHERE e.book = ? ORDER BY e.id DESC LIMIT ?`, book, limit)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &e.Txn, &e.Kind, &e.Memo, &e.Amount, &at); err != nil {
			return 0, nil, err
		}
		e.Created = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return bal, out, rows.Err()
}

// Audit is the ledger's check: each book's balance against the sum of
// its entries, each transaction's entries against zero.
type Audit struct {
	Books      int      `json:"books"`
	Txns       int      `json:"transactions"`
	Total      int64    `json:"total"` // the sum of every balance: 0
	Mismatched []string `json:"mismatched,omitempty"`
	Unbalanced []int64  `json:"unbalanced_transactions,omitempty"`
}

// OK reports a consistent ledger.
func (a Audit) OK() bool { return a.Total == 0 && len(a.Mismatched) == 0 && len(a.Unbalanced) == 0 }

// Audit checks the ledger in one transaction (one snapshot).
func (s *Service) Audit(ctx context.Context) (Audit, error) {
	var a Audit
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		a = Audit{}
		rows, err := tx.QueryContext(ctx, `SELECT b.name, b.balance, COALESCE(SUM(e.amount), 0)
FROM ledger_books b LEFT JOIN ledger_entries e ON e.book = b.name GROUP BY b.name, b.balance`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			var bal, sum int64
			if err := rows.Scan(&name, &bal, &sum); err != nil {
				rows.Close()
				return err
			}
			a.Books++
			a.Total += bal
			if bal != sum {
				a.Mismatched = append(a.Mismatched, fmt.Sprintf("%s: balance %d, entries %d", name, bal, sum))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_txns`).Scan(&a.Txns); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT txn_id FROM ledger_entries GROUP BY txn_id HAVING SUM(amount) <> 0`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			a.Unbalanced = append(a.Unbalanced, id)
		}
		return rows.Err()
	})
	return a, err
}
