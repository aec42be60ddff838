-- A user's activity in numbers: bounties posted by status, money posted, wallet totals.
-- Indexes: bounties_user_status and wallet_transactions_user_id (index-only scans).
-- @route   GET /api/users/{id:int}/stats
-- @returns one
-- @cache   300s
-- @tags    user:{id}
SELECT json_build_object(
           'user_id', u.id,
           'bounties', json_build_object(
               'total', b.total,
               'open', b.open,
               'in_progress', b.in_progress,
               'completed', b.completed,
               'cancelled', b.cancelled),
           'posted_cents', b.posted_cents,
           'balance_cents', u.balance_cents,
           'transactions', json_build_object(
               'count', w.count,
               'in_cents', w.in_cents,
               'out_cents', w.out_cents))
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
WHERE u.id = :id::bigint;
