package pipeline

import (
	"errors"
	"regexp"
	"time"
)

// Key is an API key's record. Every key belongs to a tenant, and every job
// to the tenant whose key created it; an admin key sees every tenant's
// jobs and manages keys. The key itself is never stored: only its
// SHA-256, under which the record is found.
type Key struct {
	// ID is the first characters of the key's hash: enough to name it in
	// a listing or to revoke it, useless to authenticate.
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Admin  bool   `json:"admin"`
	// Support keys look viewers' events up (customer support) and do
	// nothing else.
	Support bool      `json:"support,omitempty"`
	Created time.Time `json:"created"`
}

// KeyOption sets something of a new key.
type KeyOption func(*Key)

// SupportKey makes a support key: it looks viewers' events up (customer
// support), and nothing else.
func SupportKey() KeyOption { return func(k *Key) { k.Support = true } }

// ErrNoKey is returned for a key that does not exist or was revoked.
var ErrNoKey = errors.New("unknown API key")

// AdminTenant is the tenant of the admin key a server creates for itself.
const AdminTenant = "admin"

var tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidTenant reports whether name can name a tenant: 1 to 63 lower-case
// letters, digits, '-' and '_', starting with a letter or digit.
func ValidTenant(name string) bool { return tenantRE.MatchString(name) }

// TenantRule says in words what ValidTenant accepts, for error messages.
const TenantRule = "use 1 to 63 lower-case letters, digits, '-' or '_'"
