-- A user's activity in numbers: bounties posted (by status, and their total amount), the
-- wallet balance and transaction totals. Indexes: bounties_user_status and
-- wallet_transactions_user_id, both index-only.
-- @route   GET /api/users/{id:int}/stats
-- @returns one
-- @cache   300s
-- @tags    user:{id}
SELECT row_to_json(s)
FROM (SELECT u.id AS user_id,
             u.balance_cents,
             row_to_json(b) AS bounties,
             row_to_json(w) AS transactions
      FROM users AS u
      CROSS JOIN LATERAL (
          SELECT count(*) AS total,
                 count(*) FILTER (WHERE status = 'open') AS open,
                 count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
                 count(*) FILTER (WHERE status = 'completed') AS completed,
                 count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                 coalesce(sum(amount_cents), 0) AS posted_cents
          FROM bounties
          WHERE user_id = u.id) AS b
      CROSS JOIN LATERAL (
          SELECT count(*) AS count,
                 coalesce(sum(amount_cents) FILTER (WHERE amount_cents > 0), 0) AS in_cents,
                 coalesce(-sum(amount_cents) FILTER (WHERE amount_cents < 0), 0) AS out_cents
          FROM wallet_transactions
          WHERE user_id = u.id) AS w
      WHERE u.id = :id::bigint) AS s;
