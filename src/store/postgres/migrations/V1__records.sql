-- relance store, schema 1: every company's records.
-- Keys and the columns the operator API filters on are real columns; the record itself is a
-- versioned JSON body (`v` is the record envelope version, `body` the record as JSON).
-- Text keys use the "C" collation so that ORDER BY matches the byte order sled uses.

CREATE TABLE company (
    company    text COLLATE "C" PRIMARY KEY,
    audit_seq  bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customer (
    company text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    id      text COLLATE "C" NOT NULL,
    name    text NOT NULL,
    source  text NOT NULL,
    v       integer NOT NULL,
    body    jsonb NOT NULL,
    PRIMARY KEY (company, id)
);

CREATE TABLE invoice (
    company      text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    id           text COLLATE "C" NOT NULL,
    customer     text COLLATE "C" NOT NULL,
    status       text NOT NULL,
    kind         text NOT NULL,
    issue_date   date NOT NULL,
    due_date     date,
    amount_due   numeric NOT NULL,
    currency     text NOT NULL,
    source       text NOT NULL,
    content_hash text NOT NULL,
    v            integer NOT NULL,
    body         jsonb NOT NULL,
    PRIMARY KEY (company, id)
);
CREATE INDEX invoice_by_customer ON invoice (company, customer, due_date);
CREATE INDEX invoice_by_status_due ON invoice (company, status, due_date);

CREATE TABLE receipt (
    company        text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    dedup_key      text COLLATE "C" NOT NULL,
    transaction_id text COLLATE "C" NOT NULL,
    booking_date   date NOT NULL,
    amount         numeric NOT NULL,
    counterparty   text,
    source         text NOT NULL,
    v              integer NOT NULL,
    body           jsonb NOT NULL,
    PRIMARY KEY (company, dedup_key)
);
CREATE INDEX receipt_by_date ON receipt (company, booking_date);
CREATE INDEX receipt_by_transaction ON receipt (company, transaction_id);

CREATE TABLE allocation (
    company        text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    transaction_id text COLLATE "C" NOT NULL,
    invoice_id     text COLLATE "C" NOT NULL,
    amount         numeric NOT NULL,
    auto           boolean NOT NULL,
    decided_at     timestamptz NOT NULL,
    v              integer NOT NULL,
    body           jsonb NOT NULL,
    PRIMARY KEY (company, transaction_id, invoice_id)
);
CREATE INDEX allocation_by_invoice ON allocation (company, invoice_id);

CREATE TABLE source_cursor (
    company text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    source  text COLLATE "C" NOT NULL,
    v       integer NOT NULL,
    body    jsonb NOT NULL,
    PRIMARY KEY (company, source)
);

CREATE TABLE seen_file (
    company text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    hash    text COLLATE "C" NOT NULL,
    v       integer NOT NULL,
    body    jsonb NOT NULL,
    PRIMARY KEY (company, hash)
);

CREATE TABLE outbox (
    company         text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    key             text COLLATE "C" NOT NULL,
    target          text COLLATE "C" NOT NULL,
    state           text NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    v               integer NOT NULL,
    body            jsonb NOT NULL,
    PRIMARY KEY (company, key)
);
CREATE INDEX outbox_pending ON outbox (company, target, key) WHERE state = 'pending';

CREATE TABLE dead_letter (
    company text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    key     text COLLATE "C" NOT NULL,
    origin  text NOT NULL,
    at      timestamptz NOT NULL,
    v       integer NOT NULL,
    body    jsonb NOT NULL,
    PRIMARY KEY (company, key)
);
CREATE INDEX dead_letter_by_at ON dead_letter (company, at);

CREATE TABLE audit (
    company text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    seq     bigint NOT NULL,
    at      timestamptz NOT NULL,
    kind    text NOT NULL,
    subject text NOT NULL,
    v       integer NOT NULL,
    body    jsonb NOT NULL,
    PRIMARY KEY (company, seq)
);
CREATE INDEX audit_by_subject ON audit (company, subject, seq);
CREATE INDEX audit_by_kind ON audit (company, kind, seq);

CREATE TABLE provision (
    company text COLLATE "C" NOT NULL REFERENCES company ON DELETE CASCADE,
    closing date NOT NULL,
    status  text NOT NULL,
    v       integer NOT NULL,
    body    jsonb NOT NULL,
    PRIMARY KEY (company, closing)
);
