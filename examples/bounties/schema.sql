-- schema.sql - the bounties reference application's tables (ARCHITECTURE.md fixes the
-- table and column names; types and constraints are chosen here).
--
-- `psql -f schema.sql` gives a complete, empty database. scripts/pg.sh load runs it in two
-- halves around seed.sql: everything below the '-- keel:after-seed' line (foreign keys and
-- secondary indexes) is built once over the loaded rows, which is much faster than
-- maintaining it row by row. Keep that line, and keep anything the seed needs above it.
--
-- Conventions: ids are bigint identities and grow with time (keyset pagination uses id
-- DESC for "newest first"); money is bigint cents; times are timestamptz.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle        text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9_]{3,32}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    bio           text NOT NULL DEFAULT '' CHECK (length(bio) <= 1000),
    -- Equals the sum of the user's wallet_transactions; the wallet routes keep it so.
    balance_cents bigint NOT NULL DEFAULT 0 CHECK (balance_cents >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bounties (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL,
    title        text NOT NULL CHECK (length(title) BETWEEN 3 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    location     text CHECK (length(location) <= 200),
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'in_progress', 'completed', 'cancelled')),
    views        bigint NOT NULL DEFAULT 0 CHECK (views >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Full-text search document (routes/bounties_search.sql): title ranks above description.
    search       tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('english', title), 'A') ||
                     setweight(to_tsvector('english', description), 'B')) STORED
);

CREATE TABLE wallet_transactions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL,
    bounty_id       bigint,
    -- Signed: deposits and incoming transfers add, outgoing transfers and payouts
    -- (withdrawals to the user's bank) subtract.
    amount_cents    bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('deposit', 'transfer_in', 'transfer_out', 'payout')),
    -- The client's Idempotency-Key of the request that wrote this row (unique per user).
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (amount_cents <> 0),
    CHECK ((kind IN ('deposit', 'transfer_in')) = (amount_cents > 0))
);

CREATE TABLE conversations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bounty_id  bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversation_members (
    conversation_id bigint NOT NULL,
    user_id         bigint NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint NOT NULL,
    sender_id       bigint NOT NULL,
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- keel:after-seed (scripts/pg.sh load runs what follows after seed.sql)

ALTER TABLE bounties ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE wallet_transactions ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE wallet_transactions ADD FOREIGN KEY (bounty_id) REFERENCES bounties (id);
ALTER TABLE conversations ADD FOREIGN KEY (bounty_id) REFERENCES bounties (id);
ALTER TABLE conversation_members ADD FOREIGN KEY (conversation_id) REFERENCES conversations (id);
ALTER TABLE conversation_members ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE messages ADD FOREIGN KEY (conversation_id) REFERENCES conversations (id);
ALTER TABLE messages ADD FOREIGN KEY (sender_id) REFERENCES users (id);
-- Only members write to a conversation, enforced by the database as well as the routes.
ALTER TABLE messages ADD FOREIGN KEY (conversation_id, sender_id)
    REFERENCES conversation_members (conversation_id, user_id);

-- Idempotency: a retried request with the same key finds the row its first attempt wrote.
CREATE UNIQUE INDEX wallet_transactions_idempotency_key
    ON wallet_transactions (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- GET /api/bounties?status=&before=: newest first within one status, keyset on id. It
-- carries the list's columns so that the hottest route is an index-only scan; without
-- them the planner prefers bounties_pkey plus a status filter (status and id are not
-- correlated), which degrades when a status is rare among the newest rows.
CREATE INDEX bounties_status_id ON bounties (status, id DESC)
    INCLUDE (user_id, title, amount_cents, location, created_at);
-- GET /api/bounties/search?q=: websearch_to_tsquery against the stored document.
CREATE INDEX bounties_search ON bounties USING gin (search);
-- GET /api/users/{id}/stats (counts and sums by status, index-only) and the users FK.
CREATE INDEX bounties_user_status ON bounties (user_id, status) INCLUDE (amount_cents);
-- GET /api/me/wallet/transactions?before= (keyset on id) and /api/users/{id}/stats.
CREATE INDEX wallet_transactions_user_id ON wallet_transactions (user_id, id DESC) INCLUDE (amount_cents);
-- The bounties FK (deleting a bounty) and "payments for this bounty".
CREATE INDEX wallet_transactions_bounty_id ON wallet_transactions (bounty_id) WHERE bounty_id IS NOT NULL;
-- A bounty's conversations, and the bounties FK.
CREATE INDEX conversations_bounty_id ON conversations (bounty_id);
-- "My conversations" and membership checks by user; the PK serves (conversation_id, user_id).
CREATE INDEX conversation_members_user_id ON conversation_members (user_id, conversation_id);
-- GET /api/conversations/{id}/messages?before=: newest first, keyset on id.
CREATE INDEX messages_conversation_id ON messages (conversation_id, id DESC);
-- The users FK on sender_id (a user's deletion) and "messages by this user".
CREATE INDEX messages_sender_id ON messages (sender_id);

-- ---- write functions ------------------------------------------------------------------
-- Each write route is one statement; the logic that needs several lives here, so it runs in
-- that statement's transaction. User-facing failures raise SQLSTATE KHnnn: keel answers
-- status nnn with the message.

-- POST /api/bounties: a new open bounty of p_user.
CREATE FUNCTION bounty_create(p_user bigint, p_title text, p_description text, p_amount bigint, p_location text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    result json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_user) THEN
        RAISE EXCEPTION 'user % does not exist', p_user USING ERRCODE = 'KH403';
    END IF;
    INSERT INTO bounties (user_id, title, description, amount_cents, location)
    VALUES (p_user, p_title, coalesce(p_description, ''), p_amount, p_location)
    RETURNING row_to_json((SELECT r FROM (SELECT id, user_id, title, description, amount_cents, location,
                                                 status, views, created_at) AS r))
    INTO result;
    RETURN result;
END $$;

-- POST /api/wallet/transfers: moves p_amount cents from p_from to p_to. Both balances change
-- in this transaction, with one transfer_out and one transfer_in row: money is conserved and
-- no balance goes below zero (the row lock serializes transfers of one user; locking both
-- users in id order means two opposite transfers never deadlock).
CREATE FUNCTION wallet_transfer(p_from bigint, p_to bigint, p_amount bigint)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    have bigint;
    out_id bigint;
    at timestamptz;
BEGIN
    IF p_amount <= 0 THEN
        RAISE EXCEPTION 'amount_cents must be positive' USING ERRCODE = 'KH400';
    END IF;
    IF p_from = p_to THEN
        RAISE EXCEPTION 'cannot transfer to yourself' USING ERRCODE = 'KH400';
    END IF;
    PERFORM 1 FROM users WHERE id IN (p_from, p_to) ORDER BY id FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_to) THEN
        RAISE EXCEPTION 'user % does not exist', p_to USING ERRCODE = 'KH404';
    END IF;
    SELECT balance_cents INTO have FROM users WHERE id = p_from;
    IF have IS NULL THEN
        RAISE EXCEPTION 'user % does not exist', p_from USING ERRCODE = 'KH403';
    END IF;
    IF have < p_amount THEN
        RAISE EXCEPTION 'insufficient funds: the balance is % cents, the transfer needs %', have, p_amount
            USING ERRCODE = 'KH409';
    END IF;
    UPDATE users SET balance_cents = balance_cents - p_amount WHERE id = p_from;
    UPDATE users SET balance_cents = balance_cents + p_amount WHERE id = p_to;
    INSERT INTO wallet_transactions (user_id, amount_cents, kind)
    VALUES (p_from, -p_amount, 'transfer_out') RETURNING id, created_at INTO out_id, at;
    INSERT INTO wallet_transactions (user_id, amount_cents, kind) VALUES (p_to, p_amount, 'transfer_in');
    RETURN jsonb_build_object('id', out_id, 'from_user_id', p_from, 'to_user_id', p_to,
                              'amount_cents', p_amount, 'balance_cents', have - p_amount, 'created_at', at)::json;
END $$;

-- GET /api/conversations/{id}/messages: a page of messages, newest first, as a JSON array;
-- KH404 for a conversation p_user is not a member of (as if it did not exist).
CREATE FUNCTION conversation_messages(p_conversation bigint, p_user bigint, p_before bigint, p_limit int)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    result json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM conversation_members
                   WHERE conversation_id = p_conversation AND user_id = p_user) THEN
        RAISE EXCEPTION 'conversation % not found', p_conversation USING ERRCODE = 'KH404';
    END IF;
    SELECT coalesce('[' || string_agg(row_to_json(m)::text, ',' ORDER BY m.id DESC) || ']', '[]')::json
    INTO result
    FROM (SELECT id, conversation_id, sender_id, body, created_at
          FROM messages
          WHERE conversation_id = p_conversation
            AND id < coalesce(nullif(p_before, 0), 9223372036854775807)
          ORDER BY id DESC
          LIMIT p_limit) AS m;
    RETURN result;
END $$;

-- POST /api/conversations/{id}/messages: p_user's message; KH404 when not a member.
CREATE FUNCTION message_post(p_conversation bigint, p_user bigint, p_body text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    result json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM conversation_members
                   WHERE conversation_id = p_conversation AND user_id = p_user) THEN
        RAISE EXCEPTION 'conversation % not found', p_conversation USING ERRCODE = 'KH404';
    END IF;
    INSERT INTO messages (conversation_id, sender_id, body) VALUES (p_conversation, p_user, p_body)
    RETURNING row_to_json((SELECT r FROM (SELECT id, conversation_id, sender_id, body, created_at) AS r))
    INTO result;
    RETURN result;
END $$;

-- ---- row-level security: defence in depth behind each route's own WHERE -------------------
-- Run keel with KEEL_JWT_ROLES=bounties_api and every @auth request's transaction switches to
-- that role (SET LOCAL ROLE) with its verified claims in request.jwt.claims (README, "JWT").
-- Then a wallet_transactions row is visible only to its owner, even through a route whose
-- WHERE forgot `user_id = :auth.sub`. keel's own login role (the owner, a superuser in the
-- private cluster) bypasses the policies: the seed, maintenance and requests of routes
-- without @auth run as it. Writes stay open to the role: wallet_transfer() adds the other
-- side's transfer_in row (INSERT ... RETURNING reads back only the caller's own row). The
-- text comparison keeps a token whose sub is not a number from raising a cast error; the
-- route's own WHERE still picks the index.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bounties_api') THEN
        CREATE ROLE bounties_api NOLOGIN; -- roles are cluster-wide: a reload keeps it
    END IF;
END $$;
GRANT USAGE ON SCHEMA public TO bounties_api;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO bounties_api;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO bounties_api;
DO $$
BEGIN
    EXECUTE format('GRANT bounties_api TO %I', current_user); -- keel may SET ROLE to it
END $$;
ALTER TABLE wallet_transactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY wallet_transactions_owner_reads ON wallet_transactions FOR SELECT TO bounties_api
    USING (user_id::text = nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub');
CREATE POLICY wallet_transactions_writes ON wallet_transactions FOR INSERT TO bounties_api
    WITH CHECK (true);
