-- Foundation: organisations, users and memberships, panel sessions, and
-- sign-in attempts for throttling. Owners: model/org.c (orgs), model/user.c
-- (users, memberships), http/session.c (sessions), model/throttle.c
-- (login_attempts).

CREATE TABLE orgs (
	id		bigserial PRIMARY KEY,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
	id			bigserial PRIMARY KEY,
	email			text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
	password_hash		text NOT NULL,
	is_active		boolean NOT NULL DEFAULT true,
	created_at		timestamptz NOT NULL DEFAULT now(),
	password_changed_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role		text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- The cookie token is never stored: only its SHA-256.
CREATE TABLE sessions (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash	bytea NOT NULL UNIQUE,
	csrf_token	text NOT NULL,
	ip		text NOT NULL DEFAULT '',
	user_agent	text NOT NULL DEFAULT '',
	flash		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_seen_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE login_attempts (
	id		bigserial PRIMARY KEY,
	email		text NOT NULL,
	ip		text NOT NULL,
	succeeded	boolean NOT NULL,
	at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email, at);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, at);
