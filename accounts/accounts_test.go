package accounts_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/sqlstore"
)

// fastHash keeps the suite quick under the race detector; the default
// costs are tested in password_test.go.
var fastHash = accounts.HashParams{Memory: 64, Time: 1, Threads: 1}

func eachEngine(t *testing.T, f func(t *testing.T, db *sqlstore.DB)) { testenv.EachSQL(t, f) }

func newService(t *testing.T, db *sqlstore.DB, now func() time.Time) *accounts.Service {
	t.Helper()
	s, err := accounts.New(context.Background(), db, accounts.Config{Hash: fastHash, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signUp(t *testing.T, s *accounts.Service, email string) accounts.Account {
	t.Helper()
	a, err := s.SignUp(context.Background(), email, "correct horse battery")
	if err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	return a
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := accounts.CodeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func checkAudit(t *testing.T, s *accounts.Service) accounts.Audit {
	t.Helper()
	a, err := s.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !a.OK() {
		t.Fatalf("ledger audit failed: %+v", a)
	}
	return a
}

func TestSignUpAndSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newService(t, db, nil)
		a := signUp(t, s, "Viewer@Example.com")
		if a.Email != "viewer@example.com" {
			t.Errorf("email %q, want it lower-cased", a.Email)
		}
		_, err := s.SignUp(ctx, "viewer@example.com", "another password")
		wantCode(t, err, accounts.CodeConflict)
		_, err = s.SignUp(ctx, "not an address", "long enough password")
		wantCode(t, err, accounts.CodeInvalid)
		_, err = s.SignUp(ctx, "short@example.com", "short")
		wantCode(t, err, accounts.CodeInvalid)

		_, err = s.SignIn(ctx, "viewer@example.com", "wrong password")
		wantCode(t, err, accounts.CodeUnauthorized)
		_, err = s.SignIn(ctx, "nobody@example.com", "correct horse battery")
		wantCode(t, err, accounts.CodeUnauthorized)
		sess, err := s.SignIn(ctx, "VIEWER@example.com", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Authenticate(ctx, sess.Token)
		if err != nil || id != a.ID {
			t.Fatalf("authenticate: %d, %v; want %d", id, err, a.ID)
		}
		if err := s.SignOut(ctx, sess.Token); err != nil {
			t.Fatal(err)
		}
		_, err = s.Authenticate(ctx, sess.Token)
		wantCode(t, err, accounts.CodeUnauthorized)
		_, err = s.Authenticate(ctx, "rvs_forged")
		wantCode(t, err, accounts.CodeUnauthorized)
	})
}

func TestSessionExpires(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		var now atomic.Int64
		now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
		s := newService(t, db, func() time.Time { return time.UnixMilli(now.Load()) })
		signUp(t, s, "a@example.com")
		sess, err := s.SignIn(ctx, "a@example.com", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		now.Add((31 * 24 * time.Hour).Milliseconds())
		_, err = s.Authenticate(ctx, sess.Token)
		wantCode(t, err, accounts.CodeUnauthorized)
		// Signing in again removes the ended session.
		if _, err := s.SignIn(ctx, "a@example.com", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.Primary().QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d sessions kept, %v; want the new one alone", n, err)
		}
	})
}

func TestProfilesLimitHoldsUnderConcurrency(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newService(t, db, nil)
		a := signUp(t, s, "family@example.com")
		var wg sync.WaitGroup
		var ok, tooMany atomic.Int32
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.AddProfile(ctx, a.ID, fmt.Sprintf("kid %d", i), accounts.MaturityKids)
				switch accounts.CodeOf(err) {
				case "":
					if err == nil {
						ok.Add(1)
						return
					}
					t.Error(err)
				case accounts.CodeTooMany:
					tooMany.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		ps, err := s.Profiles(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != accounts.MaxProfiles || ok.Load() != accounts.MaxProfiles-1 || tooMany.Load() != 12-(accounts.MaxProfiles-1) {
			t.Fatalf("%d profiles (%d added, %d refused), want %d", len(ps), ok.Load(), tooMany.Load(), accounts.MaxProfiles)
		}
		_, err = s.AddProfile(ctx, a.ID, "x", "nc-17")
		wantCode(t, err, accounts.CodeInvalid)
		for _, p := range ps[1:] {
			if err := s.DeleteProfile(ctx, a.ID, p.ID); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, s.DeleteProfile(ctx, a.ID, ps[0].ID), accounts.CodeConflict)
		other := signUp(t, s, "other@example.com")
		wantCode(t, s.DeleteProfile(ctx, other.ID, ps[0].ID), accounts.CodeNotFound)
	})
}

func TestSubscriptionStates(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		var now atomic.Int64
		start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		now.Store(start.UnixMilli())
		s := newService(t, db, func() time.Time { return time.UnixMilli(now.Load()) })
		a := signUp(t, s, "sub@example.com")
		sub, err := s.Subscription(ctx, a.ID)
		if err != nil || sub.State != "none" || sub.Entitled(start) {
			t.Fatalf("new account: %+v, %v", sub, err)
		}
		_, err = s.Subscribe(ctx, a.ID, "gold", "k0")
		wantCode(t, err, accounts.CodeInvalid)
		sub, err = s.Subscribe(ctx, a.ID, "basic", "k1")
		if err != nil || sub.State != accounts.StateActive || sub.Plan.MaxHeight != 720 || sub.Plan.Streams != 1 {
			t.Fatalf("subscribe: %+v, %v", sub, err)
		}
		// A retried request (same key) charges once.
		if _, err := s.Subscribe(ctx, a.ID, "basic", "k1"); err != nil {
			t.Fatal(err)
		}
		sub, err = s.Subscribe(ctx, a.ID, "premium", "k2")
		if err != nil || sub.Plan.ID != "premium" || sub.State != accounts.StateActive {
			t.Fatalf("change plan: %+v, %v", sub, err)
		}
		cs, err := s.Charges(ctx, a.ID)
		if err != nil || len(cs) != 1 || cs[0].Amount != 799 {
			t.Fatalf("charges after subscribing and changing plan: %+v, %v; want one of 799", cs, err)
		}
		sub, err = s.Cancel(ctx, a.ID)
		if err != nil || sub.State != accounts.StateCanceled {
			t.Fatalf("cancel: %+v, %v", sub, err)
		}
		if !sub.Entitled(start.Add(24 * time.Hour)) {
			t.Error("a canceled subscription plays until its period ends")
		}
		if sub.Entitled(sub.PeriodEnd.Add(time.Second)) {
			t.Error("a canceled subscription plays after its period ended")
		}
		_, err = s.MarkPastDue(ctx, a.ID, "card declined")
		wantCode(t, err, accounts.CodeConflict)
		_, err = s.Renew(ctx, a.ID)
		wantCode(t, err, accounts.CodeConflict)
		now.Add((40 * 24 * time.Hour).Milliseconds())
		sub, err = s.Subscribe(ctx, a.ID, "standard", "k3")
		if err != nil || sub.State != accounts.StateActive || !sub.PeriodEnd.After(time.UnixMilli(now.Load())) {
			t.Fatalf("resubscribe: %+v, %v", sub, err)
		}
		sub, err = s.MarkPastDue(ctx, a.ID, "card declined")
		if err != nil || sub.State != accounts.StatePastDue || sub.Entitled(time.UnixMilli(now.Load())) {
			t.Fatalf("past due: %+v, %v", sub, err)
		}
		end := sub.PeriodEnd
		sub, err = s.Renew(ctx, a.ID)
		if err != nil || sub.State != accounts.StateActive || !sub.PeriodEnd.Equal(end.Add(30*24*time.Hour)) {
			t.Fatalf("renew: %+v, %v", sub, err)
		}
		cs, _ = s.Charges(ctx, a.ID)
		if len(cs) != 3 || cs[0].Amount != 1549 || cs[1].Amount != 1549 {
			t.Fatalf("charges: %+v", cs)
		}
		checkAudit(t, s)
	})
}

func TestChargeIdempotencyKey(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newService(t, db, nil)
		a := signUp(t, s, "pay@example.com")
		req := accounts.ChargeRequest{Account: a.ID, Amount: 499, Description: "rental", Key: "order-1"}
		// Twenty retries of one request at once bill once.
		var wg sync.WaitGroup
		ids := make([]int64, 20)
		var created atomic.Int32
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, fresh, err := s.Charge(ctx, req)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = c.ID
				if fresh {
					created.Add(1)
				}
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("retries got charges %v; want one", ids)
			}
		}
		if created.Load() != 1 {
			t.Fatalf("%d requests created a charge; want 1", created.Load())
		}
		req.Amount = 999
		_, _, err := s.Charge(ctx, req)
		wantCode(t, err, accounts.CodeKeyReused)
		_, _, err = s.Charge(ctx, accounts.ChargeRequest{Account: a.ID, Amount: 100})
		wantCode(t, err, accounts.CodeInvalid)
		_, _, err = s.Charge(ctx, accounts.ChargeRequest{Account: a.ID, Amount: -5, Key: "k"})
		wantCode(t, err, accounts.CodeInvalid)
		// From credit: refused beyond the balance, nothing half-written.
		_, _, err = s.Charge(ctx, accounts.ChargeRequest{Account: a.ID, Amount: 100, Source: accounts.SourceCredit, Key: "c1"})
		wantCode(t, err, accounts.CodeInsufficient)
		if err := s.Credit(ctx, a.ID, 150, "gift card"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Charge(ctx, accounts.ChargeRequest{Account: a.ID, Amount: 100, Source: accounts.SourceCredit, Key: "c1"}); err != nil {
			t.Fatal(err)
		}
		bal, entries, err := s.Book(ctx, accounts.CustomerBook(a.ID), 10)
		if err != nil || bal != 50 || len(entries) != 2 {
			t.Fatalf("credit book: %d, %d entries, %v; want 50 and 2", bal, len(entries), err)
		}
		cs, _ := s.Charges(ctx, a.ID)
		if len(cs) != 2 {
			t.Fatalf("%d charges, want 2", len(cs))
		}
		checkAudit(t, s)
	})
}

func TestRefundsNeverExceedTheCharge(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newService(t, db, nil)
		a := signUp(t, s, "refund@example.com")
		c, _, err := s.Charge(ctx, accounts.ChargeRequest{Account: a.ID, Amount: 100, Description: "month", Key: "m1"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var ok, refused atomic.Int32
		var given atomic.Value // a key whose refund went through
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := s.Refund(ctx, accounts.RefundRequest{Account: a.ID, Charge: c.ID, Amount: 10, Reason: "outage", Key: fmt.Sprint("r", i)})
				switch {
				case err == nil:
					ok.Add(1)
					given.Store(fmt.Sprint("r", i))
				case accounts.CodeOf(err) == accounts.CodeConflict:
					refused.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 10 || refused.Load() != 10 {
			t.Fatalf("%d refunds of 10 went through, %d refused; want 10 and 10", ok.Load(), refused.Load())
		}
		// A retried refund (same key) gives back once.
		f, fresh, err := s.Refund(ctx, accounts.RefundRequest{Account: a.ID, Charge: c.ID, Amount: 10, Reason: "outage", Key: given.Load().(string)})
		if err != nil || fresh || f.Amount != 10 {
			t.Fatalf("retried refund: %+v, fresh %v, %v", f, fresh, err)
		}
		other := signUp(t, s, "other@example.com")
		_, _, err = s.Refund(ctx, accounts.RefundRequest{Account: other.ID, Charge: c.ID, Key: "x"})
		wantCode(t, err, accounts.CodeNotFound)
		rev, _, _ := s.Book(ctx, accounts.BookRevenue, 0)
		if rev != 0 {
			t.Fatalf("revenue %d after a full refund, want 0", rev)
		}
		checkAudit(t, s)
	})
}

// TestConcurrentTransfersKeepTheLedgerExact runs 50 transfers at once
// between three accounts, in both directions, many more than the
// balances allow: every one either moves its whole amount or nothing, no
// balance goes below zero, and every balance is the sum of its entries.
func TestConcurrentTransfersKeepTheLedgerExact(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newService(t, db, nil)
		var ids [3]int64
		for i := range ids {
			ids[i] = signUp(t, s, fmt.Sprintf("t%d@example.com", i)).ID
			if err := s.Credit(ctx, ids[i], 1000, "opening credit"); err != nil {
				t.Fatal(err)
			}
		}
		type move struct {
			from, to int
			amount   int64
		}
		r := rand.New(rand.NewPCG(1, 2))
		moves := make([]move, 50)
		for i := range moves {
			f := r.IntN(3)
			moves[i] = move{f, (f + 1 + r.IntN(2)) % 3, int64(100 + r.IntN(300))}
		}
		done := make([]bool, len(moves))
		var refused atomic.Int32
		var wg sync.WaitGroup
		for i, m := range moves {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Transfer(ctx, ids[m.from], ids[m.to], m.amount)
				switch accounts.CodeOf(err) {
				case "":
					if err != nil {
						t.Error(err)
						return
					}
					done[i] = true
				case accounts.CodeInsufficient:
					refused.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		var want [3]int64
		for i := range want {
			want[i] = 1000
		}
		for i, m := range moves {
			if done[i] {
				want[m.from] -= m.amount
				want[m.to] += m.amount
			}
		}
		var total int64
		for i, id := range ids {
			bal, _, err := s.Book(ctx, accounts.CustomerBook(id), 0)
			if err != nil {
				t.Fatal(err)
			}
			if bal != want[i] || bal < 0 {
				t.Errorf("account %d: balance %d, want %d from the transfers that went through", i, bal, want[i])
			}
			total += bal
		}
		if total != 3000 {
			t.Errorf("total credit %d, want 3000", total)
		}
		a := checkAudit(t, s)
		t.Logf("%d of %d transfers went through, %d refused for want of credit; %d books, %d transactions", len(moves)-int(refused.Load()), len(moves), refused.Load(), a.Books, a.Txns)
		if refused.Load() == 0 {
			t.Log("no transfer was refused; the balances never ran short")
		}
	})
}
