-- The caller's wallet: transactions newest first, a page at a time (keyset: pass the last id
-- as ?before=). Private: the cache key holds the caller, and a transfer evicts
-- wallet:{the user} for both sides. Index: wallet_transactions_user_id.
-- @route   GET /api/me/wallet/transactions
-- @auth    required
-- @query   before int default 0 min 0
-- @query   limit int default 20 min 1 max 100
-- @returns many
-- @cache   30s private
-- @tags    wallet:{auth.sub}
SELECT row_to_json(t)
FROM (SELECT id, bounty_id, amount_cents, kind, created_at
      FROM wallet_transactions
      WHERE user_id = :auth.sub::bigint
        AND id < coalesce(nullif(:before::bigint, 0), 9223372036854775807)
      ORDER BY id DESC
      LIMIT :limit::int) AS t;
