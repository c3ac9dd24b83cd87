-- Accounts hardening (issue 10). Owners: model/throttle.c (login_throttle).

-- Sign-in throttling as counters, one row per account (lower-cased email)
-- and per client address. An attempt reserves its slot with one upsert
-- before the password is hashed, so the row lock serialises concurrent
-- attempts: at most `max_failures` password checks per window, however
-- many arrive at once. A window starts with its first failure and ends
-- `window_minutes` later; a successful sign-in clears the account's row
-- and gives the address its slot back.
CREATE TABLE login_throttle (
	scope		text NOT NULL CHECK (scope IN ('account', 'address')),
	key		text NOT NULL,
	failures	integer NOT NULL,
	window_start	timestamptz NOT NULL,
	PRIMARY KEY (scope, key)
);
CREATE INDEX login_throttle_window_idx ON login_throttle (window_start);

-- The attempt log it replaces was read before the hash and written after
-- it, so concurrent attempts all passed the check (issue 10, defect 6).
DROP TABLE login_attempts;
