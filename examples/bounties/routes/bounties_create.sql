-- Post a new bounty as the caller (the token's subject is the user id). 201 with the new row
-- and its Location; the lists and the poster's stats are evicted on every shard and instance.
-- @route       POST /api/bounties
-- @auth        required
-- @body        json max 16k
-- @field       title text required minlen 3 maxlen 200
-- @field       description text optional maxlen 10000
-- @field       amount_cents bigint required min 1 max 100000000
-- @field       location text optional maxlen 200
-- @returns     one status 201
-- @location    /api/bounties/{id}
-- @invalidates bounties user:{auth.sub}
SELECT bounty_create(:auth.sub::bigint, :body.title, :body.description, :body.amount_cents::bigint,
                     :body.location);
