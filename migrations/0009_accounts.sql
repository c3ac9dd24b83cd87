-- Accounts hardening (issue 10). Owners: model/user.c (users column),
-- model/throttle.c (login_throttle), model/masterkey.c (master_key_check).

-- A one-time password (an owner's reset, `parley user create --one-time`,
-- the generated first owner's) must be replaced at the next sign-in: until
-- then the session reaches only the change-password page.
ALTER TABLE users
	ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

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

-- A known value sealed with the master key (AD master_key_check/value#1),
-- so a server started with the wrong key file says so at start-up instead
-- of failing on the first secret it opens. `parley key rotate` re-seals it
-- with everything else.
CREATE TABLE master_key_check (
	id		integer PRIMARY KEY CHECK (id = 1),
	sealed		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- Masked hints made before this release showed the first and last 4
-- characters of any secret of 13 or more, up to 8 of 13 (issue 10, defect
-- 12). Now a hint never shows more than a quarter (crypto/secret.c). The
-- secrets' lengths cannot be known here, so every partial hint is fully
-- masked; saving the credential again makes a new one.
UPDATE llm_providers SET api_key_hint = '••••••••'
 WHERE api_key_hint LIKE '%…%';
UPDATE channels SET credential_hints = (
	SELECT jsonb_object_agg(h.key, CASE WHEN h.value LIKE '%…%'
	    THEN '••••••••' ELSE h.value END)
	  FROM jsonb_each_text(channels.credential_hints) h)
 WHERE credential_hints::text LIKE '%…%';
