-- The job queue (owner: worker/queue.c). PostgreSQL is the queue: a job is
-- inserted in the same transaction as whatever caused it (an inbound
-- message), claimed with FOR UPDATE SKIP LOCKED under a lease, retried
-- with backoff, and dead after max_attempts. 'queued' with attempts > 0
-- and a last_error is a job waiting to retry.

CREATE TABLE jobs (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	kind		text NOT NULL CHECK (kind ~ '^[a-z][a-z_.]{0,62}$'),
	payload		jsonb NOT NULL DEFAULT '{}',
	status		text NOT NULL DEFAULT 'queued'
			    CHECK (status IN ('queued', 'running', 'done', 'dead')),
	attempts	integer NOT NULL DEFAULT 0,
	max_attempts	integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
	run_at		timestamptz NOT NULL DEFAULT now(),
	lease_until	timestamptz,
	locked_by	text,
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	finished_at	timestamptz
);
-- What a claim scans: only live jobs, in the order they are due.
CREATE INDEX jobs_ready_idx ON jobs (run_at, id)
	WHERE status IN ('queued', 'running');
CREATE INDEX jobs_org_status_idx ON jobs (org_id, status, updated_at DESC);
