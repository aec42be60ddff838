-- seed.sql - deterministic seed data for the bounties reference application.
--
-- Every value is a pure function of a row number (generate_series) through pg_temp.h, an
-- integer hash written out below: no random(), no now(), so every load produces the same
-- rows, ids and timestamps. Times are spread over one year from a fixed epoch,
-- 2024-01-01 00:00:00 UTC ("T0"), and ids grow with time in every table.
--
-- Sizes: 10,000 users, 100,000 bounties, 200,000 wallet_transactions, 20,000 conversations
-- (2 members each: the bounty's owner and one other user), 500,000 messages.
--
-- Consistency (checked at the end): users exist before their bounties, conversations and
-- transactions; balance_cents = sum of the user's transactions and no user's running
-- balance ever goes below zero; every transfer_out has a matching transfer_in (money is
-- conserved); every completed bounty was paid; message senders are conversation members.
--
-- Run after the first half of schema.sql (scripts/pg.sh load does: schema.sql up to
-- '-- keel:after-seed', this file, the rest of schema.sql, in one transaction).

SET client_min_messages = warning;
-- Day arithmetic on timestamptz follows the session's time zone (DST): pin it.
SET TimeZone = 'UTC';

-- Integer hash of (i, salt) in [0, 2^31 - 1): multiply, xorshift, multiply modulo a prime,
-- in bigint arithmetic that never overflows (every product stays below 2^63).
-- Speed: the planner inlines these helpers into each query (a call it does not inline
-- costs ~1.5 us a row), which it only does when a helper is not STRICT, is declared no
-- less volatile than its body (timestamptz arithmetic is STABLE), and does not use a
-- costly argument twice (hence the OFFSET 0 fences below, which turn expressions into
-- plain columns).
CREATE FUNCTION pg_temp.mix(x bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ((x # (x >> 15)) * 73244475) % 4294967296 $$;
CREATE FUNCTION pg_temp.h(i bigint, salt int) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (pg_temp.mix((i * 2654435761 + salt::bigint * 1013904223) % 4294967296)
                  * 1103515245 + 12345) % 2147483647 $$;
-- One element of a word list, chosen by h(i, salt).
CREATE FUNCTION pg_temp.pick(words text[], i bigint, salt int) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT words[1 + pg_temp.h(i, salt) % cardinality(words)] $$;

CREATE FUNCTION pg_temp.t0() RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT timestamptz '2024-01-01 00:00:00+00' $$;
-- The end of the seeded year: nothing is created after it.
CREATE FUNCTION pg_temp.t_end() RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT timestamptz '2024-01-01 00:00:00+00' + interval '365 days' $$;
CREATE FUNCTION pg_temp.secs(s bigint) RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT pg_temp.t0() + s * interval '1 second' $$;

-- User u signs up in its own 3150 s slot: users 1..10,000 over 365 days.
CREATE FUNCTION pg_temp.user_created(u bigint) RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT pg_temp.secs((u - 1) * 3150 + pg_temp.h(u, 6) % 3000) $$;
-- Bounty j is posted in its own 315 s slot after the first hour.
CREATE FUNCTION pg_temp.bounty_created(j bigint) RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT pg_temp.secs(3600 + (j - 1) * 315 + pg_temp.h(j, 12) % 300) $$;
-- Its owner is one of the users who signed up before it: users 1..n with n = (j-1)/10
-- all signed up before slot j, since user n's slot ends at n*3150 <= (j-1)*315. Early
-- users end up with more bounties, as on a real marketplace.
CREATE FUNCTION pg_temp.owner(j bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT 1 + pg_temp.h(j, 11) % greatest(1, (j - 1) / 10) $$;
-- Another user who signed up before bounty j (or, for the first few bounties, user 1 or
-- 2, both within a day of it): the one who took it on, or who asks about it.
CREATE FUNCTION pg_temp.other(j bigint, salt int) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT 1 + (pg_temp.owner(j) + pg_temp.h(j, salt) % (greatest(2, (j - 1) / 10) - 1))
                     % greatest(2, (j - 1) / 10) $$;
-- Exact shares, spread evenly: 40% open, 20% in_progress, 30% completed, 10% cancelled.
CREATE FUNCTION pg_temp.status(j bigint) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN (j * 7919) % 20 < 8 THEN 'open'
                      WHEN (j * 7919) % 20 < 12 THEN 'in_progress'
                      WHEN (j * 7919) % 20 < 18 THEN 'completed'
                      ELSE 'cancelled' END $$;
CREATE FUNCTION pg_temp.amount(j bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT (1 + pg_temp.h(j, 14) % 100) * 500 $$;
-- A user's first deposit, made a minute after signing up: $100 to $499.
CREATE FUNCTION pg_temp.first_deposit(u bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT 10000 + (pg_temp.h(u, 51) % 400) * 100 $$;
-- A moment in [a, b) chosen by h(i, salt), in whole seconds (a is whole seconds).
CREATE FUNCTION pg_temp.between_(a timestamptz, b timestamptz, i bigint, salt int)
    RETURNS timestamptz LANGUAGE sql STABLE
    AS $$ SELECT date_trunc('second', a + (b - a) * ((pg_temp.h(i, salt) % 1000000) / 1000000.0)) $$;

-- ---- word lists -------------------------------------------------------------------------
CREATE FUNCTION pg_temp.first_names() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Ava','Ben','Chloe','Dev','Elena','Farid','Grace','Hugo','Isla','Jamal','Kenji','Lena',
    'Mateo','Nora','Omar','Priya','Quinn','Rosa','Sam','Tara','Umar','Vera','Wes','Ximena',
    'Yusuf','Zoe','Aiden','Bea','Carlos','Dana','Emil','Fatima','Gus','Hana','Ivan','Jade',
    'Kofi','Lucia','Milo','Nadia'] $$;
CREATE FUNCTION pg_temp.last_names() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Smith','Garcia','Chen','Okafor','Novak','Haddad','Kim','Silva','Murphy','Rossi','Sato',
    'Kowalski','Nguyen','Patel','Johansson','Dubois','Mendes','Ali','Fischer','Brown',
    'Lopez','Khan','Ivanova','Moreau','Tanaka','Costa','Walsh','Herrera','Park','Jensen',
    'Adeyemi','Rahman','Schmidt','Bianchi','Cohen','Popescu','Yilmaz','Larsen','Reyes','Wood'] $$;
CREATE FUNCTION pg_temp.bio_a() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Weekend handyman.','Dog person through and through.','Retired plumber, still curious.',
    'Student looking for odd jobs.','Keen gardener with a green thumb.','Night-shift nurse.',
    'Amateur baker and pizza fanatic.','Bike mechanic in training.','New to the neighborhood.',
    'Parent of two, always busy.','Freelance photographer.','Software developer by day.'] $$;
CREATE FUNCTION pg_temp.bio_b() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Happy to help with moves and heavy lifting.','I own a van and a toolbox.',
    'Good with pets, plants and people.','Available most evenings.',
    'I post small jobs I have no time for.','Fast replies, fair prices.',
    'Can fix most leaks and squeaky doors.','Always on time.','',
    'Ask me about garden design.'] $$;
CREATE FUNCTION pg_temp.tasks() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Walk my dog','Dog sitting for a weekend','Help me move a couch','Move boxes to a new apartment',
    'Fix a leaking kitchen sink','Plumbing repair in the bathroom','Weed and water the garden',
    'Plant tomatoes in the garden','Mow the lawn','Pick up pizza for a party',
    'Deliver groceries','Assemble flat-pack furniture','Paint a bedroom wall','Clean the gutters',
    'Hang shelves and pictures','Fix a flat bike tire','Tutor algebra for a teenager',
    'Wash the windows','Feed my cat while I travel','Set up a home wifi router',
    'Repair a wobbly garden fence','Shovel snow from the driveway','Haul junk to the dump',
    'Bake a birthday cake','Translate a letter from Spanish','Fix a dripping shower faucet',
    'Help move a piano','Photograph a garden party','Teach me to make pizza dough',
    'Install a ceiling fan','Walk two dogs every morning','Build a raised garden bed',
    'Unclog a bathroom drain','Wrap holiday presents','Organize the garage','Help with a yard sale',
    'Replace a broken window screen','Fix my laptop','Cook dinner for six',
    'Return packages to the post office'] $$;
-- Aligned with tasks(): the same index describes the same job.
CREATE FUNCTION pg_temp.task_details() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'My dog is a friendly labrador who needs a 45 minute walk around the park.',
    'Two small dogs need feeding, walks and company from Friday to Sunday.',
    'A three-seat couch has to move from the living room to a van and up one flight of stairs.',
    'About thirty boxes and a mattress need to move across town; I have a rented van.',
    'The kitchen sink drips under the cabinet; probably a worn washer or loose plumbing joint.',
    'Plumbing work: the toilet keeps running and the bathroom sink drains slowly.',
    'The vegetable garden is overgrown with weeds and needs watering twice a week.',
    'Twelve tomato seedlings are ready to go into the garden beds, with stakes.',
    'Front and back lawn, roughly 200 square meters, mower provided.',
    'Collect six large pizzas from the pizzeria on Main Street and bring them to the party.',
    'A weekly grocery run from the supermarket; list and payment provided.',
    'One wardrobe and two bookshelves, all parts and tools in the boxes.',
    'One bedroom wall, paint and rollers ready, furniture already moved.',
    'Two-storey house, gutters full of leaves; ladder available.',
    'Four shelves and about ten picture frames, drill available.',
    'Rear tire of a city bike is flat, spare tube in the garage.',
    'Two sessions a week before the algebra exam, at our kitchen table.',
    'Twelve windows inside and out, ground floor and first floor.',
    'Feed the cat and clean the litter box once a day for a week.',
    'New router from the internet provider, needs setup and a stronger wifi signal upstairs.',
    'A few fence posts in the garden are loose after the storm.',
    'The driveway and the sidewalk in front of the house, after each snowfall.',
    'An old sofa, a broken fridge and some boxes need to go to the dump.',
    'Chocolate cake for twelve people, with a name written on top.',
    'A two-page letter from Spanish into English, informal tone.',
    'The shower faucet drips all night; the plumbing is old but accessible.',
    'An upright piano needs to move to the ground floor of the house next door.',
    'A garden party for forty guests on Saturday afternoon; edited photos within a week.',
    'A hands-on lesson in pizza dough, sauce and oven temperature for two people.',
    'Replace an old ceiling light with a fan; wiring already in place.',
    'Two energetic dogs need a morning walk at 7am on weekdays.',
    'Build one raised garden bed from the timber in the yard and fill it with soil.',
    'The bathroom drain is clogged; a plunger did not help.',
    'Around twenty presents need wrapping before the family visit.',
    'Sort the garage into keep, donate and dump, and put up some hooks.',
    'Help price items and run the yard sale from 8am to noon on Sunday.',
    'One window screen is torn; the frame is fine.',
    'My laptop is slow and the battery drains fast; might need a fresh install.',
    'A three-course vegetarian dinner for six guests at my place.',
    'Three parcels to return at the post office, labels already printed.'] $$;
CREATE FUNCTION pg_temp.suffixes() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    '','',' this weekend',' today',' (urgent)',' on Saturday',' next week',' ASAP',
    ' in the evening',' before Friday'] $$;
CREATE FUNCTION pg_temp.detail_a() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Tools provided.','Bring your own tools.','Should take about two hours.',
    'Must be good with animals.','Parking available on the street.','Payment on completion.',
    'Flexible on timing.','Second floor, no elevator.','Heavy lifting involved.',
    'Pizza and drinks included!','The garden gate code will be shared.',
    'References appreciated.'] $$;
CREATE FUNCTION pg_temp.detail_b() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Message me with questions.','Tip for quick work.','Happy to leave a review.',
    'Weekdays after 5pm work best.','Near the bus stop.','Cash or wallet transfer.',
    'Our dog is friendly.','Quiet street, easy access.','',''] $$;
CREATE FUNCTION pg_temp.neighborhoods() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Downtown','Riverside','Old Town','Harbor','Northside','Eastgate','Hillcrest','Lakeview',
    'Midtown','Westfield','Southpark','University District','Greenwood','Maple Grove',
    'Oak Ridge','Cedar Park'] $$;
CREATE FUNCTION pg_temp.chat_a() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'Hi!','Hello,','Hey there,','Thanks!','Good morning,','Quick question:','Sounds good.',
    'Sorry for the delay,','Great,','Perfect,'] $$;
CREATE FUNCTION pg_temp.chat_b() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    'I can do this tomorrow afternoon.','is the job still available?',
    'what time works best for you?','I will bring my own tools.','can you send the address?',
    'I am running ten minutes late.','all done, see the photos.','the dog was great company.',
    'how heavy is the couch?','I finished the garden today.','the plumbing part arrived.',
    'can we move it to Saturday?','payment received, thank you.','see you at 6.',
    'I left the key under the mat.','the pizza place was closed, I went to the other one.'] $$;
CREATE FUNCTION pg_temp.chat_c() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
    '','','','Cheers.','Thanks again!','Let me know.',':)','Talk soon.'] $$;

-- ---- bounties ---------------------------------------------------------------------------
INSERT INTO bounties (id, user_id, title, description, amount_cents, location, status, views, created_at)
OVERRIDING SYSTEM VALUE
SELECT j,
       pg_temp.owner(j),
       (pg_temp.tasks())[1 + pg_temp.h(j, 13) % 40] || pg_temp.pick(pg_temp.suffixes(), j, 15),
       rtrim((pg_temp.task_details())[1 + pg_temp.h(j, 13) % 40] || ' ' ||
             pg_temp.pick(pg_temp.detail_a(), j, 16) || ' ' || pg_temp.pick(pg_temp.detail_b(), j, 17)),
       pg_temp.amount(j),
       CASE WHEN pg_temp.h(j, 18) % 20 = 0 THEN NULL  -- 5% can be done from anywhere
            ELSE pg_temp.pick(pg_temp.neighborhoods(), j, 19) END,
       pg_temp.status(j),
       (pg_temp.h(j, 20) % 1000) * (pg_temp.h(j, 21) % 1000) / 1000,  -- skewed towards few
       pg_temp.bounty_created(j)
FROM generate_series(1, 100000) AS j;

-- ---- wallet_transactions ----------------------------------------------------------------
-- 10,000 first deposits + 3 rows per completed bounty (30,000: the owner funds the bounty,
-- pays it to the worker, who receives it) + 40,000 peer transfers (2 rows each) + 20,000
-- payouts = 200,000 rows. Every user's outgoing peer transfers (4, each below D/8) and
-- payouts (2, each below D/4) add up to less than the first deposit D, and each bounty
-- payment is preceded by its own funding deposit, so no running balance goes negative.
INSERT INTO wallet_transactions (id, user_id, bounty_id, amount_cents, kind, idempotency_key, created_at)
OVERRIDING SYSTEM VALUE
SELECT row_number() OVER (ORDER BY t.created_at, t.seq), t.user_id, t.bounty_id, t.amount_cents,
       t.kind, t.idempotency_key, t.created_at
FROM (
    SELECT u AS user_id, NULL::bigint AS bounty_id, pg_temp.first_deposit(u) AS amount_cents,
           'deposit' AS kind, md5('signup:' || u)::uuid::text AS idempotency_key,
           pg_temp.user_created(u) + interval '1 minute' AS created_at, u * 4 AS seq
    FROM generate_series(1, 10000) AS u
  UNION ALL
    SELECT CASE r WHEN 2 THEN pg_temp.other(p.j, 22) ELSE pg_temp.owner(p.j) END,
           p.j,
           CASE r WHEN 1 THEN -pg_temp.amount(p.j) ELSE pg_temp.amount(p.j) END,
           CASE r WHEN 0 THEN 'deposit' WHEN 1 THEN 'transfer_out' ELSE 'transfer_in' END,
           CASE r WHEN 0 THEN md5('fund:' || p.j)::uuid::text
                  WHEN 1 THEN md5('pay:' || p.j)::uuid::text END,
           p.paid_at - CASE r WHEN 0 THEN interval '1 minute' ELSE interval '0' END,
           100000 + p.j * 4 + r
    FROM (SELECT j, least(pg_temp.bounty_created(j) + interval '1 day'
                              + (pg_temp.h(j, 23) % 518400) * interval '1 second',
                          pg_temp.t_end() - interval '1 minute') AS paid_at
          FROM generate_series(1, 100000) AS j
          WHERE pg_temp.status(j) = 'completed') AS p,
         generate_series(0, 2) AS r
  UNION ALL
    SELECT CASE r WHEN 0 THEN x.s ELSE x.rcv END,
           NULL,
           CASE r WHEN 0 THEN -x.amount ELSE x.amount END,
           CASE r WHEN 0 THEN 'transfer_out' ELSE 'transfer_in' END,
           CASE r WHEN 0 THEN md5('transfer:' || x.t)::uuid::text END,
           pg_temp.between_(x.after, pg_temp.t_end() - interval '2 minutes', x.t, 63),
           1000000 + x.t * 4 + r
    FROM (SELECT t, s, rcv,
                 100 + pg_temp.h(t, 61) % (pg_temp.first_deposit(s) / 8 - 100) AS amount,
                 greatest(pg_temp.user_created(s), pg_temp.user_created(rcv)) + interval '2 minutes' AS after
          FROM (SELECT t, 1 + t % 10000 AS s,
                       1 + (t % 10000 + 1 + pg_temp.h(t, 62) % 9999) % 10000 AS rcv
                FROM generate_series(0, 39999) AS t OFFSET 0) AS tt OFFSET 0) AS x,
         generate_series(0, 1) AS r
  UNION ALL
    SELECT y.u, NULL,
           -(100 + pg_temp.h(y.p, 71) % (pg_temp.first_deposit(y.u) / 4 - 100)),
           'payout', md5('payout:' || y.p)::uuid::text,
           pg_temp.between_(y.after, pg_temp.t_end() - interval '2 minutes', y.p, 72),
           2000000 + y.p
    FROM (SELECT p, u, pg_temp.user_created(u) + interval '2 minutes' AS after
          FROM (SELECT p, 1 + p % 10000 AS u FROM generate_series(0, 19999) AS p OFFSET 0) AS pu
          OFFSET 0) AS y
) AS t;

-- ---- users (after the transactions: balance_cents is their sum) ---------------------
INSERT INTO users (id, handle, display_name, bio, balance_cents, created_at)
OVERRIDING SYSTEM VALUE
SELECT u,
       lower(pg_temp.pick(pg_temp.first_names(), u, 1)) || '_' || u,
       pg_temp.pick(pg_temp.first_names(), u, 1) || ' ' || pg_temp.pick(pg_temp.last_names(), u, 2),
       rtrim(pg_temp.pick(pg_temp.bio_a(), u, 3) || ' ' || pg_temp.pick(pg_temp.bio_b(), u, 4)),
       coalesce(w.total, 0),
       pg_temp.user_created(u)
FROM generate_series(1, 10000) AS u
LEFT JOIN (SELECT user_id, sum(amount_cents) AS total
           FROM wallet_transactions GROUP BY user_id) AS w ON w.user_id = u;

-- ---- conversations, members, messages ---------------------------------------------------
-- Conversation c is about one of bounties 5c-4..5c and starts 2 to 2.4 hours after that
-- block's last slot, so conversation ids grow with time too. Its members are the owner
-- and the worker (completed bounties) or someone asking about it.
CREATE TEMP TABLE seed_conv AS
SELECT c, b, pg_temp.owner(b) AS owner,
       CASE WHEN pg_temp.status(b) = 'completed' THEN pg_temp.other(b, 22)
            ELSE pg_temp.other(b, 33) END AS other,
       pg_temp.secs(3600 + 1575 * c + 7200 + pg_temp.h(c, 32) % 1500) AS created_at
FROM (SELECT c, 5 * (c - 1) + 1 + pg_temp.h(c, 31) % 5 AS b
      FROM generate_series(1, 20000) AS c OFFSET 0) AS cb;

INSERT INTO conversations (id, bounty_id, created_at) OVERRIDING SYSTEM VALUE
SELECT c, b, created_at FROM seed_conv ORDER BY c;

INSERT INTO conversation_members (conversation_id, user_id)
SELECT c, owner FROM seed_conv UNION ALL SELECT c, other FROM seed_conv ORDER BY 1, 2;

-- Message m goes to conversation h(m) (about 25 each) at a moment that grows with m within
-- the conversation's first two weeks; ids are then assigned in time order.
INSERT INTO messages (id, conversation_id, sender_id, body, created_at) OVERRIDING SYSTEM VALUE
SELECT row_number() OVER (ORDER BY x.created_at, x.m), x.c, x.sender, x.body, x.created_at
FROM (SELECT mm.m, sc.c,
             CASE WHEN pg_temp.h(mm.m, 42) % 2 = 0 THEN sc.owner ELSE sc.other END AS sender,
             rtrim(pg_temp.pick(pg_temp.chat_a(), mm.m, 43) || ' ' ||
                   pg_temp.pick(pg_temp.chat_b(), mm.m, 44) || ' ' ||
                   pg_temp.pick(pg_temp.chat_c(), mm.m, 45)) AS body,
             date_trunc('second', sc.created_at + least(interval '14 days', pg_temp.t_end() - sc.created_at)
                                                  * (mm.m / 500001.0)) AS created_at
      FROM (SELECT m, 1 + pg_temp.h(m, 41) % 20000 AS c FROM generate_series(1, 500000) AS m) AS mm
      JOIN seed_conv AS sc USING (c)) AS x;

DROP TABLE seed_conv;

-- The identities continue after the seeded ids.
SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
SELECT setval(pg_get_serial_sequence('bounties', 'id'), (SELECT max(id) FROM bounties));
SELECT setval(pg_get_serial_sequence('wallet_transactions', 'id'), (SELECT max(id) FROM wallet_transactions));
SELECT setval(pg_get_serial_sequence('conversations', 'id'), (SELECT max(id) FROM conversations));
SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages));

-- ---- checks: a broken seed fails the load instead of producing odd benchmark results ----
DO $$
DECLARE
    n bigint;
BEGIN
    IF (SELECT count(*) FROM users) <> 10000 OR (SELECT count(*) FROM bounties) <> 100000
       OR (SELECT count(*) FROM wallet_transactions) <> 200000
       OR (SELECT count(*) FROM conversations) <> 20000
       OR (SELECT count(*) FROM conversation_members) <> 40000
       OR (SELECT count(*) FROM messages) <> 500000 THEN
        RAISE EXCEPTION 'seed: unexpected row counts';
    END IF;
    SELECT count(*) INTO n FROM bounties b JOIN users u ON u.id = b.user_id
    WHERE u.created_at >= b.created_at;
    IF n > 0 THEN RAISE EXCEPTION 'seed: % bounties older than their owner', n; END IF;
    SELECT count(*) INTO n FROM wallet_transactions w JOIN users u ON u.id = w.user_id
    WHERE u.created_at >= w.created_at OR w.created_at >= pg_temp.t_end();
    IF n > 0 THEN RAISE EXCEPTION 'seed: % transactions outside their user''s lifetime', n; END IF;
    SELECT count(*) INTO n FROM (
        SELECT sum(amount_cents) OVER (PARTITION BY user_id ORDER BY id) AS running
        FROM wallet_transactions) AS r WHERE running < 0;
    IF n > 0 THEN RAISE EXCEPTION 'seed: % negative running balances', n; END IF;
    IF (SELECT sum(amount_cents) FROM wallet_transactions WHERE kind IN ('transfer_in', 'transfer_out')) <> 0 THEN
        RAISE EXCEPTION 'seed: transfers do not balance';
    END IF;
    SELECT count(*) INTO n FROM users u
    LEFT JOIN (SELECT user_id, sum(amount_cents) AS total FROM wallet_transactions GROUP BY user_id) AS w
           ON w.user_id = u.id
    WHERE u.balance_cents <> coalesce(w.total, 0);
    IF n > 0 THEN RAISE EXCEPTION 'seed: % balances differ from their transactions', n; END IF;
    SELECT count(*) INTO n FROM messages m
    WHERE NOT EXISTS (SELECT 1 FROM conversation_members cm
                      WHERE cm.conversation_id = m.conversation_id AND cm.user_id = m.sender_id);
    IF n > 0 THEN RAISE EXCEPTION 'seed: % messages from non-members', n; END IF;
    SELECT count(*) INTO n FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE m.created_at <= c.created_at OR m.created_at >= pg_temp.t_end();
    IF n > 0 THEN RAISE EXCEPTION 'seed: % messages outside their conversation', n; END IF;
    SELECT count(*) INTO n FROM conversation_members cm
    JOIN conversations c ON c.id = cm.conversation_id JOIN users u ON u.id = cm.user_id
    WHERE u.created_at >= c.created_at;
    IF n > 0 THEN RAISE EXCEPTION 'seed: % members who signed up after their conversation', n; END IF;
END $$;

RESET client_min_messages;
