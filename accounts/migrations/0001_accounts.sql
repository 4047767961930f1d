-- Accounts, viewer sessions, profiles, subscriptions, charges, refunds and
-- the double-entry ledger. One dialect for SQLite and MariaDB: {{id}} is
-- the auto-increment primary key of each engine; times are Unix
-- milliseconds and money is integer minor units. Plans are seeded from
-- the service's configuration, not here.

CREATE TABLE IF NOT EXISTS plans (
  id         VARCHAR(32) NOT NULL PRIMARY KEY,
  name       VARCHAR(64) NOT NULL,
  max_height INT NOT NULL,
  streams    INT NOT NULL,
  price      BIGINT NOT NULL,
  currency   VARCHAR(3) NOT NULL
);

CREATE TABLE IF NOT EXISTS accounts (
  id            {{id}},
  email         VARCHAR(254) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  version       BIGINT NOT NULL,
  created_ms    BIGINT NOT NULL,
  UNIQUE (email)
);

CREATE TABLE IF NOT EXISTS sessions (
  token_hash CHAR(64) NOT NULL PRIMARY KEY,
  account_id BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account_id);

CREATE TABLE IF NOT EXISTS profiles (
  id         {{id}},
  account_id BIGINT NOT NULL,
  name       VARCHAR(64) NOT NULL,
  maturity   VARCHAR(8) NOT NULL,
  created_ms BIGINT NOT NULL,
  UNIQUE (account_id, name)
);

CREATE TABLE IF NOT EXISTS subscriptions (
  account_id    BIGINT NOT NULL PRIMARY KEY,
  plan_id       VARCHAR(32) NOT NULL,
  state         VARCHAR(16) NOT NULL,
  period_end_ms BIGINT NOT NULL,
  updated_ms    BIGINT NOT NULL,
  version       BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS subscription_events (
  id         {{id}},
  account_id BIGINT NOT NULL,
  from_state VARCHAR(16) NOT NULL,
  to_state   VARCHAR(16) NOT NULL,
  plan_id    VARCHAR(32) NOT NULL,
  reason     VARCHAR(255) NOT NULL,
  at_ms      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscription_events_account ON subscription_events (account_id);

CREATE TABLE IF NOT EXISTS charges (
  id           {{id}},
  account_id   BIGINT NOT NULL,
  idem_key     VARCHAR(255) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  amount       BIGINT NOT NULL,
  currency     VARCHAR(3) NOT NULL,
  refunded     BIGINT NOT NULL,
  source       VARCHAR(16) NOT NULL,
  description  VARCHAR(255) NOT NULL,
  txn_id       BIGINT NOT NULL,
  created_ms   BIGINT NOT NULL,
  UNIQUE (account_id, idem_key)
);

CREATE TABLE IF NOT EXISTS refunds (
  id           {{id}},
  charge_id    BIGINT NOT NULL,
  idem_key     VARCHAR(255) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  amount       BIGINT NOT NULL,
  reason       VARCHAR(255) NOT NULL,
  txn_id       BIGINT NOT NULL,
  created_ms   BIGINT NOT NULL,
  UNIQUE (charge_id, idem_key)
);

-- A book's balance is kept beside its entries and always equals their
-- sum; every transaction's entries sum to zero.
CREATE TABLE IF NOT EXISTS ledger_books (
  name           VARCHAR(64) NOT NULL PRIMARY KEY,
  balance        BIGINT NOT NULL,
  allow_negative INT NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger_txns (
  id         {{id}},
  kind       VARCHAR(16) NOT NULL,
  memo       VARCHAR(255) NOT NULL,
  created_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger_entries (
  id         {{id}},
  txn_id     BIGINT NOT NULL,
  book       VARCHAR(64) NOT NULL,
  amount     BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_entries_book ON ledger_entries (book);
CREATE INDEX IF NOT EXISTS ledger_entries_txn ON ledger_entries (txn_id);
