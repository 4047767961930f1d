package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/reel-video/reel/internal/jsonhttp"
)

// Handler serves the accounts API under /v1/accounts. Viewers
// authenticate with a session token ("Authorization: Bearer rvs_...");
// billing operations (charges, refunds, credits, transfers, state
// changes, the audit) need an operator, as Admin decides.
type Handler struct {
	Svc *Service
	// Admin reports whether a request carries an operator's credentials
	// (an admin API key). Nil refuses every operator request.
	Admin func(r *http.Request) bool
	Log   *slog.Logger
}

// Routes registers the handler's routes on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/accounts", h.signUp)
	mux.HandleFunc("POST /v1/accounts/sessions", h.signIn)
	mux.HandleFunc("DELETE /v1/accounts/sessions/current", h.viewer(h.signOut))
	mux.HandleFunc("GET /v1/accounts/plans", h.plans)
	mux.HandleFunc("GET /v1/accounts/me", h.viewer(h.me))
	mux.HandleFunc("GET /v1/accounts/me/profiles", h.viewer(h.profiles))
	mux.HandleFunc("POST /v1/accounts/me/profiles", h.viewer(h.addProfile))
	mux.HandleFunc("DELETE /v1/accounts/me/profiles/{profile}", h.viewer(h.deleteProfile))
	mux.HandleFunc("PUT /v1/accounts/me/subscription", h.viewer(h.subscribe))
	mux.HandleFunc("DELETE /v1/accounts/me/subscription", h.viewer(h.cancel))
	mux.HandleFunc("GET /v1/accounts/me/charges", h.viewer(h.charges))
	mux.HandleFunc("GET /v1/accounts/me/ledger", h.viewer(h.ledger))

	mux.HandleFunc("GET /v1/accounts/{id}", h.operator(h.getAccount))
	mux.HandleFunc("POST /v1/accounts/{id}/charges", h.operator(h.charge))
	mux.HandleFunc("POST /v1/accounts/{id}/charges/{charge}/refunds", h.operator(h.refund))
	mux.HandleFunc("POST /v1/accounts/{id}/credits", h.operator(h.credit))
	mux.HandleFunc("POST /v1/accounts/{id}/subscription/renewals", h.operator(h.renew))
	mux.HandleFunc("POST /v1/accounts/{id}/subscription/past-due", h.operator(h.pastDue))
	mux.HandleFunc("POST /v1/accounts/transfers", h.operator(h.transfer))
	mux.HandleFunc("GET /v1/accounts/audit", h.operator(h.audit))
}

// ServeHTTP serves the routes alone (reel accounts).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := http.NewServeMux()
	h.Routes(mux)
	mux.ServeHTTP(w, r)
}

// statusOf is the one table from domain codes to HTTP statuses.
var statusOf = map[string]int{
	CodeInvalid:      http.StatusBadRequest,
	CodeNotFound:     http.StatusNotFound,
	CodeConflict:     http.StatusConflict,
	CodeUnauthorized: http.StatusUnauthorized,
	CodeForbidden:    http.StatusForbidden,
	CodeInsufficient: http.StatusPaymentRequired,
	CodeKeyReused:    http.StatusUnprocessableEntity,
	CodeTooMany:      http.StatusConflict,
	CodeUnreplicated: http.StatusServiceUnavailable,
}

// WriteError answers with a JSON error.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	jsonhttp.Error(w, status, code, msg)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := CodeOf(err)
	if st, ok := statusOf[code]; ok {
		if code == CodeUnreplicated {
			w.Header().Set("Retry-After", "5")
		}
		WriteError(w, st, code, err.Error())
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	log.Error("accounts request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	WriteError(w, http.StatusInternalServerError, "internal", "internal error; see the accounts log")
}

// answer writes v with status, or err.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	switch {
	case err != nil:
		h.fail(w, r, err)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		jsonhttp.Write(w, status, v)
	}
}

// replayable answers an idempotent creation: 201 when it created v, 200
// with Idempotent-Replayed when an earlier request with its key had.
func (h *Handler) replayable(w http.ResponseWriter, r *http.Request, created bool, v any, err error) {
	if err == nil && !created {
		w.Header().Set("Idempotent-Replayed", "true")
		h.answer(w, r, http.StatusOK, v, nil)
		return
	}
	h.answer(w, r, http.StatusCreated, v, err)
}

// decode reads a JSON body of at most 64 KiB into v, refusing unknown
// fields.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return jsonhttp.Decode(w, r, v, 64<<10, "the JSON this endpoint takes")
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(a, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

type accountKey struct{}

// viewer requires a viewer session.
func (h *Handler) viewer(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := h.Svc.Authenticate(r.Context(), bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reel-viewers"`)
			h.fail(w, r, err)
			return
		}
		f(w, r.WithContext(context.WithValue(r.Context(), accountKey{}, id)))
	}
}

func me(r *http.Request) int64 { return r.Context().Value(accountKey{}).(int64) }

// operator requires an operator's credentials.
func (h *Handler) operator(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.Admin == nil || !h.Admin(r) {
			WriteError(w, http.StatusForbidden, CodeForbidden, "billing operations need an admin API key (Authorization: Bearer)")
			return
		}
		f(w, r)
	}
}

func pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		WriteError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("%s %q is not an id", name, r.PathValue(name)))
		return 0, false
	}
	return id, true
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (h *Handler) signUp(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !decode(w, r, &c) {
		return
	}
	a, err := h.Svc.SignUp(r.Context(), c.Email, c.Password)
	h.answer(w, r, http.StatusCreated, a, err)
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !decode(w, r, &c) {
		return
	}
	s, err := h.Svc.SignIn(r.Context(), c.Email, c.Password)
	h.answer(w, r, http.StatusCreated, s, err)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	h.answer(w, r, http.StatusNoContent, nil, h.Svc.SignOut(r.Context(), bearer(r)))
}

func (h *Handler) plans(w http.ResponseWriter, r *http.Request) {
	p, err := h.Svc.Plans(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"plans": p}, err)
}

// Overview is an account with its profiles, subscription and credit.
type Overview struct {
	Account      Account      `json:"account"`
	Profiles     []Profile    `json:"profiles"`
	Subscription Subscription `json:"subscription"`
	Credit       int64        `json:"credit"`
	Currency     string       `json:"currency"`
}

func (h *Handler) overview(ctx context.Context, id int64) (Overview, error) {
	var o Overview
	var err error
	if o.Account, err = h.Svc.GetAccount(ctx, id); err != nil {
		return o, err
	}
	if o.Profiles, err = h.Svc.Profiles(ctx, id); err != nil {
		return o, err
	}
	if o.Subscription, err = h.Svc.Subscription(ctx, id); err != nil {
		return o, err
	}
	o.Credit, _, err = h.Svc.Book(ctx, CustomerBook(id), 0)
	o.Currency = h.Svc.cfg.Currency
	return o, err
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	o, err := h.overview(r.Context(), me(r))
	h.answer(w, r, http.StatusOK, o, err)
}

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	o, err := h.overview(r.Context(), id)
	h.answer(w, r, http.StatusOK, o, err)
}

func (h *Handler) profiles(w http.ResponseWriter, r *http.Request) {
	p, err := h.Svc.Profiles(r.Context(), me(r))
	h.answer(w, r, http.StatusOK, map[string]any{"profiles": p}, err)
}

func (h *Handler) addProfile(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name     string `json:"name"`
		Maturity string `json:"maturity"`
	}
	if !decode(w, r, &b) {
		return
	}
	p, err := h.Svc.AddProfile(r.Context(), me(r), b.Name, b.Maturity)
	h.answer(w, r, http.StatusCreated, p, err)
}

func (h *Handler) deleteProfile(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "profile")
	if !ok {
		return
	}
	h.answer(w, r, http.StatusNoContent, nil, h.Svc.DeleteProfile(r.Context(), me(r), id))
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Plan string `json:"plan"`
	}
	if !decode(w, r, &b) {
		return
	}
	s, err := h.Svc.Subscribe(r.Context(), me(r), b.Plan, r.Header.Get("Idempotency-Key"))
	h.answer(w, r, http.StatusOK, s, err)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	s, err := h.Svc.Cancel(r.Context(), me(r))
	h.answer(w, r, http.StatusOK, s, err)
}

func (h *Handler) charges(w http.ResponseWriter, r *http.Request) {
	c, err := h.Svc.Charges(r.Context(), me(r))
	h.answer(w, r, http.StatusOK, map[string]any{"charges": c}, err)
}

func (h *Handler) ledger(w http.ResponseWriter, r *http.Request) {
	bal, entries, err := h.Svc.Book(r.Context(), CustomerBook(me(r)), 100)
	h.answer(w, r, http.StatusOK, map[string]any{"balance": bal, "currency": h.Svc.cfg.Currency, "entries": entries}, err)
}

func (h *Handler) charge(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	var b struct {
		Amount      int64  `json:"amount"`
		Source      string `json:"source"`
		Description string `json:"description"`
	}
	if !decode(w, r, &b) {
		return
	}
	c, created, err := h.Svc.Charge(r.Context(), ChargeRequest{Account: id, Amount: b.Amount, Source: b.Source,
		Description: b.Description, Key: r.Header.Get("Idempotency-Key")})
	h.replayable(w, r, created, c, err)
}

func (h *Handler) refund(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	ch, ok := pathID(w, r, "charge")
	if !ok {
		return
	}
	var b struct {
		Amount int64  `json:"amount"`
		Reason string `json:"reason"`
	}
	if !decode(w, r, &b) {
		return
	}
	f, created, err := h.Svc.Refund(r.Context(), RefundRequest{Account: id, Charge: ch, Amount: b.Amount, Reason: b.Reason,
		Key: r.Header.Get("Idempotency-Key")})
	h.replayable(w, r, created, f, err)
}

func (h *Handler) credit(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	var b struct {
		Amount int64  `json:"amount"`
		Memo   string `json:"memo"`
	}
	if !decode(w, r, &b) {
		return
	}
	if err := h.Svc.Credit(r.Context(), id, b.Amount, b.Memo); err != nil {
		h.fail(w, r, err)
		return
	}
	bal, _, err := h.Svc.Book(r.Context(), CustomerBook(id), 0)
	h.answer(w, r, http.StatusCreated, map[string]any{"balance": bal}, err)
}

func (h *Handler) renew(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	s, err := h.Svc.Renew(r.Context(), id)
	h.answer(w, r, http.StatusOK, s, err)
}

func (h *Handler) pastDue(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	var b struct {
		Reason string `json:"reason"`
	}
	if !decode(w, r, &b) {
		return
	}
	s, err := h.Svc.MarkPastDue(r.Context(), id, b.Reason)
	h.answer(w, r, http.StatusOK, s, err)
}

func (h *Handler) transfer(w http.ResponseWriter, r *http.Request) {
	var b struct {
		From   int64 `json:"from"`
		To     int64 `json:"to"`
		Amount int64 `json:"amount"`
	}
	if !decode(w, r, &b) {
		return
	}
	h.answer(w, r, http.StatusNoContent, nil, h.Svc.Transfer(r.Context(), b.From, b.To, b.Amount))
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request) {
	a, err := h.Svc.Audit(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"ok": a.OK(), "audit": a}, err)
}
