-- relance store, schema 2: more than one instance.
-- lease: which instance runs each company, with the fencing token every write and delivery
-- carries; lease_history: every grant, for audits and tests ("never two owners at once");
-- instance: heartbeats, so each instance knows how many share the work;
-- inbox: decisions recorded by any instance, applied by the company's lease owner;
-- document: records shared by every instance that belong to no company (sessions, users).
-- Lease times are the database's clock (now()), never an instance's.

CREATE TABLE lease (
    company     text COLLATE "C" PRIMARY KEY,
    owner       text,
    token       bigint NOT NULL DEFAULT 0,
    acquired_at timestamptz,
    expires_at  timestamptz
);
CREATE INDEX lease_by_owner ON lease (owner);

CREATE TABLE lease_history (
    company     text COLLATE "C" NOT NULL,
    token       bigint NOT NULL,
    owner       text NOT NULL,
    previous    text,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    released    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (company, token)
);

CREATE TABLE instance (
    name       text COLLATE "C" PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL
);

ALTER TABLE company ADD COLUMN inbox_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE inbox (
    company     text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    seq         bigint NOT NULL,
    key         text COLLATE "C" NOT NULL,
    kind        text NOT NULL,
    recorded_at timestamptz NOT NULL,
    done_at     timestamptz,
    v           integer NOT NULL,
    body        jsonb NOT NULL,
    PRIMARY KEY (company, seq),
    UNIQUE (company, key)
);
CREATE INDEX inbox_pending ON inbox (company, seq) WHERE done_at IS NULL;

CREATE TABLE document (
    namespace  text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    expires_at timestamptz,
    v          integer NOT NULL,
    body       jsonb NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX document_expiry ON document (expires_at) WHERE expires_at IS NOT NULL;
